/* eslint-disable @typescript-eslint/no-non-null-assertion --
 * Hot DSP loops: every typed-array index is bounded by construction (block length ≤
 * BLOCK_SAMPLES_MAX, tables of fixed size); kernel.test.ts pushes random input through them.
 */
import { isArrayBuffer } from 'node:util/types';
import { TONES } from './params';
import { SAMPLE_RATE_HZ, type Modulation } from './types';
import { encodeModule, F64, I32, op, V128, type Bytes, type FuncSpec } from './wasm';

/**
 * The receiver's correlator stage (pass 1 of bank.ts), in two interchangeable implementations
 * with one memory layout: a WebAssembly SIMD kernel (f32x4 across the four mixer products of a
 * line, four samples per iteration) and a plain JS fallback for runtimes without WASM SIMD.
 *
 * For block sample n the stage computes four sliding {@link WINDOW_SAMPLES}-sample quadrature
 * correlators (mark/space × cos/sin) and writes the discriminator d = |mark|² − |space|² to
 * `dd[HIST + n]` and the tone energy e = |mark|² + |space|² to `ee[HIST + n]`; `dd/ee[0, HIST)`
 * hold the caller's history of earlier blocks. Single precision is enough: the correlators are
 * re-derived from the N input samples of history at every block (no drift), and the UART only
 * compares and interpolates d and e.
 */

/** Correlator window in samples (one bit is 6.67 samples at 8 kHz; 8 gave the best BER of 6–10, see docs). */
const WINDOW_SAMPLES = 8;
/** Largest block the kernel processes at once; longer pushes are split. */
const BLOCK_SAMPLES_MAX = 160;
/** Discriminator history kept across blocks (> one bit + re-timing margin). */
const HIST = 12;
/** Every tone used is a multiple of 100 Hz, so all mixers repeat every PERIOD samples. */
const PERIOD = 80;
/** Sub-block length: the kernel also sums x², e and d over sub-blocks (5 ms) for carrier detection. */
const SUBBLOCK_SAMPLES = 40;
/** The SIMD kernel works on groups of this many samples and may compute up to GROUP − 1 past the block end. */
const GROUP = 4;

const N = WINDOW_SAMPLES;
/** Mixer table entries: any phase, N history samples, a block and the group overrun. */
const TABLE_LEN = PERIOD + N + BLOCK_SAMPLES_MAX + GROUP;
/** Input samples: N of history, the block and the group overrun. */
const X_LEN = N + BLOCK_SAMPLES_MAX + GROUP;
/** Output entries: HIST of history, the block and the group overrun. */
const D_LEN = HIST + BLOCK_SAMPLES_MAX + GROUP;
/** Runs a block is cut into: a partial sub-block, whole ones, a partial one. */
const RUNS_MAX = Math.ceil(BLOCK_SAMPLES_MAX / SUBBLOCK_SAMPLES) + 1;

// Exported by name below, so that tsc's CommonJS output reads the hot constants from locals
// (an `export const` is read back as a property of `exports` on every use).
export { WINDOW_SAMPLES, BLOCK_SAMPLES_MAX, HIST, PERIOD, SUBBLOCK_SAMPLES, RUNS_MAX };

export const MODULATIONS: readonly Modulation[] = ['v23', 'bell202'];

/** Interleaved mixers per modulation: cos mark, sin mark, cos space, sin space, per sample of phase. */
export const MIXERS: readonly Float64Array[] = MODULATIONS.map((m) => {
  const { markHz, spaceHz } = TONES[m];
  const mix = new Float64Array(4 * TABLE_LEN);
  for (let i = 0; i < TABLE_LEN; i++) {
    const wm = (2 * Math.PI * markHz * (i % PERIOD)) / SAMPLE_RATE_HZ;
    const ws = (2 * Math.PI * spaceHz * (i % PERIOD)) / SAMPLE_RATE_HZ;
    mix[4 * i] = Math.cos(wm);
    mix[4 * i + 1] = Math.sin(wm);
    mix[4 * i + 2] = Math.cos(ws);
    mix[4 * i + 3] = Math.sin(ws);
  }
  return mix;
});

