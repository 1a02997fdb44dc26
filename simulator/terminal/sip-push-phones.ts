/**
 * The SIP side of the simulated push phones (docs/protocols/push.md, "SIP"): a trunk/gateway UAS
 * in front of on-hook phones. INVITE for an offline phone → 480, a busy one → 486, an unknown
 * number → 404; else 200 with SDP, then the G.711 RTP it receives is decoded to PCM and
 * demodulated by the platform's receiver; a checked message ends the call with our BYE carrying
 * the receipt reason.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { alawDecode, mulawDecode } from '../../channel-engine/audio/g711';
import { MessageAssembler } from '../../channel-engine/callerid';
import { createDemodulator } from '../../channel-engine/modem';
import { parseRtp } from '../../channel-engine/lines/rtp';
import { parseSipMessage, serializeSipMessage, SipHeaders, numberOfUri } from '../../channel-engine/lines/sip/message';
import { buildSdp, chooseCodec, parseSdp } from '../../channel-engine/lines/sip/sdp';
import { PUSH_ALERT_INFO, PUSH_RECEIPT_REASON } from '../../channel-engine/push/sip-dialer';
import { pushNoticeOf, type PushPhoneEvents, type SimulatedPushPhone } from './push-phones';

export class SipPushPhoneGateway {
  private socket: dgram.Socket | undefined;
  private readonly media = new Set<dgram.Socket>();
  private readonly calls = new Set<string>();
  readonly phones = new Map<string, SimulatedPushPhone>();

  constructor(
    phones: readonly SimulatedPushPhone[],
    private readonly events: PushPhoneEvents = {},
    /** The address put in Contact and SDP (the bind address unless it is a wildcard). */
    private readonly announceHost = '127.0.0.1',
  ) {
    for (const p of phones) this.phones.set(p.number, p);
  }

  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  /** Listens on `host:port` (port 0: a free one, see `port`). */
  async start(host = '127.0.0.1', port = 0): Promise<void> {
    const s = dgram.createSocket('udp4');
    this.socket = s;
    s.on('message', (data, rinfo) => {
      // A datagram handled while stop() closes the sockets may throw (a closed socket's address or
      // send): that call is dropped, never the process (no unhandled rejection).
      this.onMessage(data, rinfo).catch(() => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, host, () => {
        s.off('error', reject);
        s.on('error', () => undefined);
        resolve();
      });
    });
    this.bindHost = host;
  }

  private bindHost = '127.0.0.1';

  stop(): Promise<void> {
    for (const m of this.media) m.close();
    this.media.clear();
    this.socket?.close();
    return Promise.resolve();
  }

  private async onMessage(data: Buffer, rinfo: dgram.RemoteInfo): Promise<void> {
    const parsed = parseSipMessage(data);
    if (!parsed.ok || parsed.value.kind !== 'request' || parsed.value.method !== 'INVITE') return;
    const invite = parsed.value;
    const callId = invite.headers.get('call-id') ?? '';
    if (this.calls.has(callId)) return; // a retransmission of a call already handled
    this.calls.add(callId);
    const reply = (status: number, reason: string, extra: [string, string][] = [], body = ''): void => {
      const h = new SipHeaders();
      for (const name of ['via', 'from', 'to', 'call-id', 'cseq'])
        for (const v of invite.headers.getAll(name)) h.add(name, v);
      if (status >= 200) {
        const to = h.entries().find(([n]) => n === 'to');
        if (to !== undefined && !to[1].includes('tag=')) {
          const rebuilt = new SipHeaders();
          for (const [n, v] of h.entries()) rebuilt.add(n, n === 'to' ? `${v};tag=${toTag}` : v);
          for (const [n, v] of extra) rebuilt.add(n, v);
          this.socket?.send(
            serializeSipMessage({ kind: 'response', status, reason, headers: rebuilt, body }),
            rinfo.port,
            rinfo.address,
          );
          return;
        }
      }
      for (const [n, v] of extra) h.add(n, v);
      this.socket?.send(
        serializeSipMessage({ kind: 'response', status, reason, headers: h, body }),
        rinfo.port,
        rinfo.address,
      );
    };
    const toTag = randomBytes(4).toString('hex');
    const called = numberOfUri(invite.uri) ?? '';
    const phone = this.phones.get(called);
    if (phone === undefined || invite.headers.get('alert-info') !== PUSH_ALERT_INFO) return reply(404, 'Not Found');
    phone.calls++;
    phone.callTimes.push(Date.now());
    if (!phone.online) return reply(480, 'Temporarily Unavailable');
    if (phone.busyCalls > 0) {
      phone.busyCalls--;
      return reply(486, 'Busy Here');
    }
    if (this.events.isBusy?.(phone) === true) return reply(486, 'Busy Here');
    const offer = parseSdp(invite.body);
    const audio = offer.ok ? chooseCodec(offer.value, ['PCMU', 'PCMA']) : undefined;
    if (audio === undefined) return reply(488, 'Not Acceptable Here');
    const media = dgram.createSocket('udp4');
    this.media.add(media);
    media.on('error', () => undefined);
    await new Promise<void>((resolve) => media.bind(0, this.bindHost, resolve));
    const rx = createDemodulator({ modulation: phone.modulation });
    const asm = new MessageAssembler();
    const decode = audio.codec === 'PCMU' ? mulawDecode : alawDecode;
    let done = false;
    media.on('message', (packet) => {
      if (done) return;
      const rtp = parseRtp(packet);
      if (!rtp.ok) return;
      for (const got of asm.push(rx.push(decode(rtp.value.payload)))) {
        done = true;
        const notice = got.ok ? pushNoticeOf(got.message) : undefined;
        const text = notice?.text;
        if (notice === undefined) {
          phone.garbled++;
          this.events.onGarbled?.(phone);
        } else {
          phone.received.push(notice.text);
          phone.receivedAt.push(Date.now());
          this.events.onNotice?.(phone, notice);
        }
        const h = new SipHeaders()
          .add('Via', `SIP/2.0/UDP ${this.announceHost}:${this.port};branch=z9hG4bK${randomBytes(6).toString('hex')}`)
          .add('Max-Forwards', '70')
          .add('From', `${invite.headers.get('to') ?? ''};tag=${toTag}`)
          .add('To', invite.headers.get('from') ?? '')
          .add('Call-ID', callId)
          .add('CSeq', '1 BYE');
        if (text !== undefined) h.add('Reason', PUSH_RECEIPT_REASON);
        this.socket?.send(
          serializeSipMessage({
            kind: 'request',
            method: 'BYE',
            uri: invite.headers.get('contact')?.replace(/[<>]/g, '') ?? invite.uri,
            headers: h,
            body: '',
          }),
          rinfo.port,
          rinfo.address,
        );
        setTimeout(() => {
          if (this.media.delete(media)) media.close();
        }, 100);
        return;
      }
    });
    this.events.onRing?.(phone);
    reply(
      200,
      'OK',
      [
        ['Contact', `<sip:${called}@${this.announceHost}:${this.port}>`],
        ['Content-Type', 'application/sdp'],
      ],
      buildSdp({
        address: this.announceHost,
        port: media.address().port,
        sessionId: 1,
        formats: [{ payloadType: audio.payloadType, codec: audio.codec }],
        ptimeMs: 20,
      }),
    );
  }
}
