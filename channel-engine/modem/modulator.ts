import { FixpayError } from '../../domain/errors';
import { sineAmplitude, TONES } from './params';
import {
  BAUD_RATE,
  DEFAULT_LEAD_IN_MARK_BITS,
  DEFAULT_TRAIL_MARK_BITS,
  DEFAULT_TX_LEVEL_DBM0,
  SAMPLE_RATE_HZ,
  type ModemOptions,
  type Modulator,
} from './types';

/** Limits on transmit options (explicit, named). */
export const TX_LEVEL_DBM0_MIN = -60;
export const TX_LEVEL_DBM0_MAX = 3;
export const TX_MARK_BITS_MAX = 10_000;
export const TX_BYTES_MAX = 65_536;
export const TX_CARRIER_OFFSET_MAX = 0.05;
export const TX_CLOCK_DRIFT_MAX = 0.05;

const SINE_TABLE_BITS = 12;
const SINE_TABLE_SIZE = 1 << SINE_TABLE_BITS;
const PHASE_SHIFT = 32 - SINE_TABLE_BITS;
/** One period of a unit sine, shared by every modulator. */
const SINE = new Float32Array(SINE_TABLE_SIZE);
for (let i = 0; i < SINE_TABLE_SIZE; i++) SINE[i] = Math.sin((2 * Math.PI * i) / SINE_TABLE_SIZE);

function checkRange(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isFinite(v) || v < lo || v > hi) {
    throw new FixpayError('MODEM_BAD_OPTIONS', `${name} must be a number in [${lo}, ${hi}], got ${v}`);
  }
  return v;
}

function checkInt(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new FixpayError('MODEM_BAD_OPTIONS', `${name} must be an integer in [${lo}, ${hi}], got ${v}`);
  }
  return v;
}

/** Validates options shared by transmitter and receiver. Throws FixpayError MODEM_BAD_OPTIONS. */
export function checkCommonOptions(o: ModemOptions): void {
  if ((o.modulation as string) !== 'v23' && (o.modulation as string) !== 'bell202') {
    throw new FixpayError('MODEM_BAD_OPTIONS', `unknown modulation ${JSON.stringify(o.modulation)}`);
  }
  if (o.sampleRateHz !== undefined && (o.sampleRateHz as number) !== SAMPLE_RATE_HZ) {
    throw new FixpayError('MODEM_BAD_OPTIONS', `only ${SAMPLE_RATE_HZ} Hz audio is supported, got ${o.sampleRateHz}`);
  }
}

/**
 * Phase-continuous FSK transmitter: a 32-bit phase accumulator and a shared 4,096-entry sine
 * table, so the cost per sample is a table read, a multiply and a rounding.
 */
class FskModulator implements Modulator {
  private phase = 0;
  private readonly markStep: number;
  private readonly spaceStep: number;
  private readonly amplitude: number;
  private readonly samplesPerBit: number;
  private readonly leadIn: number;
  private readonly trail: number;
  private readonly stopBits: number;

  constructor(o: ModemOptions) {
    checkCommonOptions(o);
    const level = checkRange('levelDbm0', o.levelDbm0 ?? DEFAULT_TX_LEVEL_DBM0, TX_LEVEL_DBM0_MIN, TX_LEVEL_DBM0_MAX);
    this.leadIn = checkInt('leadInMarkBits', o.leadInMarkBits ?? DEFAULT_LEAD_IN_MARK_BITS, 0, TX_MARK_BITS_MAX);
    this.trail = checkInt('trailMarkBits', o.trailMarkBits ?? DEFAULT_TRAIL_MARK_BITS, 0, TX_MARK_BITS_MAX);
    this.stopBits = checkInt('stopBits', o.stopBits ?? 1, 1, 16);
    const offset = checkRange('carrierOffset', o.carrierOffset ?? 0, -TX_CARRIER_OFFSET_MAX, TX_CARRIER_OFFSET_MAX);
    const drift = checkRange('clockDrift', o.clockDrift ?? 0, -TX_CLOCK_DRIFT_MAX, TX_CLOCK_DRIFT_MAX);
    const tones = TONES[o.modulation];
    const step = (hz: number): number => Math.round(((hz * (1 + offset)) / SAMPLE_RATE_HZ) * 2 ** 32);
    this.markStep = step(tones.markHz);
    this.spaceStep = step(tones.spaceHz);
    this.amplitude = sineAmplitude(level);
    this.samplesPerBit = SAMPLE_RATE_HZ / (BAUD_RATE * (1 + drift));
  }

  modulate(bytes: Uint8Array): Int16Array {
    if (bytes.length > TX_BYTES_MAX) {
      throw new FixpayError('MODEM_BAD_OPTIONS', `at most ${TX_BYTES_MAX} bytes per burst, got ${bytes.length}`);
    }
    const bitsPerByte = 9 + this.stopBits;
    const nBits = this.leadIn + bytes.length * bitsPerByte + this.trail;
    const spb = this.samplesPerBit;
    const nSamples = Math.ceil(nBits * spb);
    const out = new Int16Array(nSamples);
    const amp = this.amplitude;
    const markStep = this.markStep;
    const spaceStep = this.spaceStep;
    let phase = this.phase;
    let n = 0;
    for (let bit = 0; bit < nBits; bit++) {
      let one = true;
      const k = bit - this.leadIn;
      if (k >= 0 && k < bytes.length * bitsPerByte) {
        const pos = k % bitsPerByte;
        if (pos === 0) one = false;
        else if (pos <= 8) one = (((bytes[(k / bitsPerByte) | 0] ?? 0) >> (pos - 1)) & 1) === 1;
      }
      const step = one ? markStep : spaceStep;
      const end = Math.min(nSamples, Math.ceil((bit + 1) * spb));
      for (; n < end; n++) {
        out[n] = Math.round(amp * (SINE[phase >>> PHASE_SHIFT] ?? 0));
        phase = (phase + step) >>> 0;
      }
    }
    this.phase = phase;
    return out;
  }
}

/** Creates a transmitter. Throws FixpayError MODEM_BAD_OPTIONS on invalid options. */
export function createModulator(o: ModemOptions): Modulator {
  return new FskModulator(o);
}