export interface Correlator {
  readonly kind: 'wasm-simd' | 'js';
  /** Input: `x[0, N)` the N samples before the block, `x[N, N + len)` the block. */
  readonly x: Int16Array;
  /** Discriminator per sample, `dd[HIST + n]` for block sample n. */
  readonly dd: Float32Array;
  /** Tone energy per sample, `ee[HIST + n]`. */
  readonly ee: Float32Array;
  /** Σx², Σe, Σd of run r at `runs[3r … 3r + 2]` (see {@link correlate}). */
  readonly runs: Float64Array;
  /**
   * Correlates block samples [0, len) (1 ≤ len ≤ BLOCK_SAMPLES_MAX) of modulation `mod` (index
   * into MODULATIONS); `b0` = (phase of block sample 0 − N) mod PERIOD. Also sums x², e and d
   * over runs: [0, min(first, len)), then SUBBLOCK_SAMPLES at a time up to len
   * (1 ≤ first ≤ SUBBLOCK_SAMPLES: the samples left in the current sub-block).
   */
  correlate(mod: number, b0: number, len: number, first: number): void;
}

/** The JS fallback (double precision inside, single precision out). */
class JsCorrelator implements Correlator {
  readonly kind = 'js';
  readonly x = new Int16Array(X_LEN);
  readonly dd = new Float32Array(D_LEN);
  readonly ee = new Float32Array(D_LEN);
  readonly runs = new Float64Array(3 * RUNS_MAX);
  private readonly prod = new Float64Array(4 * X_LEN);

  correlate(mod: number, b0: number, len: number, first: number): void {
    const tab = MIXERS[mod]!;
    const x = this.x;
    const prod = this.prod;
    const dd = this.dd;
    const ee = this.ee;
    const runs = this.runs;
    let cm = 0;
    let sm = 0;
    let cs = 0;
    let ss = 0;
    for (let j = 0; j < N; j++) {
      const xj = x[j]!;
      const t = 4 * (b0 + j);
      const a = xj * tab[t]!;
      const b = xj * tab[t + 1]!;
      const c = xj * tab[t + 2]!;
      const d = xj * tab[t + 3]!;
      prod[4 * j] = a;
      prod[4 * j + 1] = b;
      prod[4 * j + 2] = c;
      prod[4 * j + 3] = d;
      cm += a;
      sm += b;
      cs += c;
      ss += d;
    }
    let n = 0;
    for (let r = 0, end = Math.min(first, len); n < len; r++, end = Math.min(end + SUBBLOCK_SAMPLES, len)) {
      let subP = 0;
      let subE = 0;
      let subD = 0;
      for (; n < end; n++) {
        const xn = x[N + n]!;
        const tn = 4 * (b0 + N + n);
        const po = 4 * n; // products of the sample leaving the window
        const pn = po + 4 * N;
        const pm = xn * tab[tn]!;
        const pms = xn * tab[tn + 1]!;
        const ps = xn * tab[tn + 2]!;
        const pss = xn * tab[tn + 3]!;
        prod[pn] = pm;
        prod[pn + 1] = pms;
        prod[pn + 2] = ps;
        prod[pn + 3] = pss;
        cm += pm - prod[po]!;
        sm += pms - prod[po + 1]!;
        cs += ps - prod[po + 2]!;
        ss += pss - prod[po + 3]!;
        const em = cm * cm + sm * sm;
        const es = cs * cs + ss * ss;
        // Sums of the single-precision values the UART sees, as the WASM kernel sums them.
        const d = Math.fround(em - es);
        const e = Math.fround(em + es);
        dd[HIST + n] = d;
        ee[HIST + n] = e;
        subP += xn * xn;
        subE += e;
        subD += d;
      }
      runs[3 * r] = subP;
      runs[3 * r + 1] = subE;
      runs[3 * r + 2] = subD;
    }
  }
}

