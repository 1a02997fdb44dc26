/**
 * DUKPT key derivation, host side: TDES (ANSI X9.24-1:2009, 10-byte KSN, 21-bit counter) and
 * AES (ANSI X9.24-3:2017, 12-byte KSN = 8-byte initial key ID + 32-bit counter). Functions take
 * clear keys and return clear keys: they run only inside the HSM boundary.
 */
import { blockCipher } from './block-cipher';
import { xor } from './bytes';

/** Why a KSN cannot be used; the HSM maps it to HSM_KSN_INVALID. */
export class KsnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KsnError';
  }
}

// ---------------------------------------------------------------------------------------------
// TDES DUKPT (X9.24-1:2009)

const KEY_MASK_C0 = Buffer.from('C0C0C0C000000000C0C0C0C000000000', 'hex');
const TDES_COUNTER_BITS = 21;
/** X9.24-1 limits a device to counters with at most 10 one-bits. */
export const TDES_DUKPT_ONE_BITS_MAX = 10;

/** Variants applied to the current key to get a working key (X9.24-1 Annex A). */
export const TDES_DUKPT_VARIANTS = {
  pin: Buffer.from('00000000000000FF00000000000000FF', 'hex'),
  macRequest: Buffer.from('000000000000FF00000000000000FF00', 'hex'),
  macResponse: Buffer.from('00000000FF00000000000000FF000000', 'hex'),
  dataRequest: Buffer.from('0000000000FF00000000000000FF0000', 'hex'),
  dataResponse: Buffer.from('000000FF00000000000000FF00000000', 'hex'),
} as const;
export type TdesDukptVariant = keyof typeof TDES_DUKPT_VARIANTS;

function checkTdesKsn(ksn: Uint8Array): void {
  if (ksn.length !== 10) throw new KsnError('a TDES DUKPT KSN is 10 bytes');
}

/** IPEK from a double-length BDK and the KSN (its counter bits are masked off). */
export function tdesIpek(bdk: Uint8Array, ksn: Uint8Array): Buffer {
  checkTdesKsn(ksn);
  const base = Buffer.from(ksn.subarray(0, 8));
  base[7] = (base[7] ?? 0) & 0xe0;
  const left = blockCipher('tdes', bdk).encrypt(base);
  const right = blockCipher('tdes', xor(bdk, KEY_MASK_C0)).encrypt(base);
  return Buffer.concat([left, right]);
}

/** X9.24-1 non-reversible key generation process on a 16-byte key and the 8-byte KSN register. */
function nonReversibleKey(key: Buffer, register: Buffer): Buffer {
  const half = (k: Buffer): Buffer => {
    const right = k.subarray(8, 16);
    return xor(blockCipher('des', k.subarray(0, 8)).encrypt(xor(right, register)), right);
  };
  const newRight = half(key);
  const newLeft = half(xor(key, KEY_MASK_C0));
  return Buffer.concat([newLeft, newRight]);
}

/**
 * The current (transaction) key for a KSN, from the IPEK. Throws `KsnError` on a zero counter or
 * one with more one-bits than X9.24-1 allows.
 */
export function tdesCurrentKey(ipek: Uint8Array, ksn: Uint8Array): Buffer {
  checkTdesKsn(ksn);
  const counter = ((ksn[7] ?? 0) & 0x1f) * 65536 + (ksn[8] ?? 0) * 256 + (ksn[9] ?? 0);
  if (counter === 0) throw new KsnError('the KSN counter is zero');
  let ones = 0;
  for (let c = counter; c !== 0; c >>>= 1) ones += c & 1;
  if (ones > TDES_DUKPT_ONE_BITS_MAX) throw new KsnError('the KSN counter has too many one-bits');
  const register = Buffer.from(ksn.subarray(2, 10));
  register[5] = (register[5] ?? 0) & 0xe0;
  register[6] = 0;
  register[7] = 0;
  let key: Buffer = Buffer.from(ipek);
  for (let bit = 1 << (TDES_COUNTER_BITS - 1); bit > 0; bit >>>= 1) {
    if ((counter & bit) === 0) continue;
    register.writeUInt32BE((register.readUInt32BE(4) | bit) >>> 0, 4);
    key = nonReversibleKey(key, register);
  }
  return key;
}

/** A working key: the current key XOR a variant. */
export function tdesWorkingKey(currentKey: Uint8Array, variant: TdesDukptVariant): Buffer {
  return xor(currentKey, TDES_DUKPT_VARIANTS[variant]);
}

// ---------------------------------------------------------------------------------------------
// AES DUKPT (X9.24-3:2017)

