import { meanSquareAt } from './level';

/**
 * Seeded pseudo-random numbers (xoshiro128**), so tests and benches are reproducible.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = NaN;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal (Box–Muller, polar form). */
  gaussian(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = NaN;
      return v;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * m;
    return u * m;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** White Gaussian noise (flat over 0–4 kHz at 8 kHz sampling) with the given RMS, as floats. */
export function whiteNoise(length: number, rms: number, rng: Rng): Float64Array {
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = rms * rng.gaussian();
  return out;
}

/** Noise RMS that gives `snrDb` (total signal power over total noise power, 0–4 kHz) against a signal at `signalDbm0`. */
export function noiseRmsForSnr(signalDbm0: number, snrDb: number): number {
  return Math.sqrt(meanSquareAt(signalDbm0) / Math.pow(10, snrDb / 10));
}

/** RMS of white noise at `levelDbm0`. */
export function noiseRmsAtDbm0(levelDbm0: number): number {
  return Math.sqrt(meanSquareAt(levelDbm0));
}

/** signal + noise, rounded and clipped to 16 bits. `noise` may be longer; extra samples are ignored. */
export function mixToPcm16(signal: Int16Array | Float64Array, noise: Float64Array): Int16Array {
  const out = new Int16Array(signal.length);
  for (let i = 0; i < signal.length; i++) {
    const v = Math.round((signal[i] ?? 0) + (noise[i] ?? 0));
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** Adds seeded white noise at `snrDb` relative to a signal at `signalDbm0`. */
export function addNoise(signal: Int16Array, signalDbm0: number, snrDb: number, rng: Rng): Int16Array {
  return mixToPcm16(signal, whiteNoise(signal.length, noiseRmsForSnr(signalDbm0, snrDb), rng));
}

/** Measured SNR in dB of `received` against the clean `reference` (same length). */
export function measureSnrDb(reference: Int16Array, received: Int16Array): number {
  let ps = 0;
  let pn = 0;
  const n = Math.min(reference.length, received.length);
  for (let i = 0; i < n; i++) {
    const r = reference[i] ?? 0;
    const e = (received[i] ?? 0) - r;
    ps += r * r;
    pn += e * e;
  }
  return pn === 0 ? Infinity : 10 * Math.log10(ps / pn);
}
