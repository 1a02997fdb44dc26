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
 * Carrier detection does not trust energy alone: the carrier goes on only after
 * {@link CARRIER_ON_SUBBLOCKS} sub-blocks in a row that have enough level, most of their energy
 * inside the two tone correlators, and a clear mark (the lead-in). Idle lines are skipped by a
 * block gate (energy, then a single-bin Goertzel at the mark tone), which the lead-in always opens.
 */

/** Blocks at least this long go through the idle gate; shorter ones are always demodulated. */
export const GATE_MIN_SAMPLES = 80;
/** Consecutive qualifying sub-blocks (of mark lead-in) needed to raise carrier (20 ms). */
export const CARRIER_ON_SUBBLOCKS = 4;
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
/** A byte whose tone energy is below this fraction of the burst's reference is noise after the burst. */
const BYTE_ENERGY_GATE = 0.3;
const GATE_MARK_RATIO = 0.08;
const RETIME_GAIN = 0.25;
/** SNR estimate limits and noise constant (white noise over 0–4 kHz; see estimateSnrDb). */
const SNR_DB_MAX = 40;
const SNR_DB_MIN = -10;
/** Steady bits needed for an SNR estimate. */
const SNR_BITS_MIN = 8;

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
const FS = F_LAST_SNR + 1;

// Int32 state slots per line.
const I_PHASE = 0;
const I_MOD = 1;
const I_FRAMER = 2; // 0 hunting, 1 in a byte, 2 expecting a back-to-back start edge
const I_BIT = 3;
const I_BYTE = 4;
const I_PREV_BIT = 5;
const I_CARRIER = 6;
const I_GOOD = 7;
const I_BAD = 8;
const I_SUB_COUNT = 9;
const I_BURSTS = 10;
const I_BYTES = 11;
const I_FRAMING = 12;
const I_PEND = 13; // 1 if the previous bit equals the one before it (SNR: steady bits only)
const IS = 14;

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

  /** Bytes of receiver state per line (typed arrays only). */
  static stateBytesPerLine(): number {
    return FS * 8 + IS * 4;
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

  /** True while the line has carrier (a burst is being received). */
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

  /** Idle gate: true when the block can be skipped (no carrier and no mark tone in it). */
  private idle(pcm: Int16Array, off: number, len: number, gcoef: number): boolean {
    let p = 0;
    for (let i = off, e = off + len; i < e; i++) {
      const x = pcm[i]!;
      p += x * x;
    }
    if (p < MIN_MS * len) return true;
    let s1 = 0;
    let s2 = 0;
    for (let i = off, e = off + len; i < e; i++) {
      const s0 = pcm[i]! + gcoef * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const g = s1 * s1 + s2 * s2 - gcoef * s1 * s2; // |X(f)|²
    return g < GATE_MARK_RATIO * p * (len / 2);
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
    s[sb + I_GOOD] = 0;
  }

  private block(line: number, pcm: Int16Array, off: number, len: number): void {
    const f = this.f;
    const s = this.s;
    const fb = line * FS;
    const sb = line * IS;
    const tb = TABLES[s[sb + I_MOD]!]!;
    if (s[sb + I_CARRIER] === 0 && len >= GATE_MIN_SAMPLES && this.idle(pcm, off, len, tb.gcoef)) {
      this.skip(line, pcm, off, len);
      return;
    }
    const nSub = this.correlate(fb, sb, pcm, off, len);
    // Pass 2: carrier decisions at sub-block ends, and the UART over the samples while carrier is
    // up. A decision that keeps carrier up emits nothing and needs nothing from the UART, so the
    // UART runs once over the block, except that it must catch up before carrier drops (the
    // carrier-off event reports the burst statistics the UART gathers).
    let from = 0; // first block sample the UART has not seen
    for (let k = 0; k < nSub; k++) {
      const to = SUB_END[k]! + 1;
      const on = s[sb + I_CARRIER] === 1;
      if (on && s[sb + I_BAD]! + 1 >= CARRIER_OFF_SUBBLOCKS && this.failing(fb, SUB_P[k]!, SUB_E[k]!)) {
        this.uart(line, from, to);
      }
      this.carrierDecision(line, SUB_P[k]!, SUB_E[k]!, SUB_D[k]!, f[fb + F_SAMPLES]! + to - SUB);
      if (!on || s[sb + I_CARRIER] === 0) from = to;
    }
    if (s[sb + I_CARRIER] === 1 && from < len) this.uart(line, from, len);
    // Keep the histories for the next block.
    const dd = this.k.dd;
    const ee = this.k.ee;
    for (let j = 0; j < HIST; j++) {
      f[fb + F_DH + j] = dd[len + j]!;
      f[fb + F_EH + j] = ee[len + j]!;
    }
    f[fb + F_SAMPLES] = f[fb + F_SAMPLES]! + len;
    s[sb + I_PHASE] = (s[sb + I_PHASE]! + len) % PERIOD;
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

  /** Carrier state machine, run at the end of every sub-block. */
  private carrierDecision(line: number, subP: number, subE: number, subD: number, subStart: number): void {
    const f = this.f;
    const s = this.s;
    const fb = line * FS;
    const sb = line * IS;
    const inBand = subP > 0 ? subE / (NORM * subP) : 0;
    const levelOk = subP >= MIN_MS * SUB;
    if (s[sb + I_CARRIER] === 0) {
      const markness = subE > 0 ? subD / subE : 0;
      if (levelOk && inBand >= RATIO_ON && markness >= MARKNESS_ON) {
        const good = ++s[sb + I_GOOD]!;
        if (good === 1) f[fb + F_CAND_START] = subStart;
        if (good >= CARRIER_ON_SUBBLOCKS) {
          s[sb + I_CARRIER] = 1;
          s[sb + I_FRAMER] = 0;
          s[sb + I_GOOD] = 0;
          s[sb + I_BAD] = 0;
          s[sb + I_BURSTS] = s[sb + I_BURSTS]! + 1;
          f[fb + F_E_REF] = subE / SUB;
          f[fb + F_BURST_M] = 0;
          f[fb + F_BURST_W] = 0;
          f[fb + F_BURST_BITS] = 0;
          f[fb + F_BURST_P] = subP;
          f[fb + F_BURST_N] = SUB;
          this.sink(line, { type: 'carrier-on', sampleIndex: f[fb + F_CAND_START]! });
        }
      } else {
        s[sb + I_GOOD] = 0;
      }
    } else if (this.failing(fb, subP, subE)) {
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
          eRef += 0.125 * (eMean - eRef);
          s[sb + I_BYTES] = s[sb + I_BYTES]! + 1;
          this.sink(line, { type: 'byte', value: byte, sampleIndex: at });
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
