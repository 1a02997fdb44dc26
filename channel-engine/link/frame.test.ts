import fc from 'fast-check';
import { classifyType, decodeFrame, encodeFrame, FrameHunter, frameLength } from './frame';
import type { HuntEvent } from './frame';
import { linkSpecProblems } from './spec';
import type { Frame, LinkSpec } from './spec';
import { SPECS } from './__fixtures__/specs';

function frameArb(spec: LinkSpec): fc.Arbitrary<Frame> {
  const seq = fc.constantFrom<0 | 1>(0, 1);
  const payload = fc.uint8Array({ maxLength: spec.maxPayloadBytes });
  return fc.oneof(
    fc.record({ kind: fc.constant('data' as const), seq, more: fc.boolean(), payload }),
    fc.record({ kind: fc.constant('ack' as const), seq }),
    fc.record({ kind: fc.constant('nak' as const), cause: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('est' as const), payload }),
    fc.record({ kind: fc.constant('rel' as const) }),
  );
}

function encoded(spec: LinkSpec, frame: Frame): Uint8Array {
  const r = encodeFrame(spec, frame);
  if (!r.ok) throw new Error(r.error.codeName);
  return r.value;
}

const frames = (events: HuntEvent[]): Frame[] => events.flatMap((e) => (e.type === 'frame' ? [e.frame] : []));

describe.each(SPECS)('link frame codec, spec %s', (_name, spec) => {
  it('is a sound spec', () => {
    expect(linkSpecProblems(spec)).toEqual([]);
  });

  it('round-trips every frame (property)', () => {
    fc.assert(
      fc.property(frameArb(spec), (frame) => {
        const decoded = decodeFrame(spec, encoded(spec, frame));
        expect(decoded).toEqual({ ok: true, value: frame });
      }),
    );
  });

  it('rejects every truncation with LINK_FRAME_TRUNCATED (property)', () => {
    fc.assert(
      fc.property(frameArb(spec), fc.nat(), (frame, cut) => {
        const bytes = encoded(spec, frame);
        const keep = 1 + (cut % (bytes.length - 1));
        const r = decodeFrame(spec, bytes.subarray(0, keep));
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error.codeName).toBe('LINK_FRAME_TRUNCATED');
      }),
    );
  });

  it('rejects a changed check or payload byte with LINK_CHECK_MISMATCH (property)', () => {
    fc.assert(
      fc.property(frameArb(spec), fc.nat(), fc.integer({ min: 1, max: 255 }), (frame, at, xor) => {
        const bytes = encoded(spec, frame).slice();
        const head = 1 + spec.lengthBytes;
        const index = head + (at % (bytes.length - head)); // payload or check byte
        bytes[index] = (bytes[index] ?? 0) ^ xor;
        const r = decodeFrame(spec, bytes);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error.codeName).toBe('LINK_CHECK_MISMATCH');
      }),
    );
  });

  it('rejects absurd lengths with LINK_LENGTH_INVALID', () => {
    const tooLong = spec.maxPayloadBytes + 1;
    const bytes = new Uint8Array(frameLength(spec, 0) + 8);
    bytes[0] = spec.types.data;
    if (spec.lengthBytes === 1) {
      if (tooLong <= 0xff) bytes[1] = tooLong;
      else return; // a 1-byte length cannot exceed a 255-byte limit
    } else {
      bytes[1] = tooLong >>> 8;
      bytes[2] = tooLong & 0xff;
    }
    const r = decodeFrame(spec, bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.codeName).toBe('LINK_LENGTH_INVALID');
  });

  it('rejects unknown types and trailing bytes', () => {
    const ack = encoded(spec, { kind: 'ack', seq: 1 });
    const withTail = Uint8Array.of(...ack, 0x00);
    const r1 = decodeFrame(spec, withTail);
    expect(!r1.ok && r1.error.codeName).toBe('LINK_TRAILING_BYTES');
    const unknown = [...Array(256).keys()].find((b) => classifyType(spec, b) === undefined);
    const r2 = decodeFrame(spec, Uint8Array.of(unknown ?? 0, 0, 0, 0));
    expect(r2.ok).toBe(false);
    expect(decodeFrame(spec, new Uint8Array(0)).ok).toBe(false);
  });

  it('never throws on arbitrary bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = decodeFrame(spec, bytes);
        if (r.ok) expect(encoded(spec, r.value)).toEqual(bytes);
      }),
    );
  });

  describe('FrameHunter', () => {
    it('finds frames between junk bytes and keeps working after bad frames (property)', () => {
      // Junk must not contain type bytes to make the expected result exact; junk with type bytes is the next test.
      const junkByte = fc.integer({ min: 0, max: 255 }).filter((b) => classifyType(spec, b) === undefined);
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.array(junkByte, { maxLength: 20 }), frameArb(spec), fc.boolean()), { maxLength: 8 }),
          fc.integer({ min: 1, max: 64 }),
          (parts, chunk) => {
            const hunter = new FrameHunter(spec);
            const stream: number[] = [];
            const expected: Frame[] = [];
            let corrupted = 0;
            for (const [junk, frame, corrupt] of parts) {
              stream.push(...junk);
              const bytes = encoded(spec, frame).slice();
              if (corrupt) {
                const last = bytes.length - 1;
                bytes[last] = (bytes[last] ?? 0) ^ 0x5a;
                corrupted++;
              } else expected.push(frame);
              stream.push(...bytes);
            }
            const events: HuntEvent[] = [];
            for (let i = 0; i < stream.length; i += chunk) events.push(...hunter.push(stream.slice(i, i + chunk)));
            events.push(...hunter.endOfBurst());
            expect(frames(events)).toEqual(expected);
            const rejected = events.flatMap((e) => (e.type === 'rejected' ? [e.rejection.codeName] : []));
            expect(rejected).toEqual(Array.from({ length: corrupted }, () => 'LINK_CHECK_MISMATCH'));
          },
        ),
      );
    });

    it('reports a frame cut by the end of a burst as truncated, then decodes the next burst', () => {
      const hunter = new FrameHunter(spec);
      const frame: Frame = { kind: 'data', seq: 0, more: false, payload: Uint8Array.of(1, 2, 3, 4) };
      const bytes = encoded(spec, frame);
      expect(hunter.push(bytes.subarray(0, bytes.length - 2))).toEqual([]);
      const cut = hunter.endOfBurst();
      expect(cut).toHaveLength(1);
      expect(cut[0]?.type === 'rejected' && cut[0].rejection.codeName).toBe('LINK_FRAME_TRUNCATED');
      expect(frames(hunter.push(bytes))).toEqual([frame]);
    });

    it('survives arbitrary noise with a bounded buffer and finds a frame sent after it (fuzz)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 2000 }), (noise) => {
          const hunter = new FrameHunter(spec);
          hunter.push(noise);
          hunter.endOfBurst();
          const frame: Frame = { kind: 'data', seq: 1, more: false, payload: Uint8Array.of(9, 8, 7) };
          expect(frames(hunter.push(encoded(spec, frame)))).toEqual([frame]);
          expect(hunter.stats.junkBytes + hunter.stats.frames + hunter.stats.rejected).toBeGreaterThanOrEqual(1);
        }),
      );
    });
  });
});
