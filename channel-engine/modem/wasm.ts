/**
 * A minimal WebAssembly binary encoder, just enough to emit the modem's SIMD kernel (kernel.ts)
 * without a toolchain: one exported memory, a few functions of i32 parameters and no results,
 * and the handful of instructions the kernel uses. Instructions are byte arrays built by the
 * helpers in {@link op}; a function body is their concatenation.
 *
 * Binary format: WebAssembly Core Specification 2.0, §5 (with the fixed-width SIMD proposal,
 * opcodes prefixed by 0xFD and LEB128-encoded).
 */

export type Bytes = readonly number[];

/** Unsigned LEB128. */
export function uleb(v: number): number[] {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`uleb: ${v}`);
  const out: number[] = [];
  let x = v;
  do {
    let b = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) b |= 0x80;
    out.push(b);
  } while (x > 0);
  return out;
}

/** Signed LEB128 (i32 range). */
export function sleb(v: number): number[] {
  if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new RangeError(`sleb: ${v}`);
  const out: number[] = [];
  let x = v;
  for (;;) {
    const b = x & 0x7f;
    x >>= 7;
    const done = (x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0);
    out.push(done ? b : b | 0x80);
    if (done) return out;
  }
}

/** Value types. */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

const simd = (code: number, ...imm: number[]): number[] => [0xfd, ...uleb(code), ...imm];
/** memarg: alignment exponent and byte offset. */
const mem = (align: number, offset: number): number[] => [...uleb(align), ...uleb(offset)];

/** The instructions the kernel uses (opcode bytes; see the spec's index of instructions). */
export const op = {
  block: [0x02, 0x40], // block with no result
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number): number[] => [0x0c, ...uleb(depth)],
  brIf: (depth: number): number[] => [0x0d, ...uleb(depth)],
  call: (func: number): number[] => [0x10, ...uleb(func)],
  select: [0x1b],
  get: (i: number): number[] => [0x20, ...uleb(i)],
  set: (i: number): number[] => [0x21, ...uleb(i)],
  tee: (i: number): number[] => [0x22, ...uleb(i)],
  i32Const: (v: number): number[] => [0x41, ...sleb(v)],
  f64Const0: [0x44, 0, 0, 0, 0, 0, 0, 0, 0],
  i32Load16S: (offset = 0): number[] => [0x2e, ...mem(1, offset)],
  f32Load: (offset = 0): number[] => [0x2a, ...mem(2, offset)],
  f64Store: (offset = 0): number[] => [0x39, ...mem(3, offset)],
  i32Eqz: [0x45],
  i32LtU: [0x49],
  i32GtU: [0x4b],
  i32GeU: [0x4f],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  f64Add: [0xa0],
  f32ConvertI32S: [0xb2],
  f64ConvertI32S: [0xb7],
  f64PromoteF32: [0xbb],
  v128Load: (offset = 0): number[] => simd(0x00, ...mem(4, offset)),
  v128Load16x4S: (offset = 0): number[] => simd(0x03, ...mem(3, offset)),
  v128Store: (offset = 0): number[] => simd(0x0b, ...mem(4, offset)),
  v128Const0: simd(0x0c, ...new Array<number>(16).fill(0)),
  /** i8x16.shuffle taking 32-bit lanes: 0–3 from the first operand, 4–7 from the second. */
  shuffle32: (lanes: readonly [number, number, number, number]): number[] =>
    simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])),
  f32x4Splat: simd(0x13),
  f32x4ExtractLane: (lane: number): number[] => simd(0x1f, lane),
  i32x4Mul: simd(0xb5),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4ConvertI32x4S: simd(0xfa),
} as const;

export interface FuncSpec {
  name: string;
  params: readonly ValType[];
  /** Locals after the parameters, in order. */
  locals: readonly ValType[];
  body: readonly Bytes[];
}

function section(id: number, content: Bytes): number[] {
  return [id, ...uleb(content.length), ...content];
}
function vec(items: readonly Bytes[]): number[] {
  return [...uleb(items.length), ...items.flat()];
}
function name(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [...uleb(b.length), ...b];
}

/** A module with one memory of `pages` 64 KiB pages (exported as "memory") and the functions (exported by name). */
export function encodeModule(pages: number, funcs: readonly FuncSpec[]): Uint8Array {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((p) => [p])), 0]);
  const typeSec = section(1, vec(types));
  const funcSec = section(3, vec(funcs.map((_, i) => uleb(i))));
  const memSec = section(5, vec([[0x00, ...uleb(pages)]]));
  const exportEntries = [[...name('memory'), 0x02, 0], ...funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])];
  const exportSec = section(7, vec(exportEntries));
  const bodies = funcs.map((f) => {
    // Locals are declared as runs of one type.
    const runs: number[][] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === t) last[0] = (last[0] ?? 0) + 1;
      else runs.push([1, t]);
    }
    const code = [...vec(runs.map(([n, t]) => [...uleb(n ?? 0), t ?? 0])), ...f.body.flat(), ...op.end];
    return [...uleb(code.length), ...code];
  });
  const codeSec = section(10, vec(bodies));
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...typeSec,
    ...funcSec,
    ...memSec,
    ...exportSec,
    ...codeSec,
  ]);
}
