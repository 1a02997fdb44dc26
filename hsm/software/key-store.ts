/**
 * Keys under the local master key (LMK). A handle is `S` + a TR-31 version D key block wrapped
 * with the LMK (an AES-256 key), whose header carries the fixpay key type in the proprietary
 * optional block `0T`; the block's CMAC binds type, usage and key together, so a handle cannot
 * be re-labelled (one purpose per key, PCI PIN control objective 5).
 *
 * Unwrapped keys are cached per handle as ready-to-use cipher contexts (bounded, oldest evicted).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { FixpayError } from '../../domain/errors';
import { blockCipher } from '../crypto/block-cipher';
import type { BlockCipher } from '../crypto/block-cipher';
import { toHex, withOddParity } from '../crypto/bytes';
import { cmacSubkeys, keyCheckValue } from '../crypto/mac';
import { deriveKeyBlockKeys, KeyBlockError, parseKeyBlockHeader, unwrapKeyBlock, wrapKeyBlock } from '../crypto/tr31';
import type { KeyBlockHeader, KeyBlockKeys } from '../crypto/tr31';
import { HSM_DEFAULTS, KEY_TYPES } from '../port';
import type { KeyAlgorithm, KeyHandle, KeyInfo, KeyType } from '../port';

/** LMK length: AES-256. */
export const LMK_BYTES = 32;
/** Proprietary TR-31 optional block carrying the fixpay key type (handles and exported blocks). */
export const TYPE_BLOCK_ID = '0T';

/** Parses LMK text as held in a protected file or environment variable: 64 hex digits. */
export function lmkFromHex(text: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9A-Fa-f]{64}$/.test(hex)) throw new FixpayError('HSM_LMK_INVALID', 'expected 64 hex digits (AES-256)');
  return Buffer.from(hex, 'hex');
}

export const ALGORITHM_SPECS: Record<
  KeyAlgorithm,
  { letter: 'D' | 'T' | 'A'; bytes: number; family: 'des' | 'tdes' | 'aes' }
> = {
  des: { letter: 'D', bytes: 8, family: 'des' },
  tdes2: { letter: 'T', bytes: 16, family: 'tdes' },
  tdes3: { letter: 'T', bytes: 24, family: 'tdes' },
  aes128: { letter: 'A', bytes: 16, family: 'aes' },
  aes192: { letter: 'A', bytes: 24, family: 'aes' },
  aes256: { letter: 'A', bytes: 32, family: 'aes' },
};

/** The algorithm of a key from its TR-31 letter and length. */
export function algorithmOf(letter: string, bytes: number): KeyAlgorithm | undefined {
  for (const [name, spec] of Object.entries(ALGORITHM_SPECS)) {
    if (spec.letter === letter && spec.bytes === bytes) return name as KeyAlgorithm;
  }
  return undefined;
}

/** TR-31 usage and mode of use for each key type. */
export const TYPE_USAGE: Record<KeyType, { usage: string; mode: string; exportable: boolean }> = {
  ZMK: { usage: 'K0', mode: 'B', exportable: true },
  TMK: { usage: 'K0', mode: 'B', exportable: true },
  KBPK: { usage: 'K1', mode: 'B', exportable: true },
  ZPK: { usage: 'P0', mode: 'B', exportable: true },
  TPK: { usage: 'P0', mode: 'B', exportable: true },
  ZAK: { usage: 'M3', mode: 'C', exportable: true },
  TAK: { usage: 'M3', mode: 'C', exportable: true },
  ZEK: { usage: 'D0', mode: 'B', exportable: true },
  TDK: { usage: 'D0', mode: 'B', exportable: true },
  BDK: { usage: 'B0', mode: 'X', exportable: true },
  PBOC_MK: { usage: 'E6', mode: 'X', exportable: true },
  CVK: { usage: 'C0', mode: 'C', exportable: true },
  BUREAU: { usage: 'D0', mode: 'B', exportable: true },
  PSAM_SESSION: { usage: 'M1', mode: 'C', exportable: false },
  COMPONENT: { usage: 'K0', mode: 'N', exportable: false },
};

