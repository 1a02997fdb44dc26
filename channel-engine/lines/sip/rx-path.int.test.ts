/**
 * The SIP driver's receive path over real UDP on loopback (ADR 0015, amendment "where the rest of a
 * line's cost went"): an in-order packet is decoded straight from the datagram into a buffer the
 * driver reuses, anything else goes through the jitter buffer's queue. Whatever the mix, the audio
 * a call's listener gets is what the jitter buffer alone plays, decoded packet by packet: the same
 * samples in the same order, lost audio as silence of the same length, for μ-law and A-law, with
 * packets of 10–60 ms reordered, duplicated, lost and across a change of SSRC. The shared tick no
 * longer visits idle calls; the RTP timeout, now a sweep over all calls, still ends a silent call.
 */
import dgram from 'node:dgram';
import { alawDecode, mulawDecode } from '../../audio/g711';
import { buildRtp, JitterBuffer } from '../rtp';
import type { CallListener, CallOffer, LineHost, OfferAnswer } from '../types';
import { parseSipMessage } from './message';
import type { SipResponse } from './message';
import { parseSdp } from './sdp';
import { SipLineDriver } from './uas';
import type { SipDriverOptions } from './uas';

/** Keeps a copy of every audio push (the driver lends its buffer for the call only). */
class RecordingHost implements LineHost {
  draining = false;
  readonly pushes: Int16Array[] = [];
  readonly lent = new Set<ArrayBufferLike>();
  readonly hangups: string[] = [];
  offer(_offer: CallOffer): OfferAnswer {
    return {
      accept: true,
      attach: (): CallListener => ({
        onAudio: (pcm) => {
          this.pushes.push(pcm.slice());
          this.lent.add(pcm.buffer);
        },
        onPlayoutDone: () => {},
        onHangup: (reason) => this.hangups.push(reason),
      }),
    };
  }
}

interface Pkt {
  readonly seq: number;
  readonly ts: number;
  readonly ssrc: number;
  readonly payload: Uint8Array;
}

/** A stream of packets of varied sizes (whole ms, 10–60), every code value present. */
function stream(ssrc: number, firstSeq: number, sizesMs: readonly number[]): Pkt[] {
  let ts = 0xfffff000;
  let code = 0;
  return sizesMs.map((ms, i) => {
    const payload = new Uint8Array(ms * 8);
    for (let j = 0; j < payload.length; j++) payload[j] = code++ & 0xff;
    const p = { seq: (firstSeq + i) & 0xffff, ts: ts >>> 0, ssrc, payload };
    ts += payload.length;
    return p;
  });
}

/** What the listener must hear: the jitter buffer alone (no clock: gaps close by depth or at the end), decoded per packet. */
function expected(sent: readonly Pkt[], decode: (c: Uint8Array) => Int16Array): Int16Array[] {
  const out: Int16Array[] = [];
  let jb = new JitterBuffer();
  let ssrc: number | undefined;
  const play = (frames: ReturnType<JitterBuffer['push']>): void => {
    for (const f of frames) out.push(f.kind === 'audio' ? decode(f.payload) : new Int16Array(f.bytes));
  };
  for (const p of sent) {
    if (p.ssrc !== ssrc) {
      if (ssrc !== undefined) play(jb.flush());
      ssrc = p.ssrc;
      jb = new JitterBuffer();
    }
    play(jb.push(p.seq, p.payload, 0, p.ts));
  }
  play(jb.flush());
  return out;
}

const concat = (parts: readonly Int16Array[]): number[] => parts.flatMap((p) => Array.from(p));

async function call(
  codec: 'PCMU' | 'PCMA',
  send: (rtp: dgram.Socket, port: number, host: RecordingHost) => Promise<void>,
  options: Partial<SipDriverOptions> = {},
): Promise<RecordingHost> {
  const host = new RecordingHost();
  const driver = new SipLineDriver({ port: 0, host: '127.0.0.1', codecs: ['PCMU', 'PCMA'], ...options });
  await driver.start(host);
  const sip = dgram.createSocket('udp4');
  const rtp = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => sip.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', () => r()));
    const pt = codec === 'PCMU' ? 0 : 8;
    const sdp = `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${rtp.address().port} RTP/AVP ${pt}\r\n`;
    const ok = new Promise<SipResponse>((resolve) =>
      sip.on('message', (data) => {
        const m = parseSipMessage(data);
        if (m.ok && m.value.kind === 'response' && m.value.status === 200) resolve(m.value);
      }),
    );
    const head = (method: string): string =>
      `${method} sip:95105@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${sip.address().port};branch=z9hG4bKrx${method}\r\n` +
      `From: <sip:057188880000@127.0.0.1>;tag=t1\r\nCall-ID: rx-path\r\nCSeq: 1 ${method}\r\n` +
      `Contact: <sip:pos@127.0.0.1:${sip.address().port}>\r\n`;
    sip.send(
      `${head('INVITE')}To: <sip:95105@127.0.0.1>\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`,
      driver.port,
      '127.0.0.1',
    );
    const answer = await ok;
    const media = parseSdp(answer.body);
    if (!media.ok) throw new Error('no SDP in the answer');
    sip.send(
      `${head('ACK')}To: ${answer.headers.get('to') ?? ''}\r\nContent-Length: 0\r\n\r\n`,
      driver.port,
      '127.0.0.1',
    );
    await send(rtp, media.value.port, host);
    // Whatever is still held is released after the jitter buffer's 60 ms wait.
    await new Promise((r) => setTimeout(r, 300));
    return host;
  } finally {
    sip.close();
    rtp.close();
    await driver.stop();
  }
}