export type AesDukptKeyType = 'aes128' | 'aes192' | 'aes256' | 'tdes2' | 'tdes3';
const KEY_TYPE: Record<AesDukptKeyType, { code: number; bits: number }> = {
  tdes2: { code: 0x0000, bits: 128 },
  tdes3: { code: 0x0001, bits: 192 },
  aes128: { code: 0x0002, bits: 128 },
  aes192: { code: 0x0003, bits: 192 },
  aes256: { code: 0x0004, bits: 256 },
};

/** X9.24-3 key usage indicators for working keys. */
export const AES_DUKPT_USAGE = {
  keyEncryption: 0x0002,
  pinEncryption: 0x1000,
  macGeneration: 0x2000,
  macVerification: 0x2001,
  macBoth: 0x2002,
  dataEncrypt: 0x3000,
  dataDecrypt: 0x3001,
  dataBoth: 0x3002,
} as const;
export type AesDukptUsage = keyof typeof AES_DUKPT_USAGE;
const USAGE_KEY_DERIVATION = 0x8000;
const USAGE_INITIAL_KEY = 0x8001;

function keyTypeOf(bdk: Uint8Array): AesDukptKeyType {
  if (bdk.length === 16) return 'aes128';
  if (bdk.length === 24) return 'aes192';
  if (bdk.length === 32) return 'aes256';
  throw new RangeError('AES DUKPT keys are 16, 24 or 32 bytes');
}

function derivationData(usage: number, keyType: AesDukptKeyType, tail: Uint8Array): Buffer {
  const data = Buffer.alloc(16);
  data[0] = 0x01; // version
  data[1] = 0x01; // key block counter, set per block below
  data.writeUInt16BE(usage, 2);
  data.writeUInt16BE(KEY_TYPE[keyType].code, 4);
  data.writeUInt16BE(KEY_TYPE[keyType].bits, 6);
  data.set(tail.subarray(0, 8), 8);
  return data;
}

/** X9.24-3 derivation: AES-ECB of the derivation data under `key`, one block per 128 bits. */
function deriveKey(key: Uint8Array, data: Buffer, keyType: AesDukptKeyType): Buffer {
  const cipher = blockCipher('aes', key);
  const bits = KEY_TYPE[keyType].bits;
  const blocks: Buffer[] = [];
  for (let i = 1; i * 128 < bits + 128; i++) {
    data[1] = i;
    blocks.push(cipher.encrypt(data));
  }
  return Buffer.concat(blocks).subarray(0, bits / 8);
}

function checkAesKsn(ksn: Uint8Array): number {
  if (ksn.length !== 12) throw new KsnError('an AES DUKPT KSN is 12 bytes');
  return Buffer.from(ksn).readUInt32BE(8);
}

/** Initial key from the BDK and the 8-byte initial key ID (the first 8 bytes of the KSN). */
export function aesInitialKey(bdk: Uint8Array, initialKeyId: Uint8Array): Buffer {
  const keyType = keyTypeOf(bdk);
  return deriveKey(bdk, derivationData(USAGE_INITIAL_KEY, keyType, initialKeyId), keyType);
}

/**
 * The transaction (derivation) key for a KSN: walk the counter's one-bits from the top, deriving
 * an intermediate key at each. Throws `KsnError` on a zero counter.
 */
export function aesTransactionKey(initialKey: Uint8Array, ksn: Uint8Array): Buffer {
  const counter = checkAesKsn(ksn);
  if (counter === 0) throw new KsnError('the KSN counter is zero');
  const keyType = keyTypeOf(initialKey);
  const tail = Buffer.alloc(8);
  tail.set(ksn.subarray(4, 8));
  let working = 0;
  let key: Buffer = Buffer.from(initialKey);
  for (let bit = 0x80000000; bit > 0; bit >>>= 1) {
    if ((counter & bit) === 0) continue;
    working = (working | bit) >>> 0;
    tail.writeUInt32BE(working, 4);
    key = deriveKey(key, derivationData(USAGE_KEY_DERIVATION, keyType, tail), keyType);
  }
  return key;
}

/** A working key of `usage` and `workingKeyType` from the transaction key. */
export function aesWorkingKey(
  transactionKey: Uint8Array,
  ksn: Uint8Array,
  usage: AesDukptUsage,
  workingKeyType: AesDukptKeyType = keyTypeOf(transactionKey),
): Buffer {
  checkAesKsn(ksn);
  const tail = Buffer.from(ksn.subarray(4, 12));
  return deriveKey(
    transactionKey,
    derivationData(AES_DUKPT_USAGE[usage], workingKeyType, tail),
    keyTypeOf(transactionKey),
  );
}
