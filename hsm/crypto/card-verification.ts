/**
 * Card verification values by the Visa CVV method (also Mastercard's CVC1/CVC2): the PAN, expiry
 * and service code, as digits padded with zeros to 32, split in two 8-byte blocks; the first is
 * enciphered with CVK A (DES), XORed with the second, and the result enciphered with the CVK pair
 * (TDES, A-B-A); the first three decimal digits of the result, then the hex letters A–F minus 10,
 * are the value. The same function gives CVV (track), CVV2 (service code 000) and iCVV (999).
 * Runs inside the HSM only: the CVK pair never leaves it.
 */
import { blockCipher } from './block-cipher';
import { xor } from './bytes';

/** Service code used for the CVV2 printed on the card and for the iCVV of the chip's track image. */
export const CVV2_SERVICE_CODE = '000';
export const ICVV_SERVICE_CODE = '999';

export class CardVerificationError extends Error {
  override readonly name = 'CardVerificationError';
}

/** Takes decimal digits from the hex string, then the letters as digits (A→0 … F→5). */
export function decimalise(hex: string, count: number): string {
  const upper = hex.toUpperCase();
  const digits = upper.replace(/[^0-9]/g, '');
  const letters = upper.replace(/[^A-F]/g, '').replace(/[A-F]/g, (c) => String(c.charCodeAt(0) - 65));
  return `${digits}${letters}`.slice(0, count);
}

/**
 * The three-digit value for `pan` (12–19 digits), `expiry` (4 digits, YYMM as on the track) and
 * `serviceCode` (3 digits) under a double-length CVK (`cvk` is A‖B, 16 bytes).
 */
export function visaCvv(cvk: Uint8Array, pan: string, expiry: string, serviceCode: string): string {
  if (cvk.length !== 16) throw new CardVerificationError('a CVK pair is 16 bytes');
  if (!/^\d{12,19}$/.test(pan)) throw new CardVerificationError('the account number is 12 to 19 digits');
  if (!/^\d{4}$/.test(expiry)) throw new CardVerificationError('the expiry is 4 digits');
  if (!/^\d{3}$/.test(serviceCode)) throw new CardVerificationError('the service code is 3 digits');
  const data = `${pan}${expiry}${serviceCode}`.padEnd(32, '0');
  const block1 = Buffer.from(data.slice(0, 16), 'hex');
  const block2 = Buffer.from(data.slice(16, 32), 'hex');
  const a = blockCipher('des', cvk.subarray(0, 8));
  const pair = blockCipher('tdes', cvk);
  const result = pair.encrypt(xor(a.encrypt(block1), block2));
  return decimalise(result.toString('hex'), 3);
}