/** A key unwrapped from its handle, with lazily built cipher contexts. Never leaves the HSM. */
export class LoadedKey {
  private cipherCache: BlockCipher | undefined;
  private halves: { left: BlockCipher; right: BlockCipher } | undefined;
  private cmacKeys: { k1: Buffer; k2: Buffer } | undefined;
  private blockKeys: KeyBlockKeys | undefined;
  /** Check value, 6 hex digits. */
  readonly kcv: string;
  /** Check value, 8 hex digits (UnionPay field 62 carries 4 bytes). */
  readonly kcv4: string;

  constructor(
    readonly handle: KeyHandle,
    readonly type: KeyType,
    readonly algorithm: KeyAlgorithm,
    readonly exportable: boolean,
    readonly clear: Buffer,
  ) {
    this.kcv4 = toHex(keyCheckValue(this.cipher, 4));
    this.kcv = this.kcv4.slice(0, 6);
  }

  get family(): 'des' | 'tdes' | 'aes' {
    return ALGORITHM_SPECS[this.algorithm].family;
  }

  /** The whole key as one cipher (DES, TDES or AES). */
  get cipher(): BlockCipher {
    this.cipherCache ??= blockCipher(this.family, this.clear);
    return this.cipherCache;
  }

  /** DES(K) and DES(K′) for the X9.19 retail MAC; a single-DES key uses K for both. */
  get desHalves(): { left: BlockCipher; right: BlockCipher } {
    if (this.halves === undefined) {
      const left = blockCipher('des', this.clear.subarray(0, 8));
      const right = this.clear.length >= 16 ? blockCipher('des', this.clear.subarray(8, 16)) : left;
      this.halves = { left, right };
    }
    return this.halves;
  }

  get cmacSubkeys(): { k1: Buffer; k2: Buffer } {
    this.cmacKeys ??= cmacSubkeys(this.cipher);
    return this.cmacKeys;
  }

  /** TR-31 derived keys when this key is used as a KBPK (version B for TDES, D for AES). */
  get keyBlockKeys(): KeyBlockKeys {
    this.blockKeys ??= deriveKeyBlockKeys(this.family === 'aes' ? 'D' : 'B', this.clear);
    return this.blockKeys;
  }

  info(): KeyInfo {
    return { handle: this.handle, type: this.type, algorithm: this.algorithm, kcv: this.kcv };
  }
}

/** Key types whose TR-31 usage is `usage`, the default for a foreign block first. */
export function typesForUsage(usage: string): readonly KeyType[] {
  const preferred = USAGE_DEFAULT_TYPE[usage];
  const all = KEY_TYPES.filter((t) => TYPE_USAGE[t].usage === usage && t !== 'COMPONENT' && t !== 'PSAM_SESSION');
  return preferred === undefined ? all : [preferred, ...all.filter((t) => t !== preferred)];
}

/** TR-31 usage → the type a foreign block without a fixpay type block imports as, by default. */
const USAGE_DEFAULT_TYPE: Readonly<Record<string, KeyType>> = {
  K0: 'ZMK',
  K1: 'KBPK',
  P0: 'ZPK',
  M3: 'ZAK',
  D0: 'ZEK',
  B0: 'BDK',
  E6: 'PBOC_MK',
  C0: 'CVK',
};

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

export interface KeyStoreOptions {
  readonly lmk: Uint8Array;
  readonly keyCacheEntriesMax?: number;
}

/** Wraps and unwraps handles under the LMK; keeps a bounded cache of unwrapped keys. */
export class LmkKeyStore {
  private readonly lmkKeys: KeyBlockKeys;
  private readonly cache = new Map<string, LoadedKey>();
  private readonly cacheMax: number;
  /** Check value of the LMK, 16 hex digits. */
  readonly lmkCheckValue: string;
  /** An AES key derived from the LMK, for PINs stored under the LMK. */
  readonly pinStorageKey: Buffer;
  /** An AES-256 key derived from the LMK, for card numbers kept at rest (`LmkPan`). */
  readonly panStorageKey: Buffer;

