/**
 * PBOC key diversification and the per-transaction session key (payments.md §3.2):
 * `DK = 3DES(MK, f) ‖ 3DES(MK, ¬f)` per level, then `SK = 3DES(DK, R(4) ‖ counter(2) ‖ 80 00)`.
 * Clear keys in, clear keys out: HSM-internal and PSAM-internal only.
 */
import { blockCipher } from './block-cipher';

/** Diversifies a double-length key by one 8-byte factor (e.g. the PSAM serial). */
export function pbocDiversify(masterKey: Uint8Array, factor: Uint8Array): Buffer {
  if (factor.length !== 8) throw new RangeError('a PBOC diversification factor is 8 bytes');
  const cipher = blockCipher('tdes', masterKey);
  const inverted = Buffer.from(factor).map((b) => b ^ 0xff);
  return Buffer.concat([cipher.encrypt(factor), cipher.encrypt(inverted)]);
}

/** Multi-level diversification: one level per factor, in order. */
export function pbocDiversifyLevels(masterKey: Uint8Array, factors: readonly Uint8Array[]): Buffer {
  let key: Buffer = Buffer.from(masterKey);
  for (const f of factors) key = pbocDiversify(key, f);
  return key;
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

/** The single-DES session key for one transaction. */
export function pbocSessionKey(diversifiedKey: Uint8Array, random: Uint8Array, counter: number): Buffer {
  return blockCipher('tdes', diversifiedKey).encrypt(pbocSessionInput(random, counter));
}
