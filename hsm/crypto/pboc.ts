/**
 * PBOC key diversification and the per-transaction session key (payments.md §3.2):
 * `DK = 3DES(MK, f) ‖ 3DES(MK, ¬f)` per level, then `SK = 3DES(DK, R(4) ‖ counter(2) ‖ 80 00)`.
 * Clear keys in, clear keys out: HSM-internal and PSAM-internal only.
 */
import { blockCipher } from './block-cipher';
import type { BlockCipher } from './block-cipher';

/** Diversifies a double-length key (or its cipher) by one 8-byte factor (e.g. the PSAM serial). */
export function pbocDiversify(masterKey: Uint8Array | BlockCipher, factor: Uint8Array): Buffer {
  if (factor.length !== 8) throw new RangeError('a PBOC diversification factor is 8 bytes');
  const cipher = masterKey instanceof Uint8Array ? blockCipher('tdes', masterKey) : masterKey;
  const inverted = Buffer.from(factor).map((b) => b ^ 0xff);
  return cipher.encrypt(Buffer.concat([factor, inverted]));
}

/** Multi-level diversification: one level per factor, in order. */
export function pbocDiversifyLevels(masterKey: Uint8Array | BlockCipher, factors: readonly Uint8Array[]): Buffer {
  let key: Uint8Array | BlockCipher = masterKey;
  let out: Buffer = Buffer.alloc(0);
  for (const f of factors) {
    out = pbocDiversify(key, f);
    key = out;
  }
  if (factors.length === 0) throw new RangeError('at least one diversification factor');
  return out;
}

/** PSAM counters are 2 bytes on the card. */
export const PBOC_COUNTER_MAX = 0xffff;

/** The 8-byte session-key input `R(4) ‖ counter(2) ‖ 80 00`. */
export function pbocSessionInput(random: Uint8Array, counter: number): Buffer {
  if (random.length !== 4) throw new RangeError('the PSAM random number is 4 bytes');
  if (!Number.isInteger(counter) || counter < 0 || counter > PBOC_COUNTER_MAX) throw new RangeError('bad counter');
  const input = Buffer.alloc(8);
  input.set(random);
  input.writeUInt16BE(counter, 4);
  input[6] = 0x80;
  return input;
}

/** The single-DES session key for one transaction, from the diversified key (or its cipher). */
export function pbocSessionKey(diversifiedKey: Uint8Array | BlockCipher, random: Uint8Array, counter: number): Buffer {
  const cipher = diversifiedKey instanceof Uint8Array ? blockCipher('tdes', diversifiedKey) : diversifiedKey;
  return cipher.encrypt(pbocSessionInput(random, counter));
}
