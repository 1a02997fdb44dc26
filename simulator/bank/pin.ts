/**
 * ISO 9564 format 0 PIN blocks under the simulator's zone PIN key, with Node's 3DES directly (the
 * simulator plays the issuer, outside fixpay's HSM boundary). Test keys only.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

function cipherName(key: Buffer): string {
  if (key.length === 16) return 'des-ede-ecb';
  if (key.length === 24) return 'des-ede3-ecb';
  throw new Error('zone PIN key must be 16 or 24 bytes');
}

function panField(pan: string): Buffer {
  const twelve = pan.slice(0, -1).slice(-12).padStart(12, '0');
  return Buffer.from(`0000${twelve}`, 'hex');
}

/** Builds the encrypted format-0 PIN block (what an HSM would output after translation to the ZPK). */
export function encryptPinBlock(pin: string, pan: string, zpk: Buffer): Buffer {
  if (!/^\d{4,12}$/.test(pin)) throw new Error('PIN must be 4–12 digits');
  const pinField = Buffer.from(`0${pin.length.toString(16)}${pin}`.padEnd(16, 'F'), 'hex');
  const clear = Buffer.alloc(8);
  const p = panField(pan);
  for (let i = 0; i < 8; i++) clear[i] = (pinField[i] ?? 0) ^ (p[i] ?? 0);
  const c = createCipheriv(cipherName(zpk), zpk, null).setAutoPadding(false);
  return Buffer.concat([c.update(clear), c.final()]);
}

/** Recovers the PIN from an encrypted format-0 block; undefined when the block is not well-formed. */
export function decryptPin(block: Uint8Array, pan: string, zpk: Buffer): string | undefined {
  if (block.length !== 8) return undefined;
  const d = createDecipheriv(cipherName(zpk), zpk, null).setAutoPadding(false);
  const clear = Buffer.concat([d.update(block), d.final()]);
  const p = panField(pan);
  for (let i = 0; i < 8; i++) clear[i] = (clear[i] ?? 0) ^ (p[i] ?? 0);
  const hex = clear.toString('hex').toUpperCase();
  const length = parseInt(hex[1] ?? 'X', 16);
  if (hex[0] !== '0' || !(length >= 4 && length <= 12)) return undefined;
  const pin = hex.slice(2, 2 + length);
  if (!/^\d+$/.test(pin) || !/^F*$/.test(hex.slice(2 + length))) return undefined;
  return pin;
}
