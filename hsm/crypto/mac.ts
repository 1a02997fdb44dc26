/**
 * MAC algorithms: ISO/IEC 9797-1 algorithms 1 and 3 (ANSI X9.9 / X9.19 retail MAC) with padding
 * methods 1–3, the UnionPay POS "ECB" MAC, CMAC (NIST SP 800-38B, for TR-31 and AES keys) and
 * the key check value. Pure functions over `BlockCipher`s built once per key by the caller.
 */
import type { BlockCipher } from './block-cipher';
import { xorInto } from './bytes';

/** ISO/IEC 9797-1 padding: 1 = zeros (none when aligned), 2 = `80` then zeros, 3 = length block first. */
export type MacPadding = 1 | 2 | 3;

/** Pads `data` to a whole number of `blockSize` blocks with ISO/IEC 9797-1 padding `method`. */
export function pad9797(data: Uint8Array, method: MacPadding, blockSize: number): Buffer {
  if (method === 1) {
    const len = data.length === 0 ? blockSize : Math.ceil(data.length / blockSize) * blockSize;
    const out = Buffer.alloc(len);
    out.set(data);
    return out;
  }
  if (method === 2) {
    const len = Math.ceil((data.length + 1) / blockSize) * blockSize;
    const out = Buffer.alloc(len);
    out.set(data);
    out[data.length] = 0x80;
    return out;
  }
  // Method 3: a block holding the data length in bits (big-endian), then the zero-padded data.
  const body = pad9797(data, 1, blockSize);
  const out = Buffer.alloc(blockSize + body.length);
  out.writeBigUInt64BE(BigInt(data.length) * 8n, blockSize - 8);
  body.copy(out, blockSize);
  return out;
}

/** CBC-MAC with zero IV over already padded data: the last ciphertext block. */
function cbcMacLastBlock(cipher: BlockCipher, padded: Uint8Array): Buffer {
  const out = cipher.cbcEncrypt(padded);
  return out.subarray(out.length - cipher.blockSize);
}

/**
 * ISO/IEC 9797-1 MAC algorithm 1 (ANSI X9.9 with single DES): CBC-MAC with the whole key — DES,
 * TDES or AES, as `cipher` is.
 */
export function macAlgorithm1(cipher: BlockCipher, data: Uint8Array, padding: MacPadding = 1): Buffer {
  return cbcMacLastBlock(cipher, pad9797(data, padding, cipher.blockSize));
}

/**
 * ISO/IEC 9797-1 MAC algorithm 3 = ANSI X9.19 retail MAC: single-DES CBC with K over every block,
 * then the last block is deciphered with K′ and enciphered with K. `left` is DES(K), `right` DES(K′).
 */
export function macAlgorithm3(
  left: BlockCipher,
  right: BlockCipher,
  data: Uint8Array,
  padding: MacPadding = 1,
): Buffer {
  const last = cbcMacLastBlock(left, pad9797(data, padding, 8));
  return left.encrypt(right.decrypt(last));
}

const HEX_UPPER = Buffer.from('0123456789ABCDEF', 'ascii');

function hexAscii(block: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(block.length * 2);
  for (let i = 0; i < block.length; i++) {
    const b = block[i] ?? 0;
    out[2 * i] = HEX_UPPER[b >> 4] ?? 0;
    out[2 * i + 1] = HEX_UPPER[b & 15] ?? 0;
  }
  return out;
}

/**
 * UnionPay POS "ECB" MAC (payments.md §2.5): XOR all zero-padded 8-byte blocks, write the result
 * as 16 upper-case hex characters, encipher the first 8 with the MAK, XOR with the last 8,
 * encipher again; the MAC is the first 8 hex characters of that, as 8 ASCII bytes.
 */
export function unionPayEcbMac(cipher: BlockCipher, data: Uint8Array): Buffer {
  const block = Buffer.alloc(8);
  const len = data.length;
  for (let off = 0; off < len; off += 8) {
    for (let i = 0; i < 8 && off + i < len; i++) block[i] = (block[i] ?? 0) ^ (data[off + i] ?? 0);
  }
  const expanded = hexAscii(block);
  const first = cipher.encrypt(expanded.subarray(0, 8));
  xorInto(first, expanded, 8);
  return hexAscii(cipher.encrypt(first)).subarray(0, 8);
}

function shiftLeftOne(block: Buffer, rb: number): Buffer {
  const out = Buffer.allocUnsafe(block.length);
  let carry = 0;
  for (let i = block.length - 1; i >= 0; i--) {
    const b = block[i] ?? 0;
    out[i] = ((b << 1) | carry) & 0xff;
    carry = b >> 7;
  }
  if ((block[0] ?? 0) & 0x80) out[block.length - 1] = (out[block.length - 1] ?? 0) ^ rb;
  return out;
}

/** CMAC subkeys K1, K2 for a cipher (compute once per key and pass to `cmac`). */
export function cmacSubkeys(cipher: BlockCipher): { k1: Buffer; k2: Buffer } {
  const rb = cipher.blockSize === 16 ? 0x87 : 0x1b;
  const l = cipher.encrypt(Buffer.alloc(cipher.blockSize));
  const k1 = shiftLeftOne(l, rb);
  return { k1, k2: shiftLeftOne(k1, rb) };
}

/** CMAC (NIST SP 800-38B; ISO/IEC 9797-1:2011 algorithm 5) over TDES or AES. Full block length. */
export function cmac(cipher: BlockCipher, data: Uint8Array, subkeys = cmacSubkeys(cipher)): Buffer {
  const n = cipher.blockSize;
  const blocks = Math.max(1, Math.ceil(data.length / n));
  const complete = data.length > 0 && data.length % n === 0;
  const last = Buffer.alloc(n);
  const lastStart = (blocks - 1) * n;
  last.set(data.subarray(lastStart));
  if (!complete) last[data.length - lastStart] = 0x80;
  xorInto(last, complete ? subkeys.k1 : subkeys.k2);
  let chain: Buffer = Buffer.alloc(n);
  if (lastStart > 0) chain = cipher.cbcEncrypt(data.subarray(0, lastStart)).subarray(lastStart - n);
  xorInto(chain, last);
  return cipher.encrypt(chain);
}

/**
 * Key check value: encipher a zero block and keep the leftmost `length` bytes (3 by default).
 * The same legacy method is used for AES keys (a zero 16-byte block).
 */
export function keyCheckValue(cipher: BlockCipher, length = 3): Buffer {
  return cipher.encrypt(Buffer.alloc(cipher.blockSize)).subarray(0, length);
}
