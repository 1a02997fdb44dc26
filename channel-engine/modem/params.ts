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

export { DBM0_FULL_SCALE_SINE, sineAmplitude, meanSquareAt, dbm0OfMeanSquare } from '../audio/level';