// ------------------------------------------------------------------ WebAssembly SIMD kernel
// Memory layout (bytes; one 64 KiB page).
const TAB_STRIDE = 16 * TABLE_LEN; // f32 × 4 per entry
const TAB_AT = 0; // MODULATIONS.length tables
const X_AT = 8192; // i16 × X_LEN
const PROD_AT = X_AT + 512; // f32x4 × X_LEN
const DD_AT = PROD_AT + 16 * X_LEN; // f32 × D_LEN
const EE_AT = DD_AT + 4 * D_LEN;
const RUNS_AT = EE_AT + 4 * D_LEN; // f64 × 3 × RUNS_MAX
const MEMORY_BYTES = RUNS_AT + 24 * RUNS_MAX;
const PAGES = 1;

/**
 * corr(tp, len), tp = address of the mixer entry of the first history sample. Per sample:
 * p = x·(cos m, sin m, cos s, sin s) as one f32x4; acc += p − p[n − N]; sq = acc². Every four
 * samples the four sq vectors are transposed by shuffles into E = |mark|² and S = |space|² of
 * the four samples, and d = E − S, e = E + S are stored with one v128 store each.
 */
function corrFunc(): FuncSpec {
  const [tp, len, xp, pp, dp, end, acc, pn] = [0, 1, 2, 3, 4, 5, 6, 7];
  const sq = [8, 9, 10, 11];
  const [u, v] = [12, 13];
  const body: Bytes[] = [];
  // Products of the N history samples and the initial window sums.
  for (let j = 0; j < N; j++) {
    body.push(
      op.i32Const(0),
      op.i32Const(0),
      op.i32Load16S(X_AT + 2 * j),
      op.f32ConvertI32S,
      op.f32x4Splat,
      op.get(tp),
      op.v128Load(16 * j),
      op.f32x4Mul,
      op.tee(pn),
      op.v128Store(PROD_AT + 16 * j),
      op.get(acc),
      op.get(pn),
      op.f32x4Add,
      op.set(acc),
    );
  }
  body.push(
    op.i32Const(X_AT + 2 * N),
    op.set(xp),
    op.i32Const(PROD_AT),
    op.set(pp),
    op.i32Const(DD_AT + 4 * HIST),
    op.tee(dp),
    op.get(len),
    op.i32Const(4),
    op.i32Mul,
    op.i32Add,
    op.set(end),
    op.get(tp),
    op.i32Const(16 * N),
    op.i32Add,
    op.set(tp),
    op.loop,
  );
  for (let k = 0; k < GROUP; k++) {
    body.push(
      op.get(pp),
      op.get(xp),
      op.i32Load16S(2 * k),
      op.f32ConvertI32S,
      op.f32x4Splat,
      op.get(tp),
      op.v128Load(16 * k),
      op.f32x4Mul,
      op.tee(pn),
      op.v128Store(16 * (k + N)),
      op.get(acc),
      op.get(pn),
      op.get(pp),
      op.v128Load(16 * k),
      op.f32x4Sub,
      op.f32x4Add,
      op.tee(acc),
      op.get(acc),
      op.f32x4Mul,
      op.set(sq[k]!),
    );
  }
  const pairSum = (a: number, b: number, into: number): Bytes[] => [
    op.get(a),
    op.get(b),
    op.shuffle32([0, 2, 4, 6]),
    op.get(a),
    op.get(b),
    op.shuffle32([1, 3, 5, 7]),
    op.f32x4Add,
    op.set(into),
  ];
  body.push(
    ...pairSum(sq[0]!, sq[1]!, u), // [em0, es0, em1, es1]
    ...pairSum(sq[2]!, sq[3]!, v), // [em2, es2, em3, es3]
    op.get(u),
    op.get(v),
    op.shuffle32([0, 2, 4, 6]),
    op.set(sq[0]!), // E = mark energies of the 4 samples
    op.get(u),
    op.get(v),
    op.shuffle32([1, 3, 5, 7]),
    op.set(sq[1]!), // S = space energies
    op.get(dp),
    op.get(sq[0]!),
    op.get(sq[1]!),
    op.f32x4Sub,
    op.v128Store(0),
    op.get(dp),
    op.get(sq[0]!),
    op.get(sq[1]!),
    op.f32x4Add,
    op.v128Store(EE_AT - DD_AT),
    ...[
      [xp, 2 * GROUP],
      [tp, 16 * GROUP],
      [pp, 16 * GROUP],
      [dp, 4 * GROUP],
    ].flatMap(([l, step]) => [op.get(l!), op.i32Const(step!), op.i32Add, op.set(l!)]),
    op.get(dp),
    op.get(end),
    op.i32LtU,
    op.brIf(0),
    op.end,
  );
  return {
    name: 'corr',
    params: [I32, I32],
    locals: [I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, V128],
    body,
  };
}

