import fc from 'fast-check';
import { isFixpayError } from '../../domain/errors';
import { addNoise, noiseRmsAtDbm0, Rng, whiteNoise, mixToPcm16 } from '../audio';
import {
  createDemodulator,
  createModulator,
  ModemBank,
  type Modulation,
  type ModemEvent,
  type ModemOptions,
} from './index';

const MODS: readonly Modulation[] = ['v23', 'bell202'];

function bytesOf(events: readonly ModemEvent[]): number[] {
  return events.flatMap((e) => (e.type === 'byte' ? [e.value] : []));
}

function count(events: readonly ModemEvent[], type: ModemEvent['type']): number {
  return events.filter((e) => e.type === type).length;
}

/** Silence before and after a burst, as on a line. */
function pad(pcm: Int16Array, before = 800, after = 800): Int16Array {
  const out = new Int16Array(before + pcm.length + after);
  out.set(pcm, before);
  return out;
}

function roundTrip(data: Uint8Array, tx: ModemOptions, rxMod: Modulation = tx.modulation): ModemEvent[] {
  return createDemodulator({ modulation: rxMod }).push(pad(createModulator(tx).modulate(data)));
}

function randomData(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return new Uint8Array(n).map(() => rng.nextU32() & 0xff);
}

describe.each(MODS)('modem %s', (m) => {
  it('round-trips a burst: carrier on, every byte in order, carrier off', () => {
    const data = randomData(100, 1);
    const ev = roundTrip(data, { modulation: m });
    expect(ev[0]?.type).toBe('carrier-on');
    expect(ev[ev.length - 1]?.type).toBe('carrier-off');
    expect(bytesOf(ev)).toEqual([...data]);
    expect(count(ev, 'framing-error')).toBe(0);
  });

  it('round-trips every byte value, including 0x00 and 0xFF runs', () => {
    const data = Uint8Array.from([...Array.from({ length: 256 }, (_, i) => i), 0, 0, 0, 0xff, 0xff, 0xff]);
    expect(bytesOf(roundTrip(data, { modulation: m }))).toEqual([...data]);
  });

  it.each([-0.01, 0.01])('tolerates a carrier offset of %p', (carrierOffset) => {
    const data = randomData(200, 2);
    expect(bytesOf(roundTrip(data, { modulation: m, carrierOffset }))).toEqual([...data]);
  });

  it.each([-0.005, 0.005])('tolerates a bit-clock drift of %p', (clockDrift) => {
    const data = randomData(200, 3);
    expect(bytesOf(roundTrip(data, { modulation: m, clockDrift }))).toEqual([...data]);
  });

  it.each([-40, -30, -14, -6, 0])('decodes at %p dBm0', (levelDbm0) => {
    const data = randomData(64, 4);
    expect(bytesOf(roundTrip(data, { modulation: m, levelDbm0 }))).toEqual([...data]);
  });

  it('decodes with +1 % carrier offset, -0.5 % drift and -40 dBm0 together', () => {
    const data = randomData(64, 5);
    const ev = roundTrip(data, { modulation: m, carrierOffset: 0.01, clockDrift: -0.005, levelDbm0: -40 });
    expect(bytesOf(ev)).toEqual([...data]);
  });

  it('keeps back-to-back bursts apart (no gap, and 50 ms gaps)', () => {
    const tx = createModulator({ modulation: m });
    const a = randomData(64, 6);
    const b = randomData(64, 7);
    const c = randomData(64, 8);
    const pa = tx.modulate(a);
    const pb = tx.modulate(b);
    const pc = tx.modulate(c);
    // a and b touch (carrier stays up); then 50 ms of silence before c.
    const all = new Int16Array(pa.length + pb.length + 400 + pc.length);
    all.set(pa, 0);
    all.set(pb, pa.length);
    all.set(pc, pa.length + pb.length + 400);
    const ev = createDemodulator({ modulation: m }).push(pad(all));
    expect(bytesOf(ev)).toEqual([...a, ...b, ...c]);
    expect(count(ev, 'framing-error')).toBe(0);
    expect(count(ev, 'carrier-on')).toBe(2);
  });

  it('decodes 20 bursts through seeded white noise at 15 dB SNR without errors', () => {
    const rng = new Rng(15);
    const rx = createDemodulator({ modulation: m });
    const tx = createModulator({ modulation: m, levelDbm0: -14 });
    for (let i = 0; i < 20; i++) {
      const data = randomData(64, 100 + i);
      const noisy = addNoise(pad(tx.modulate(data), 400, 400), -14, 15, rng);
      const ev = rx.push(noisy);
      expect(bytesOf(ev)).toEqual([...data]);
      expect(count(ev, 'framing-error')).toBe(0);
      const off = ev.find((e) => e.type === 'carrier-off');
      expect(off?.type === 'carrier-off' ? off.snrDb : NaN).toBeGreaterThan(11);
    }
  });

  it('estimates SNR within 2 dB at 6 and 10 dB', () => {
    for (const snr of [6, 10]) {
      const rng = new Rng(snr);
      const tx = createModulator({ modulation: m, levelDbm0: -20 });
      const ev = createDemodulator({ modulation: m }).push(
        addNoise(pad(tx.modulate(randomData(300, snr))), -20, snr, rng),
      );
      const off = ev.find((e) => e.type === 'carrier-off');
      expect(off?.type).toBe('carrier-off');
      if (off?.type === 'carrier-off') expect(Math.abs(off.snrDb - snr)).toBeLessThan(2);
    }
  });

  it('gives the same bytes whatever the push sizes', () => {
    const data = randomData(40, 9);
    const pcm = pad(createModulator({ modulation: m }).modulate(data));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 20 }), (sizes) => {
        const rx = createDemodulator({ modulation: m });
        const ev: ModemEvent[] = [];
        let o = 0;
        let k = 0;
        while (o < pcm.length) {
          const n = sizes[k++ % sizes.length] ?? 1;
          ev.push(...rx.push(pcm.subarray(o, o + n)));
          o += n;
        }
        expect(bytesOf(ev)).toEqual([...data]);
      }),
      { numRuns: 25 },
    );
  });

  it('raises no carrier on noise alone (ungated 40-sample pushes, -40 to -10 dBm0, 20 s each)', () => {
    for (const level of [-40, -25, -10]) {
      const rng = new Rng(1000 - level);
      const rx = createDemodulator({ modulation: m });
      let events = 0;
      for (let s = 0; s < 20 * 8000; s += 8000) {
        const pcm = mixToPcm16(new Int16Array(8000), whiteNoise(8000, noiseRmsAtDbm0(level), rng));
        for (let o = 0; o < pcm.length; o += 40) events += rx.push(pcm.subarray(o, o + 40)).length;
      }
      expect(events).toBe(0);
    }
  });

  it('counts bursts, bytes and framing errors in its metrics; reset() restarts sample indices', () => {
    const rx = createDemodulator({ modulation: m });
    const pcm = pad(createModulator({ modulation: m }).modulate(randomData(64, 10)));
    rx.push(pcm);
    rx.push(pcm);
    expect(rx.metrics()).toMatchObject({ bursts: 2, bytes: 128, framingErrors: 0 });
    expect(rx.metrics().lastSnrDb).toBeGreaterThan(20);
    rx.reset();
    const ev = rx.push(pcm);
    expect(ev[0]).toEqual({ type: 'carrier-on', sampleIndex: expect.any(Number) as number });
    expect(ev[0]?.sampleIndex).toBeLessThan(900);
  });

  it('does not decode the other modulation as data', () => {
    const other: Modulation = m === 'v23' ? 'bell202' : 'v23';
    const data = randomData(64, 11);
    const got = bytesOf(roundTrip(data, { modulation: other }, m));
    expect(got).not.toEqual([...data]);
  });
});

