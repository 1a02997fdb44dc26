/* eslint-disable @typescript-eslint/no-non-null-assertion --
 * Hot DSP loops: every typed-array index below is bounded by construction (block length ≤
 * BLOCK_SAMPLES_MAX, histories of fixed size); the fuzz tests push arbitrary input through them.
 */
import { FixpayError } from '../../domain/errors';
import * as kernel from './kernel';
import { createJsCorrelator, createWasmCorrelator, MODULATIONS, type Correlator } from './kernel';
import { checkCommonOptions } from './modulator';
import { meanSquareAt, TONES } from './params';
import { BAUD_RATE, SAMPLE_RATE_HZ, type Modulation, type ModemEvent, type ModemMetrics } from './types';

/** Carrier decisions are taken every SUBBLOCK_SAMPLES samples (5 ms). */
export { WINDOW_SAMPLES, BLOCK_SAMPLES_MAX, SUBBLOCK_SAMPLES } from './kernel';

/**
 * A bank of FSK receivers with struct-of-arrays state (one slot per line in a few typed arrays),
 * so thousands of lines cost a few hundred bytes each and the DSP kernel runs over one line's
 * block with its state in locals.
 *
 * Per line and per sample: four quadrature correlators (mark/space × cos/sin) over a sliding
 * 8-sample window (a matched filter for each tone; non-coherent energy discriminator), then a
 * software UART that finds the start edge by interpolating the zero crossing of
 * (mark energy − space energy), validates the start bit by a 2-of-3 majority, samples each bit
 * at its centre, re-times on every data transition, and checks the stop bit.
 *
 * Carrier detection does not trust energy alone, and needs only a short lead-in: a line without
 * carrier becomes a *candidate* when {@link LEAD_WINDOW_SAMPLES} samples of pure mark are seen
 * (just before a mark→space crossing, or as a whole sub-block): enough level, most of the power in
 * one bin at the mark frequency, and no DTMF row tone beside it (see {@link ModemBank.markWindow}).
 * The candidate's carrier is confirmed, and `carrier-on` emitted, by its first character with a
 * good stop bit; a candidate with a sub-block that would fail a carrier, or that decodes nothing,
 * is dropped without an event. Idle lines are skipped by a block gate (energy, then a one-bin
 * Goertzel at the mark tone per 5 ms), which the lead-in opens; the raw samples of a skipped block
 * are kept for the mark window. ADR 0017. While the receiver waits for a start bit, a 20 ms block
 * that repeats the line's steady-mark reference exactly is skipped with its effect on the state
 * replayed, so decoding is the same as without it (steadySkip(); ADR 0015).
 */

/** Blocks at least this long go through the idle gate; shorter ones are always demodulated. */
export const GATE_MIN_SAMPLES = 80;
/**
 * Mark samples that make a line a carrier candidate (5 ms, 6 bits). They end a guard of
 * {@link LEAD_GUARD_SAMPLES} before the first start edge, so 8 mark bits (53 samples) of lead-in
 * leave about 10 samples to spare for timing jitter and alignment.
 */
export const LEAD_WINDOW_SAMPLES = 40;
/** Samples between the end of the mark window and the estimated start edge. */
export const LEAD_GUARD_SAMPLES = 3;
/** Raw samples kept per line from earlier blocks, for the mark window (≥ window + guard + correlator delay). */
const RAW_HIST = 64;
/** Consecutive failing sub-blocks needed to drop carrier (10 ms). */
export const CARRIER_OFF_SUBBLOCKS = 2;
/** Minimum receive level. */
export const MIN_RX_LEVEL_DBM0 = -46;

// Local copies: in CommonJS output an imported binding is a property read on every use.
const WINDOW_SAMPLES = kernel.WINDOW_SAMPLES;
const BLOCK_SAMPLES_MAX = kernel.BLOCK_SAMPLES_MAX;
const SUBBLOCK_SAMPLES = kernel.SUBBLOCK_SAMPLES;
const HIST = kernel.HIST;
const PERIOD = kernel.PERIOD;
const N = WINDOW_SAMPLES;
const T = SAMPLE_RATE_HZ / BAUD_RATE;
const SUB = SUBBLOCK_SAMPLES;
/** In-band ratio: mean correlator energy over mean power, normalised so that a clean tone is ≈ 1.16. */
const NORM = (N * N) / 2;
const RATIO_ON = 0.72;
const RATIO_OFF = 0.66;
/** Carrier drops when a sub-block's power falls below this fraction of the burst's mean power (−6 dB). */
const LEVEL_DROP_OFF = 0.25;
const MARKNESS_ON = 0.4;
/** Mark window: share of its power in the mark bin (clean tone ≈ 1.0, 6 dB SNR ≈ 0.8; DTMF, twist ≤ +4 dB: ≤ 0.72). */
const PURITY_ON = 0.7;
/** Mark window: largest DTMF row bin over the mark bin (lone Bell 202 mark 0.04; DTMF, twist ≤ +8 dB: ≥ 0.16). */
const ROW_MAX = 0.12;
/** DTMF row (low group) frequencies, the tones that tell a DTMF pair from a lone mark. */
const DTMF_ROWS_HZ = [697, 770, 852, 941];
const ROW_COEF = DTMF_ROWS_HZ.map((hz) => 2 * Math.cos((2 * Math.PI * hz) / SAMPLE_RATE_HZ));
const ROW_C0 = ROW_COEF[0]!;
const ROW_C1 = ROW_COEF[1]!;
const ROW_C2 = ROW_COEF[2]!;
const ROW_C3 = ROW_COEF[3]!;
const LW = LEAD_WINDOW_SAMPLES;
const LG = LEAD_GUARD_SAMPLES;
/** A byte whose tone energy is below this fraction of the burst's reference is noise after the burst. */
const BYTE_ENERGY_GATE = 0.3;
/** Idle gate: share of a 5 ms window's power in the mark bin that keeps the block (see idle()). */
const GATE_MARK_RATIO = 0.25;
const RETIME_GAIN = 0.25;
/** SNR estimate limits and noise constant (white noise over 0–4 kHz; see estimateSnrDb). */
const SNR_DB_MAX = 40;
const SNR_DB_MIN = -10;
/** Steady bits needed for an SNR estimate. */
const SNR_BITS_MIN = 8;
/**
 * Steady-mark gate: a block of exactly this many samples (20 ms, two mixer periods) that repeats
 * the reference block sample for sample is not demodulated (see steadySkip()).
 */
