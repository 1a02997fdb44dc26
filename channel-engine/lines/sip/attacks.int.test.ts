/**
 * Issue 10 attacks against the SIP/RTP driver, over real UDP sockets on loopback: hostile SDP
 * (port 0, a non-literal address), a flood of INVITEs that never ACK, a per-source INVITE rate,
 * sources outside the allow-list, RTP injected from a foreign port, and a fault inside one call.
 * The whole 127/8 is loopback on Linux: 127.0.0.2 plays the trusted trunk, 127.0.0.1 the attacker.
 */
import dgram from 'node:dgram';
import { ChannelEngine } from '../../engine';
import type { RequestHandler } from '../../engine';
import { loadProfiles } from '../../profiles';
import { buildRtp } from '../rtp';
import type { CallListener, CallOffer, LineCall, LineHost, OfferAnswer } from '../types';
import { parseSipMessage } from './message';
import type { SipResponse } from './message';
import { parseSdp } from './sdp';
import { SipLineDriver } from './uas';
import type { SipDriverOptions } from './uas';

const ATTACKER = '127.0.0.1';
const TRUNK = '127.0.0.2';

class Client {
  readonly socket = dgram.createSocket('udp4');
  readonly received: SipResponse[] = [];
  readonly requests: string[] = [];
  private waiters: (() => void)[] = [];
  constructor(
    readonly serverPort: number,
    readonly address = ATTACKER,
  ) {
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
    await new Promise<void>((r) => this.socket.bind(0, this.address, () => r()));
  }
  get port(): number {
    return this.socket.address().port;
  }
  sendRaw(text: string): void {
    this.socket.send(text, this.serverPort, '127.0.0.1');
  }
  request(method: string, callId: string, cseq: number, body = ''): void {
    this.sendRaw(
      `${method} sip:95105@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${this.address}:${this.port};branch=z9hG4bK${callId}${cseq}${method === 'CANCEL' ? 'INVITE' : method}\r\n` +
        `From: <sip:057188880000@${this.address}>;tag=t1\r\nTo: <sip:95105@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: ${cseq} ${method}\r\n` +
        `Contact: <sip:pos@${this.address}:${this.port}>\r\nContent-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
  }
  async until(pred: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error('timeout waiting for SIP');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  final(callId: string): SipResponse | undefined {
    return this.received.find(
      (r) => r.headers.get('call-id') === callId && (r.headers.get('cseq') ?? '').endsWith('INVITE') && r.status >= 200,
    );
  }
  async finalStatus(callId: string): Promise<number> {
    await this.until(() => this.final(callId) !== undefined);
    return this.final(callId)?.status ?? 0;
  }
  close(): void {
    this.socket.close();
  }
}

const offer = (address: string, port: number | string): string =>
  `v=0\r\no=- 1 1 IN IP4 ${address}\r\ns=-\r\nc=IN IP4 ${address}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;

const echo: RequestHandler = (req) => Promise.resolve(req.payload);

/** A real engine (FSK modem, sessions, admission) behind a SIP driver on an ephemeral port. */
async function withEngine(
  sipOptions: Partial<SipDriverOptions>,
  engineOptions: { maxLines?: number; reservedLines?: number },
  run: (driver: SipLineDriver, engine: ChannelEngine) => Promise<void>,
): Promise<void> {
  const driver = new SipLineDriver({ port: 0, host: '127.0.0.1', ...sipOptions });
  const engine = new ChannelEngine({ profiles: loadProfiles(), handler: echo, nodeId: 'test', ...engineOptions });
  engine.addDriver(driver);
  await engine.start();
  try {
    await run(driver, engine);
  } finally {
    await engine.stop();
  }
}

/** A host whose listener may throw, to see a fault stay inside its call. */
class FakeHost implements LineHost {
  draining = false;
  calls: LineCall[] = [];
  audioSamples = 0;
  hangups: string[] = [];
  throwOnAudio = false;
  offer(_offer: CallOffer): OfferAnswer {
    return {
      accept: true,
      attach: (call): CallListener => {
        this.calls.push(call);
        return {
          onAudio: (pcm) => {
            if (this.throwOnAudio) throw new Error('listener bug');
            this.audioSamples += pcm.length;
          },
          onPlayoutDone: () => {},
          onHangup: (reason) => this.hangups.push(reason),
        };
      },
    };
  }
}

/** A UDP socket on an even ephemeral port (RTP convention). */
async function evenRtpSocket(address = ATTACKER): Promise<dgram.Socket> {
  for (let i = 0; i < 20; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, address, () => r()));
    if (s.address().port % 2 === 0) return s;
    s.close();
  }
  throw new Error('no even port');
}

const rtpPacket = (seq: number, ssrc: number): Uint8Array =>
  buildRtp({
    payloadType: 0,
    marker: false,
    sequenceNumber: seq,
    timestamp: seq * 160,
    ssrc,
    payload: new Uint8Array(160).fill(0x55),
  });

const sendTo = (s: dgram.Socket, b: Uint8Array, port: number): Promise<void> =>
  new Promise((r) => s.send(b, port, '127.0.0.1', () => r()));

describe('SIP driver under attack (issue 10)', () => {
  jest.setTimeout(30_000);

  it('an INVITE with m=audio 0 is refused with 488 and counted; the process lives and the next call is answered', async () => {
    await withEngine({}, {}, async (driver) => {
      const c = new Client(driver.port);
      await c.bind();
      try {
        c.request('INVITE', 'zero', 1, offer('127.0.0.1', 0));
        expect(await c.finalStatus('zero')).toBe(488);
        expect(c.final('zero')?.headers.get('warning')).toMatch(/FP3641/);
        // Give a crashing timer (the old fault) time to fire: the engine ticks every 10 ms.
        await new Promise((r) => setTimeout(r, 200));
        c.request('INVITE', 'next', 1, offer('127.0.0.1', 40000));
        expect(await c.finalStatus('next')).toBe(200);
        expect(driver.metrics()).toMatchObject({ sdpRefused: 1, callsAnswered: 1 });
      } finally {
        c.close();
      }
    });
  });

  it('c=IN IP4 999.1.1.1 (and 0.0.0.0, multicast, names) is refused with 488 before any media or lookup', async () => {
    await withEngine({}, {}, async (driver, engine) => {
      const c = new Client(driver.port);
      await c.bind();
      try {
        const bad = ['999.1.1.1', '0.0.0.0', '224.0.0.1', 'localhost'];
        bad.forEach((a, i) => c.request('INVITE', `bad${i}`, 1, offer(a, 40000)));
        for (let i = 0; i < bad.length; i++) expect(await c.finalStatus(`bad${i}`)).toBe(488);
        expect(driver.metrics()).toMatchObject({ sdpRefused: bad.length, callsAnswered: 0 });
        // Refused before the engine was offered the call: no line, no RTP socket, no send.
        expect(engine.metrics().callsOffered).toBe(0);
      } finally {
        c.close();
      }
    });
  });

  it('a flood of INVITEs that never ACK: lines are freed after the ACK timeout, full gives 503 + Retry-After, the trunk still gets a reserved line', async () => {
    await withEngine(
      { ackTimeoutMs: 400, trunkSources: [`${TRUNK}/32`], inviteRatePerSecond: 1000, inviteBurst: 1000 },
      { maxLines: 6, reservedLines: 2 },
      async (driver, engine) => {
        const attacker = new Client(driver.port, ATTACKER);
        const trunk = new Client(driver.port, TRUNK);
        await attacker.bind();
        await trunk.bind();
        try {
          for (let i = 0; i < 8; i++) attacker.request('INVITE', `flood${i}`, 1, offer('127.0.0.1', 40000 + 2 * i));
          const statuses: number[] = [];
          for (let i = 0; i < 8; i++) statuses.push(await attacker.finalStatus(`flood${i}`));
          expect(statuses.filter((s) => s === 200)).toHaveLength(4); // the unreserved part
          expect(statuses.filter((s) => s === 503)).toHaveLength(4);
          const busy = attacker.received.find((r) => r.status === 503);
          expect(busy?.headers.get('retry-after')).toMatch(/^\d+$/);
          // A genuine terminal behind the trusted trunk gets a reserved line during the flood.
          trunk.request('INVITE', 'genuine', 1, offer(TRUNK, 42000));
          expect(await trunk.finalStatus('genuine')).toBe(200);
          trunk.request('ACK', 'genuine', 1);
          const capacity = engine.metrics();
          expect(capacity).toMatchObject({ linesMax: 6, linesReserved: 2, linesActive: 5, callsRefusedReserved: 4 });
          // No ACK: the flood's lines are freed (BYE sent), the ACKed call stays.
          await attacker.until(() => engine.metrics().linesActive === 1);
          expect(driver.metrics()).toMatchObject({ ackTimeouts: 4 });
          attacker.request('INVITE', 'after', 1, offer('127.0.0.1', 40100));
          expect(await attacker.finalStatus('after')).toBe(200);
        } finally {
          attacker.close();
          trunk.close();
        }
      },
    );
  });

  it('limits INVITEs per source (token bucket) but not from a trusted trunk', async () => {
    await withEngine(
      { inviteRatePerSecond: 0.5, inviteBurst: 3, trunkSources: [`${TRUNK}/32`] },
      {},
      async (driver) => {
        const attacker = new Client(driver.port, ATTACKER);
        const trunk = new Client(driver.port, TRUNK);
        await attacker.bind();
        await trunk.bind();
        try {
          for (let i = 0; i < 6; i++) attacker.request('INVITE', `a${i}`, 1, offer('127.0.0.1', 40000 + 2 * i));
          for (let i = 0; i < 6; i++) trunk.request('INVITE', `t${i}`, 1, offer(TRUNK, 41000 + 2 * i));
          const a: number[] = [];
          const t: number[] = [];
          for (let i = 0; i < 6; i++) a.push(await attacker.finalStatus(`a${i}`));
          for (let i = 0; i < 6; i++) t.push(await trunk.finalStatus(`t${i}`));
          expect(a).toEqual([200, 200, 200, 503, 503, 503]);
          expect(t).toEqual([200, 200, 200, 200, 200, 200]);
          expect(driver.metrics()).toMatchObject({ invitesRateLimited: 3 });
          // A retransmitted INVITE of an admitted call is not a new call: not charged, same answer.
          attacker.request('INVITE', 'a0', 1, offer('127.0.0.1', 40000));
          await attacker.until(() => attacker.received.filter((r) => r.headers.get('call-id') === 'a0').length >= 3);
          expect(driver.metrics()).toMatchObject({ invitesRateLimited: 3 });
        } finally {
          attacker.close();
          trunk.close();
        }
      },
    );
  });

  it('refuses an INVITE from outside the allowed sources with 403 and no call', async () => {
    await withEngine({ allowedSources: [`${TRUNK}/32`] }, {}, async (driver, engine) => {
      const attacker = new Client(driver.port, ATTACKER);
      const trunk = new Client(driver.port, TRUNK);
      await attacker.bind();
      await trunk.bind();
      try {
        attacker.request('INVITE', 'x', 1, offer('127.0.0.1', 40000));
        expect(await attacker.finalStatus('x')).toBe(403);
        expect(engine.metrics().callsOffered).toBe(0);
        trunk.request('INVITE', 'y', 1, offer(TRUNK, 40002));
        expect(await trunk.finalStatus('y')).toBe(200);
        expect(driver.metrics()).toMatchObject({ sourcesRefused: 1 });
      } finally {
        attacker.close();
        trunk.close();
      }
    });
  });

  it('a BYE or CANCEL that knows only the Call-ID does not end a call: wrong tags, another source or another branch get 481', async () => {
    const host = new FakeHost();
    // Rings for 1.5 s before answering: long enough to try CANCELs on a ringing call.
    const driver = new SipLineDriver({ port: 0, answerAfterMs: 1_500 });
    await driver.start(host);
    const caller = new Client(driver.port, ATTACKER);
    const other = new Client(driver.port, TRUNK);
    await caller.bind();
    await other.bind();
    const raw = (c: Client, method: string, callId: string, from: string, to: string, branch: string): void =>
      c.sendRaw(
        `${method} sip:95105@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${c.address}:${c.port};branch=${branch}\r\n` +
          `From: ${from}\r\nTo: ${to}\r\nCall-ID: ${callId}\r\nCSeq: 2 ${method}\r\nContent-Length: 0\r\n\r\n`,
      );
    const statuses = (c: Client, callId: string, method: string): number[] =>
      c.received
        .filter((r) => r.headers.get('call-id') === callId && (r.headers.get('cseq') ?? '').endsWith(method))
        .map((r) => r.status);
    try {
      caller.request('INVITE', 'b1', 1, offer('127.0.0.1', 40010));
      expect(await caller.finalStatus('b1')).toBe(200);
      caller.request('ACK', 'b1', 1);
      const from = '<sip:057188880000@127.0.0.1>;tag=t1';
      const to = caller.final('b1')?.headers.get('to') ?? '';
      expect(to).toMatch(/;tag=/);
      // The Call-ID alone, no To tag; a forged To tag; the right tags from another address.
      raw(caller, 'BYE', 'b1', from, '<sip:95105@127.0.0.1>', 'z9hG4bKs1');
      raw(caller, 'BYE', 'b1', from, '<sip:95105@127.0.0.1>;tag=guess', 'z9hG4bKs2');
      raw(caller, 'BYE', 'b1', '<sip:057188880000@127.0.0.1>;tag=other', to, 'z9hG4bKs3');
      raw(other, 'BYE', 'b1', from, to, 'z9hG4bKs4');
      await caller.until(() => statuses(caller, 'b1', 'BYE').length === 3);
      await other.until(() => statuses(other, 'b1', 'BYE').length === 1);
      expect([...statuses(caller, 'b1', 'BYE'), ...statuses(other, 'b1', 'BYE')]).toEqual([481, 481, 481, 481]);
      expect(driver.activeCalls).toBe(1);
      expect(host.hangups).toEqual([]);
      expect(driver.metrics()).toMatchObject({ dialogMismatches: 4 });
      // The caller's own BYE, with both tags, ends it.
      raw(caller, 'BYE', 'b1', from, to, 'z9hG4bKs5');
      await caller.until(() => statuses(caller, 'b1', 'BYE').includes(200));
      await caller.until(() => driver.activeCalls === 0);
      expect(host.hangups).toEqual(['remote']);

      // A ringing call: a CANCEL on another branch, or from another address, does not cancel it.
      caller.request('INVITE', 'c1', 1, offer('127.0.0.1', 40012));
      await caller.until(() => statuses(caller, 'c1', 'INVITE').includes(180));
      raw(caller, 'CANCEL', 'c1', from, '<sip:95105@127.0.0.1>', 'z9hG4bKnotTheInvite');
      raw(other, 'CANCEL', 'c1', from, '<sip:95105@127.0.0.1>', 'z9hG4bKc11INVITE');
      await caller.until(() => statuses(caller, 'c1', 'CANCEL').length === 1);
      await other.until(() => statuses(other, 'c1', 'CANCEL').length === 1);
      expect([...statuses(caller, 'c1', 'CANCEL'), ...statuses(other, 'c1', 'CANCEL')]).toEqual([481, 481]);
      expect(statuses(caller, 'c1', 'INVITE')).not.toContain(487);
      caller.request('CANCEL', 'c1', 1);
      await caller.until(() => statuses(caller, 'c1', 'INVITE').includes(487));
    } finally {
      caller.close();
      other.close();
      await driver.stop();
    }
  });

  it('drops RTP from anything but the negotiated address:port, and counts it', async () => {
    const host = new FakeHost();
    const driver = new SipLineDriver({ port: 0 });
    await driver.start(host);
    const c = new Client(driver.port);
    await c.bind();
    const media = await evenRtpSocket();
    const foreign = dgram.createSocket('udp4');
    await new Promise<void>((r) => foreign.bind(0, '127.0.0.1', () => r()));
    try {
      c.request('INVITE', 'm1', 1, offer('127.0.0.1', media.address().port));
      expect(await c.finalStatus('m1')).toBe(200);
      c.request('ACK', 'm1', 1);
      const answer = parseSdp(c.final('m1')?.body ?? '');
      if (!answer.ok) throw new Error(answer.error.detail);
      for (let seq = 0; seq < 5; seq++) await sendTo(foreign, rtpPacket(seq, 666), answer.value.port);
      for (let seq = 0; seq < 5; seq++) await sendTo(media, rtpPacket(100 + seq, 7), answer.value.port);
      await c.until(() => host.audioSamples >= 800);
      expect(host.audioSamples).toBe(800);
      expect(driver.metrics()).toMatchObject({ rtpWrongSource: 5, rtpPacketsIn: 5 });
    } finally {
      media.close();
      foreign.close();
      c.close();
      await driver.stop();
    }
  });

  it('with symmetric latching, the first packet from the caller fixes the peer and others are dropped', async () => {
    const host = new FakeHost();
    const driver = new SipLineDriver({ port: 0, rtpSymmetricLatch: true });
    await driver.start(host);
    const c = new Client(driver.port);
    await c.bind();
    const natted = await evenRtpSocket(); // the port the NAT really uses, not the one in the SDP
    const foreign = await evenRtpSocket();
    try {
      c.request('INVITE', 'n1', 1, offer('127.0.0.1', 40000));
      expect(await c.finalStatus('n1')).toBe(200);
      c.request('ACK', 'n1', 1);
      const answer = parseSdp(c.final('n1')?.body ?? '');
      if (!answer.ok) throw new Error(answer.error.detail);
      for (let seq = 0; seq < 5; seq++) await sendTo(natted, rtpPacket(seq, 7), answer.value.port);
      for (let seq = 0; seq < 5; seq++) await sendTo(foreign, rtpPacket(seq, 666), answer.value.port);
      await c.until(() => host.audioSamples >= 800 && driver.metrics()['rtpWrongSource'] === 5);
      expect(host.audioSamples).toBe(800);
    } finally {
      natted.close();
      foreign.close();
      c.close();
      await driver.stop();
    }
  });

  it('a fault inside one call (a throwing listener) ends that call with BYE; the driver serves the next', async () => {
    const host = new FakeHost();
    const driver = new SipLineDriver({ port: 0 });
    await driver.start(host);
    const c = new Client(driver.port);
    await c.bind();
    const media = await evenRtpSocket();
    try {
      host.throwOnAudio = true;
      c.request('INVITE', 'f1', 1, offer('127.0.0.1', media.address().port));
      expect(await c.finalStatus('f1')).toBe(200);
      c.request('ACK', 'f1', 1);
      const answer = parseSdp(c.final('f1')?.body ?? '');
      if (!answer.ok) throw new Error(answer.error.detail);
      for (let seq = 0; seq < 3; seq++) await sendTo(media, rtpPacket(seq, 7), answer.value.port);
      await c.until(() => c.requests.includes('BYE'));
      await c.until(() => driver.activeCalls === 0);
      expect(host.hangups).toEqual(['error']);
      expect(driver.metrics()).toMatchObject({ callFaults: 1 });
      host.throwOnAudio = false;
      c.request('INVITE', 'f2', 1, offer('127.0.0.1', media.address().port));
      expect(await c.finalStatus('f2')).toBe(200);
    } finally {
      media.close();
      c.close();
      await driver.stop();
    }
  });
});
