/**
 * The SIP driver against our own minimal UDP client: answer with SDP, RTP garbage counted while
 * valid RTP flows, BYE from either side, CANCEL before answer, OPTIONS, and 503 while draining.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { buildRtp } from '../rtp';
import { SILENT_LOGGER } from '../types';
import type { CallListener, CallOffer, LineCall, LineHost, OfferAnswer } from '../types';
import { parseSipMessage } from './message';
import type { SipResponse } from './message';
import { parseSdp } from './sdp';
import { SipLineDriver } from './uas';
import type { SipDriverOptions } from './uas';

class FakeHost implements LineHost {
  draining = false;
  calls: LineCall[] = [];
  audioSamples = 0;
  hangups: string[] = [];
  offers: CallOffer[] = [];
  offer(offer: CallOffer): OfferAnswer {
    this.offers.push(offer);
    if (this.draining) return { accept: false, codeName: 'ENGINE_DRAINING' };
    return {
      accept: true,
      attach: (call): CallListener => {
        this.calls.push(call);
        return {
          onAudio: (pcm) => (this.audioSamples += pcm.length),
          onPlayoutDone: () => {},
          onHangup: (reason) => this.hangups.push(reason),
        };
      },
    };
  }
}

class Client {
  readonly socket = dgram.createSocket('udp4');
  readonly received: SipResponse[] = [];
  readonly requests: string[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly serverPort: number) {
    this.socket.on('message', (data) => {
      const m = parseSipMessage(data);
      if (m.ok && m.value.kind === 'response') this.received.push(m.value);
      if (m.ok && m.value.kind === 'request') {
        this.requests.push(m.value.method);
        if (m.value.method === 'BYE') {
          const h = m.value.headers;
          this.sendRaw(
            `SIP/2.0 200 OK\r\nVia: ${h.get('via') ?? ''}\r\nFrom: ${h.get('from') ?? ''}\r\nTo: ${h.get('to') ?? ''}\r\nCall-ID: ${h.get('call-id') ?? ''}\r\nCSeq: ${h.get('cseq') ?? ''}\r\nContent-Length: 0\r\n\r\n`,
          );
        }
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async bind(): Promise<void> {
    await new Promise<void>((r) => this.socket.bind(0, '127.0.0.1', () => r()));
  }
  get port(): number {
    return this.socket.address().port;
  }
  sendRaw(text: string): void {
    this.socket.send(text, this.serverPort, '127.0.0.1');
  }
  request(method: string, callId: string, cseq: number, body = '', extra = ''): void {
    this.sendRaw(
      `${method} sip:95105@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${callId}${cseq}${method === 'CANCEL' ? 'INVITE' : method}\r\n` +
        `From: <sip:057188880000@127.0.0.1>;tag=t1\r\nTo: <sip:95105@127.0.0.1>${extra}\r\nCall-ID: ${callId}\r\nCSeq: ${cseq} ${method}\r\n` +
        `Contact: <sip:pos@127.0.0.1:${this.port}>\r\nContent-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
  }
  async until(pred: () => boolean, ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error('timeout waiting for SIP');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  status(callId: string, method: string): number[] {
    return this.received
      .filter((r) => r.headers.get('call-id') === callId && (r.headers.get('cseq') ?? '').endsWith(method))
      .map((r) => r.status);
  }
}

const OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';

describe('SIP driver with our own UDP client', () => {
  let host: FakeHost;
  let driver: SipLineDriver;
  let client: Client;
  beforeEach(async () => {
    host = new FakeHost();
    driver = new SipLineDriver({ port: 0, answerAfterMs: 300 });
    await driver.start(host);
    client = new Client(driver.port);
    await client.bind();
  });
  afterEach(async () => {
    client.socket.close();
    await driver.stop();
  });

  it('answers, takes RTP (and counts garbage), and ends on our hang-up with BYE/200', async () => {
    // RTP is accepted only from the offer's address:port, so the media socket is bound first.
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', () => r()));
    client.request('INVITE', 'c1', 1, OFFER.replace('40000', String(rtp.address().port)));
    await client.until(() => client.status('c1', 'INVITE').includes(200));
    expect(client.status('c1', 'INVITE').slice(0, 3)).toEqual([100, 180, 200]);
    expect(host.offers[0]).toMatchObject({ callerNumber: '057188880000', calledNumber: '95105' });
    const ok = client.received.find((r) => r.status === 200);
    const sdp = parseSdp(ok?.body ?? '');
    if (!sdp.ok) throw new Error(sdp.error.detail);
    client.request('ACK', 'c1', 1);
    const send = (b: Uint8Array): Promise<void> =>
      new Promise((r) => rtp.send(b, sdp.value.port, '127.0.0.1', () => r()));
    await send(Uint8Array.of(1, 2, 3)); // garbage
    await send(Uint8Array.of(0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)); // RTP version 1
    for (let seq = 0; seq < 5; seq++)
      await send(
        buildRtp({
          payloadType: 0,
          marker: false,
          sequenceNumber: seq,
          timestamp: seq * 160,
          ssrc: 7,
          payload: new Uint8Array(160).fill(0xff),
        }),
      );
    await client.until(() => host.audioSamples >= 800);
    rtp.close();
    expect(driver.metrics()).toMatchObject({ rtpMalformed: 2, rtpPacketsIn: 5 });
    host.calls[0]?.hangup();
    await client.until(() => client.requests.includes('BYE'));
    await client.until(() => driver.activeCalls === 0);
    expect(host.hangups).toEqual(['local']);
  });

  it('CANCEL before the answer gives 200 and 487', async () => {
    client.request('INVITE', 'c2', 1, OFFER);
    await client.until(() => client.status('c2', 'INVITE').includes(180));
    client.request('CANCEL', 'c2', 1);
    await client.until(() => client.status('c2', 'INVITE').includes(487));
    expect(client.status('c2', 'CANCEL')).toEqual([200]);
    expect(host.hangups).toEqual(['remote']);
  });

  it('answers OPTIONS, and 503 to INVITE and OPTIONS while draining; BYE for an unknown call is 481', async () => {
    client.request('OPTIONS', 'o1', 1);
    await client.until(() => client.status('o1', 'OPTIONS').length > 0);
    expect(client.status('o1', 'OPTIONS')).toEqual([200]);
    host.draining = true;
    client.request('OPTIONS', 'o2', 1);
    client.request('INVITE', 'c3', 1, OFFER);
    await client.until(() => client.status('c3', 'INVITE').includes(503) && client.status('o2', 'OPTIONS').length > 0);
    expect(client.status('o2', 'OPTIONS')).toEqual([503]);
    client.request('BYE', 'nope', 2);
    await client.until(() => client.status('nope', 'BYE').length > 0);
    expect(client.status('nope', 'BYE')).toEqual([481]);
  });

  it('refuses an offer without G.711 with 488', async () => {
    client.request('INVITE', 'c4', 1, OFFER.replace('RTP/AVP 0', 'RTP/AVP 18'));
    await client.until(() => client.status('c4', 'INVITE').includes(488));
    expect(host.calls).toHaveLength(0);
  });
});

describe('SIP driver with one shared RTP socket', () => {
  const samples = new Map<string, number>();
  const calls: LineCall[] = [];
  const host: LineHost = {
    draining: false,
    offer: (offer): OfferAnswer => ({
      accept: true,
      attach: (call): CallListener => {
        calls.push(call);
        return {
          onAudio: (pcm) => samples.set(offer.lineId, (samples.get(offer.lineId) ?? 0) + pcm.length),
          onPlayoutDone: () => {},
          onHangup: () => {},
        };
      },
    }),
  };
  const packet = (seq: number): Uint8Array =>
    buildRtp({
      payloadType: 0,
      marker: false,
      sequenceNumber: seq,
      timestamp: seq * 160,
      ssrc: 9,
      payload: new Uint8Array(160),
    });
  const media = async (): Promise<dgram.Socket> => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return s;
  };
  const send = (from: dgram.Socket, port: number, seq: number): Promise<void> =>
    new Promise((r) => from.send(packet(seq), port, '127.0.0.1', () => r()));

  it('tells calls apart by peer, gives a clashing peer its own socket, and drops strangers and ended calls', async () => {
    const driver = new SipLineDriver({ port: 0, sharedRtpSocket: true });
    await driver.start(host);
    const client = new Client(driver.port);
    await client.bind();
    const [a, b, stranger] = [await media(), await media(), await media()];
    try {
      const answered = async (callId: string, peer: dgram.Socket): Promise<number> => {
        client.request('INVITE', callId, 1, OFFER.replace('40000', String(peer.address().port)));
        await client.until(() => client.status(callId, 'INVITE').includes(200));
        client.request('ACK', callId, 1);
        const ok = client.received.find((r) => r.status === 200 && r.headers.get('call-id') === callId);
        const sdp = parseSdp(ok?.body ?? '');
        if (!sdp.ok) throw new Error(sdp.error.detail);
        return sdp.value.port;
      };
      const p1 = await answered('s1', a);
      const p2 = await answered('s2', b);
      const p3 = await answered('s3', a); // same peer as s1: a socket of its own
      expect(p2).toBe(p1);
      expect(p3).not.toBe(p1);
      for (let seq = 0; seq < 3; seq++) await send(a, p1, seq);
      for (let seq = 0; seq < 2; seq++) await send(b, p1, seq);
      await send(a, p3, 0);
      await send(stranger, p1, 0);
      await client.until(
        () => samples.get('sip:s1') === 480 && samples.get('sip:s2') === 320 && samples.get('sip:s3') === 160,
      );
      await client.until(() => driver.metrics().rtpWrongSource === 1);

      calls[0]?.hangup(); // s1 ends: its peer is a stranger on the shared socket now, s2 goes on
      await client.until(() => driver.activeCalls === 2);
      await send(a, p1, 3);
      await send(b, p1, 2);
      await client.until(() => samples.get('sip:s2') === 480 && driver.metrics().rtpWrongSource === 2);
      expect(samples.get('sip:s1')).toBe(480);
      expect(driver.mediaPorts().sort()).toEqual([p1, p3].sort());
    } finally {
      for (const s of [a, b, stranger]) s.close();
      client.socket.close();
      await driver.stop();
    }
  });

  // Linux doubles SO_RCVBUF for its bookkeeping and caps the request at net.core.rmem_max.
  (process.platform === 'linux' ? it : it.skip)(
    'asks the kernel for its receive buffer and warns when it is granted less',
    async () => {
      const sysctl = (name: string): number => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim());
      const [rmemMax, rmemDefault] = [sysctl('rmem_max'), sysctl('rmem_default')];
      const start = async (
        options: Partial<SipDriverOptions>,
      ): Promise<{ granted: number | undefined; warnings: object[] }> => {
        const warnings: object[] = [];
        const log = { ...SILENT_LOGGER, warn: (obj: object) => void warnings.push(obj) };
        const driver = new SipLineDriver({ port: 0, ...options }, log);
        await driver.start(host);
        const granted = driver.sharedRtpReceiveBufferBytes;
        await driver.stop();
        expect(driver.sharedRtpReceiveBufferBytes).toBeUndefined();
        return { granted, warnings };
      };
      const fits = Math.min(1 << 20, rmemMax);
      expect(await start({ sharedRtpSocket: true, sharedRtpReceiveBufferBytes: fits })).toEqual({
        granted: fits,
        warnings: [],
      });
      expect(await start({ sharedRtpSocket: true, sharedRtpReceiveBufferBytes: 0 })).toEqual({
        granted: rmemDefault,
        warnings: [],
      });
      const over = await start({ sharedRtpSocket: true, sharedRtpReceiveBufferBytes: rmemMax + 65536 });
      expect(over.granted).toBe(rmemMax);
      expect(over.warnings).toEqual([{ wanted: rmemMax + 65536, granted: rmemMax }]);
      expect(await start({ sharedRtpSocket: false })).toEqual({ granted: undefined, warnings: [] });
    },
  );
});