describe('demodulator fuzzing', () => {
  it('never throws on arbitrary audio and emits well-formed events', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Modulation>('v23', 'bell202'),
        fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 3000 }),
        fc.integer({ min: 1, max: 400 }),
        (m, samples, chunk) => {
          const rx = createDemodulator({ modulation: m });
          const pcm = Int16Array.from(samples);
          for (let o = 0; o < pcm.length; o += chunk) {
            for (const e of rx.push(pcm.subarray(o, o + chunk))) {
              expect(Number.isFinite(e.sampleIndex)).toBe(true);
              expect(e.sampleIndex).toBeGreaterThanOrEqual(0);
              if (e.type === 'byte') expect(e.value).toBeGreaterThanOrEqual(0);
              if (e.type === 'byte') expect(e.value).toBeLessThan(256);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('terminates on carrier with exact silence and sub-bit tone blips (regression: hunt loop)', () => {
    // Exact zeros make the discriminator exactly 0; a rejected start edge right after it once
    // sent the UART back to the same crossing forever.
    const tone = (hz: number, n: number): Int16Array =>
      Int16Array.from({ length: n }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 8000)));
    const segment = fc.oneof(
      fc.integer({ min: 1, max: 200 }).map((n) => new Int16Array(n)),
      fc.integer({ min: 1, max: 12 }).map((n) => tone(2100, n)),
      fc.integer({ min: 1, max: 12 }).map((n) => tone(2200, n)),
      fc.integer({ min: 1, max: 300 }).map((n) => tone(1300, n)),
    );
    const lead = createModulator({ modulation: 'v23' }).modulate(randomData(3, 14));
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 30 }), (segs) => {
        const rx = createDemodulator({ modulation: 'v23' });
        rx.push(lead); // carrier is up from here
        for (const seg of segs) rx.push(seg);
      }),
      { numRuns: 300 },
    );
  });

  it('survives bursts cut anywhere, full-scale square waves and clipping', () => {
    const tx = createModulator({ modulation: 'v23', levelDbm0: 3 });
    const burst = tx.modulate(randomData(30, 12));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: burst.length }), fc.integer({ min: 0, max: burst.length }), (a, b) => {
        const rx = createDemodulator({ modulation: 'v23' });
        const cut = burst.subarray(Math.min(a, b), Math.max(a, b));
        const square = new Int16Array(4000).map((_, i) => (i % 6 < 3 ? 32767 : -32768));
        expect(() => rx.push(cut)).not.toThrow();
        expect(() => rx.push(square)).not.toThrow();
        expect(() => rx.push(new Int16Array(0))).not.toThrow();
      }),
      { numRuns: 50 },
    );
  });
});

