import { addNoise, dtmfAudio, DTMF_COLUMNS_HZ, DTMF_KEYS, DTMF_ROWS_HZ, Rng, sineAmplitude } from '../audio';
import { createDemodulator, createModulator, MIN_LEAD_IN_MARK_BITS, type Modulation, type ModemEvent } from './index';

/**
 * What real phones send and what else a line carries: bursts after a short mark lead-in, and DTMF
 * digits (and speech-like sound) that must not be taken for a data carrier. docs/protocols/modem.md.
 */

const MODS: readonly Modulation[] = ['v23', 'bell202'];

function randomData(n: number, rng: Rng): Uint8Array {
  return new Uint8Array(n).map(() => rng.nextU32() & 0xff);
}

/** Pushes audio in 20 ms blocks (as line drivers do, so through the idle gate); returns the events. */
function receive(m: Modulation, pcm: Int16Array, block = 160): ModemEvent[] {
  const rx = createDemodulator({ modulation: m });
  const ev: ModemEvent[] = [];
  for (let o = 0; o < pcm.length; o += block) ev.push(...rx.push(pcm.subarray(o, o + block)));
  return ev;
}

const bytesOf = (ev: readonly ModemEvent[]): number[] => ev.flatMap((e) => (e.type === 'byte' ? [e.value] : []));
const count = (ev: readonly ModemEvent[], type: ModemEvent['type']): number => ev.filter((e) => e.type === type).length;

describe.each(MODS)('%s receiver', (m) => {
  it(`needs no more than ${MIN_LEAD_IN_MARK_BITS} mark bits of lead-in: bursts at any position and carrier phase, clean to 10 dB SNR`, () => {
    expect(MIN_LEAD_IN_MARK_BITS).toBeLessThanOrEqual(8);
    const rng = new Rng(m === 'v23' ? 81 : 82);
    for (const snr of [Infinity, 20, 14, 10]) {
      for (let trial = 0; trial < 12; trial++) {
        const level = -30 + 2 * trial;
        const tx = createModulator({ modulation: m, levelDbm0: level, leadInMarkBits: 8, trailMarkBits: 8 });
        tx.modulate(randomData(trial % 3, rng)); // the transmitter is phase-continuous: a new carrier phase
        const data = randomData(24, rng);
        const before = 160 + 13 * trial + (rng.nextU32() % 160); // every alignment with blocks and sub-blocks
        const burst = new Int16Array(before + tx.burstSamples(data.length) + 400);
        burst.set(tx.modulate(data), before);
        const pcm = snr === Infinity ? burst : addNoise(burst, level, snr, rng);
        const ev = receive(m, pcm);
        expect({ snr, trial, bytes: bytesOf(ev) }).toEqual({ snr, trial, bytes: [...data] });
        expect(count(ev, 'framing-error')).toBe(0);
        expect(ev[0]?.type).toBe('carrier-on');
        // carrier-on points at the lead-in: the mark window starts inside it (a few samples before it at most).
        expect(ev[0]?.sampleIndex).toBeGreaterThanOrEqual(before - 12);
        expect(ev[0]?.sampleIndex).toBeLessThan(before + 8 * (8000 / 1200));
      }
    }
  });

  it('catches a burst after 8 mark bits in one push too, and after a gap of 15 ms behind another burst', () => {
    const rng = new Rng(83);
    const tx = createModulator({ modulation: m, leadInMarkBits: 8 });
    const a = randomData(10, rng);
    const b = randomData(10, rng);
    const first = tx.modulate(a);
    const second = tx.modulate(b);
    const pcm = new Int16Array(300 + first.length + 120 + second.length + 300);
    pcm.set(first, 300);
    pcm.set(second, 300 + first.length + 120);
    const ev = createDemodulator({ modulation: m }).push(pcm);
    expect(bytesOf(ev)).toEqual([...a, ...b]);
    expect(count(ev, 'framing-error')).toBe(0);
  });

  it('raises no carrier on 20 s of DTMF digits with speech-like sound in the gaps', () => {
    const ev = receive(m, dtmfAudio({ samples: 20 * 8000, seed: m === 'v23' ? 11 : 12 }));
    expect(ev).toEqual([]);
  });

  it.each([-8, 0, 4])(
    'raises no carrier on any of the 16 DTMF keys held 500 ms, twist %p dB, -30 to 0 dBm0',
    (twistDb) => {
      for (let key = 0; key < 16; key++) {
        for (const level of [-30, -15, 0]) {
          const fl = DTMF_ROWS_HZ[key >> 2] ?? 0;
          const fh = DTMF_COLUMNS_HZ[key & 3] ?? 0;
          const tw = Math.pow(10, twistDb / 10);
          // Total power at `level`, split by the twist (high over low).
          const al = sineAmplitude(level) / Math.sqrt(1 + tw);
          const ah = al * Math.sqrt(tw);
          const pcm = new Int16Array(4800);
          for (let i = 400; i < 4400; i++) {
            pcm[i] = Math.round(
              al * Math.sin((2 * Math.PI * fl * i) / 8000 + key) + ah * Math.sin((2 * Math.PI * fh * i) / 8000),
            );
          }
          expect({ key: DTMF_KEYS[key], level, events: receive(m, pcm) }).toEqual({
            key: DTMF_KEYS[key],
            level,
            events: [],
          });
        }
      }
    },
  );

  it('raises no carrier on mark alone: a candidate is confirmed by its first character', () => {
    const tx = createModulator({ modulation: m, leadInMarkBits: 200, trailMarkBits: 0 });
    const pcm = new Int16Array(400 + tx.burstSamples(0) + 400);
    pcm.set(tx.modulate(new Uint8Array(0)), 400);
    expect(receive(m, pcm)).toEqual([]);
  });
});
