/**
 * The modem API the link layer codes against (issue 4). Keep these names stable; add, never rename.
 */

/** ITU-T V.23 mode 2 (mark 1300 Hz, space 2100 Hz) or Bell 202 (mark 1200 Hz, space 2200 Hz), both 1200 bit/s. */
export type Modulation = 'v23' | 'bell202';

export interface ModemOptions {
  modulation: Modulation;
  /** Only 8 kHz audio is supported. */
  sampleRateHz?: 8000;
  /** Transmit level of the tone in dBm0 (default {@link DEFAULT_TX_LEVEL_DBM0}). */
  levelDbm0?: number;
  /** Mark bits sent before the first byte (default {@link DEFAULT_LEAD_IN_MARK_BITS}). */
  leadInMarkBits?: number;
  /** Mark bits sent after the last byte (default {@link DEFAULT_TRAIL_MARK_BITS}). */
  trailMarkBits?: number;
  /**
   * Test and interop knobs (transmit side): carrier offset as a fraction (0.01 = +1 %) and
   * bit-clock drift as a fraction (0.005 = the transmitter's bits are 0.5 % faster).
   */
  carrierOffset?: number;
  clockDrift?: number;
  /** Stop bits per byte on transmit (default 1). */
  stopBits?: number;
  /**
   * Receive side: the steady-mark gate (default true) skips 20 ms blocks that repeat the previous
   * one exactly while the receiver waits for a start bit; decoding is the same either way. False
   * only for comparisons (tests, benchmarks).
   */
  steadyGate?: boolean;
}

export interface Modulator {
  /**
   * Carrier lead-in of mark bits, 8N1 bytes back to back (LSB first), trailing mark; the burst
   * ends on the last trailing mark sample (no silence appended). Phase is continuous across calls.
   */
  modulate(bytes: Uint8Array): Int16Array;
}

export type ModemEvent =
  | { type: 'carrier-on'; sampleIndex: number }
  | { type: 'byte'; value: number; sampleIndex: number }
  /** A character whose stop bit read as space; `value` holds its data bits, which may still be right. */
  | { type: 'framing-error'; sampleIndex: number; value?: number }
  | { type: 'carrier-off'; sampleIndex: number; snrDb: number };

export interface Demodulator {
  /** Feeds audio; returns the events found so far. Sample indices count from creation or the last reset(). */
  push(pcm: Int16Array): ModemEvent[];
  /** Forgets all state (carrier, framing, sample counter); metrics are kept. */
  reset(): void;
}

/** Per-line counters (metrics hooks). */
export interface ModemMetrics {
  bursts: number;
  bytes: number;
  framingErrors: number;
  /** SNR estimate of the last completed burst in dB (NaN before the first). */
  lastSnrDb: number;
}

export const DEFAULT_TX_LEVEL_DBM0 = -14;
export const DEFAULT_LEAD_IN_MARK_BITS = 40;
export const DEFAULT_TRAIL_MARK_BITS = 8;
/** Mark bits the receiver needs before the first start bit to catch a burst (bench:modem measures 6–8). */
export const MIN_LEAD_IN_MARK_BITS = 8;
export const SAMPLE_RATE_HZ = 8000;
export const BAUD_RATE = 1200;
