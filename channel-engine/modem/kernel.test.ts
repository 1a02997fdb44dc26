import fc from 'fast-check';
import { addNoise, Rng } from '../audio';
import {
  BLOCK_SAMPLES_MAX,
  createJsCorrelator,
  createWasmCorrelator,
  HIST,
  kernelModuleBytes,
  MODULATIONS,
  PERIOD,
  SUBBLOCK_SAMPLES,
  WINDOW_SAMPLES,
  type Correlator,
} from './kernel';
import { ModemBank, createModulator, type ModemEvent, type Modulation } from './index';
import { sleb, uleb } from './wasm';

const N = WINDOW_SAMPLES;

describe('wasm encoder', () => {
  it('encodes LEB128 as the spec examples (§5.2.2)', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });

  it('emits a version-1 module (magic, version, then sections)', () => {
    expect([...kernelModuleBytes().subarray(0, 8)]).toEqual([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  });
});

describe('correlator kernels', () => {
  const wasm = createWasmCorrelator();
  const js = createJsCorrelator();

  it('validates and instantiates on this runtime (Node ≥ 16 has WebAssembly SIMD)', () => {
    expect(wasm?.kind).toBe('wasm-simd');
  });

  /** Feeds the same block to both kernels; returns the largest differences relative to the block's peak energy. */
  function compare(
    a: Correlator,
    b: Correlator,
    samples: readonly number[],
    mod: number,
    b0: number,
    first: number,
  ): number {
    const len = samples.length - N;
    samples.forEach((v, i) => {
      a.x[i] = v;
      b.x[i] = v;
    });
    a.correlate(mod, b0, len, first);
    b.correlate(mod, b0, len, first);
    let peak = 1;
    for (let n = 0; n < len; n++) peak = Math.max(peak, b.ee[HIST + n] ?? 0);
    let worst = 0;
    for (let n = 0; n < len; n++) {
      worst = Math.max(
        worst,
        Math.abs((a.dd[HIST + n] ?? NaN) - (b.dd[HIST + n] ?? NaN)) / peak,
        Math.abs((a.ee[HIST + n] ?? NaN) - (b.ee[HIST + n] ?? NaN)) / peak,
      );
    }
    // Run sums ([0, first), then SUBBLOCK_SAMPLES at a time) of both, against sums of the JS outputs.
    let r = 0;
    for (let from = 0, to = Math.min(first, len); from < len; from = to, to = Math.min(to + SUBBLOCK_SAMPLES, len)) {
      let p = 0;
      let e = 0;
      let d = 0;
      for (let n = from; n < to; n++) {
        p += (b.x[N + n] ?? NaN) ** 2;
        e += b.ee[HIST + n] ?? NaN;
        d += b.dd[HIST + n] ?? NaN;
      }
      const span = peak * (to - from);
      for (const c of [a, b]) {
        worst = Math.max(
          worst,
          Math.abs((c.runs[3 * r] ?? NaN) - p) / Math.max(1, p),
          Math.abs((c.runs[3 * r + 1] ?? NaN) - e) / span,
          Math.abs((c.runs[3 * r + 2] ?? NaN) - d) / span,
        );
      }
      r++;
    }
    return worst;
  }

  it('WASM SIMD and JS agree within single precision on random input, any phase and length', () => {
    const w = wasm;
    if (w === undefined) return;
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: BLOCK_SAMPLES_MAX })
          .chain((len) =>
            fc.array(fc.integer({ min: -32768, max: 32767 }), { minLength: N + len, maxLength: N + len }),
          ),
        fc.integer({ min: 0, max: MODULATIONS.length - 1 }),
        fc.integer({ min: 0, max: PERIOD - 1 }),
        fc.integer({ min: 1, max: SUBBLOCK_SAMPLES }),
        (samples, mod, b0, first) => {
          expect(compare(w, js, samples, mod, b0, first)).toBeLessThan(1e-5);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('agrees on quiet input too (the errors scale with the signal)', () => {
    const w = wasm;
    if (w === undefined) return;
    const rng = new Rng(3);
    const samples = Array.from({ length: N + BLOCK_SAMPLES_MAX }, () => Math.round(3 * rng.gaussian()));
    expect(compare(w, js, samples, 0, 17, 13)).toBeLessThan(1e-5);
  });
});

describe('ModemBank kernels', () => {
  it.each<Modulation>(['v23', 'bell202'])('%s: WASM and JS kernels decode the same bytes through noise', (m) => {
    const rng = new Rng(12);
    const tx = createModulator({ modulation: m, levelDbm0: -14 });
    const run = (kernel: 'auto' | 'js', pcm: Int16Array): ModemEvent[] => {
      const ev: ModemEvent[] = [];
      const bank = new ModemBank({ lines: 1, modulation: m, kernel }, (_l, e) => ev.push(e));
      for (let o = 0; o < pcm.length; o += 160) bank.push(0, pcm, o, Math.min(160, pcm.length - o));
      return ev;
    };
    const data = Uint8Array.from({ length: 200 }, () => rng.nextU32() & 0xff);
    const burst = tx.modulate(data);
    const pcm = new Int16Array(burst.length + 1600);
    pcm.set(burst, 800);
    const noisy = addNoise(pcm, -14, 14, rng);
    expect(new ModemBank({ lines: 1, modulation: m }, () => undefined).kernel).toBe('wasm-simd');
    const a = run('auto', noisy);
    const b = run('js', noisy);
    const bytes = (ev: ModemEvent[]): number[] => ev.flatMap((e) => (e.type === 'byte' ? [e.value] : []));
    expect(bytes(a)).toEqual([...data]);
    expect(bytes(b)).toEqual([...data]);
    expect(a.map((e) => e.type)).toEqual(b.map((e) => e.type));
  });
});
