/**
 * SIP user agent server over UDP with G.711 RTP media (RFC 3261, 3264, 3550), Node built-ins
 * only. Handles INVITE (100, optional 180, 200 with SDP answer, retransmitted until ACK), ACK,
 * BYE (both directions), CANCEL, OPTIONS; refuses new calls with 503 while the host drains.
 * Responses go back to the request's source address (symmetric signalling, like rport).
 * See docs/protocols/sip.md.
 */
import { randomBytes, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { scrubText } from '../../../domain/masking';
import { alawDecode, alawEncode, mulawDecode, mulawEncode } from '../../audio/g711';
import { AudioPacer } from '../pacer';
import { buildRtp, DEFAULT_JITTER_BUFFER, JitterBuffer, parseRtp } from '../rtp';
import type { JitterBufferOptions } from '../rtp';
import { FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE_HZ, SILENT_LOGGER } from '../types';
import type { CallListener, LineCall, LineDriver, LineHost, LineLogger, CallOffer } from '../types';
import {
  callerNumberOf,
  numberOfUri,
  parseCSeq,
  parseNameAddr,
  parseSipMessage,
  serializeSipMessage,
  SipHeaders,
} from './message';
import type { SipRequest, SipResponse } from './message';
import { buildSdp, chooseCodec, parseSdp } from './sdp';
import type { G711Codec, NegotiatedAudio } from './sdp';

export interface SipDriverOptions {
  /** Address to bind SIP and RTP sockets to, and to announce in SDP/Contact. */
  readonly host: string;
  /** SIP UDP port (0 = ephemeral, for tests). */
  readonly port: number;
  /** Codecs we accept, in no particular order (the offerer's order wins). */
  readonly codecs: readonly G711Codec[];
  /** Delay before answering with 200 (180 Ringing is sent meanwhile when > 0). */
  readonly answerAfterMs: number;
  /** RFC 3261 timer T1 (RTT estimate) and T2 (cap of the retransmission interval). */
  readonly t1Ms: number;
  readonly t2Ms: number;
  /** Most concurrent dialogs; INVITEs beyond it get 486 Busy Here. */
  readonly maxCalls: number;
  readonly jitter: JitterBufferOptions;
  /** Hang up a call whose RTP stopped for this long (0 = never). */
  readonly rtpTimeoutMs: number;
  readonly userAgent: string;
}

export const DEFAULT_SIP_OPTIONS: SipDriverOptions = {
  host: '127.0.0.1',
  port: 5060,
  codecs: ['PCMU', 'PCMA'],
  answerAfterMs: 0,
  t1Ms: 500,
  t2Ms: 4000,
  maxCalls: 512,
  jitter: DEFAULT_JITTER_BUFFER,
  rtpTimeoutMs: 60000,
  userAgent: 'fixpay-channel-engine',
};

interface Remote {
  readonly address: string;
  readonly port: number;
}

interface Dialog {
  readonly callId: string;
  readonly invite: SipRequest;
  readonly source: Remote;
  readonly localTag: string;
  state: 'proceeding' | 'answered' | 'confirmed' | 'terminated';
  lastInviteResponse: string | undefined;
  media: NegotiatedAudio | undefined;
  rtp: dgram.Socket | undefined;
  listener: CallListener | undefined;
  call: LineCall | undefined;
  pacer: AudioPacer;
  jitter: JitterBuffer;
  remoteSsrc: number | undefined;
  txSeq: number;
  txTimestamp: number;
  txSsrc: number;
  lastTxMs: number | undefined;
  lastRtpMs: number;
  timers: Set<NodeJS.Timeout>;
  localCSeq: number;
  byeSent: string | undefined;
}

/** How much of a malformed datagram is logged (scrubbed). */
export const MALFORMED_LOG_BYTES = 60;

const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS';

export class SipLineDriver implements LineDriver {
  readonly name = 'sip';
  private readonly options: SipDriverOptions;
  private socket: dgram.Socket | undefined;
  private host: LineHost | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly dialogs = new Map<string, Dialog>();
  private readonly counters = {
    sipMalformed: 0,
    sipRequests: 0,
    invites: 0,
    callsAnswered: 0,
    callsRefused: 0,
    rtpMalformed: 0,
    rtpForeign: 0,
    rtpPacketsIn: 0,
    rtpPacketsOut: 0,
    rtpLost: 0,
    rtpLate: 0,
  };

  constructor(
    options: Partial<SipDriverOptions> = {},
    private readonly log: LineLogger = SILENT_LOGGER,
  ) {
    this.options = { ...DEFAULT_SIP_OPTIONS, ...options };
  }

  /** The bound SIP port (useful with port 0). */
  get port(): number {
    return this.socket?.address().port ?? this.options.port;
  }

  get activeCalls(): number {
    return this.dialogs.size;
  }

  metrics(): Record<string, number> {
    let lost = this.counters.rtpLost;
    let late = this.counters.rtpLate;
    for (const d of this.dialogs.values()) {
      lost += d.jitter.stats.lost;
      late += d.jitter.stats.late;
    }
    return { ...this.counters, rtpLost: lost, rtpLate: late, sipDialogs: this.dialogs.size };
  }

  async start(host: LineHost): Promise<void> {
    this.host = host;
    const socket = dgram.createSocket('udp4');
    this.socket = socket;
    socket.on('message', (data, rinfo) => {
      this.onDatagram(data, { address: rinfo.address, port: rinfo.port });
    });
    socket.on('error', (e) => {
      this.log.error({ err: e.message }, 'sip socket error');
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.options.port, this.options.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.ticker = setInterval(() => {
      this.tick();
    }, FRAME_MS / 2);
    this.log.info({ host: this.options.host, port: this.port }, 'sip driver listening');
  }

  async stop(): Promise<void> {
    for (const d of [...this.dialogs.values()]) this.terminate(d, 'local', true);
    if (this.ticker !== undefined) clearInterval(this.ticker);
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  // ---- signalling ----

  private onDatagram(data: Buffer, source: Remote): void {
    if (data.length <= 4 && data.toString('latin1').trim() === '') return; // CRLF keep-alive
    const parsed = parseSipMessage(data);
    if (!parsed.ok) {
      this.counters.sipMalformed++;
      this.log.warn(
        {
          from: source.address,
          bytes: data.length,
          reason: parsed.error,
          head: scrubText(data.subarray(0, MALFORMED_LOG_BYTES).toString('latin1')),
        },
        'malformed SIP dropped',
      );
      return;
    }
    const msg = parsed.value;
    if (msg.kind === 'response') {
      this.onResponse(msg);
      return;
    }
    this.counters.sipRequests++;
    switch (msg.method) {
      case 'INVITE':
        this.onInvite(msg, source);
        return;
      case 'ACK':
        this.onAck(msg);
        return;
      case 'BYE':
        this.onBye(msg, source);
        return;
      case 'CANCEL':
        this.onCancel(msg, source);
        return;
      case 'OPTIONS':
        this.respond(msg, source, this.isDraining() ? 503 : 200, this.isDraining() ? 'Service Unavailable' : 'OK', {
          extra: [
            ['Allow', ALLOW],
            ['Accept', 'application/sdp'],
          ],
        });
        return;
      default:
        this.respond(msg, source, 405, 'Method Not Allowed', { extra: [['Allow', ALLOW]] });
    }
  }

  private isDraining(): boolean {
    return this.host?.draining ?? false;
  }

  private respond(
    req: SipRequest,
    to: Remote,
    status: number,
    reason: string,
    o: { toTag?: string; extra?: [string, string][]; body?: string } = {},
  ): string {
    const h = new SipHeaders();
    for (const via of req.headers.getAll('via')) h.add('Via', via);
    h.add('From', req.headers.get('from') ?? '');
    const toHeader = req.headers.get('to') ?? '';
    h.add('To', o.toTag !== undefined && !/;\s*tag=/i.test(toHeader) ? `${toHeader};tag=${o.toTag}` : toHeader);
    h.add('Call-ID', req.headers.get('call-id') ?? '');
    h.add('CSeq', req.headers.get('cseq') ?? '');
    h.add('Server', this.options.userAgent);
    for (const [n, v] of o.extra ?? []) h.add(n, v);
    const text = serializeSipMessage({ kind: 'response', status, reason, headers: h, body: o.body ?? '' });
    this.send(text, to);
    return text;
  }

  private send(text: string, to: Remote): void {
    this.socket?.send(Buffer.from(text, 'utf8'), to.port, to.address);
  }

  private onInvite(req: SipRequest, source: Remote): void {
    const callId = req.headers.get('call-id') ?? '';
    const existing = this.dialogs.get(callId);
    if (existing !== undefined) {
      // A retransmission (or a re-INVITE, which we do not support mid-call: answer with the same response).
      if (existing.lastInviteResponse !== undefined && existing.state !== 'confirmed')
        this.send(existing.lastInviteResponse, source);
      else if (existing.state === 'confirmed')
        this.respond(req, source, 488, 'Not Acceptable Here', { toTag: existing.localTag });
      return;
    }
    this.counters.invites++;
    const localTag = randomBytes(6).toString('hex');
    this.respond(req, source, 100, 'Trying');

    const offer = parseSdp(req.body);
    const media = offer.ok ? chooseCodec(offer.value, this.options.codecs) : undefined;
    if (media === undefined) {
      this.counters.callsRefused++;
      this.log.warn({ callId, reason: offer.ok ? 'no G.711 in offer' : offer.error }, 'INVITE refused: 488');
      this.respond(req, source, 488, 'Not Acceptable Here', {
        toTag: localTag,
        extra: [['Warning', '305 fixpay "PCMU or PCMA only"']],
      });
      return;
    }
    if (this.dialogs.size >= this.options.maxCalls) {
      this.counters.callsRefused++;
      this.respond(req, source, 486, 'Busy Here', { toTag: localTag });
      return;
    }
    const toUri = parseNameAddr(req.headers.get('to') ?? '')?.uri;
    const callOffer: CallOffer = {
      lineId: `sip:${callId}`,
      driver: this.name,
      callerNumber: callerNumberOf(req.headers),
      calledNumber: toUri === undefined ? undefined : numberOfUri(toUri),
    };
    const answer = this.host?.offer(callOffer);
    if (answer === undefined || !answer.accept) {
      this.counters.callsRefused++;
      const draining = answer?.codeName === 'ENGINE_DRAINING';
      this.respond(req, source, draining ? 503 : 486, draining ? 'Service Unavailable' : 'Busy Here', {
        toTag: localTag,
        extra: draining ? [['Retry-After', '30']] : [],
      });
      return;
    }
    const dialog: Dialog = {
      callId,
      invite: req,
      source,
      localTag,
      state: 'proceeding',
      lastInviteResponse: undefined,
      media,
      rtp: undefined,
      listener: undefined,
      call: undefined,
      pacer: new AudioPacer(),
      jitter: new JitterBuffer(this.options.jitter),
      remoteSsrc: undefined,
      txSeq: randomInt(0, 0x10000),
      txTimestamp: randomInt(0, 0x100000000),
      txSsrc: randomInt(0, 0x100000000),
      lastTxMs: undefined,
      lastRtpMs: Date.now(),
      timers: new Set(),
      localCSeq: 1,
      byeSent: undefined,
    };
    this.dialogs.set(callId, dialog);
    const call: LineCall = {
      offer: callOffer,
      play: (pcm) => {
        if (dialog.state !== 'terminated') dialog.pacer.enqueue(pcm);
      },
      get playing() {
        return dialog.pacer.playing;
      },
      hangup: () => {
        this.terminate(dialog, 'local', true);
      },
    };
    dialog.call = call;
    dialog.listener = answer.attach(call);
    void this.openRtp(dialog)
      .then(() => {
        if (this.options.answerAfterMs > 0) {
          dialog.lastInviteResponse = this.respond(req, source, 180, 'Ringing', { toTag: localTag });
          this.later(dialog, this.options.answerAfterMs, () => {
            this.answer(dialog);
          });
        } else this.answer(dialog);
      })
      .catch((e: unknown) => {
        this.log.error({ callId, err: e instanceof Error ? e.message : 'rtp' }, 'cannot open RTP socket');
        this.respond(req, source, 500, 'Server Internal Error', { toTag: localTag });
        this.terminate(dialog, 'error', false);
      });
  }

  private answer(dialog: Dialog): void {
    if (dialog.state !== 'proceeding' || dialog.media === undefined || dialog.rtp === undefined) return;
    const port = dialog.rtp.address().port;
    const sdp = buildSdp({
      address: this.options.host,
      port,
      sessionId: randomInt(1, 0x7fffffff),
      formats: [{ payloadType: dialog.media.payloadType, codec: dialog.media.codec }],
      ptimeMs: FRAME_MS,
    });
    dialog.state = 'answered';
    this.counters.callsAnswered++;
    dialog.lastInviteResponse = this.respond(dialog.invite, dialog.source, 200, 'OK', {
      toTag: dialog.localTag,
      extra: [
        ['Contact', `<sip:fixpay@${this.options.host}:${this.port}>`],
        ['Allow', ALLOW],
        ['Content-Type', 'application/sdp'],
      ],
      body: sdp,
    });
    // Timer G/H (RFC 3261 §17.2.1): retransmit the 2xx until ACK, give up after 64·T1.
    let interval = this.options.t1Ms;
    const deadline = Date.now() + 64 * this.options.t1Ms;
    const retransmit = (): void => {
      if (dialog.state !== 'answered') return;
      if (Date.now() >= deadline) {
        this.log.warn({ callId: dialog.callId }, 'no ACK for 200 OK: ending call');
        this.terminate(dialog, 'timeout', true);
        return;
      }
      if (dialog.lastInviteResponse !== undefined) this.send(dialog.lastInviteResponse, dialog.source);
      interval = Math.min(interval * 2, this.options.t2Ms);
      this.later(dialog, interval, retransmit);
    };
    this.later(dialog, interval, retransmit);
  }

  private onAck(req: SipRequest): void {
    const dialog = this.dialogs.get(req.headers.get('call-id') ?? '');
    if (dialog?.state === 'answered') dialog.state = 'confirmed';
  }

  private onBye(req: SipRequest, source: Remote): void {
    const dialog = this.dialogs.get(req.headers.get('call-id') ?? '');
    if (dialog === undefined) {
      this.respond(req, source, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.respond(req, source, 200, 'OK', { toTag: dialog.localTag });
    this.terminate(dialog, 'remote', false);
  }

  private onCancel(req: SipRequest, source: Remote): void {
    const dialog = this.dialogs.get(req.headers.get('call-id') ?? '');
    if (dialog === undefined) {
      this.respond(req, source, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.respond(req, source, 200, 'OK', { toTag: dialog.localTag });
    if (dialog.state === 'proceeding') {
      this.respond(dialog.invite, dialog.source, 487, 'Request Terminated', { toTag: dialog.localTag });
      this.terminate(dialog, 'remote', false);
    }
  }

  private onResponse(res: SipResponse): void {
    const dialog = this.dialogs.get(res.headers.get('call-id') ?? '');
    const cseq = parseCSeq(res.headers.get('cseq'));
    if (dialog === undefined || cseq?.method !== 'BYE' || res.status < 200) return;
    this.finish(dialog);
  }

  private sendBye(dialog: Dialog): void {
    const inv = dialog.invite;
    const h = new SipHeaders();
    h.add('Via', `SIP/2.0/UDP ${this.options.host}:${this.port};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`);
    h.add('Max-Forwards', '70');
    for (const route of inv.headers.getAll('record-route')) h.add('Route', route);
    const to = inv.headers.get('to') ?? '';
    h.add('From', /;\s*tag=/i.test(to) ? to : `${to};tag=${dialog.localTag}`);
    h.add('To', inv.headers.get('from') ?? '');
    h.add('Call-ID', dialog.callId);
    h.add('CSeq', `${dialog.localCSeq++} BYE`);
    h.add('User-Agent', this.options.userAgent);
    const contact =
      parseNameAddr(inv.headers.get('contact') ?? '')?.uri ?? parseNameAddr(inv.headers.get('from') ?? '')?.uri;
    const text = serializeSipMessage({ kind: 'request', method: 'BYE', uri: contact ?? inv.uri, headers: h, body: '' });
    dialog.byeSent = text;
    // Timer E/F (RFC 3261 §17.1.2): retransmit until a final response, give up after 64·T1.
    let interval = this.options.t1Ms;
    const deadline = Date.now() + 64 * this.options.t1Ms;
    const again = (): void => {
      if (!this.dialogs.has(dialog.callId)) return;
      if (Date.now() >= deadline) {
        this.finish(dialog);
        return;
      }
      this.send(text, dialog.source);
      interval = Math.min(interval * 2, this.options.t2Ms);
      this.later(dialog, interval, again);
    };
    this.send(text, dialog.source);
    this.later(dialog, interval, again);
  }

  /** Ends the call for the engine; sends BYE when we hang up an established call. */
  private terminate(dialog: Dialog, reason: 'remote' | 'local' | 'timeout' | 'error', bye: boolean): void {
    if (dialog.state === 'terminated') return;
    const wasEstablished = dialog.state === 'answered' || dialog.state === 'confirmed';
    const wasProceeding = dialog.state === 'proceeding';
    dialog.state = 'terminated';
    for (const t of dialog.timers) clearTimeout(t);
    dialog.timers.clear();
    dialog.pacer.clear();
    const listener = dialog.listener;
    dialog.listener = undefined;
    listener?.onHangup(reason);
    if (bye && wasEstablished) this.sendBye(dialog);
    else {
      if (bye && wasProceeding)
        this.respond(dialog.invite, dialog.source, 480, 'Temporarily Unavailable', { toTag: dialog.localTag });
      this.finish(dialog);
    }
  }

  /** Frees the dialog's resources. */
  private finish(dialog: Dialog): void {
    for (const t of dialog.timers) clearTimeout(t);
    dialog.timers.clear();
    this.counters.rtpLost += dialog.jitter.stats.lost;
    this.counters.rtpLate += dialog.jitter.stats.late;
    dialog.jitter = new JitterBuffer(this.options.jitter);
    dialog.rtp?.close();
    dialog.rtp = undefined;
    this.dialogs.delete(dialog.callId);
  }

  private later(dialog: Dialog, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      dialog.timers.delete(t);
      fn();
    }, ms);
    dialog.timers.add(t);
  }

  // ---- media ----

  private async openRtp(dialog: Dialog): Promise<void> {
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      rtp.once('error', reject);
      rtp.bind(0, this.options.host, () => {
        rtp.off('error', reject);
        resolve();
      });
    });
    rtp.on('error', (e) => {
      this.log.warn({ callId: dialog.callId, err: e.message }, 'rtp socket error');
    });
    rtp.on('message', (data) => {
      this.onRtp(dialog, data);
    });
    if (dialog.state === 'terminated') rtp.close();
    else dialog.rtp = rtp;
  }

  private onRtp(dialog: Dialog, data: Buffer): void {
    const parsed = parseRtp(data);
    if (!parsed.ok) {
      this.counters.rtpMalformed++;
      this.log.debug({ callId: dialog.callId, reason: parsed.error }, 'RTP garbage dropped');
      return;
    }
    const pkt = parsed.value;
    if (dialog.media === undefined || pkt.payloadType !== dialog.media.payloadType) {
      this.counters.rtpForeign++; // comfort noise, DTMF events, other codecs
      return;
    }
    this.counters.rtpPacketsIn++;
    dialog.lastRtpMs = Date.now();
    if (dialog.remoteSsrc !== pkt.ssrc) {
      if (dialog.remoteSsrc !== undefined) this.deliver(dialog, dialog.jitter.flush());
      dialog.remoteSsrc = pkt.ssrc;
      this.counters.rtpLost += dialog.jitter.stats.lost;
      dialog.jitter = new JitterBuffer(this.options.jitter);
    }
    this.deliver(dialog, dialog.jitter.push(pkt.sequenceNumber, pkt.payload, performance.now()));
  }

  private deliver(dialog: Dialog, frames: ReturnType<JitterBuffer['poll']>): void {
    const listener = dialog.listener;
    if (listener === undefined || dialog.media === undefined) return;
    const decode = dialog.media.codec === 'PCMU' ? mulawDecode : alawDecode;
    for (const f of frames) listener.onAudio(f.kind === 'audio' ? decode(f.payload) : new Int16Array(f.bytes));
  }

  private tick(): void {
    const now = performance.now();
    const wall = Date.now();
    for (const dialog of [...this.dialogs.values()]) {
      if (dialog.state === 'terminated') continue;
      this.deliver(dialog, dialog.jitter.poll(now));
      if (
        this.options.rtpTimeoutMs > 0 &&
        dialog.state === 'confirmed' &&
        wall - dialog.lastRtpMs > this.options.rtpTimeoutMs
      ) {
        this.log.warn({ callId: dialog.callId }, 'RTP timeout: ending call');
        this.terminate(dialog, 'timeout', true);
        continue;
      }
      const due = dialog.pacer.due(now);
      if (due.frames.length > 0) this.sendFrames(dialog, due.frames, due.spurtStart);
      if (due.drained) dialog.listener?.onPlayoutDone();
    }
  }

  private sendFrames(dialog: Dialog, frames: Int16Array[], spurtStart: boolean): void {
    const media = dialog.media;
    const rtp = dialog.rtp;
    if (media === undefined || rtp === undefined) return;
    const encode = media.codec === 'PCMU' ? mulawEncode : alawEncode;
    const now = performance.now();
    if (spurtStart && dialog.lastTxMs !== undefined) {
      // RTP time keeps running through silence (RFC 3550 §5.1): skip the samples not sent.
      const gap = Math.floor(((now - dialog.lastTxMs) * SAMPLE_RATE_HZ) / 1000) - FRAME_SAMPLES;
      if (gap > 0) dialog.txTimestamp = (dialog.txTimestamp + gap) >>> 0;
    }
    dialog.lastTxMs = now + (frames.length - 1) * FRAME_MS;
    frames.forEach((frame, i) => {
      const packet = buildRtp({
        payloadType: media.payloadType,
        marker: spurtStart && i === 0,
        sequenceNumber: dialog.txSeq,
        timestamp: dialog.txTimestamp,
        ssrc: dialog.txSsrc,
        payload: encode(frame),
      });
      dialog.txSeq = (dialog.txSeq + 1) & 0xffff;
      dialog.txTimestamp = (dialog.txTimestamp + FRAME_SAMPLES) >>> 0;
      this.counters.rtpPacketsOut++;
      rtp.send(packet, media.remotePort, media.remoteAddress);
    });
  }
}