/** sum(from, to, out): Σx², Σe, Σd over block samples [from, to) as f64 at out; f32x4 over aligned groups. */
function sumFunc(): FuncSpec {
  const [from, to, out, n, p, e, d, vp, ve, vd, vx] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const xi = 11;
  const scalar: Bytes[] = [
    op.get(n),
    op.get(n),
    op.i32Add,
    op.i32Load16S(X_AT + 2 * N),
    op.tee(xi),
    op.get(xi),
    op.i32Mul,
    op.f64ConvertI32S,
    op.get(p),
    op.f64Add,
    op.set(p),
    op.get(n),
    op.i32Const(4),
    op.i32Mul,
    op.f32Load(EE_AT + 4 * HIST),
    op.f64PromoteF32,
    op.get(e),
    op.f64Add,
    op.set(e),
    op.get(n),
    op.i32Const(4),
    op.i32Mul,
    op.f32Load(DD_AT + 4 * HIST),
    op.f64PromoteF32,
    op.get(d),
    op.f64Add,
    op.set(d),
    op.get(n),
    op.i32Const(1),
    op.i32Add,
    op.set(n),
  ];
  const vector: Bytes[] = [
    op.get(n),
    op.i32Const(2),
    op.i32Mul,
    op.v128Load16x4S(X_AT + 2 * N),
    op.tee(vx),
    op.get(vx),
    op.i32x4Mul,
    op.f32x4ConvertI32x4S,
    op.get(vp),
    op.f32x4Add,
    op.set(vp),
    op.get(n),
    op.i32Const(4),
    op.i32Mul,
    op.v128Load(EE_AT + 4 * HIST),
    op.get(ve),
    op.f32x4Add,
    op.set(ve),
    op.get(n),
    op.i32Const(4),
    op.i32Mul,
    op.v128Load(DD_AT + 4 * HIST),
    op.get(vd),
    op.f32x4Add,
    op.set(vd),
    op.get(n),
    op.i32Const(GROUP),
    op.i32Add,
    op.set(n),
  ];
  const atEnd: Bytes[] = [op.get(n), op.get(to), op.i32GeU, op.brIf(1)];
  const body: Bytes[] = [
    op.get(from),
    op.set(n),
    // Head: scalar up to a multiple of GROUP.
    op.block,
    op.loop,
    ...atEnd,
    op.get(n),
    op.i32Const(GROUP - 1),
    op.i32And,
    op.i32Eqz,
    op.brIf(1),
    ...scalar,
    op.br(0),
    op.end,
    op.end,
    // Body: whole groups.
    op.block,
    op.loop,
    op.get(n),
    op.i32Const(GROUP),
    op.i32Add,
    op.get(to),
    op.i32GtU,
    op.brIf(1),
    ...vector,
    op.br(0),
    op.end,
    op.end,
    // Tail.
    op.block,
    op.loop,
    ...atEnd,
    ...scalar,
    op.br(0),
    op.end,
    op.end,
  ];
  for (const [acc, vacc] of [
    [p, vp],
    [e, ve],
    [d, vd],
  ] as const) {
    for (let lane = 0; lane < 4; lane++) {
      body.push(op.get(acc), op.get(vacc), op.f32x4ExtractLane(lane), op.f64PromoteF32, op.f64Add, op.set(acc));
    }
  }
  body.push(
    op.get(out),
    op.get(p),
    op.f64Store(0),
    op.get(out),
    op.get(e),
    op.f64Store(8),
    op.get(out),
    op.get(d),
    op.f64Store(16),
  );
  return { name: 'sum', params: [I32, I32, I32], locals: [I32, F64, F64, F64, V128, V128, V128, V128, I32], body };
}