export const STEADY_BLOCK_SAMPLES = 2 * PERIOD;
const STEADY_SUBS = STEADY_BLOCK_SAMPLES / SUB;

const MIN_MS = meanSquareAt(MIN_RX_LEVEL_DBM0);
const LEAK_V23 = 0.071;
const LEAK_BELL202 = 0.0147;

interface Tables {
  /** Goertzel coefficient 2·cos(ω_mark). */
  gcoef: number;
  /** Losing/winning correlator energy on clean steady bits (see estimateSnrDb). */
  leak: number;
}

function makeTables(m: Modulation): Tables {
  const { markHz } = TONES[m];
  return {
    gcoef: 2 * Math.cos((2 * Math.PI * markHz) / SAMPLE_RATE_HZ),
    leak: m === 'v23' ? LEAK_V23 : LEAK_BELL202,
  };
}
const TABLES: readonly Tables[] = MODULATIONS.map(makeTables);

// Float64 state slots per line.
const F_XH = 0; // N input samples of history
const F_DH = F_XH + N; // HIST discriminator values
const F_EH = F_DH + HIST; // HIST energy values
const F_NEXT_T = F_EH + HIST; // absolute time of the next bit sample
const F_LAST_T = F_NEXT_T + 1; // absolute time of the previous bit sample
const F_BYTE_START = F_LAST_T + 1;
const F_BYTE_E = F_BYTE_START + 1;
const F_SUB_P = F_BYTE_E + 1;
const F_SUB_E = F_SUB_P + 1;
const F_SUB_D = F_SUB_E + 1;
const F_E_REF = F_SUB_D + 1;
const F_BURST_P = F_E_REF + 1;
const F_BURST_N = F_BURST_P + 1;
const F_BURST_M = F_BURST_N + 1;
const F_BURST_BITS = F_BURST_M + 1;
const F_PEND_E = F_BURST_BITS + 1; // loser energy of the previous bit, until its successor is known
const F_PEND_W = F_PEND_E + 1; // winner energy of the previous bit
const F_BURST_W = F_PEND_W + 1;
const F_CAND_START = F_BURST_W + 1;
const F_OFF_START = F_CAND_START + 1;
const F_SAMPLES = F_OFF_START + 1;
const F_LAST_SNR = F_SAMPLES + 1;
const F_PFE_AT = F_LAST_SNR + 1; // candidate: sample index of that character
const F_ST_P = F_PFE_AT + 1; // steady mark: Σx² of the reference block's STEADY_SUBS sub-blocks
const F_ST_E = F_ST_P + STEADY_SUBS; // steady mark: Σe of the same sub-blocks
const FS = F_ST_E + STEADY_SUBS;

// Int32 state slots per line.
const I_PHASE = 0;
const I_MOD = 1;
const I_FRAMER = 2; // 0 hunting, 1 in a byte, 2 expecting a back-to-back start edge
const I_BIT = 3;
const I_BYTE = 4;
const I_PREV_BIT = 5;
const I_CARRIER = 6; // 0 none, 1 carrier, 2 candidate (mark window seen, no character yet)
const I_PFE = 7; // candidate: 1 + data bits of a first character with a framing error, 0 if none
const I_BAD = 8;
const I_SUB_COUNT = 9;
const I_BURSTS = 10;
const I_BYTES = 11;
const I_FRAMING = 12;
const I_PEND = 13; // 1 if the previous bit equals the one before it (SNR: steady bits only)
const I_RAW_QUIET = 14; // 1: the raw history is below the minimum level (read as zeros, not copied)
const I_GATE_OPEN = 15; // 1: the previous block held a mark window, so this one is not gated (a lead-in split between them)
const I_STEADY = 16; // 1: the last demodulated block is a steady-mark reference (see steadySkip())
const IS = 17;

export type BankEventSink = (line: number, event: ModemEvent) => void;

export interface ModemBankOptions {
  /** Number of lines (receivers) in the bank. */
  lines: number;
  /** Modulation of every line at start; change one line with setModulation(). */
  modulation: Modulation;
  sampleRateHz?: 8000;
  /**
   * Correlator implementation: 'auto' (default) takes the WebAssembly SIMD kernel where the
   * runtime has it and the JS one otherwise; 'js' forces the JS kernel (tests, benchmarks).
   */
  kernel?: 'auto' | 'js';
  /**
   * Steady-mark gate (default true): skip demodulating a 20 ms block that repeats the previous
   * one exactly while the receiver waits for a start bit. Decoding is the same either way; false
   * is for tests and benchmarks that compare the two.
   */
  steadyGate?: boolean;
}

/** Upper bound on lines per bank (state is allocated up front). */
export const BANK_LINES_MAX = 100_000;

// Scratch shared by every bank (the kernels are synchronous and not re-entrant), made on first use.
let autoKernel: Correlator | undefined;
let jsKernel: Correlator | undefined;
function kernelFor(kind: 'auto' | 'js'): Correlator {
  if (kind === 'js') return (jsKernel ??= createJsCorrelator());
  return (autoKernel ??= createWasmCorrelator() ?? (jsKernel ??= createJsCorrelator()));
}

/** Many FSK receivers; see the module comment. */
export class ModemBank {
  readonly lines: number;
  private readonly f: Float64Array;
  private readonly s: Int32Array;
  /** Raw samples before the current block, RAW_HIST per line (the mark window may reach back into them). */
  private readonly h: Int16Array;
  /** Steady mark: the first PERIOD samples of the reference block, per line. */
  private readonly per: Int16Array;
  private readonly steadyGate: boolean;
  private steadySkipped = 0;
  /** The block being processed (pcm and offset), for the mark window. */
  private cur: Int16Array = new Int16Array(0);
  private curOff = 0;
  private readonly sink: BankEventSink;
  private readonly k: Correlator;

