import fc from 'fast-check';
import { bytesToPcm, encodeTcpPcm, MAX_TCP_PCM_BODY_BYTES, pcmToBytes, TCP_PCM_TYPE, TcpPcmReader } from './tcp-pcm';

describe('TCP PCM samples ⇄ bytes', () => {
  it('writes 16-bit little-endian samples', () => {
    expect([...pcmToBytes(Int16Array.of(0x0102, -2, -32768, 32767))]).toEqual([
      0x02, 0x01, 0xfe, 0xff, 0x00, 0x80, 0xff, 0x7f,
    ]);
    expect([...bytesToPcm(Uint8Array.of(0x02, 0x01, 0xfe, 0xff, 0x00, 0x80, 0xff, 0x7f))]).toEqual([
      0x0102, -2, -32768, 32767,
    ]);
  });

  it('reads samples from a view at an odd offset, and copies them', () => {
    const backing = Uint8Array.of(0xaa, 0x34, 0x12, 0xcd, 0xab, 0x99);
    const view = backing.subarray(1, 5);
    const pcm = bytesToPcm(view);
    expect([...pcm]).toEqual([0x1234, -0x5433]);
    backing[1] = 0;
    expect(pcm[0]).toBe(0x1234);
  });

  it('round-trips any samples, also from views into larger arrays', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 400 }), fc.nat(8), (xs, skip) => {
        const backing = new Int16Array(xs.length + skip);
        backing.set(xs, skip);
        const pcm = backing.subarray(skip);
        const bytes = pcmToBytes(pcm);
        const reference = new DataView(bytes.buffer);
        xs.forEach((x, i) => expect(reference.getInt16(i * 2, true)).toBe(x));
        expect([...bytesToPcm(bytes)]).toEqual(xs);
      }),
    );
  });
});

describe('TcpPcmReader', () => {
  const msgs = (types: number[], bodies: number[][]): Uint8Array =>
    Buffer.concat(types.map((t, i) => encodeTcpPcm(t, Uint8Array.from(bodies[i] ?? []))));

  it('splits messages however the stream is cut, and keeps the partial tail', () => {
    const stream = msgs([TCP_PCM_TYPE.hello, TCP_PCM_TYPE.audio, TCP_PCM_TYPE.bye], [[0x31, 0x32], [1, 2, 3, 4], []]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length }), { maxLength: 6 }), (cuts) => {
        const at = [...new Set(cuts)].sort((a, b) => a - b);
        const reader = new TcpPcmReader();
        const seen: string[] = [];
        let from = 0;
        for (const to of [...at, stream.length]) {
          const r = reader.push(stream.slice(from, to));
          if (!r.ok) throw new Error(r.error);
          for (const m of r.value) seen.push(`${m.type}:${[...m.body].join(',')}`);
          from = to;
        }
        expect(seen).toEqual(['1:49,50', '2:1,2,3,4', '3:']);
      }),
    );
  });

  it('a body held over from an earlier chunk is not changed by later chunks', () => {
    const reader = new TcpPcmReader();
    const whole = encodeTcpPcm(TCP_PCM_TYPE.audio, Uint8Array.of(9, 8, 7, 6));
    const first = Uint8Array.from(whole.subarray(0, 5));
    expect(reader.push(first)).toEqual({ ok: true, value: [] });
    first.fill(0); // the producer reuses its chunk: the reader kept its own copy of the tail
    const r = reader.push(whole.subarray(5));
    expect(r.ok && [...(r.value[0]?.body ?? [])]).toEqual([9, 8, 7, 6]);
  });

  it('refuses a length over the limit', () => {
    const reader = new TcpPcmReader();
    const r = reader.push(
      Uint8Array.of(TCP_PCM_TYPE.audio, (MAX_TCP_PCM_BODY_BYTES + 1) >>> 8, (MAX_TCP_PCM_BODY_BYTES + 1) & 0xff),
    );
    expect(r.ok).toBe(false);
  });
});
