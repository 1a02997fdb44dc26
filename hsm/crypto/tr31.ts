/**
 * ANSI X9 TR-31 key blocks (TR-31:2018 / X9.143), versions B (TDES key derivation binding) and
 * D (AES key derivation binding): a clear ASCII header, the key encrypted with a key derived from
 * the key block protection key (KBPK), and a CMAC over both that binds the header to the key.
 * Versions A and C (variant binding) are deprecated by PCI PIN 18-3 and are refused.
 */
import { randomBytes } from 'node:crypto';
import { blockCipher } from './block-cipher';
import type { BlockCipher } from './block-cipher';
import { equalBytes } from './bytes';
import { cmac } from './mac';

/** Why a key block was refused; the HSM maps every reason to HSM_KEY_BLOCK_INVALID. */
export class KeyBlockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyBlockError';
  }
}

export interface OptionalBlock {
  /** Two characters; proprietary blocks start with a digit. */
  readonly id: string;
  /** Printable ASCII. */
  readonly data: string;
}

export interface KeyBlockHeader {
  readonly versionId: 'B' | 'D';
  /** TR-31 key usage, e.g. `P0` PIN encryption, `M3` X9.19 MAC, `K0` KEK, `B0` BDK, `D0` data. */
  readonly keyUsage: string;
  /** `T` TDES, `A` AES, `D` single DES. */
  readonly algorithm: 'T' | 'A' | 'D';
  /** `B` both, `E` encrypt, `D` decrypt, `C` MAC generate+verify, `G`, `V`, `N`, `X` derive. */
  readonly modeOfUse: string;
  /** Two characters, `00` when unused. */
  readonly keyVersion: string;
  /** `E` exportable under a trusted key, `N` not exportable, `S` sensitive. */
  readonly exportability: 'E' | 'N' | 'S';
  /** Optional blocks, without the padding block (added and removed here). */
  readonly optionalBlocks: readonly OptionalBlock[];
}

const HEADER_LENGTH = 16;
/** TR-31 key block length field is 4 decimal digits. */
export const KEY_BLOCK_LENGTH_MAX = 9999;

interface VersionParams {
  readonly algorithm: 'tdes' | 'aes';
  readonly blockSize: number;
  readonly macLength: number;
}
const VERSIONS: Record<'B' | 'D', VersionParams> = {
  B: { algorithm: 'tdes', blockSize: 8, macLength: 8 },
  D: { algorithm: 'aes', blockSize: 16, macLength: 16 },
};

/** Derivation data algorithm codes and bit lengths (TR-31:2018 §5.3.2). */
function kbpkAlgorithm(version: 'B' | 'D', kbpk: Uint8Array): { code: number; bits: number } {
  if (version === 'B') {
    if (kbpk.length === 16) return { code: 0x0000, bits: 128 };
    if (kbpk.length === 24) return { code: 0x0001, bits: 192 };
    throw new KeyBlockError('a version B KBPK is a double- or triple-length TDES key');
  }
  if (kbpk.length === 16) return { code: 0x0002, bits: 128 };
  if (kbpk.length === 24) return { code: 0x0003, bits: 192 };
  if (kbpk.length === 32) return { code: 0x0004, bits: 256 };
  throw new KeyBlockError('a version D KBPK is an AES key');
}

/** Derived encryption and MAC keys for a KBPK, as ciphers. Callers may cache the result per KBPK. */
export interface KeyBlockKeys {
  readonly version: 'B' | 'D';
  readonly encryption: BlockCipher;
  readonly authentication: BlockCipher;
}

/** Derives KBEK and KBMK from the KBPK with CMAC (TR-31:2018 §5.3.2). */
export function deriveKeyBlockKeys(version: 'B' | 'D', kbpk: Uint8Array): KeyBlockKeys {
  const params = VERSIONS[version];
  const { code, bits } = kbpkAlgorithm(version, kbpk);
  const parent = blockCipher(params.algorithm, kbpk);
  const derive = (usage: number): BlockCipher => {
    const parts: Buffer[] = [];
    const blocks = Math.ceil(bits / 8 / params.blockSize);
    for (let counter = 1; counter <= blocks; counter++) {
      const data = Buffer.alloc(8);
      data[0] = counter;
      data.writeUInt16BE(usage, 1);
      data[3] = 0;
      data.writeUInt16BE(code, 4);
      data.writeUInt16BE(bits, 6);
      parts.push(cmac(parent, data));
    }
    return blockCipher(params.algorithm, Buffer.concat(parts).subarray(0, bits / 8));
  };
  return { version, encryption: derive(0x0000), authentication: derive(0x0001) };
}

function formatHeader(h: KeyBlockHeader, totalLength: number, blockSize: number): string {
  let optional = '';
  for (const b of h.optionalBlocks) {
    if (!/^[0-9A-Z]{2}$/.test(b.id) || !/^[\x20-\x7e]*$/.test(b.data)) throw new KeyBlockError('bad optional block');
    const length = 4 + b.data.length;
    if (length > 255) throw new KeyBlockError('optional block too long');
    optional += `${b.id}${length.toString(16).toUpperCase().padStart(2, '0')}${b.data}`;
  }
  let count = h.optionalBlocks.length;
  const rest = (HEADER_LENGTH + optional.length) % blockSize;
  if (count > 0 && rest !== 0) {
    let padLength = blockSize - rest;
    if (padLength < 4) padLength += blockSize;
    optional += `PB${padLength.toString(16).toUpperCase().padStart(2, '0')}${'0'.repeat(padLength - 4)}`;
    count += 1;
  }
  const fixed = [
    h.versionId,
    String(totalLength).padStart(4, '0'),
    h.keyUsage,
    h.algorithm,
    h.modeOfUse,
    h.keyVersion,
    h.exportability,
    String(count).padStart(2, '0'),
    '00',
  ].join('');
  if (fixed.length !== HEADER_LENGTH || !/^[\x20-\x7e]+$/.test(fixed)) throw new KeyBlockError('bad header field');
  return fixed + optional;
}