const sendAll = async (rtp: dgram.Socket, port: number, pkts: readonly Pkt[], pt: number): Promise<void> => {
  for (const p of pkts) {
    const d = buildRtp({
      payloadType: pt,
      marker: false,
      sequenceNumber: p.seq,
      timestamp: p.ts,
      ssrc: p.ssrc,
      payload: p.payload,
    });
    await new Promise<void>((r) => rtp.send(d, port, '127.0.0.1', () => r()));
  }
};

describe('SIP receive path: the in-order path and the jitter buffer decode alike', () => {
  jest.setTimeout(20_000);

  for (const codec of ['PCMU', 'PCMA'] as const) {
    it(`${codec}: reordered, duplicated, lost and re-sourced packets of 10–60 ms give the jitter buffer's audio, sample for sample`, async () => {
      const a = stream(0x1111, 65_530, [20, 20, 60, 10, 40, 30, 20, 60, 60, 20, 50, 20]);
      const b = stream(0x2222, 7, [60, 60, 20, 20, 60]);
      // In order, a swap (3 before 2), a duplicate, a late one, a loss (7), then a new SSRC.
      const order = [
        a[0],
        a[1],
        a[3],
        a[2],
        a[4],
        a[4],
        a[5],
        a[6],
        a[8],
        a[9],
        a[10],
        a[11],
        b[0],
        b[2],
        b[1],
        b[3],
        b[4],
      ];
      const sent = order.filter((p): p is Pkt => p !== undefined);
      const pt = codec === 'PCMU' ? 0 : 8;
      const host = await call(codec, (rtp, port) => sendAll(rtp, port, sent, pt));
      const want = expected(sent, codec === 'PCMU' ? mulawDecode : alawDecode);
      expect(concat(host.pushes)).toEqual(concat(want));
      expect(host.pushes.map((p) => p.length)).toEqual(want.map((p) => p.length));
      // The in-order packets came in the driver's reused buffer: far fewer buffers than pushes.
      expect(host.lent.size).toBeLessThan(host.pushes.length);
    });
  }

  it('the RTP timeout still ends a call that went silent (checked by a sweep, not every tick), and not one that keeps sending', async () => {
    const timeoutMs = 400;
    const pkts = stream(0x3333, 1, new Array<number>(100).fill(20));
    const sendFor = async (rtp: dgram.Socket, port: number, ms: number, from: number): Promise<number> => {
      let i = from;
      for (const end = Date.now() + ms; Date.now() < end; i++) {
        await sendAll(
          rtp,
          port,
          [pkts[i % pkts.length]!].map((p) => ({ ...p, seq: (1 + i) & 0xffff, ts: (i * 160) >>> 0 })),
          0,
        );
        await new Promise((r) => setTimeout(r, 20));
      }
      return i;
    };
    let silentAfterMs = 0;
    const host = await call(
      'PCMU',
      async (rtp, port, h) => {
        // Sending for twice the timeout keeps the call up.
        const sent = await sendFor(rtp, port, 2 * timeoutMs, 0);
        expect(sent).toBeGreaterThan(10);
        expect(h.hangups).toEqual([]);
        // Then silence: the call ends with reason 'timeout' (after the timeout, at the next sweep).
        const quiet = Date.now();
        while (h.hangups.length === 0 && Date.now() - quiet < 10_000) await new Promise((r) => setTimeout(r, 10));
        silentAfterMs = Date.now() - quiet;
      },
      { rtpTimeoutMs: timeoutMs },
    );
    expect(host.hangups).toEqual(['timeout']);
    // Not at once: silence shorter than the timeout does not end a call (it kept sending above for longer).
    expect(silentAfterMs).toBeGreaterThanOrEqual(timeoutMs / 2);
  });
});