  /** Throws FixpayError MODEM_BAD_OPTIONS on invalid options. */
  constructor(o: ModemBankOptions, sink: BankEventSink) {
    checkCommonOptions({
      modulation: o.modulation,
      ...(o.sampleRateHz === undefined ? {} : { sampleRateHz: o.sampleRateHz }),
    });
    if (!Number.isInteger(o.lines) || o.lines < 1 || o.lines > BANK_LINES_MAX) {
      throw new FixpayError('MODEM_BAD_OPTIONS', `lines must be an integer in [1, ${BANK_LINES_MAX}], got ${o.lines}`);
    }
    this.lines = o.lines;
    this.f = new Float64Array(o.lines * FS);
    this.s = new Int32Array(o.lines * IS);
    this.h = new Int16Array(o.lines * RAW_HIST);
    this.per = new Int16Array(o.lines * PERIOD);
    this.steadyGate = o.steadyGate ?? true;
    this.sink = sink;
    this.k = kernelFor(o.kernel ?? 'auto');
    for (let l = 0; l < o.lines; l++) {
      this.s[l * IS + I_MOD] = MODULATIONS.indexOf(o.modulation);
      this.f[l * FS + F_LAST_SNR] = NaN;
    }
  }

  /** The correlator implementation in use. */
  get kernel(): Correlator['kind'] {
    return this.k.kind;
  }

  /** Blocks the steady-mark gate skipped, all lines together (tests and benchmarks). */
  get steadyBlocksSkipped(): number {
    return this.steadySkipped;
  }

  /** Bytes of receiver state per line (typed arrays only). */
  static stateBytesPerLine(): number {
    return FS * 8 + IS * 4 + RAW_HIST * 2 + PERIOD * 2;
  }

  /** Sets one line's modulation and resets its receiver. */
  setModulation(line: number, m: Modulation): void {
    this.checkLine(line);
    this.reset(line);
    this.s[line * IS + I_MOD] = MODULATIONS.indexOf(m);
  }

  /** Forgets one line's carrier, framing and sample counter (metrics and modulation are kept). */
  reset(line: number): void {
    this.checkLine(line);
    const fb = line * FS;
    const sb = line * IS;
    const snr = this.f[fb + F_LAST_SNR]!;
    this.f.fill(0, fb, fb + FS);
    this.f[fb + F_LAST_SNR] = snr;
    this.h.fill(0, line * RAW_HIST, (line + 1) * RAW_HIST);
    for (let i = 0; i < IS; i++) {
      if (i !== I_MOD && i !== I_BURSTS && i !== I_BYTES && i !== I_FRAMING) this.s[sb + i] = 0;
    }
  }

  metrics(line: number): ModemMetrics {
    this.checkLine(line);
    const sb = line * IS;
    return {
      bursts: this.s[sb + I_BURSTS]!,
      bytes: this.s[sb + I_BYTES]!,
      framingErrors: this.s[sb + I_FRAMING]!,
      lastSnrDb: this.f[line * FS + F_LAST_SNR]!,
    };
  }

  /** True while the line has carrier (a burst is being received; a candidate not yet confirmed is not). */
  hasCarrier(line: number): boolean {
    this.checkLine(line);
    return this.s[line * IS + I_CARRIER] === 1;
  }

