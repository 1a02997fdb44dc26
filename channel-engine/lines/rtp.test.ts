import fc from 'fast-check';
import { buildRtp, JitterBuffer, parseRtp } from './rtp';
import type { PlayoutFrame } from './rtp';

describe('RTP packets (RFC 3550 §5.1)', () => {
  it('round-trips (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          payloadType: fc.constantFrom(0, 8, 96),
          marker: fc.boolean(),
          sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
          timestamp: fc.integer({ min: 0, max: 0xffffffff }),
          ssrc: fc.integer({ min: 0, max: 0xffffffff }),
          payload: fc.uint8Array({ maxLength: 320 }),
        }),
        (p) => {
          expect(parseRtp(buildRtp(p))).toEqual({ ok: true, value: p });
        },
      ),
    );
  });

  it('skips CSRCs, extension and padding', () => {
    const bytes = Uint8Array.of(
      0xb1,
      0x00,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      9,
      1,
      2,
      3,
      4,
      0xbe,
      0xde,
      0,
      1,
      7,
      7,
      7,
      7,
      0x55,
      0x66,
      0,
      0,
      3,
    );
    const r = parseRtp(bytes);
    expect(r.ok && [...r.value.payload]).toEqual([0x55, 0x66]);
  });

  it('never throws on garbage and rejects most of it (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const r = parseRtp(bytes);
        if (r.ok) expect(r.value.payload.length).toBeLessThanOrEqual(bytes.length);
      }),
    );
    expect(parseRtp(Uint8Array.of(0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).ok).toBe(false); // version 1
  });
});

const frames = (out: PlayoutFrame[]): string[] => out.map((f) => (f.kind === 'audio' ? String(f.payload[0]) : 'lost'));
const pkt = (n: number): Uint8Array => Uint8Array.of(n, 0, 0, 0);

describe('jitter buffer', () => {
  it('reorders within its depth', () => {
    const jb = new JitterBuffer({ depthPackets: 4, maxDelayMs: 60, maxDropoutPackets: 100, maxConcealMs: 1000 });
    const out = [
      ...jb.push(10, pkt(10), 0),
      ...jb.push(12, pkt(12), 1),
      ...jb.push(11, pkt(11), 2),
      ...jb.push(13, pkt(13), 3),
    ];
    expect(frames(out)).toEqual(['10', '11', '12', '13']);
    expect(jb.stats.lost).toBe(0);
  });

  it('declares a gap lost after maxDelayMs and fills it with silence; late packets are dropped', () => {
    const jb = new JitterBuffer({ depthPackets: 4, maxDelayMs: 60, maxDropoutPackets: 100, maxConcealMs: 1000 });
    const out = [...jb.push(1, pkt(1), 0), ...jb.push(4, pkt(4), 20)];
    expect(frames(out)).toEqual(['1']);
    expect(frames(jb.poll(50))).toEqual([]);
    expect(frames(jb.poll(81))).toEqual(['lost', 'lost', '4']);
    expect(jb.push(2, pkt(2), 90)).toEqual([]);
    expect(jb.stats).toMatchObject({ lost: 2, late: 1 });
  });

  it('wraps sequence numbers and restarts on a large jump', () => {
    const jb = new JitterBuffer();
    expect(frames([...jb.push(0xffff, pkt(1), 0), ...jb.push(0, pkt(2), 1)])).toEqual(['1', '2']);
    expect(frames(jb.push(30000, pkt(3), 2))).toEqual(['3']);
    expect(jb.stats.restarts).toBe(1);
  });

  it('gives up a gap when full', () => {
    const jb = new JitterBuffer({ depthPackets: 2, maxDelayMs: 1000, maxDropoutPackets: 100, maxConcealMs: 1000 });
    const out = [
      ...jb.push(1, pkt(1), 0),
      ...jb.push(3, pkt(3), 0),
      ...jb.push(4, pkt(4), 0),
      ...jb.push(5, pkt(5), 0),
    ];
    expect(frames(out)).toEqual(['1', 'lost', '3', '4', '5']);
  });
});

