/**
 * DES, TDES and AES block ciphers over Node's `crypto`, with the ECB contexts created once per key
 * and reused: `update()` on an ECB context without `final()` enciphers block by block, so one
 * context serves every later call (the decrypt and CBC contexts are built on first use). That keeps MAC and PIN hot paths to a few native calls each.
 *
 * Single DES is run as `des-ede3-ecb` with K‖K‖K (EDE with equal keys is DES), because OpenSSL 3
 * only ships `des-ecb` in its legacy provider.
 */
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import type { Cipheriv, Decipheriv, KeyObject } from 'node:crypto';
import { xorInto } from './bytes';

export type BlockAlgorithm = 'des' | 'tdes' | 'aes';

/** A keyed block cipher. Instances hold key material: keep them inside the HSM boundary. */
export interface BlockCipher {
  readonly algorithm: BlockAlgorithm;
  /** 8 for DES/TDES, 16 for AES. */
  readonly blockSize: number;
  /** Key length in bytes (8, 16, 24 for DES/TDES; 16, 24, 32 for AES). */
  readonly keyLength: number;
  /** ECB-enciphers whole blocks. Throws `RangeError` when `data` is not a whole number of blocks. */
  encrypt(data: Uint8Array): Buffer;
  /** ECB-deciphers whole blocks. */
  decrypt(data: Uint8Array): Buffer;
  /** CBC-enciphers whole blocks with `iv` (zero IV when omitted). */
  cbcEncrypt(data: Uint8Array, iv?: Uint8Array): Buffer;
  /** CBC-deciphers whole blocks with `iv` (zero IV when omitted). */
  cbcDecrypt(data: Uint8Array, iv?: Uint8Array): Buffer;
}

class EcbBlockCipher implements BlockCipher {
  readonly blockSize: number;
  private readonly keyObject: KeyObject;
  private readonly enc: Cipheriv;
  private decCache: Decipheriv | undefined;
  private cbcCache: Cipheriv | undefined;
  /** The CBC context's last output block: its chaining state, never reset (see `cbcEncrypt`). */
  private cbcState: Buffer;

  constructor(
    readonly algorithm: BlockAlgorithm,
    readonly keyLength: number,
    private readonly opensslName: string,
    key: Buffer,
  ) {
    this.blockSize = algorithm === 'aes' ? 16 : 8;
    this.keyObject = createSecretKey(key);
    this.enc = createCipheriv(opensslName, this.keyObject, null).setAutoPadding(false);
    this.cbcState = Buffer.alloc(this.blockSize);
  }

  private check(data: Uint8Array): void {
    if (data.length === 0 || data.length % this.blockSize !== 0) {
      throw new RangeError(`data must be a whole number of ${this.blockSize}-byte blocks`);
    }
  }

  encrypt(data: Uint8Array): Buffer {
    this.check(data);
    return this.enc.update(data);
  }

  decrypt(data: Uint8Array): Buffer {
    this.check(data);
    this.decCache ??= createDecipheriv(this.opensslName, this.keyObject, null).setAutoPadding(false);
    return this.decCache.update(data);
  }

  /**
   * One native call per message: a CBC context that is never finalised keeps chaining from its
   * last output block S, so feeding `P1 XOR IV XOR S, P2, …` yields exactly CBC(IV, P1, P2, …).
   */
  cbcEncrypt(data: Uint8Array, iv?: Uint8Array): Buffer {
    this.check(data);
    const n = this.blockSize;
    this.cbcCache ??= createCipheriv(
      this.opensslName.replace('-ecb', '-cbc'),
      this.keyObject,
      Buffer.alloc(n),
    ).setAutoPadding(false);
    const input = Buffer.from(data);
    xorInto(input.subarray(0, n), this.cbcState);
    if (iv !== undefined) xorInto(input.subarray(0, n), iv);
    const out = this.cbcCache.update(input);
    out.copy(this.cbcState, 0, out.length - n);
    return out;
  }

  cbcDecrypt(data: Uint8Array, iv?: Uint8Array): Buffer {
    this.check(data);
    const n = this.blockSize;
    const plain = this.decrypt(data);
    for (let off = plain.length - n; off >= 0; off -= n) {
      if (off === 0) {
        if (iv !== undefined) xorInto(plain.subarray(0, n), iv);
      } else {
        xorInto(plain.subarray(off, off + n), data, off - n);
      }
    }
    return plain;
  }
}

/**
 * Builds a block cipher for `key`. DES keys are 8 bytes, TDES 16 (K1‖K2, K3 = K1) or 24 bytes;
 * AES 16, 24 or 32 bytes. Parity is not checked here (callers that care use `hasOddParity`).
 * Throws `RangeError` on a key length the algorithm does not have.
 */
export function blockCipher(algorithm: BlockAlgorithm, key: Uint8Array): BlockCipher {
  const k = Buffer.from(key);
  if (algorithm === 'aes') {
    if (k.length !== 16 && k.length !== 24 && k.length !== 32) throw new RangeError('AES keys are 16, 24 or 32 bytes');
    return new EcbBlockCipher('aes', k.length, `aes-${k.length * 8}-ecb`, k);
  }
  if (algorithm === 'des' || k.length === 8) {
    if (k.length !== 8) throw new RangeError('DES keys are 8 bytes');
    return new EcbBlockCipher('des', 8, 'des-ede3-ecb', Buffer.concat([k, k, k]));
  }
  if (k.length === 16) return new EcbBlockCipher('tdes', 16, 'des-ede3-ecb', Buffer.concat([k, k.subarray(0, 8)]));
  if (k.length === 24) return new EcbBlockCipher('tdes', 24, 'des-ede3-ecb', k);
  throw new RangeError('TDES keys are 16 or 24 bytes');
}

/** The algorithm a DES-family key of this length uses: 8 bytes → DES, else TDES. */
export function desFamily(key: Uint8Array): BlockCipher {
  return blockCipher(key.length === 8 ? 'des' : 'tdes', key);
}
