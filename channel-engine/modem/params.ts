import { FixpayError } from '../../domain/errors';
import type { Modulation } from './types';

export interface ToneParams {
  readonly markHz: number;
  readonly spaceHz: number;
}

/** Tone pairs: ITU-T V.23 mode 2 and Bell 202 (see docs/protocols/modem.md). */
export const TONES: Readonly<Record<Modulation, ToneParams>> = {
  v23: { markHz: 1300, spaceHz: 2100 },
  bell202: { markHz: 1200, spaceHz: 2200 },
};

/** Parses a modulation name from outside (CLI, config). Throws FixpayError MODEM_BAD_OPTIONS. */
export function parseModulation(value: string): Modulation {
  const v = value.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (v === 'v23') return 'v23';
  if (v === 'bell202' || v === 'bell' || v === '202') return 'bell202';
  throw new FixpayError('MODEM_BAD_OPTIONS', `unknown modulation ${JSON.stringify(value)} (use v23 or bell202)`);
}

/**
 * dBm0 convention (as spandsp): a full-scale 16-bit sine is +3.14 dBm0, so a 0 dBm0 sine has a
 * peak of 32767·10^(−3.14/20) ≈ 22,765.
 */
export const DBM0_FULL_SCALE_SINE = 3.14;

/** Peak amplitude of a sine at `levelDbm0`. */
export function sineAmplitude(levelDbm0: number): number {
  return 32767 * Math.pow(10, (levelDbm0 - DBM0_FULL_SCALE_SINE) / 20);
}

/** Mean-square value (in LSB²) of a signal at `levelDbm0`. */
export function meanSquareAt(levelDbm0: number): number {
  const a = sineAmplitude(levelDbm0);
  return (a * a) / 2;
}

/** Level in dBm0 of a signal with the given mean square (LSB²). */
export function dbm0OfMeanSquare(meanSquare: number): number {
  if (meanSquare <= 0) return -Infinity;
  return 10 * Math.log10(meanSquare / meanSquareAt(0));
}