describe('options', () => {
  it.each<[string, ModemOptions]>([
    ['unknown modulation', { modulation: 'v21' as Modulation }],
    ['sample rate', { modulation: 'v23', sampleRateHz: 16000 as 8000 }],
    ['level', { modulation: 'v23', levelDbm0: 10 }],
    ['level NaN', { modulation: 'v23', levelDbm0: NaN }],
    ['lead-in', { modulation: 'v23', leadInMarkBits: -1 }],
    ['carrier offset', { modulation: 'v23', carrierOffset: 0.5 }],
  ])('rejects a bad %s with MODEM_BAD_OPTIONS', (_name, o) => {
    let err: unknown;
    try {
      createModulator(o);
    } catch (e) {
      err = e;
    }
    expect(isFixpayError(err, 'MODEM_BAD_OPTIONS')).toBe(true);
  });

  it('modulateInto writes the same samples as modulate', () => {
    const data = randomData(20, 13);
    const a = createModulator({ modulation: 'bell202' }).modulate(data);
    const tx = createModulator({ modulation: 'bell202' });
    const buf = new Int16Array(tx.burstSamples(data.length) + 10);
    expect(tx.modulateInto(data, buf, 10)).toBe(a.length);
    expect([...buf.subarray(10)]).toEqual([...a]);
    expect(() => tx.modulateInto(data, buf, 11)).toThrow();
  });
});

describe('ModemBank', () => {
  it('decodes many lines in one batch like separate demodulators, with small per-line state', () => {
    const lines = 8;
    const block = 160;
    const got: number[][] = Array.from({ length: lines }, () => []);
    const bank = new ModemBank({ lines, modulation: 'v23' }, (l, e) => {
      if (e.type === 'byte') got[l]?.push(e.value);
    });
    bank.setModulation(7, 'bell202');
    const sources = Array.from({ length: lines }, (_, l) =>
      pad(
        createModulator({ modulation: l === 7 ? 'bell202' : 'v23', levelDbm0: -10 - 3 * l }).modulate(
          randomData(30, l),
        ),
        160 * l,
        3000,
      ),
    );
    const len = Math.max(...sources.map((s) => s.length));
    const frames = Math.ceil(len / block);
    for (let k = 0; k < frames; k++) {
      const batch = new Int16Array(lines * block);
      sources.forEach((s, l) => {
        batch.set(s.subarray(k * block, (k + 1) * block), l * block);
      });
      bank.pushAll(batch, block);
    }
    for (let l = 0; l < lines; l++) {
      expect(got[l]).toEqual([...randomData(30, l)]);
      expect(bank.metrics(l).bursts).toBe(1);
      expect(bank.hasCarrier(l)).toBe(false);
    }
    expect(ModemBank.stateBytesPerLine()).toBeLessThanOrEqual(4096);
  });

  it('rejects bad lines and block shapes with catalogue errors', () => {
    const bank = new ModemBank({ lines: 2, modulation: 'v23' }, () => undefined);
    expect(() => bank.push(2, new Int16Array(10))).toThrow(/line 2/);
    expect(() => bank.pushAll(new Int16Array(7), 4)).toThrow(/expected 2/);
    expect(() => new ModemBank({ lines: 0, modulation: 'v23' }, () => undefined)).toThrow(/lines/);
  });
});