describe('JitterBuffer steady state', () => {
  const pkt = (n: number): Uint8Array => Uint8Array.of(n);

  it('passes in-order packets straight out and holds nothing, so poll has nothing to do', () => {
    const jb = new JitterBuffer();
    for (let s = 100; s < 110; s++) {
      const out = jb.push(s, pkt(s), s);
      expect(out).toEqual([{ kind: 'audio', payload: pkt(s) }]);
      expect(jb.held).toBe(0);
    }
    expect(jb.poll(10_000)).toEqual([]);
    expect(jb.stats).toMatchObject({ received: 10, lost: 0, late: 0, reordered: 0 });
  });

  it('holds after a gap and returns to the straight path once the gap is filled', () => {
    const jb = new JitterBuffer();
    jb.push(1, pkt(1), 0);
    expect(jb.push(3, pkt(3), 1)).toEqual([]);
    expect(jb.held).toBe(1);
    expect(jb.push(2, pkt(2), 2).map((f) => (f.kind === 'audio' ? f.payload[0] : 'lost'))).toEqual([2, 3]);
    expect(jb.held).toBe(0);
    expect(jb.push(4, pkt(4), 3)).toEqual([{ kind: 'audio', payload: pkt(4) }]);
    expect(jb.push(4, pkt(4), 4)).toEqual([]);
    expect(jb.stats.late).toBe(1);
  });
});

describe('JitterBuffer.inOrder (the receive path without allocation)', () => {
  /** What a frame stands for: the payload's first byte (its packet number) or the silence's length. */
  const show = (f: PlayoutFrame): string =>
    f.kind === 'audio' ? `a${f.payload[0]}:${f.payload.length}` : `l${f.bytes}`;

  it('plays exactly what push plays, with the same stats, for any order, loss and duplication (property)', () => {
    // Packets of 10–60 ms with consistent timestamps; each step sends one of them (any order,
    // repeats, omissions) and advances the clock, sometimes past the jitter buffer's wait.
    const stream = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 30 }).map((sizes) => {
      let ts = 0xffffff00;
      return sizes.map((tenMs, i) => {
        const bytes = tenMs * 80;
        const p = { seq: (65_530 + i) & 0xffff, ts: ts >>> 0, payload: new Uint8Array(bytes).fill(i & 0xff) };
        ts += bytes;
        return p;
      });
    });
    fc.assert(
      fc.property(
        stream,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 80 })), { maxLength: 60 }),
        (packets, steps) => {
          const viaPush = new JitterBuffer();
          const viaInOrder = new JitterBuffer();
          const a: string[] = [];
          const b: string[] = [];
          let now = 0;
          for (const [pick, advanceMs] of steps) {
            const p = packets[pick % packets.length]!;
            now += advanceMs;
            a.push(...viaPush.poll(now).map(show));
            b.push(...viaInOrder.poll(now).map(show));
            a.push(...viaPush.push(p.seq, p.payload, now, p.ts).map(show));
            if (viaInOrder.inOrder(p.seq, p.payload.length, p.ts)) b.push(show({ kind: 'audio', payload: p.payload }));
            else b.push(...viaInOrder.push(p.seq, p.payload, now, p.ts).map(show));
            expect(viaInOrder.held).toBe(viaPush.held);
          }
          a.push(...viaPush.flush().map(show));
          b.push(...viaInOrder.flush().map(show));
          expect(b).toEqual(a);
          expect(viaInOrder.stats).toEqual(viaPush.stats);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses (changing nothing) a packet that is not the next expected, or while anything is held', () => {
    const jb = new JitterBuffer();
    expect(jb.inOrder(10, 160, 0)).toBe(true);
    expect(jb.inOrder(12, 160, 320)).toBe(false);
    expect(jb.inOrder(9, 160, 0)).toBe(false);
    expect(jb.stats.received).toBe(1);
    jb.push(12, new Uint8Array(160), 0, 320);
    expect(jb.held).toBe(1);
    expect(jb.inOrder(11, 160, 160)).toBe(false);
    expect(jb.push(11, new Uint8Array(160), 0, 160)).toHaveLength(2);
    expect(jb.inOrder(13, 160, 480)).toBe(true);
  });
});
