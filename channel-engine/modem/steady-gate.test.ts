/**
 * The steady-mark gate (ADR 0015): a 20 ms block that repeats the previous one exactly while the
 * receiver waits for a start bit is not demodulated. It must never change what is decoded: every
 * test decodes the same audio with and without the gate and compares all events (bytes, carrier,
 * framing errors, sample indices), and checks the gate did (or did not) skip blocks.
 */
import fc from 'fast-check';
import { addNoise, alawDecode, alawEncode, mulawDecode, mulawEncode, Rng, sineAmplitude } from '../audio';
import { createModulator, ModemBank, TONES, type Modulation, type ModemEvent } from './index';

const MODS: readonly Modulation[] = ['v23', 'bell202'];
const KERNELS = ['auto', 'js'] as const;
const BLOCK = 160;

interface Decoded {
  events: ModemEvent[];
  skipped: number;
  blocks: number;
}

/** Decodes `pcm` as the line drivers feed it: one push per 20 ms frame (or per `chunk` samples). */
function decode(
  m: Modulation,
  pcm: Int16Array,
  steadyGate: boolean,
  kernel: 'auto' | 'js' = 'auto',
  chunk: (i: number) => number = () => BLOCK,
): Decoded {
  const events: ModemEvent[] = [];
  const bank = new ModemBank({ lines: 1, modulation: m, steadyGate, kernel }, (_l, e) => events.push(e));
  let blocks = 0;
  for (let o = 0, i = 0; o < pcm.length; i++) {
    const len = Math.min(chunk(i), pcm.length - o);
    bank.push(0, pcm, o, len);
    o += len;
    blocks++;
  }
  return { events, skipped: bank.steadyBlocksSkipped, blocks };
}

/** Decodes with and without the gate, expects the same events, returns the gated run. */
function same(m: Modulation, pcm: Int16Array, kernel: 'auto' | 'js' = 'auto', chunk?: (i: number) => number): Decoded {
  const off = decode(m, pcm, false, kernel, chunk);
  const on = decode(m, pcm, true, kernel, chunk);
  expect(off.skipped).toBe(0);
  expect(on.events).toEqual(off.events);
  return on;
}

const bytesOf = (ev: readonly ModemEvent[]): number[] => ev.flatMap((e) => (e.type === 'byte' ? [e.value] : []));

function randomData(n: number, rng: Rng): Uint8Array {
  return new Uint8Array(n).map(() => rng.nextU32() & 0xff);
}

/** A steady mark tone as a phone or the bench's SIPp stream sends it (−10 dBm0, exactly periodic). */
function markTone(m: Modulation, samples: number, levelDbm0 = -10, phase = 0): Int16Array {
  const a = sineAmplitude(levelDbm0);
  const hz = TONES[m].markHz;
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round(a * Math.sin((2 * Math.PI * hz * i) / 8000 + phase));
  return out;
}

