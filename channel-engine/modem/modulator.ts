/* eslint-disable @typescript-eslint/no-non-null-assertion -- hot loop; table index is a 12-bit shift */
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
/** Sine tables scaled to each transmit amplitude, shared by all modulators at that level. */
const TABLES_MAX = 64;
const sineTables = new Map<number, Int16Array>();
function sineTable(amplitude: number): Int16Array {
  const key = Math.round(amplitude * 16);
  let t = sineTables.get(key);
  if (t === undefined) {
    t = new Int16Array(SINE_TABLE_SIZE);
    for (let i = 0; i < SINE_TABLE_SIZE; i++)
      t[i] = Math.round(amplitude * Math.sin((2 * Math.PI * i) / SINE_TABLE_SIZE));
    if (sineTables.size >= TABLES_MAX) sineTables.clear();
    sineTables.set(key, t);
  }
  return t;
}

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
 * Phase-continuous FSK transmitter: a 32-bit phase accumulator and a 4,096-entry sine table
 * already scaled to the transmit level (shared per level), so a sample costs a table read.
 */
class FskModulator implements BufferedModulator {
  /**
   * Mark step, space step and the phase accumulator, in an Int32Array: a value of 2^30 or more
   * (a 2100 Hz step, half the phases) kept in a plain field is boxed as a double, and the sample
   * loop then ran on doubles (~3x slower).
   */
  private readonly acc = new Int32Array(3);
  private readonly table: Int16Array;
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
    const step = (hz: number): number => Math.round(((hz * (1 + offset)) / SAMPLE_RATE_HZ) * 2 ** 32) | 0;
    this.acc[0] = step(tones.markHz);
    this.acc[1] = step(tones.spaceHz);
    this.table = sineTable(sineAmplitude(level));
    this.samplesPerBit = SAMPLE_RATE_HZ / (BAUD_RATE * (1 + drift));
  }

  burstSamples(byteCount: number): number {
    return Math.ceil((this.leadIn + byteCount * (9 + this.stopBits) + this.trail) * this.samplesPerBit);
  }

  modulate(bytes: Uint8Array): Int16Array {
    this.checkBytes(bytes);
    const out = new Int16Array(this.burstSamples(bytes.length));
    this.modulateInto(bytes, out, 0);
    return out;
  }

  modulateInto(bytes: Uint8Array, out: Int16Array, offset: number): number {
    this.checkBytes(bytes);
    const nSamples = this.burstSamples(bytes.length);
    if (!Number.isInteger(offset) || offset < 0 || offset + nSamples > out.length) {
      throw new FixpayError(
        'MODEM_BAD_OPTIONS',
        `burst of ${nSamples} samples does not fit at ${offset} in ${out.length}`,
      );
    }
    const bitsPerByte = 9 + this.stopBits;
    const spb = this.samplesPerBit;
    const table = this.table;
    const markStep = this.acc[0]!;
    const spaceStep = this.acc[1]!;
    let phase = this.acc[2]!;
    let n = offset;
    let bitEnd = this.leadIn * spb; // fractional end of the current run, relative to offset
    let end = offset + Math.ceil(bitEnd);
    for (; n < end; n++) {
      out[n] = table[phase >>> PHASE_SHIFT]!;
      phase = (phase + markStep) | 0;
    }
    for (let b = 0; b < bytes.length; b++) {
      // start bit (0), 8 data bits LSB first, stop bits (1): a 16-bit pattern read LSB first
      let pattern = (bytes[b]! << 1) | (0xffff << 9);
      for (let pos = 0; pos < bitsPerByte; pos++) {
        const step = (pattern & 1) === 1 ? markStep : spaceStep;
        pattern >>= 1;
        bitEnd += spb;
        end = offset + Math.ceil(bitEnd);
        for (; n < end; n++) {
          out[n] = table[phase >>> PHASE_SHIFT]!;
          phase = (phase + step) | 0;
        }
      }
    }
    end = offset + nSamples;
    for (; n < end; n++) {
      out[n] = table[phase >>> PHASE_SHIFT]!;
      phase = (phase + markStep) | 0;
    }
    this.acc[2] = phase;
    return nSamples;
  }

  private checkBytes(bytes: Uint8Array): void {
    if (bytes.length > TX_BYTES_MAX) {
      throw new FixpayError('MODEM_BAD_OPTIONS', `at most ${TX_BYTES_MAX} bytes per burst, got ${bytes.length}`);
    }
  }
}

/** A modulator that can also write into a caller's buffer (no allocation per burst). */
export interface BufferedModulator extends Modulator {
  /** Samples that modulate() produces for `byteCount` bytes. */
  burstSamples(byteCount: number): number;
  /** Writes the burst at `out[offset…]`; returns the samples written. Throws MODEM_BAD_OPTIONS if it does not fit. */
  modulateInto(bytes: Uint8Array, out: Int16Array, offset: number): number;
}

/** Creates a transmitter. Throws FixpayError MODEM_BAD_OPTIONS on invalid options. */
export function createModulator(o: ModemOptions): BufferedModulator {
  return new FskModulator(o);
}
