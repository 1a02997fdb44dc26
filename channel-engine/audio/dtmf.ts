import { meanSquareAt } from './level';
import { Rng } from './noise';

/**
 * Deterministic DTMF and speech-like test audio (8 kHz), the kind of sound a line carries between
 * data bursts: a user keying digits, talking, line noise. The FSK receiver must not take any of it
 * for a data carrier (docs/protocols/modem.md); tests and `bench:modem` use this generator.
 */

/** DTMF row (low group) frequencies in Hz (ITU-T Q.23). */
export const DTMF_ROWS_HZ: readonly number[] = [697, 770, 852, 941];
/** DTMF column (high group) frequencies in Hz. */
export const DTMF_COLUMNS_HZ: readonly number[] = [1209, 1336, 1477, 1633];
/** The 16 keys, row by row. */
export const DTMF_KEYS = '123A456B789C*0#D';

export interface DtmfAudioOptions {
  /** Length of the audio in samples. */
  samples: number;
  seed: number;
  /** Tone duration range in ms (default 40–200). */
  toneMs?: readonly [number, number];
  /** Silence between digits in ms (default 40–300). */
  gapMs?: readonly [number, number];
  /** Level of the two-tone pair in dBm0 (default −25 … −3). */
  levelDbm0?: readonly [number, number];
  /** Twist: high-group level minus low-group level in dB (default −8 … +4). */
  twistDb?: readonly [number, number];
  /** Largest frequency deviation of each tone, as a fraction (default 0.015, Q.24's tolerance). */
  deviation?: number;
  /** Share of the gaps filled with speech-like sound instead of silence (default 0.3). */
  speechShare?: number;
  /** White line noise under everything, dBm0 (default −60). */
  noiseDbm0?: number;
}

const uniform = (rng: Rng, [lo, hi]: readonly [number, number]): number => lo + (hi - lo) * rng.next();

/**
 * Digits with random key, duration, gap, level, twist, frequency deviation and phase; some gaps
 * carry speech-like sound (noise through two moving resonators, with a syllabic envelope). The same
 * seed gives the same samples.
 */
export function dtmfAudio(o: DtmfAudioOptions): Int16Array {
  const rng = new Rng(o.seed);
  const toneMs = o.toneMs ?? [40, 200];
  const gapMs = o.gapMs ?? [40, 300];
  const level = o.levelDbm0 ?? [-25, -3];
  const twist = o.twistDb ?? [-8, 4];
  const dev = o.deviation ?? 0.015;
  const speechShare = o.speechShare ?? 0.3;
  const noiseRms = Math.sqrt(meanSquareAt(o.noiseDbm0 ?? -60));
  const out = new Float64Array(o.samples);
  let n = 0;
  while (n < o.samples) {
    // A digit.
    const key = rng.nextU32() % 16;
    const fl = (DTMF_ROWS_HZ[key >> 2] ?? 697) * (1 + dev * (2 * rng.next() - 1));
    const fh = (DTMF_COLUMNS_HZ[key & 3] ?? 1209) * (1 + dev * (2 * rng.next() - 1));
    const total = meanSquareAt(uniform(rng, level));
    const tw = Math.pow(10, uniform(rng, twist) / 10); // high power / low power
    const al = Math.sqrt((2 * total) / (1 + tw));
    const ah = al * Math.sqrt(tw);
    const pl = 2 * Math.PI * rng.next();
    const ph = 2 * Math.PI * rng.next();
    const len = Math.round(uniform(rng, toneMs) * 8);
    for (let i = 0; i < len && n < o.samples; i++, n++) {
      out[n] = al * Math.sin(pl + (2 * Math.PI * fl * i) / 8000) + ah * Math.sin(ph + (2 * Math.PI * fh * i) / 8000);
    }
    // A gap: silence, or speech-like sound.
    const gap = Math.round(uniform(rng, gapMs) * 8);
    if (rng.next() < speechShare) n = speechLike(out, n, gap * 4, rng);
    else n += gap;
  }
  const pcm = new Int16Array(o.samples);
  for (let i = 0; i < o.samples; i++) {
    const v = Math.round((out[i] ?? 0) + noiseRms * rng.gaussian());
    pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return pcm;
}

/** Speech-like sound into out[n, n + len): voiced buzz and noise through two gliding formant resonators. */
function speechLike(out: Float64Array, n: number, len: number, rng: Rng): number {
  const level = Math.sqrt(meanSquareAt(-20 + 10 * rng.next()));
  const pitch = 90 + 160 * rng.next();
  const f1a = 300 + 500 * rng.next();
  const f1b = 300 + 500 * rng.next();
  const f2a = 900 + 1600 * rng.next();
  const f2b = 900 + 1600 * rng.next();
  const syll = 3 + 3 * rng.next(); // syllables per second
  const r = 0.97;
  let y1 = 0;
  let y2 = 0;
  let z1 = 0;
  let z2 = 0;
  let ph = 0;
  const end = Math.min(out.length, n + len);
  const buf = new Float64Array(end - n);
  let p = 0;
  for (let i = 0; i < buf.length; i++) {
    const u = i / Math.max(1, buf.length);
    const f1 = f1a + (f1b - f1a) * u;
    const f2 = f2a + (f2b - f2a) * u;
    ph += pitch / 8000;
    const excitation = (ph % 1 < 0.1 ? 1 : 0) + 0.3 * rng.gaussian();
    const c1 = 2 * r * Math.cos((2 * Math.PI * f1) / 8000);
    const c2 = 2 * r * Math.cos((2 * Math.PI * f2) / 8000);
    const a = excitation + c1 * y1 - r * r * y2;
    y2 = y1;
    y1 = a;
    const b = a + c2 * z1 - r * r * z2;
    z2 = z1;
    z1 = b;
    const env = Math.max(0, Math.sin((Math.PI * syll * i) / 8000)) ** 2;
    const v = b * env;
    buf[i] = v;
    p += v * v;
  }
  const g = p > 0 ? level / Math.sqrt(p / buf.length) : 0;
  for (let i = 0; i < buf.length; i++) out[n + i] = (buf[i] ?? 0) * g;
  return end;
}