  /** Feeds audio for one line (any length). Events go to the sink synchronously. */
  push(line: number, pcm: Int16Array, offset = 0, length: number = pcm.length - offset): void {
    this.checkLine(line);
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > pcm.length
    ) {
      throw new FixpayError('AUDIO_BAD_INPUT', `range ${offset}+${length} outside ${pcm.length} samples`);
    }
    let o = offset;
    const end = offset + length;
    while (o < end) {
      const len = Math.min(BLOCK_SAMPLES_MAX, end - o);
      this.block(line, pcm, o, len);
      o += len;
    }
  }

  /**
   * Feeds one block for every line: `pcm` holds `lines × blockLength` samples, line after line.
   * This is the batch entry the line drivers use every 20 ms.
   */
  pushAll(pcm: Int16Array, blockLength: number): void {
    if (!Number.isInteger(blockLength) || blockLength < 1 || pcm.length !== blockLength * this.lines) {
      throw new FixpayError('AUDIO_BAD_INPUT', `expected ${this.lines} × ${blockLength} samples, got ${pcm.length}`);
    }
    for (let l = 0; l < this.lines; l++) this.push(l, pcm, l * blockLength, blockLength);
  }

  private checkLine(line: number): void {
    if (!Number.isInteger(line) || line < 0 || line >= this.lines) {
      throw new FixpayError('MODEM_BAD_OPTIONS', `line ${line} outside [0, ${this.lines})`);
    }
  }

  /**
   * Idle gate: true when the block can be skipped (no carrier and no mark tone in it). Each 5 ms
   * of the block is tested on its own (level, then one Goertzel bin at the mark frequency), so a
   * short lead-in is not diluted by the rest of the block: the 53 samples of 8 mark bits fill at
   * least 27 of one aligned 40-sample window (a bin share ≥ 0.45), noise reaches 0.25 in under 1 %.
   * A block that passes on its mark also opens the gate for the next one: a lead-in split between
   * two blocks may hold its start edge in the block with the smaller part.
   */
  private idle(line: number, pcm: Int16Array, off: number, len: number, gcoef: number): boolean {
    let p = 0;
    for (let i = off, e = off + len; i < e; i++) {
      const x = pcm[i]!;
      p += x * x;
    }
    if (p < MIN_MS * LW) {
      // Too quiet to hold any part of a mark window: the raw history reads as silence.
      this.s[line * IS + I_RAW_QUIET] = 1;
      return true;
    }
    for (let w = off, end = off + len; w < end; w += LW) {
      const we = Math.min(end, w + LW);
      let pw = 0;
      let s1 = 0;
      let s2 = 0;
      for (let i = w; i < we; i++) {
        const x = pcm[i]!;
        pw += x * x;
        const s0 = x + gcoef * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      const n = we - w;
      if (pw < MIN_MS * n) continue;
      const g = s1 * s1 + s2 * s2 - gcoef * s1 * s2; // |X(f)|²
      if (g >= GATE_MARK_RATIO * pw * (n / 2)) {
        this.s[line * IS + I_GATE_OPEN] = 1;
        return false;
      }
    }
    return true;
  }

  private skip(line: number, pcm: Int16Array, off: number, len: number): void {
    const f = this.f;
    const s = this.s;
    const fb = line * FS;
    const sb = line * IS;
    for (let j = 0; j < N; j++) f[fb + F_XH + j] = j + len - N >= 0 ? pcm[off + j + len - N]! : f[fb + F_XH + j + len]!;
    for (let j = 0; j < HIST; j++) {
      f[fb + F_DH + j] = 0;
      f[fb + F_EH + j] = 0;
    }
    f[fb + F_SUB_P] = 0;
    f[fb + F_SUB_E] = 0;
    f[fb + F_SUB_D] = 0;
    f[fb + F_SAMPLES] = f[fb + F_SAMPLES]! + len;
    s[sb + I_PHASE] = (s[sb + I_PHASE]! + len) % PERIOD;
    s[sb + I_SUB_COUNT] = 0;
    s[sb + I_STEADY] = 0;
    if (s[sb + I_RAW_QUIET] === 0 || len < RAW_HIST) this.keepRaw(line, pcm, off, len);
  }

  /** Keeps the last RAW_HIST raw samples of history ++ block as the line's raw history. */
  private keepRaw(line: number, pcm: Int16Array, off: number, len: number): void {
    const h = this.h;
    const hb = line * RAW_HIST;
    const sq = line * IS + I_RAW_QUIET;
    // Element loops: a subarray() per block is an allocation.
    if (len >= RAW_HIST) {
      for (let j = 0, i = off + len - RAW_HIST; j < RAW_HIST; j++, i++) h[hb + j] = pcm[i]!;
    } else {
      if (this.s[sq] === 1) h.fill(0, hb, hb + RAW_HIST);
      h.copyWithin(hb, hb + len, hb + RAW_HIST);
      for (let j = RAW_HIST - len, i = off; j < RAW_HIST; j++, i++) h[hb + j] = pcm[i]!;
    }
    this.s[sq] = 0;
  }

  /**
   * The mark window: are raw samples [from, from + LW) of the current block (negative: earlier
   * blocks) a lone mark tone? Enough level; at least PURITY_ON of the power in one Goertzel bin at
   * the mark frequency (noise spreads its power, a DTMF pair splits it between two tones); and no
   * DTMF row tone beside it (Bell 202's mark, 1200 Hz, is 9 Hz from the 1209 Hz column, which 5 ms
   * cannot resolve; the row tone, 697–941 Hz, is what gives a DTMF pair away). Returns the window's
   * power (Σx²), or 0 if it is not a mark.
   */
  private markWindow(line: number, from: number, gcoef: number): number {
    const pcm = this.cur;
    const off = this.curOff;
    if (this.s[line * IS + I_RAW_QUIET] === 1) this.h.fill(0, line * RAW_HIST, (line + 1) * RAW_HIST);
    this.s[line * IS + I_RAW_QUIET] = 0;
    const h = this.h;
    const hb = line * RAW_HIST + RAW_HIST;
    let p = 0;
    let s1 = 0;
    let s2 = 0;
    for (let i = from, e = from + LW; i < e; i++) {
      const x = i >= 0 ? pcm[off + i]! : h[hb + i]!;
      p += x * x;
      const s0 = x + gcoef * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    if (p < MIN_MS * LW) return 0;
    const g = s1 * s1 + s2 * s2 - gcoef * s1 * s2;
    if (g < PURITY_ON * p * (LW / 2)) return 0;
    let a1 = 0;
    let a2 = 0;
    let b1 = 0;
    let b2 = 0;
    let c1 = 0;
    let c2 = 0;
    let d1 = 0;
    let d2 = 0;
    for (let i = from, e = from + LW; i < e; i++) {
      const x = i >= 0 ? pcm[off + i]! : h[hb + i]!;
      const a0 = x + ROW_C0 * a1 - a2;
      a2 = a1;
      a1 = a0;
      const b0 = x + ROW_C1 * b1 - b2;
      b2 = b1;
      b1 = b0;
      const c0 = x + ROW_C2 * c1 - c2;
      c2 = c1;
      c1 = c0;
      const d0 = x + ROW_C3 * d1 - d2;
      d2 = d1;
      d1 = d0;
    }
    const lim = ROW_MAX * g;
    if (a1 * a1 + a2 * a2 - ROW_C0 * a1 * a2 > lim) return 0;
    if (b1 * b1 + b2 * b2 - ROW_C1 * b1 * b2 > lim) return 0;
    if (c1 * c1 + c2 * c2 - ROW_C2 * c1 * c2 > lim) return 0;
    if (d1 * d1 + d2 * d2 - ROW_C3 * d1 * d2 > lim) return 0;
    return p;
  }

  /** Makes the line a carrier candidate from a mark window starting at absolute sample `start` with power `p`. */
  private candidate(line: number, start: number, p: number): void {
    const f = this.f;
    const s = this.s;
    const fb = line * FS;
    const sb = line * IS;
    s[sb + I_CARRIER] = 2;
    s[sb + I_BAD] = 0;
    s[sb + I_PFE] = 0;
    f[fb + F_CAND_START] = start;
    f[fb + F_E_REF] = 0; // set by the first character
    f[fb + F_BURST_M] = 0;
    f[fb + F_BURST_W] = 0;
    f[fb + F_BURST_BITS] = 0;
    f[fb + F_BURST_P] = p;
    f[fb + F_BURST_N] = LW;
  }

  private block(line: number, pcm: Int16Array, off: number, len: number): void {
    const f = this.f;
    const s = this.s;
    const fb = line * FS;
    const sb = line * IS;
    const tb = TABLES[s[sb + I_MOD]!]!;
    if (s[sb + I_GATE_OPEN] === 1) {
      s[sb + I_GATE_OPEN] = 0;
    } else if (s[sb + I_CARRIER] === 0 && len >= GATE_MIN_SAMPLES && this.idle(line, pcm, off, len, tb.gcoef)) {
      this.skip(line, pcm, off, len);
      return;
    } else if (s[sb + I_STEADY] === 1 && len === STEADY_BLOCK_SAMPLES && this.steadySkip(line, pcm, off)) {
      return;
    }
    // Steady-mark reference candidate: a 20 ms block on a sub-block boundary whose correlator
    // input history (the N samples before it) equals its own last N samples.
    let steady = this.steadyGate && len === STEADY_BLOCK_SAMPLES && s[sb + I_SUB_COUNT] === 0;
    if (steady) {
      for (let j = 0; j < N; j++) {
        if (f[fb + F_XH + j] !== pcm[off + len - N + j]) {
          steady = false;
          break;
        }
      }
    }
    const nSub = this.correlate(fb, sb, pcm, off, len);
    this.cur = pcm;
    this.curOff = off;
    // Pass 2: carrier decisions at sub-block ends, and the UART. While carrier is up a decision
    // that keeps it up emits nothing and needs nothing from the UART, so the UART runs once over
    // the block, except that it must catch up before carrier drops (the carrier-off event reports
    // the burst statistics the UART gathers). Without carrier, or with a candidate, the UART runs
    // up to each decision: it is what finds the mark window before a start edge and confirms the
    // candidate with its first character.
    let from = 0; // first block sample the UART has not seen
    for (let k = 0; k < nSub; k++) {
      const to = SUB_END[k]! + 1;
      if (
        s[sb + I_CARRIER] !== 1 ||
        (s[sb + I_BAD]! + 1 >= CARRIER_OFF_SUBBLOCKS && this.failing(fb, SUB_P[k]!, SUB_E[k]!))
      ) {
        this.uart(line, from, to);
        from = to;
      }
      this.carrierDecision(line, SUB_P[k]!, SUB_E[k]!, SUB_D[k]!, to);
    }
    if (from < len) this.uart(line, from, len);
    // With carrier up at the block end the next mark window cannot reach back into this block (the
    // carrier must first drop, after two failing sub-blocks, all after this block's last burst sample).
    if (s[sb + I_CARRIER] !== 1) this.keepRaw(line, pcm, off, len);
    // Keep the histories for the next block.
    const dd = this.k.dd;
    const ee = this.k.ee;
    for (let j = 0; j < HIST; j++) {
      f[fb + F_DH + j] = dd[len + j]!;
      f[fb + F_EH + j] = ee[len + j]!;
    }
    f[fb + F_SAMPLES] = f[fb + F_SAMPLES]! + len;
    s[sb + I_PHASE] = (s[sb + I_PHASE]! + len) % PERIOD;
    s[sb + I_STEADY] = steady && nSub === STEADY_SUBS && this.steadyReference(line, pcm, off) ? 1 : 0;
  }

  /**
   * After a demodulated 20 ms block (`steady` checks done by the caller: length, sub-block
   * boundary, correlator history equal to the block's end): is it a steady-mark reference? The
   * receiver waits for a start bit (carrier or candidate, UART hunting), the block repeats itself
   * after one mixer period (PERIOD samples: 13 cycles of 1300 Hz, 12 of 1200 Hz), and its
   * discriminator never goes below zero (the UART's hunt cannot find a mark→space crossing in it).
   * A reference keeps its first PERIOD samples and its sub-block sums for steadySkip().
   */
  private steadyReference(line: number, pcm: Int16Array, off: number): boolean {
    const s = this.s;
    const sb = line * IS;
    const c = s[sb + I_CARRIER]!;
    if (c === 0 || s[sb + I_FRAMER] !== 0) return false;
    for (let i = off + PERIOD, e = off + STEADY_BLOCK_SAMPLES; i < e; i++) if (pcm[i] !== pcm[i - PERIOD]) return false;
    const dd = this.k.dd;
    for (let i = HIST, e = HIST + STEADY_BLOCK_SAMPLES; i < e; i++) if (!(dd[i]! >= 0)) return false;
    const f = this.f;
    const fb = line * FS;
    for (let k = 0; k < STEADY_SUBS; k++) {
      f[fb + F_ST_P + k] = SUB_P[k]!;
      f[fb + F_ST_E + k] = SUB_E[k]!;
    }
    const per = this.per;
    for (let j = 0, pb = line * PERIOD; j < PERIOD; j++) per[pb + j] = pcm[off + j]!;
    return true;
  }

  /**
   * Steady-mark gate: skips a 20 ms block equal, sample for sample, to the line's steady-mark
   * reference block, and leaves the receiver exactly as demodulating it would have. The kernel's
   * output depends only on its input (the block and the N samples before it, equal to the
   * reference's) and the mixer phase (unchanged after two periods), so the discriminator, energy
   * and sub-block sums would be the reference's, bit for bit: the histories already hold the
   * reference's last values, the UART finds no crossing (the discriminator stays ≥ 0) and the raw
   * history already holds its last samples. What changes is replayed from the reference's
   * sub-block sums: the carrier decisions (burst power; any sub-block that would fail the carrier
   * or the candidate makes the block go through the demodulator instead) and the sample counter.
   * Returns false, changing nothing, when the block must be demodulated.
   */
  private steadySkip(line: number, pcm: Int16Array, off: number): boolean {
    const per = this.per;
    const pb = line * PERIOD;
    for (let j = 0, i = off; j < PERIOD; j++, i++) if (pcm[i] !== per[pb + j]) return false;
    for (let j = 0, i = off + PERIOD; j < PERIOD; j++, i++) if (pcm[i] !== per[pb + j]) return false;
    const f = this.f;
    const s = this.s;
    const fb = line * FS;
    const sb = line * IS;
    // The same arithmetic, in the same order, as failing() and carrierDecision() on each sub-block.
    let bp = f[fb + F_BURST_P]!;
    let bn = f[fb + F_BURST_N]!;
    for (let k = 0; k < STEADY_SUBS; k++) {
      const subP = f[fb + F_ST_P + k]!;
      const subE = f[fb + F_ST_E + k]!;
      if (
        subP < MIN_MS * SUB ||
        subE / (NORM * subP) < RATIO_OFF ||
        subP < LEVEL_DROP_OFF * (bp / Math.max(1, bn)) * SUB
      )
        return false;
      bp = bp + subP;
      bn = bn + SUB;
    }
    f[fb + F_BURST_P] = bp;
    f[fb + F_BURST_N] = bn;
    if (s[sb + I_CARRIER] === 1) s[sb + I_BAD] = 0;
    f[fb + F_SAMPLES] = f[fb + F_SAMPLES]! + STEADY_BLOCK_SAMPLES;
    this.steadySkipped++;
    return true;
  }

  /**
   * Pass 1: the correlator kernel (kernel.ts) over the line's history and block, then the
   * sub-block sums. Returns the number of sub-blocks that ended in this block.
   */
  private correlate(fb: number, sb: number, pcm: Int16Array, off: number, len: number): number {
    const f = this.f;
    const s = this.s;
    const k = this.k;
    const x = k.x;
    const dd = k.dd;
    const ee = k.ee;
    for (let j = 0; j < N; j++) x[j] = f[fb + F_XH + j]!;
    x.set(pcm.subarray(off, off + len), N); // a memcpy: an element loop into the WASM memory was ~13 % of receive time
    for (let j = 0; j < HIST; j++) {
      dd[j] = f[fb + F_DH + j]!;
      ee[j] = f[fb + F_EH + j]!;
    }
    // Sample n of the block (n < 0: history) has mixer phase (phase + n) mod PERIOD.
    let subCount = s[sb + I_SUB_COUNT]!;
    k.correlate(s[sb + I_MOD]!, (s[sb + I_PHASE]! - N + PERIOD) % PERIOD, len, SUB - subCount);
    const runs = k.runs;
    let subP = f[fb + F_SUB_P]!;
    let subE = f[fb + F_SUB_E]!;
    let subD = f[fb + F_SUB_D]!;
    let nSub = 0;
    let n = 0;
    for (let r = 0; n < len; r++) {
      // One run up to the next sub-block boundary (or the block end).
      const end = Math.min(len, n + SUB - subCount);
      subP += runs[3 * r]!;
      subE += runs[3 * r + 1]!;
      subD += runs[3 * r + 2]!;
      subCount += end - n;
      n = end;
      if (subCount === SUB) {
        SUB_P[nSub] = subP;
        SUB_E[nSub] = subE;
        SUB_D[nSub] = subD;
        SUB_END[nSub] = n - 1;
        nSub++;
        subCount = 0;
        subP = 0;
        subE = 0;
        subD = 0;
      }
    }
    // The last N samples of history ++ block become the next block's history.
    for (let j = 0; j < N; j++) f[fb + F_XH + j] = x[len + j]!;
    f[fb + F_SUB_P] = subP;
    f[fb + F_SUB_E] = subE;
    f[fb + F_SUB_D] = subD;
    s[sb + I_SUB_COUNT] = subCount;
    return nSub;
  }

  /** True when a sub-block fails to hold carrier up: low level, out of band, or far below the burst's power. */
  private failing(fb: number, subP: number, subE: number): boolean {
    const f = this.f;
    return (
      subP < MIN_MS * SUB ||
      subE / (NORM * subP) < RATIO_OFF ||
      subP < LEVEL_DROP_OFF * (f[fb + F_BURST_P]! / Math.max(1, f[fb + F_BURST_N]!)) * SUB
    );
  }

  /**
   * Carrier state machine, run at the end of every sub-block (`to`: block index after its last
   * sample). No carrier: a sub-block of mark makes the line a candidate (a lead-in long enough to
   * hold one whole sub-block; shorter ones are caught by the UART at the start edge). Candidate:
   * dropped silently by the first failing sub-block (noise rarely passes one). Carrier: drops
   * after CARRIER_OFF_SUBBLOCKS failing sub-blocks.
   */
  private carrierDecision(line: number, subP: number, subE: number, subD: number, to: number): void {
    const f = this.f;
    const s = this.s;
    const fb = line * FS;
    const sb = line * IS;
    const subStart = f[fb + F_SAMPLES]! + to - SUB;
    const c = s[sb + I_CARRIER]!;
    if (c === 0) {
      // Cheap tests first (correlator sums), the mark window only when they pass.
      if (subP >= MIN_MS * SUB && subE >= RATIO_ON * NORM * subP && subD >= MARKNESS_ON * subE) {
        const p = this.markWindow(line, to - LW, TABLES[s[sb + I_MOD]!]!.gcoef);
        if (p > 0) this.candidate(line, subStart, p);
      }
      return;
    }
    if (c === 2) {
      if (this.failing(fb, subP, subE)) {
        s[sb + I_CARRIER] = 0;
        s[sb + I_FRAMER] = 0;
      } else {
        f[fb + F_BURST_P] = f[fb + F_BURST_P]! + subP;
        f[fb + F_BURST_N] = f[fb + F_BURST_N]! + SUB;
      }
      return;
    }
    if (this.failing(fb, subP, subE)) {
      const bad = ++s[sb + I_BAD]!;
      if (bad === 1) f[fb + F_OFF_START] = subStart;
      if (bad >= CARRIER_OFF_SUBBLOCKS) {
        s[sb + I_CARRIER] = 0;
        s[sb + I_FRAMER] = 0;
        s[sb + I_BAD] = 0;
        const bits = Math.max(1, f[fb + F_BURST_BITS]!);
        const snr = estimateSnrDb(
          f[fb + F_BURST_P]! / Math.max(1, f[fb + F_BURST_N]!),
          f[fb + F_BURST_M]! / bits,
          f[fb + F_BURST_W]! / bits,
          f[fb + F_BURST_BITS]!,
          TABLES[s[sb + I_MOD]!]!.leak,
        );
        f[fb + F_LAST_SNR] = snr;
        this.sink(line, { type: 'carrier-off', sampleIndex: f[fb + F_OFF_START]!, snrDb: snr });
      }
    } else {
      s[sb + I_BAD] = 0;
      f[fb + F_BURST_P] = f[fb + F_BURST_P]! + subP;
      f[fb + F_BURST_N] = f[fb + F_BURST_N]! + SUB;
    }
  }

  /** Confirms a candidate: carrier-on (at the mark window's start), and a framing error held back. */
  private confirm(line: number): void {
    const f = this.f;
    const s = this.s;
    const fb = line * FS;
    const sb = line * IS;
    s[sb + I_CARRIER] = 1;
    s[sb + I_BAD] = 0;
    s[sb + I_BURSTS] = s[sb + I_BURSTS]! + 1;
    this.sink(line, { type: 'carrier-on', sampleIndex: f[fb + F_CAND_START]! });
    const pfe = s[sb + I_PFE]!;
    if (pfe !== 0) {
      s[sb + I_PFE] = 0;
      s[sb + I_FRAMING] = s[sb + I_FRAMING]! + 1;
      this.sink(line, { type: 'framing-error', sampleIndex: f[fb + F_PFE_AT]!, value: pfe - 1 });
    }
  }

  /**
   * The UART over block samples [from, to): hunts for a start edge sample by sample, then jumps
   * from one bit-sampling instant to the next (its cost is per bit, not per sample).
   */
  private uart(line: number, from: number, to: number): void {
    const f = this.f;
    const s = this.s;
    const fb = line * FS;
    const sb = line * IS;
    const dd = this.k.dd;
    const ee = this.k.ee;
    const s0 = f[fb + F_SAMPLES]!; // absolute index of block sample 0
    const toIdx = HIST - s0; // absolute time t ↦ index into dd/ee
    let framer = s[sb + I_FRAMER]!;
    let bit = s[sb + I_BIT]!;
    let byte = s[sb + I_BYTE]!;
    let prevBit = s[sb + I_PREV_BIT]!;
    let nextT = f[fb + F_NEXT_T]!;
    let lastT = f[fb + F_LAST_T]!;
    let byteStart = f[fb + F_BYTE_START]!;
    let byteE = f[fb + F_BYTE_E]!;
    let eRef = f[fb + F_E_REF]!;
    let burstM = f[fb + F_BURST_M]!;
    let burstBits = f[fb + F_BURST_BITS]!;
    let pendE = f[fb + F_PEND_E]!;
    let pendW = f[fb + F_PEND_W]!;
    let burstW = f[fb + F_BURST_W]!;
    let pend = s[sb + I_PEND]!;
    let n = from;
    while (n < to) {
      if (framer === 0) {
        // Hunt: a mark→space crossing of the discriminator.
        let dPrev = dd[HIST + n - 1]!;
        let d = dd[HIST + n]!;
        while (!(dPrev >= 0 && d < 0)) {
          if (++n >= to) break;
          dPrev = d;
          d = dd[HIST + n]!;
        }
        if (n >= to) break;
        const t0 = s0 + n - 1 + dPrev / (dPrev - d);
        if (s[sb + I_CARRIER] === 0) {
          // No carrier: a start edge counts only after a mark window (lead-in) that ends a guard
          // before it; the edge is about (N − 1)/2 before the crossing.
          const wFrom = Math.floor(t0 - s0 - (N - 1) / 2) - LG - LW;
          const p = wFrom >= -RAW_HIST ? this.markWindow(line, wFrom, TABLES[s[sb + I_MOD]!]!.gcoef) : 0;
          if (p === 0) {
            n++;
            continue;
          }
          this.candidate(line, s0 + wFrom, p);
          eRef = 0;
          burstM = 0;
          burstW = 0;
          burstBits = 0;
        }
        framer = 1;
        bit = 0;
        byte = 0;
        byteE = 0;
        byteStart = t0 - (N - 1) / 2;
        nextT = t0 + 0.75 * T;
        lastT = t0;
        n++;
        continue;
      }
      if (framer === 2) {
        // Back-to-back characters: after a good stop bit the next start edge is due half a bit
        // later. Take the falling crossing nearest that time within one bit, so a noise dip in
        // the stop bit does not win; with none there, hunt normally after the window.
        const winEnd = nextT + T;
        const needW = Math.floor(winEnd) + 1 - s0;
        if (needW >= to) break;
        const due = nextT + 0.5 * T;
        let best = Infinity;
        for (let i = Math.max(-HIST + 1, Math.ceil(nextT - s0)); i <= needW - 1; i++) {
          const a = dd[HIST + i - 1]!;
          const c = dd[HIST + i]!;
          if (a >= 0 && c < 0) {
            const tc = s0 + i - 1 + a / (a - c);
            if (Math.abs(tc - due) < Math.abs(best - due)) best = tc;
          }
        }
        if (best === Infinity) {
          framer = 0;
          if (needW > n) n = needW;
          continue;
        }
        framer = 1;
        bit = 0;
        byte = 0;
        byteE = 0;
        byteStart = best - (N - 1) / 2;
        nextT = best + 0.75 * T;
        lastT = best;
        continue;
      }
      const need = Math.floor(nextT) + 1 - s0; // block index at which d(nextT) can be interpolated
      if (need >= to) break;
      if (need > n) n = need;
      if (bit === 0) {
        // Start bit: 2-of-3 majority at ¼, ½, ¾ of the bit.
        const t0 = nextT - 0.75 * T;
        const neg =
          (interp(dd, t0 + 0.25 * T + toIdx) < 0 ? 1 : 0) +
          (interp(dd, t0 + 0.5 * T + toIdx) < 0 ? 1 : 0) +
          (interp(dd, nextT + toIdx) < 0 ? 1 : 0);
        if (neg >= 2) {
          bit = 1;
          prevBit = 0;
          pend = 0;
          lastT = t0 + 0.5 * T;
          nextT = lastT + T;
          byteE += interp(ee, lastT + toIdx);
        } else {
          // A noise dip, not a start bit: hunt again right after that crossing, so the real
          // start edge that may follow within the same bit is not skipped.
          framer = 0;
          // t0 lies in [crossing − 1, crossing) in block indices, so this is strictly past it.
          n = Math.max(from, Math.floor(t0 - s0) + 2);
        }
        continue;
      }
      const xi = nextT + toIdx;
      const i0 = Math.floor(xi);
      const fr = xi - i0;
      const d0 = dd[i0]!;
      const e0 = ee[i0]!;
      const v = d0 + fr * (dd[i0 + 1]! - d0);
      const ev = e0 + fr * (ee[i0 + 1]! - e0);
      const b = v >= 0 ? 1 : 0;
      byteE += ev;
      // SNR: at bits whose neighbours both have the same value (so the window, a little longer
      // than a bit, sees one tone only) the losing correlator holds noise plus a small leak.
      if (pend === 1 && b === prevBit) {
        burstM += pendE;
        burstW += pendW;
        burstBits += 1;
      }
      pend = b === prevBit ? 1 : 0;
      pendE = (ev - Math.abs(v)) / 2;
      pendW = (ev + Math.abs(v)) / 2;
      if (bit <= 8) {
        byte |= b << (bit - 1);
        let adj = 0;
        if (b !== prevBit) {
          // Re-time on the transition: the crossing nearest the midpoint of the two samples.
          const mid = (lastT + nextT) / 2;
          let best = Infinity;
          const iHi = Math.floor(nextT + toIdx);
          for (let i = Math.max(0, Math.ceil(lastT + toIdx)); i < iHi; i++) {
            const a = dd[i]!;
            const c = dd[i + 1]!;
            if (a < 0 !== c < 0) {
              const tc = i - toIdx + a / (a - c);
              if (Math.abs(tc - mid) < Math.abs(best - mid)) best = tc;
            }
          }
          if (best !== Infinity) adj = RETIME_GAIN * (best - mid);
        }
        prevBit = b;
        lastT = nextT + adj;
        nextT = lastT + T;
        bit++;
        continue;
      }
      // Stop bit. Characters whose tone energy is far below the burst's are noise after it: dropped.
      framer = 0;
      const eMean = byteE / 10;
      if (eMean >= BYTE_ENERGY_GATE * eRef) {
        const at = Math.max(0, Math.round(byteStart));
        if (b === 1) {
          framer = 2; // expect the next start edge half a bit from now (nextT stays the stop centre)
          if (s[sb + I_CARRIER] === 2) {
            // The candidate's first good character confirms the carrier.
            eRef = eMean;
            this.confirm(line);
          } else {
            eRef += 0.125 * (eMean - eRef);
          }
          s[sb + I_BYTES] = s[sb + I_BYTES]! + 1;
          this.sink(line, { type: 'byte', value: byte, sampleIndex: at });
        } else if (s[sb + I_CARRIER] === 2) {
          // Not yet a carrier: keep the first such character for when (if) one is confirmed.
          if (s[sb + I_PFE] === 0) {
            s[sb + I_PFE] = 1 + byte;
            f[fb + F_PFE_AT] = at;
          }
        } else {
          s[sb + I_FRAMING] = s[sb + I_FRAMING]! + 1;
          this.sink(line, { type: 'framing-error', sampleIndex: at, value: byte });
        }
      }
      n++;
    }
    s[sb + I_FRAMER] = framer;
    s[sb + I_BIT] = bit;
    s[sb + I_BYTE] = byte;
    s[sb + I_PREV_BIT] = prevBit;
    f[fb + F_NEXT_T] = nextT;
    f[fb + F_LAST_T] = lastT;
    f[fb + F_BYTE_START] = byteStart;
    f[fb + F_BYTE_E] = byteE;
    f[fb + F_E_REF] = eRef;
    f[fb + F_BURST_M] = burstM;
    f[fb + F_BURST_BITS] = burstBits;
    f[fb + F_PEND_E] = pendE;
    f[fb + F_PEND_W] = pendW;
    f[fb + F_BURST_W] = burstW;
    s[sb + I_PEND] = pend;
  }
}

// Sub-block sums of the current block (at most BLOCK_SAMPLES_MAX / SUB + 1 entries).
const SUB_MAX = kernel.RUNS_MAX;
const SUB_P = new Float64Array(SUB_MAX);
const SUB_E = new Float64Array(SUB_MAX);
const SUB_D = new Float64Array(SUB_MAX);
const SUB_END = new Int32Array(SUB_MAX);

/** Linear interpolation of `a` at fractional index `x` (x ≥ 0, ⌊x⌋+1 inside `a`). */
function interp(a: Float32Array, x: number): number {
  const i = Math.floor(x);
  const v = a[i]!;
  return v + (x - i) * (a[i + 1]! - v);
}

/**
 * SNR from the burst's mean power P = S + σ² and, at bits whose neighbours have the same value,
 * the mean losing-correlator energy L and winning energy W: the loser holds N·σ² of white noise
 * (σ² over 0–4 kHz) plus a leak λ·W of the other tone (λ measured on clean bursts), so
 * σ² ≈ (L − λ·W)/N and SNR = (P − σ²)/σ². NaN without enough steady bits.
 */
function estimateSnrDb(p: number, l: number, w: number, bits: number, leak: number): number {
  if (!(p > 0) || bits < SNR_BITS_MIN) return NaN;
  const noise = Math.max(0, (l - leak * w) / N);
  if (noise <= 0) return SNR_DB_MAX;
  const signal = p - noise;
  if (signal <= 0) return SNR_DB_MIN;
  return Math.min(SNR_DB_MAX, Math.max(SNR_DB_MIN, 10 * Math.log10(signal / noise)));
}