const ulaw = (pcm: Int16Array): Int16Array => mulawDecode(mulawEncode(pcm));
const alaw = (pcm: Int16Array): Int16Array => alawDecode(alawEncode(pcm));

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe.each(MODS)('steady-mark gate (%s)', (m) => {
  it.each(KERNELS)(
    'skips a steady mark tone, linear, µ-law and A-law, and decodes nothing from it (%s kernel)',
    (k) => {
      for (const pcm of [markTone(m, 16000), ulaw(markTone(m, 16000, -10, 1)), alaw(markTone(m, 16000, -20, 2))]) {
        const r = same(m, pcm, k);
        expect(r.events).toEqual([]);
        // Only the first blocks (candidate, reference) are demodulated.
        expect(r.skipped).toBeGreaterThanOrEqual(r.blocks - 4);
      }
    },
  );

  it.each(KERNELS)('catches a start bit right after seconds of mark, with carrier up and without (%s kernel)', (k) => {
    const rng = new Rng(m === 'v23' ? 11 : 12);
    const a = randomData(40, rng);
    const b = randomData(40, rng);
    const tx = createModulator({ modulation: m, leadInMarkBits: 2400, trailMarkBits: 2400 }); // 2 s of mark around each
    const pcm = concat(new Int16Array(800), tx.modulate(a), tx.modulate(b), new Int16Array(800));
    const r = same(m, ulaw(pcm), k);
    expect(bytesOf(r.events)).toEqual([...a, ...b]);
    expect(r.skipped).toBeGreaterThan(r.blocks / 2);
    // The same burst behind an exactly periodic tone (the bench's stream), the start bit at every
    // eighth offset in the 20 ms frame.
    for (let at = 0; at < BLOCK; at += 8) {
      const short = createModulator({ modulation: m, leadInMarkBits: 0, trailMarkBits: 8 }).modulate(a);
      const q = same(m, ulaw(concat(markTone(m, 8000 + at), short, new Int16Array(400))), k);
      expect({ at, bytes: bytesOf(q.events) }).toEqual({ at, bytes: [...a] });
      expect(q.skipped).toBeGreaterThan(40);
    }
  });

  it('decodes the same with a frame starting at every offset within a block', () => {
    const rng = new Rng(m === 'v23' ? 21 : 22);
    let skipped = 0;
    for (let before = 0; before < BLOCK; before++) {
      const data = randomData(6, rng);
      const tx = createModulator({
        modulation: m,
        levelDbm0: -10 - (before % 20),
        leadInMarkBits: 120,
        trailMarkBits: 60,
      });
      const pcm = concat(
        new Int16Array(before),
        tx.modulate(data),
        tx.modulate(randomData(4, rng)),
        new Int16Array(320),
      );
      const r = same(m, ulaw(pcm), 'auto');
      expect({ before, bytes: bytesOf(r.events).slice(0, 6) }).toEqual({ before, bytes: [...data] });
      skipped += r.skipped;
    }
    expect(skipped).toBeGreaterThan(0);
  });

  it('does not trigger on noisy mark (20 dB SNR) and decodes the same', () => {
    const rng = new Rng(m === 'v23' ? 31 : 32);
    const data = randomData(30, rng);
    const tx = createModulator({ modulation: m, levelDbm0: -10, leadInMarkBits: 1200, trailMarkBits: 1200 });
    const clean = concat(markTone(m, 8000), tx.modulate(data), new Int16Array(800));
    const r = same(m, ulaw(addNoise(clean, -10, 20, rng)), 'auto');
    expect(r.skipped).toBe(0);
    expect(bytesOf(r.events)).toEqual([...data]);
  });

  it('decodes the same when the audio arrives in pushes of any length (the gate needs whole 20 ms blocks)', () => {
    const rng = new Rng(m === 'v23' ? 41 : 42);
    const data = randomData(20, rng);
    const tx = createModulator({ modulation: m, leadInMarkBits: 1800, trailMarkBits: 1800 });
    const pcm = ulaw(concat(tx.modulate(data), tx.modulate(data)));
    const sizes = Array.from({ length: 64 }, () => 1 + (rng.nextU32() % 400));
    const r = same(m, pcm, 'auto', (i) => (i % 3 === 0 ? BLOCK : (sizes[i % sizes.length] ?? BLOCK)));
    expect(bytesOf(r.events)).toEqual([...data, ...data]);
  });

  it('keeps the short lead-in of ADR 0017: 8 mark bits after seconds of silence or noise, at random positions', () => {
    const rng = new Rng(m === 'v23' ? 51 : 52);
    for (let trial = 0; trial < 24; trial++) {
      const level = -30 + trial;
      const tx = createModulator({ modulation: m, levelDbm0: level, leadInMarkBits: 8, trailMarkBits: 8 });
      tx.modulate(randomData(trial % 3, rng)); // a new carrier phase
      const data = randomData(12, rng);
      const gap = rng.nextU32() % 400;
      const clean = concat(new Int16Array(8000 + gap), tx.modulate(data), new Int16Array(400));
      const pcm = trial % 2 === 1 ? addNoise(clean, level, 20, rng) : ulaw(clean);
      const r = same(m, pcm, 'auto');
      expect({ trial, bytes: bytesOf(r.events) }).toEqual({ trial, bytes: [...data] });
    }
  });

  it('decodes the same on random line audio: mark, silence, noise, bursts and raw samples spliced at random', () => {
    const segment = fc.oneof(
      fc.record({
        k: fc.constant('mark' as const),
        n: fc.integer({ min: 1, max: 4000 }),
        lvl: fc.integer({ min: -50, max: 0 }),
        ph: fc.double({ min: 0, max: 6.28, noNaN: true }),
      }),
      fc.record({ k: fc.constant('silence' as const), n: fc.integer({ min: 1, max: 2000 }) }),
      fc.record({ k: fc.constant('noise' as const), n: fc.integer({ min: 1, max: 1000 }), seed: fc.integer() }),
      fc.record({
        k: fc.constant('burst' as const),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
        lead: fc.integer({ min: 0, max: 300 }),
      }),
      fc.record({
        k: fc.constant('raw' as const),
        pcm: fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 200 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), fc.boolean(), (segs, law) => {
        const parts = segs.map((g) => {
          switch (g.k) {
            case 'mark':
              return markTone(m, g.n, g.lvl, g.ph);
            case 'silence':
              return new Int16Array(g.n);
            case 'noise':
              return addNoise(new Int16Array(g.n), -20, 0, new Rng(g.seed));
            case 'burst':
              return createModulator({ modulation: m, leadInMarkBits: g.lead }).modulate(g.bytes);
            case 'raw':
              return Int16Array.from(g.pcm);
          }
        });
        const pcm = concat(...parts);
        same(m, law ? ulaw(pcm) : pcm, 'auto');
      }),
      { numRuns: 60, seed: m === 'v23' ? 71 : 72 },
    );
  });

  it('skips across many lines in one bank and keeps lines apart', () => {
    const rng = new Rng(61);
    const lines = 8;
    const data = randomData(16, rng);
    const per = (l: number): Int16Array =>
      ulaw(createModulator({ modulation: m, leadInMarkBits: 600 * (l + 1), trailMarkBits: 1200 }).modulate(data));
    const run = (gate: boolean): { ev: [number, ModemEvent][]; skipped: number } => {
      const ev: [number, ModemEvent][] = [];
      const bank = new ModemBank({ lines, modulation: m, steadyGate: gate }, (l, e) => ev.push([l, e]));
      const audio = Array.from({ length: lines }, (_, l) => per(l));
      const longest = Math.max(...audio.map((a) => a.length));
      for (let o = 0; o < longest; o += BLOCK)
        for (let l = 0; l < lines; l++) {
          const a = audio[l]!;
          if (o < a.length) bank.push(l, a, o, Math.min(BLOCK, a.length - o));
        }
      return { ev, skipped: bank.steadyBlocksSkipped };
    };
    const on = run(true);
    const off = run(false);
    expect(on.ev).toEqual(off.ev);
    expect(on.skipped).toBeGreaterThan(lines * 20);
    for (let l = 0; l < lines; l++)
      expect(bytesOf(on.ev.filter(([x]) => x === l).map(([, e]) => e))).toEqual([...data]);
  });
});