/** blk(tp, len, first): corr, then sum over the runs (one call from JS per block). */
function blockFunc(corrIndex: number, sumIndex: number): FuncSpec {
  const [tp, len, first, from, to, out] = [0, 1, 2, 3, 4, 5];
  // to = min(to, len)
  const minWithLen: Bytes[] = [op.get(to), op.get(len), op.get(to), op.get(len), op.i32LtU, op.select, op.set(to)];
  return {
    name: 'blk',
    params: [I32, I32, I32],
    locals: [I32, I32, I32],
    body: [
      op.get(tp),
      op.get(len),
      op.call(corrIndex),
      op.get(first),
      op.set(to),
      ...minWithLen,
      op.i32Const(RUNS_AT),
      op.set(out),
      op.loop,
      op.get(from),
      op.get(to),
      op.get(out),
      op.call(sumIndex),
      op.get(out),
      op.i32Const(24),
      op.i32Add,
      op.set(out),
      op.get(to),
      op.tee(from),
      op.i32Const(SUBBLOCK_SAMPLES),
      op.i32Add,
      op.set(to),
      ...minWithLen,
      op.get(from),
      op.get(len),
      op.i32LtU,
      op.brIf(0),
      op.end,
    ],
  };
}

/** The kernel module's bytes (exported for the tests). */
export function kernelModuleBytes(): Uint8Array {
  return encodeModule(PAGES, [corrFunc(), sumFunc(), blockFunc(0, 1)]);
}

type KernelFn = (a: number, b: number, c: number) => void;

class WasmCorrelator implements Correlator {
  readonly kind = 'wasm-simd';
  readonly x: Int16Array;
  readonly dd: Float32Array;
  readonly ee: Float32Array;
  readonly runs: Float64Array;
  private readonly blk: KernelFn;

  constructor(buf: ArrayBuffer, blk: KernelFn) {
    const f32 = new Float32Array(buf);
    MIXERS.forEach((mix, m) => f32.set(mix, (TAB_AT + m * TAB_STRIDE) / 4));
    this.x = new Int16Array(buf, X_AT, X_LEN);
    this.dd = new Float32Array(buf, DD_AT, D_LEN);
    this.ee = new Float32Array(buf, EE_AT, D_LEN);
    this.runs = new Float64Array(buf, RUNS_AT, 3 * RUNS_MAX);
    this.blk = blk;
  }

  correlate(mod: number, b0: number, len: number, first: number): void {
    this.blk(TAB_AT + mod * TAB_STRIDE + 16 * b0, len, first);
  }
}

function isKernelFn(v: unknown): v is KernelFn {
  return typeof v === 'function';
}

/** The part of the WebAssembly JS API used here (the project's TypeScript lib has no DOM types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

function isWasmApi(v: unknown): v is WasmApi {
  return (
    typeof v === 'object' &&
    v !== null &&
    'validate' in v &&
    typeof v.validate === 'function' &&
    'Module' in v &&
    typeof v.Module === 'function' &&
    'Instance' in v &&
    typeof v.Instance === 'function'
  );
}

/** The WASM SIMD correlator, or undefined where WebAssembly SIMD is unavailable. */
export function createWasmCorrelator(): Correlator | undefined {
  if (MEMORY_BYTES > PAGES * 65536 || MIXERS.length * TAB_STRIDE > X_AT) throw new Error('kernel layout overflow');
  const api: unknown = Reflect.get(globalThis, 'WebAssembly');
  if (!isWasmApi(api)) return undefined;
  try {
    const bytes = kernelModuleBytes();
    if (!api.validate(bytes)) return undefined;
    const { memory, blk } = new api.Instance(new api.Module(bytes), {}).exports;
    const buf: unknown = typeof memory === 'object' && memory !== null ? Reflect.get(memory, 'buffer') : undefined;
    // isArrayBuffer, not instanceof: under jest the WebAssembly API may come from another realm.
    if (!isArrayBuffer(buf) || !isKernelFn(blk)) return undefined;
    return new WasmCorrelator(buf, blk);
  } catch {
    return undefined;
  }
}

/** The JS correlator (always available). */
export function createJsCorrelator(): Correlator {
  return new JsCorrelator();
}