/**
 * Wraps `key` under the derived keys. `padding` overrides the random pad (for test vectors only);
 * the key is padded to a whole number of cipher blocks after its 2-byte bit-length prefix.
 */
export function wrapKeyBlock(
  keys: KeyBlockKeys,
  header: Omit<KeyBlockHeader, 'versionId'>,
  key: Uint8Array,
  padding?: Uint8Array,
): string {
  const params = VERSIONS[keys.version];
  const n = params.blockSize;
  const clearLength = Math.ceil((2 + key.length) / n) * n;
  const clear = Buffer.alloc(clearLength);
  clear.writeUInt16BE(key.length * 8, 0);
  clear.set(key, 2);
  const padBytes = padding ?? randomBytes(clearLength - 2 - key.length);
  clear.set(padBytes.subarray(0, clearLength - 2 - key.length), 2 + key.length);
  const full: KeyBlockHeader = { ...header, versionId: keys.version };
  const probe = formatHeader(full, 0, n);
  const total = probe.length + clearLength * 2 + params.macLength * 2;
  if (total > KEY_BLOCK_LENGTH_MAX) throw new KeyBlockError('key block too long');
  const headerText = formatHeader(full, total, n);
  const mac = cmac(keys.authentication, Buffer.concat([Buffer.from(headerText, 'ascii'), clear])).subarray(
    0,
    params.macLength,
  );
  const encrypted = keys.encryption.cbcEncrypt(clear, mac);
  clear.fill(0);
  return headerText + encrypted.toString('hex').toUpperCase() + mac.toString('hex').toUpperCase();
}

/** Parses the clear header of a key block without unwrapping it. Throws `KeyBlockError`. */
export function parseKeyBlockHeader(block: string): { header: KeyBlockHeader; headerLength: number } {
  if (block.length < HEADER_LENGTH || !/^[\x20-\x7e]+$/.test(block)) throw new KeyBlockError('not a key block');
  const versionId = block[0];
  if (versionId !== 'B' && versionId !== 'D') throw new KeyBlockError('unsupported key block version');
  const declared = Number(block.slice(1, 5));
  if (!Number.isInteger(declared) || declared !== block.length) throw new KeyBlockError('key block length mismatch');
  const algorithm = block[7];
  if (algorithm !== 'T' && algorithm !== 'A' && algorithm !== 'D') throw new KeyBlockError('unknown algorithm');
  const exportability = block[11];
  if (exportability !== 'E' && exportability !== 'N' && exportability !== 'S') {
    throw new KeyBlockError('unknown exportability');
  }
  const count = Number(block.slice(12, 14));
  if (!Number.isInteger(count)) throw new KeyBlockError('bad optional block count');
  const optionalBlocks: OptionalBlock[] = [];
  let pos = HEADER_LENGTH;
  for (let i = 0; i < count; i++) {
    const id = block.slice(pos, pos + 2);
    const length = parseInt(block.slice(pos + 2, pos + 4), 16);
    if (!(length >= 4) || pos + length > block.length) throw new KeyBlockError('bad optional block');
    if (id !== 'PB') optionalBlocks.push({ id, data: block.slice(pos + 4, pos + length) });
    pos += length;
  }
  return {
    header: {
      versionId,
      keyUsage: block.slice(5, 7),
      algorithm,
      modeOfUse: block.slice(8, 9),
      keyVersion: block.slice(9, 11),
      exportability,
      optionalBlocks,
    },
    headerLength: pos,
  };
}

/**
 * Unwraps a key block: checks the header, deciphers, verifies the CMAC (constant time) and the key
 * length. Throws `KeyBlockError` on any mismatch — typically a wrong KBPK or a tampered header.
 */
export function unwrapKeyBlock(keys: KeyBlockKeys, block: string): { header: KeyBlockHeader; key: Buffer } {
  const { header, headerLength } = parseKeyBlockHeader(block);
  if (header.versionId !== keys.version) throw new KeyBlockError('key block version does not match the KBPK');
  const params = VERSIONS[keys.version];
  const body = block.slice(headerLength);
  const macHex = params.macLength * 2;
  if (body.length <= macHex || !/^[0-9A-F]+$/.test(body)) throw new KeyBlockError('bad key block body');
  const encrypted = Buffer.from(body.slice(0, -macHex), 'hex');
  const mac = Buffer.from(body.slice(-macHex), 'hex');
  if (encrypted.length % params.blockSize !== 0) throw new KeyBlockError('bad key block body');
  const clear = keys.encryption.cbcDecrypt(encrypted, mac);
  const expected = cmac(
    keys.authentication,
    Buffer.concat([Buffer.from(block.slice(0, headerLength), 'ascii'), clear]),
  );
  if (!equalBytes(expected.subarray(0, params.macLength), mac)) {
    clear.fill(0);
    throw new KeyBlockError('key block MAC does not verify');
  }
  const bits = clear.readUInt16BE(0);
  if (bits % 8 !== 0 || bits === 0 || 2 + bits / 8 > clear.length) {
    clear.fill(0);
    throw new KeyBlockError('bad key length');
  }
  const key = Buffer.from(clear.subarray(2, 2 + bits / 8));
  clear.fill(0);
  return { header, key };
}