  constructor(options: KeyStoreOptions) {
    if (options.lmk.length !== LMK_BYTES) throw new FixpayError('HSM_LMK_INVALID', `expected ${LMK_BYTES} bytes`);
    const lmk = Buffer.from(options.lmk);
    this.lmkKeys = deriveKeyBlockKeys('D', lmk);
    this.lmkCheckValue = toHex(keyCheckValue(blockCipher('aes', lmk), 8));
    this.pinStorageKey = createHmac('sha256', lmk).update('fixpay/lmk/pin-storage/v1').digest().subarray(0, 16);
    this.panStorageKey = createHmac('sha256', lmk).update('fixpay/lmk/pan-storage/v1').digest();
    lmk.fill(0);
    this.cacheMax = options.keyCacheEntriesMax ?? HSM_DEFAULTS.keyCacheEntriesMax;
  }

  /** Random key material of `algorithm`, with odd parity for DES-family keys. */
  static randomKey(algorithm: KeyAlgorithm): Buffer {
    const spec = ALGORITHM_SPECS[algorithm];
    const key = randomBytes(spec.bytes);
    return spec.family === 'aes' ? key : withOddParity(key);
  }

  /**
   * Wraps a clear key under the LMK and returns it loaded (handle included). `exportable: false`
   * keeps a key the type would allow out inside the HSM for good (an imported TR-31 block marked
   * non-exportable).
   */
  store(type: KeyType, algorithm: KeyAlgorithm, clear: Uint8Array, exportable = true): LoadedKey {
    const spec = ALGORITHM_SPECS[algorithm];
    if (clear.length !== spec.bytes)
      throw new FixpayError('HSM_INPUT_INVALID', `a ${algorithm} key is ${spec.bytes} bytes`);
    const usage = TYPE_USAGE[type];
    const canLeave = usage.exportable && exportable;
    const header: Omit<KeyBlockHeader, 'versionId'> = {
      keyUsage: usage.usage,
      algorithm: spec.letter,
      modeOfUse: usage.mode,
      keyVersion: '00',
      exportability: canLeave ? 'E' : 'N',
      optionalBlocks: [{ id: TYPE_BLOCK_ID, data: type }],
    };
    const handle = `S${wrapKeyBlock(this.lmkKeys, header, clear)}` as KeyHandle;
    const loaded = new LoadedKey(handle, type, algorithm, canLeave, Buffer.from(clear));
    this.remember(handle, loaded);
    return loaded;
  }

  /** Unwraps a handle (cached). Throws HSM_KEY_INVALID when it is not a key under this LMK. */
  load(handle: string): LoadedKey {
    const hit = this.cache.get(handle);
    if (hit !== undefined) return hit;
    if (typeof handle !== 'string' || handle[0] !== 'S') throw new FixpayError('HSM_KEY_INVALID', 'not a key handle');
    let unwrapped: { header: KeyBlockHeader; key: Buffer };
    try {
      unwrapped = unwrapKeyBlock(this.lmkKeys, handle.slice(1));
    } catch (e) {
      if (e instanceof KeyBlockError) throw new FixpayError('HSM_KEY_INVALID', e.message);
      throw e;
    }
    const { header, key } = unwrapped;
    const typeName = header.optionalBlocks.find((b) => b.id === TYPE_BLOCK_ID)?.data ?? '';
    const algorithm = algorithmOf(header.algorithm, key.length);
    if (!isKeyType(typeName) || algorithm === undefined) throw new FixpayError('HSM_KEY_INVALID', 'unknown key type');
    const loaded = new LoadedKey(handle as KeyHandle, typeName, algorithm, header.exportability === 'E', key);
    this.remember(handle, loaded);
    return loaded;
  }

  private remember(handle: string, key: LoadedKey): void {
    if (this.cache.size >= this.cacheMax) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(handle, key);
  }

  /** True when `text` looks like a handle (for parsers); does not unwrap it. */
  static looksLikeHandle(text: string): boolean {
    if (text[0] !== 'S') return false;
    try {
      parseKeyBlockHeader(text.slice(1));
      return true;
    } catch {
      return false;
    }
  }
}
