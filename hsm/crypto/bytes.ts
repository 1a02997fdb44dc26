/**
 * Byte helpers shared by the HSM primitives. Everything here works on `Buffer`s and never logs.
 */

const HEX = /^(?:[0-9A-Fa-f]{2})*$/;

/** Parses even-length hex. Throws `TypeError` on anything else (a caller bug, not a result code). */
export function fromHex(hex: string): Buffer {
  if (!HEX.test(hex)) throw new TypeError('expected an even number of hex digits');
  return Buffer.from(hex, 'hex');
}

/** Upper-case hex, the way HSMs and the payment standards print bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').toUpperCase();
}

/** `a XOR b` into a new buffer of `a`'s length (`b` must be at least as long). */
export function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

/** XORs `b` into `a` in place, over `a.length` bytes starting at `offset` in `b`. */
export function xorInto(a: Buffer, b: Uint8Array, offset = 0): void {
  for (let i = 0; i < a.length; i++) a[i] = (a[i] ?? 0) ^ (b[offset + i] ?? 0);
}

/** Returns a copy of `key` with odd parity in every byte (DES keys). */
export function withOddParity(key: Uint8Array): Buffer {
  const out = Buffer.from(key);
  for (let i = 0; i < out.length; i++) {
    const b = (out[i] ?? 0) & 0xfe;
    out[i] = b | (bitCount(b) % 2 === 0 ? 1 : 0);
  }
  return out;
}

/** True when every byte has odd parity. */
export function hasOddParity(key: Uint8Array): boolean {
  for (const b of key) if (bitCount(b) % 2 === 0) return false;
  return true;
}

function bitCount(b: number): number {
  let n = 0;
  for (let v = b; v !== 0; v >>= 1) n += v & 1;
  return n;
}

/** Constant-time equality for MACs and check values of the same length. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** Overwrites key material that is no longer needed. */
export function wipe(...buffers: Uint8Array[]): void {
  for (const b of buffers) b.fill(0);
}
