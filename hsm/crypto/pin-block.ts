/**
 * ISO 9564-1 PIN blocks: formats 0, 1, 2 and 3 (8-byte clear blocks for TDES) and format 4
 * (16-byte, AES). Clear PINs and clear blocks exist only inside the HSM boundary; functions here
 * never log and report bad input as `PinBlockError` so the HSM can map it to a result code.
 */
import { randomBytes } from 'node:crypto';
import type { BlockCipher } from './block-cipher';
import { xor } from './bytes';

export type PinBlockFormat = 0 | 1 | 2 | 3 | 4;

/** Why a clear PIN block or its inputs are unusable; the HSM maps each to a result code. */
export class PinBlockError extends Error {
  constructor(readonly reason: 'pin' | 'pan' | 'format' | 'block') {
    super(`invalid PIN block ${reason}`);
    this.name = 'PinBlockError';
  }
}

export const PIN_LENGTH_MIN = 4;
export const PIN_LENGTH_MAX = 12;

function checkPin(pin: string): void {
  if (!/^\d+$/.test(pin) || pin.length < PIN_LENGTH_MIN || pin.length > PIN_LENGTH_MAX) throw new PinBlockError('pin');
}

function checkPan(pan: string): void {
  if (!/^\d{1,19}$/.test(pan)) throw new PinBlockError('pan');
}

/** Random nibbles in [lo, hi] as hex digits (transaction-unique fill for formats 1 and 3). */
function randomFill(count: number, lo: number, hi: number): string {
  const bytes = randomBytes(count);
  let s = '';
  for (const b of bytes) s += (lo + (b % (hi - lo + 1))).toString(16);
  return s.toUpperCase();
}

/** Format 0/3 PAN field: `0000` + the 12 rightmost PAN digits excluding the check digit. */
export function panField0(pan: string): Buffer {
  checkPan(pan);
  const body = pan.slice(0, -1).slice(-12).padStart(12, '0');
  return Buffer.from(`0000${body}`, 'hex');
}

/** Builds a clear 8-byte ISO 9564 block of format 0, 1, 2 or 3. */
export function encodePinBlock(format: 0 | 1 | 2 | 3, pin: string, pan?: string): Buffer {
  checkPin(pin);
  const head = `${format}${pin.length.toString(16).toUpperCase()}${pin}`;
  const fillLength = 16 - head.length;
  if (format === 0 || format === 2) {
    const field = Buffer.from(head + 'F'.repeat(fillLength), 'hex');
    if (format === 2) return field;
    if (pan === undefined) throw new PinBlockError('pan');
    return xor(field, panField0(pan));
  }
  if (format === 1) return Buffer.from(head + randomFill(fillLength, 0, 15), 'hex');
  if (pan === undefined) throw new PinBlockError('pan');
  return xor(Buffer.from(head + randomFill(fillLength, 10, 15), 'hex'), panField0(pan));
}

/**
 * Reads the PIN from a clear 8-byte block of format 0, 1, 2 or 3, checking the control nibble,
 * the length and the fill. Throws `PinBlockError('block')` when the block is not of that format
 * (the usual result of deciphering with the wrong key).
 */
export function decodePinBlock(format: 0 | 1 | 2 | 3, block: Uint8Array, pan?: string): string {
  if (block.length !== 8) throw new PinBlockError('block');
  let field: Buffer = Buffer.from(block);
  if (format === 0 || format === 3) {
    if (pan === undefined) throw new PinBlockError('pan');
    field = xor(block, panField0(pan));
  }
  const hex = field.toString('hex').toUpperCase();
  if (hex[0] !== String(format)) throw new PinBlockError('block');
  const length = parseInt(hex[1] ?? 'X', 16);
  if (!(length >= PIN_LENGTH_MIN && length <= PIN_LENGTH_MAX)) throw new PinBlockError('block');
  const pin = hex.slice(2, 2 + length);
  if (!/^\d+$/.test(pin)) throw new PinBlockError('block');
  const fill = hex.slice(2 + length);
  const fillOk =
    format === 0 || format === 2 ? /^F*$/.test(fill) : format === 3 ? /^[A-F]*$/.test(fill) : /^[0-9A-F]*$/.test(fill);
  if (!fillOk) throw new PinBlockError('block');
  return pin;
}

/** Format 4 PAN field: `m` (PAN length − 12, 0 when shorter) + PAN (left-padded to 12), zero-filled to 16 bytes. */
export function panField4(pan: string): Buffer {
  checkPan(pan);
  const m = Math.max(0, pan.length - 12);
  return Buffer.from(`${m.toString(16)}${pan.padStart(12, '0')}`.padEnd(32, '0'), 'hex');
}

/** Clear format 4 PIN field: `4L PIN AAA…` (8 bytes) + 8 random bytes, or the given `random` bytes. */
export function pinField4(pin: string, random: Uint8Array = randomBytes(8)): Buffer {
  checkPin(pin);
  const head = `4${pin.length.toString(16).toUpperCase()}${pin}`.padEnd(16, 'A');
  return Buffer.concat([Buffer.from(head, 'hex'), Buffer.from(random.subarray(0, 8))]);
}

/** Format 4 encipherment: `C = E(K, E(K, PIN field) XOR PAN field)` with an AES key. */
export function encipherFormat4(aes: BlockCipher, pin: string, pan: string, random?: Uint8Array): Buffer {
  const field = random === undefined ? pinField4(pin) : pinField4(pin, random);
  return aes.encrypt(xor(aes.encrypt(field), panField4(pan)));
}

/** Format 4 decipherment and PIN extraction; throws `PinBlockError('block')` on a bad block. */
export function decipherFormat4(aes: BlockCipher, block: Uint8Array, pan: string): string {
  if (block.length !== 16) throw new PinBlockError('block');
  const field = aes.decrypt(xor(aes.decrypt(block), panField4(pan)));
  return readPinField4(field);
}

/** Reads the PIN from a clear format 4 PIN field. */
export function readPinField4(field: Uint8Array): string {
  const hex = Buffer.from(field.subarray(0, 8)).toString('hex').toUpperCase();
  if (hex[0] !== '4') throw new PinBlockError('block');
  const length = parseInt(hex[1] ?? 'X', 16);
  if (!(length >= PIN_LENGTH_MIN && length <= PIN_LENGTH_MAX)) throw new PinBlockError('block');
  const pin = hex.slice(2, 2 + length);
  if (!/^\d+$/.test(pin) || !/^A*$/.test(hex.slice(2 + length))) throw new PinBlockError('block');
  return pin;
}
