/**
 * SIP user agent server over UDP with G.711 RTP media (RFC 3261, 3264, 3550), Node built-ins
 * only. Handles INVITE (100, optional 180, 200 with SDP answer, retransmitted until ACK), ACK,
 * BYE (both directions), CANCEL, OPTIONS; refuses new calls with 503 while the host drains.
 * Responses go back to the request's source address (symmetric signalling, like rport).
 * See docs/protocols/sip.md.
 */
import { randomBytes, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { FixpayError, resultCode } from '../../../domain/errors';
import type { ResultCodeName } from '../../../domain/errors';
import { scrubText } from '../../../domain/masking';
import { alawDecode, alawDecodeInto, alawEncode, mulawDecode, mulawDecodeInto, mulawEncode } from '../../audio/g711';
import { AudioPacer } from '../pacer';
import {
  buildRtp,
  DEFAULT_JITTER_BUFFER,
  emptyRtpHeader,
  G711_SAMPLES_PER_MS,
  g711PayloadProblem,
  JitterBuffer,
  MAX_G711_PAYLOAD_BYTES,
  parseRtpHeader,
} from '../rtp';
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
  splitCommaList,
} from './message';
import type { SipMessage, SipRequest, SipResponse } from './message';
import { SourceList, SourceRateLimiter } from './admission';
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
  /** Most concurrent dialogs; INVITEs beyond it get 503 with Retry-After. */
  readonly maxCalls: number;
  /**
   * How long an answered INVITE waits for its ACK before the line is freed (a Timer H shorter
   * than RFC 3261's 64·T1 = 32 s, so unacknowledged INVITEs cannot hold lines for long).
   */
  readonly ackTimeoutMs: number;
  /** IPv4 CIDRs whose SIP requests are served at all; others get 403. */
  readonly allowedSources: readonly string[];
  /** IPv4 CIDRs of trusted trunks: no per-source INVITE limit, and may use the reserved lines. */
  readonly trunkSources: readonly string[];
  /** Per-source token bucket for new INVITEs from sources that are not trunks. */
  readonly inviteRatePerSecond: number;
  readonly inviteBurst: number;
  /** Most sources whose INVITE rate is remembered (least recently used forgotten beyond). */
  readonly maxRateLimitedSources: number;
  /** Retry-After (seconds) on 503 answers: draining, full, rate-limited. */
  readonly retryAfterS: number;
  /**
   * Symmetric RTP for callers behind NAT: the first packet from the SDP address or from the
   * INVITE's source address, on any port, fixes the peer; our RTP goes there. False: only the
   * SDP address:port is accepted.
   */
  readonly rtpSymmetricLatch: boolean;
  /**
   * One RTP socket for all calls whose peer the SDP fixes (no latch), told apart by the peer's
   * address:port: a packet costs the node less than on a socket per call (fewer wake-ups and
   * reads). Calls that latch, or whose peer address:port another call already uses, get a socket
   * of their own. False: a socket per call.
   */
  readonly sharedRtpSocket: boolean;
  /**
   * Receive buffer (SO_RCVBUF, bytes) asked for the shared RTP socket: it holds every call's
   * packets while the event loop is busy, and the kernel's default (about 200 KB) overflows at
   * a thousand calls (ADR 0015). The kernel caps it at `net.core.rmem_max`; the driver logs a
   * warning when it got less. 0: the kernel's default. Sockets per call keep the default.
   */
  readonly sharedRtpReceiveBufferBytes: number;
  /** Refuse offers with an odd RTP port (RFC 3550 §11: SHOULD be even). */
  readonly requireEvenRtpPort: boolean;
  readonly jitter: JitterBufferOptions;
  /**
   * The packetisation our SDP answers ask the peer to send (`a=ptime`, ms; one of
   * SIP_PTIME_CHOICES_MS). Longer packets mean fewer datagrams per line second, and the receive
   * cost is mostly per datagram (ADR 0015). What we receive is accepted at any size from 10 to
   * 60 ms whatever this says; what we send stays 20 ms frames.
   */
  readonly ptimeMs: number;
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
  ackTimeoutMs: 8000,
  allowedSources: ['127.0.0.0/8'],
  trunkSources: [],
  inviteRatePerSecond: 10,
  inviteBurst: 20,
  maxRateLimitedSources: 4096,
  retryAfterS: 30,
  rtpSymmetricLatch: false,
  sharedRtpSocket: false,
  sharedRtpReceiveBufferBytes: 4 * 1024 * 1024,
  requireEvenRtpPort: false,
  jitter: DEFAULT_JITTER_BUFFER,
  ptimeMs: FRAME_MS,
  rtpTimeoutMs: 60000,
  userAgent: 'fixpay-channel-engine',
};

/** The packetisations (ms) the node may ask for in `a=ptime` (G.711 in whole 10 ms steps up to 60). */
export const SIP_PTIME_CHOICES_MS: readonly number[] = [10, 20, 30, 40, 60];

/** @throws FixpayError CONFIG_INVALID when `ms` is not one of SIP_PTIME_CHOICES_MS. */
export function checkSipPtime(ms: number): number {
  if (!SIP_PTIME_CHOICES_MS.includes(ms))
    throw new FixpayError(
      'CONFIG_INVALID',
      `SIP ptime must be one of ${SIP_PTIME_CHOICES_MS.join(', ')} ms, got ${JSON.stringify(ms)}`,
    );
  return ms;
}

/** The `tag` parameter of a From or To header; undefined when absent or unparsable. */
function tagOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return parseNameAddr(value)?.params.get('tag');
}

/** The branch parameter of the topmost Via. */
function branchOf(value: string | undefined): string | undefined {
  const top = value === undefined ? undefined : splitCommaList(value)[0];
  const m = top === undefined ? null : /;\s*branch\s*=\s*([^;,\s]+)/i.exec(top);
  return m?.[1];
}

interface Remote {
  readonly address: string;
  readonly port: number;
}

interface Dialog {
  readonly callId: string;
  readonly invite: SipRequest;
  readonly source: Remote;
  readonly trusted: boolean;
  readonly localTag: string;
  state: 'proceeding' | 'answered' | 'confirmed' | 'terminated';
  lastInviteResponse: string | undefined;
  media: NegotiatedAudio | undefined;
  /** Where RTP is accepted from and sent to: the SDP address:port, or the latched port. */
  rtpPeer: Remote | undefined;
  rtp: dgram.Socket | undefined;
  /** `rtp` is the shared socket, and this is the dialog's key there (peer address:port). */
  sharedRtpKey: string | undefined;
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

/**
 * How often the RTP timeout is checked over all calls. The timeout is tens of seconds; checking
 * it every 10 ms tick cost a visit per idle call per tick.
 */
export const RTP_TIMEOUT_SWEEP_MS = 250;

/** How much of a malformed datagram is logged (scrubbed). */
export const MALFORMED_LOG_BYTES = 60;

const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS';

export class SipLineDriver implements LineDriver {
  readonly name = 'sip';
  private readonly options: SipDriverOptions;
  private socket: dgram.Socket | undefined;
  private host: LineHost | undefined;
  private ticker: NodeJS.Timeout | undefined;
  /** Wall clock of the last tick: RTP arrival times for the RTP timeout, without a clock read per packet. */
  private wallMs = Date.now();
  /** The shared RTP socket (see `sharedRtpSocket`) and its calls by peer address:port. */
  private sharedRtp: dgram.Socket | undefined;
  private sharedRtpBufferBytes: number | undefined;
  private readonly sharedRtpPeers = new Map<string, Dialog>();
  private readonly dialogs = new Map<string, Dialog>();
  /**
   * Calls the shared tick has work for: packets held in the jitter buffer or audio being played
   * out. An idle call is not in it, so the tick costs nothing per idle call (ADR 0015, amendment
   * of 2026-12-05, "where the rest of a line's cost went").
   */
  private readonly busy = new Set<Dialog>();
  /** Wall clock of the last RTP timeout sweep over all calls (every RTP_TIMEOUT_SWEEP_MS, not every tick). */
  private lastTimeoutSweepMs = Date.now();
  /** The header of the packet being received (one object for all packets). */
  private readonly rtpHeader = emptyRtpHeader();
  /**
   * Received audio is decoded into this buffer, reused for every packet: `rxViews[n / 8]` is its
   * first `n` samples (one view per accepted payload size, made once). The listener gets the
   * samples lent for the call (see CallListener.onAudio).
   */
  private readonly rxPcm = new Int16Array(MAX_G711_PAYLOAD_BYTES);
  private readonly rxViews: Int16Array[] = [];
  private readonly allowed: SourceList;
  private readonly trunks: SourceList;
  private readonly inviteLimiter: SourceRateLimiter;
  private readonly counters = {
    sipMalformed: 0,
    sipFaults: 0,
    sendErrors: 0,
    sourcesRefused: 0,
    /** BYE, CANCEL, ACK or a response naming a live call but not from its peer or without its tags. */
    dialogMismatches: 0,
    invitesRateLimited: 0,
    sdpRefused: 0,
    ackTimeouts: 0,
    callFaults: 0,
    rtpWrongSource: 0,
    sipRequests: 0,
    invites: 0,
    callsAnswered: 0,
    callsRefused: 0,
    rtpMalformed: 0,
    /** RTP of the call's codec whose payload is not 10–60 ms in whole ms (dropped; a gap to the jitter buffer). */
    rtpPayloadRefused: 0,
    rtpForeign: 0,
    rtpPacketsIn: 0,
    /** Audio received in those packets, ms (packets × ptime): the line-seconds a packet rate stands for. */
    rtpAudioMsIn: 0,
    rtpPacketsOut: 0,
    rtpLost: 0,
    rtpLate: 0,
  };

  constructor(
    options: Partial<SipDriverOptions> = {},
    private readonly log: LineLogger = SILENT_LOGGER,
  ) {
    this.options = { ...DEFAULT_SIP_OPTIONS, ...options };
    checkSipPtime(this.options.ptimeMs);
    this.allowed = new SourceList(this.options.allowedSources);
    this.trunks = new SourceList(this.options.trunkSources);
    this.inviteLimiter = new SourceRateLimiter({
      ratePerSecond: this.options.inviteRatePerSecond,
      burst: this.options.inviteBurst,
      maxSources: this.options.maxRateLimitedSources,
    });
  }

  /** The bound SIP port (useful with port 0). */
  get port(): number {
    return this.socket?.address().port ?? this.options.port;
  }

  /** Dialogs holding a line (a hung-up dialog waiting for its BYE's answer does not). */
  get activeCalls(): number {
    let n = 0;
    for (const d of this.dialogs.values()) if (d.state !== 'terminated') n++;
    return n;
  }

  /** Local RTP ports of the live calls (diagnostics, tests). */
  mediaPorts(): number[] {
    const out: number[] = [];
    for (const d of this.dialogs.values()) if (d.rtp !== undefined) out.push(d.rtp.address().port);
    return out;
  }

  /** What the kernel granted the shared RTP socket's receive buffer (bytes); undefined without one. */
  get sharedRtpReceiveBufferBytes(): number | undefined {
    return this.sharedRtpBufferBytes;
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
    if (this.options.sharedRtpSocket)
      try {
        this.sharedRtp = await this.openSharedRtp();
      } catch (e) {
        // Nothing half-started is left behind.
        this.socket = undefined;
        socket.close();
        throw e;
      }
    this.ticker = setInterval(() => {
      this.tick();
    }, FRAME_MS / 2);
    this.log.info({ host: this.options.host, port: this.port }, 'sip driver listening');
  }

  async stop(): Promise<void> {
    // One BYE per live call and no retransmission: the socket closes now, so nothing may wait for
    // answers (a dialog already hung up and waiting for its BYE's answer is dropped too).
    for (const d of [...this.dialogs.values()]) {
      this.terminate(d, 'local', true, { byeOnce: true });
      this.finish(d);
    }
    if (this.ticker !== undefined) clearInterval(this.ticker);
    const shared = this.sharedRtp;
    this.sharedRtp = undefined;
    this.sharedRtpBufferBytes = undefined;
    if (shared !== undefined) await new Promise<void>((resolve) => shared.close(() => resolve()));
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  // ---- signalling ----

  /** The signalling fault boundary: nothing a datagram triggers may throw out of the socket callback. */
  private onDatagram(data: Buffer, source: Remote): void {
    try {
      this.handleDatagram(data, source);
    } catch (e) {
      this.counters.sipFaults++;
      this.log.error({ from: source.address, err: errText(e) }, 'fault handling a SIP datagram: dropped');
    }
  }

  private handleDatagram(data: Buffer, source: Remote): void {
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
    if (!this.allowed.matches(source.address)) {
      this.counters.sourcesRefused++;
      this.log.warn({ from: source.address, code: 'SIP_SOURCE_NOT_ALLOWED' }, 'SIP from a source not allowed');
      if (msg.kind === 'request' && msg.method !== 'ACK')
        this.respond(msg, source, 403, 'Forbidden', { extra: [warning('SIP_SOURCE_NOT_ALLOWED')] });
      return;
    }
    if (msg.kind === 'response') {
      this.onResponse(msg, source);
      return;
    }
    this.counters.sipRequests++;
    switch (msg.method) {
      case 'INVITE':
        this.onInvite(msg, source);
        return;
      case 'ACK':
        this.onAck(msg, source);
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
    const socket = this.socket;
    if (socket === undefined) return;
    try {
      socket.send(Buffer.from(text, 'utf8'), to.port, to.address, (err) => {
        if (err !== null) this.sendFailed('sip', err);
      });
    } catch (e) {
      this.sendFailed('sip', e);
    }
  }

  private sendFailed(what: 'sip' | 'rtp', e: unknown): void {
    this.counters.sendErrors++;
    this.log.warn({ what, err: errText(e) }, 'send failed');
  }

  /** Answers a refused INVITE: 503 + Retry-After for load and policy, with the catalogue code. */
  private refuse(req: SipRequest, source: Remote, codeName: RefusalCode, localTag: string): void {
    this.counters.callsRefused++;
    const [status, reason] = REFUSAL_STATUS[codeName];
    this.respond(req, source, status, reason, {
      toTag: localTag,
      extra: [
        ...(status === 503 ? [['Retry-After', String(this.options.retryAfterS)] as [string, string]] : []),
        warning(codeName),
      ],
    });
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
    const trusted = this.trunks.matches(source.address);
    if (!trusted && !this.inviteLimiter.take(source.address, Date.now())) {
      this.counters.invitesRateLimited++;
      this.log.warn({ from: source.address, code: 'SIP_SOURCE_RATE_LIMITED' }, 'INVITE refused: source over its rate');
      this.refuse(req, source, 'SIP_SOURCE_RATE_LIMITED', localTag);
      return;
    }
    this.respond(req, source, 100, 'Trying');

    const offer = parseSdp(req.body, { requireEvenPort: this.options.requireEvenRtpPort });
    if (!offer.ok) {
      if (offer.error.codeName !== 'SDP_MALFORMED') this.counters.sdpRefused++;
      this.log.warn(
        { callId, from: source.address, code: offer.error.codeName, reason: offer.error.detail },
        'INVITE refused: SDP',
      );
      this.refuse(req, source, offer.error.codeName, localTag);
      return;
    }
    const media = chooseCodec(offer.value, this.options.codecs);
    if (media === undefined) {
      this.log.warn({ callId, reason: 'no G.711 in offer' }, 'INVITE refused: 488');
      this.refuse(req, source, 'SDP_NO_COMMON_CODEC', localTag);
      return;
    }
    if (this.activeCalls >= this.options.maxCalls) {
      this.refuse(req, source, 'ENGINE_LINES_EXHAUSTED', localTag);
      return;
    }
    const toUri = parseNameAddr(req.headers.get('to') ?? '')?.uri;
    const callOffer: CallOffer = {
      lineId: `sip:${callId}`,
      driver: this.name,
      callerNumber: callerNumberOf(req.headers),
      calledNumber: toUri === undefined ? undefined : numberOfUri(toUri),
      trustedSource: trusted,
    };
    const answer = this.host?.offer(callOffer);
    if (answer === undefined || !answer.accept) {
      this.refuse(req, source, answer?.codeName ?? 'ENGINE_LINES_EXHAUSTED', localTag);
      return;
    }
    const dialog: Dialog = {
      callId,
      invite: req,
      source,
      trusted,
      localTag,
      state: 'proceeding',
      lastInviteResponse: undefined,
      media,
      rtpPeer: this.options.rtpSymmetricLatch ? undefined : { address: media.remoteAddress, port: media.remotePort },
      rtp: undefined,
      sharedRtpKey: undefined,
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
        if (dialog.state === 'terminated') return;
        dialog.pacer.enqueue(pcm);
        if (dialog.pacer.playing) this.busy.add(dialog);
      },
      get playing() {
        return dialog.pacer.playing;
      },
      hangup: () => {
        this.terminate(dialog, 'local', true);
      },
    };
    dialog.call = call;
    this.contain(dialog, 'attach', () => {
      dialog.listener = answer.attach(call);
    });
    if (dialog.state === 'terminated') return;
    this.openRtp(dialog).then(
      () => {
        this.contain(dialog, 'answer', () => {
          if (this.options.answerAfterMs > 0) {
            dialog.lastInviteResponse = this.respond(req, source, 180, 'Ringing', { toTag: localTag });
            this.later(dialog, this.options.answerAfterMs, () => {
              this.answer(dialog);
            });
          } else this.answer(dialog);
        });
      },
      (e: unknown) => {
        this.contain(dialog, 'rtp-open', () => {
          this.log.error({ callId, err: errText(e) }, 'cannot open RTP socket');
          this.respond(req, source, 500, 'Server Internal Error', { toTag: localTag });
          this.terminate(dialog, 'error', false);
        });
      },
    );
  }

  private answer(dialog: Dialog): void {
    if (dialog.state !== 'proceeding' || dialog.media === undefined || dialog.rtp === undefined) return;
    const port = dialog.rtp.address().port;
    const sdp = buildSdp({
      address: this.options.host,
      port,
      sessionId: randomInt(1, 0x7fffffff),
      formats: [{ payloadType: dialog.media.payloadType, codec: dialog.media.codec }],
      ptimeMs: this.options.ptimeMs,
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
    // Timer G/H (RFC 3261 §17.2.1): retransmit the 2xx until ACK; give up after ackTimeoutMs (a
    // Timer H shorter than 64·T1), free the line and send one BYE (a caller that never ACKed is
    // not waited for: the dialog is gone at once, so a flood cannot hold lines or sockets).
    let interval = this.options.t1Ms;
    const deadline = Date.now() + this.options.ackTimeoutMs;
    const retransmit = (): void => {
      if (dialog.state !== 'answered') return;
      if (Date.now() >= deadline) {
        this.counters.ackTimeouts++;
        this.log.warn({ callId: dialog.callId, from: dialog.source.address }, 'no ACK for 200 OK: line freed');
        this.terminate(dialog, 'timeout', true, { byeOnce: true });
        return;
      }
      if (dialog.lastInviteResponse !== undefined) this.send(dialog.lastInviteResponse, dialog.source);
      interval = Math.min(interval * 2, this.options.t2Ms);
      this.later(dialog, Math.min(interval, Math.max(1, deadline - Date.now())), retransmit);
    };
    this.later(dialog, Math.min(interval, this.options.ackTimeoutMs), retransmit);
  }

  /**
   * Whether a request or response that names a live call belongs to it (RFC 3261 12.2.2, 9.2): it
   * comes from the address the INVITE came from (or, for a trunk's call, from a trunk), and carries
   * the caller's From tag; a BYE also carries our To tag, a CANCEL the INVITE's Via branch.
   * Knowing a Call-ID alone (it travels in clear, and a caller may choose it) does not end a call.
   */
  private belongs(msg: SipMessage, dialog: Dialog, source: Remote, check: 'to-tag' | 'branch' | 'peer'): boolean {
    const fromPeer =
      source.address === dialog.source.address || (dialog.trusted && this.trunks.matches(source.address));
    let ok = fromPeer;
    if (ok && check !== 'peer') {
      ok = tagOf(msg.headers.get('from')) === tagOf(dialog.invite.headers.get('from'));
      if (ok && check === 'to-tag') ok = tagOf(msg.headers.get('to')) === dialog.localTag;
      if (ok && check === 'branch')
        ok = branchOf(msg.headers.get('via')) === branchOf(dialog.invite.headers.get('via'));
    }
    if (!ok) {
      this.counters.dialogMismatches++;
      this.log.warn(
        { from: source.address, code: 'SIP_DIALOG_MISMATCH', check },
        'SIP message names a live call but does not belong to it',
      );
    }
    return ok;
  }

  private onAck(req: SipRequest, source: Remote): void {
    const dialog = this.dialogs.get(req.headers.get('call-id') ?? '');
    // An ACK only confirms a call its sender could confirm anyway: the peer check is enough.
    if (dialog === undefined || !this.belongs(req, dialog, source, 'peer')) return;
    if (dialog.state === 'answered') dialog.state = 'confirmed';
  }

  private onBye(req: SipRequest, source: Remote): void {
    const dialog = this.dialogs.get(req.headers.get('call-id') ?? '');
    if (dialog === undefined || !this.belongs(req, dialog, source, 'to-tag')) {
      this.respond(req, source, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.respond(req, source, 200, 'OK', { toTag: dialog.localTag });
    this.terminate(dialog, 'remote', false);
  }

  private onCancel(req: SipRequest, source: Remote): void {
    const dialog = this.dialogs.get(req.headers.get('call-id') ?? '');
    if (dialog === undefined || !this.belongs(req, dialog, source, 'branch')) {
      this.respond(req, source, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.respond(req, source, 200, 'OK', { toTag: dialog.localTag });
    if (dialog.state === 'proceeding') {
      this.respond(dialog.invite, dialog.source, 487, 'Request Terminated', { toTag: dialog.localTag });
      this.terminate(dialog, 'remote', false);
    }
  }

  private onResponse(res: SipResponse, source: Remote): void {
    const dialog = this.dialogs.get(res.headers.get('call-id') ?? '');
    const cseq = parseCSeq(res.headers.get('cseq'));
    if (dialog === undefined || cseq?.method !== 'BYE' || res.status < 200) return;
    if (!this.belongs(res, dialog, source, 'peer')) return;
    this.finish(dialog);
  }

  private sendBye(dialog: Dialog, once: boolean): void {
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
    if (once) {
      this.send(text, dialog.source);
      this.finish(dialog);
      return;
    }
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
  private terminate(
    dialog: Dialog,
    reason: 'remote' | 'local' | 'timeout' | 'error',
    bye: boolean,
    o: { byeOnce?: boolean } = {},
  ): void {
    if (dialog.state === 'terminated') return;
    const wasEstablished = dialog.state === 'answered' || dialog.state === 'confirmed';
    const wasProceeding = dialog.state === 'proceeding';
    dialog.state = 'terminated';
    for (const t of dialog.timers) clearTimeout(t);
    dialog.timers.clear();
    dialog.pacer.clear();
    this.busy.delete(dialog);
    // Media is over: the RTP socket goes now, not when the BYE is answered.
    this.closeRtp(dialog);
    const listener = dialog.listener;
    dialog.listener = undefined;
    try {
      listener?.onHangup(reason);
    } catch (e) {
      this.counters.callFaults++;
      this.log.error({ callId: dialog.callId, err: errText(e) }, 'fault in hang-up listener');
    }
    if (bye && wasEstablished) this.sendBye(dialog, o.byeOnce === true);
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
    this.busy.delete(dialog);
    this.closeRtp(dialog);
    this.dialogs.delete(dialog.callId);
  }

  private closeRtp(dialog: Dialog): void {
    const rtp = dialog.rtp;
    dialog.rtp = undefined;
    const key = dialog.sharedRtpKey;
    if (key !== undefined) {
      // The shared socket stays; only the call's entry goes.
      dialog.sharedRtpKey = undefined;
      if (this.sharedRtpPeers.get(key) === dialog) this.sharedRtpPeers.delete(key);
      return;
    }
    try {
      rtp?.close();
    } catch {
      // already closed
    }
  }

  private later(dialog: Dialog, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      dialog.timers.delete(t);
      this.contain(dialog, 'timer', fn);
    }, ms);
    dialog.timers.add(t);
  }

  /**
   * The per-call fault boundary: runs `fn`; if it throws, that call alone ends (hung up with BYE
   * or a final answer, its line and socket freed, counted, logged without its data).
   */
  private contain(dialog: Dialog, where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.callFault(dialog, where, e);
    }
  }

  /** Ends a call whose handling threw (see `contain`). */
  private callFault(dialog: Dialog, where: string, e: unknown): void {
    this.counters.callFaults++;
    this.log.error(
      { callId: dialog.callId, where, code: 'LINE_CALL_FAULT', err: errText(e) },
      'fault in call: ending it',
    );
    try {
      this.terminate(dialog, 'error', true, { byeOnce: true });
    } catch (e2) {
      this.log.error({ callId: dialog.callId, err: errText(e2) }, 'fault ending a call: dropped');
      this.finish(dialog);
    }
    if (this.dialogs.get(dialog.callId) === dialog && dialog.byeSent === undefined) this.finish(dialog);
  }

  // ---- media ----

  private async openSharedRtp(): Promise<dgram.Socket> {
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      rtp.once('error', reject);
      rtp.bind(0, this.options.host, () => {
        rtp.off('error', reject);
        resolve();
      });
    });
    rtp.on('error', (e) => {
      this.log.warn({ err: e.message }, 'shared rtp socket error');
    });
    const wanted = this.options.sharedRtpReceiveBufferBytes;
    let set = false;
    if (wanted > 0)
      try {
        rtp.setRecvBufferSize(wanted);
        set = true;
      } catch (e) {
        this.log.warn({ err: errText(e), wanted }, 'shared rtp socket: receive buffer not set');
      }
    // Linux reports twice what a setsockopt granted (the other half is its bookkeeping); an
    // untouched socket reports the default as it is.
    const granted = rtp.getRecvBufferSize() / (set && process.platform === 'linux' ? 2 : 1);
    this.sharedRtpBufferBytes = granted;
    if (wanted > 0 && granted < wanted)
      this.log.warn(
        { wanted, granted },
        'shared rtp socket: the kernel granted a smaller receive buffer (raise net.core.rmem_max); packets may be lost at high line counts',
      );
    else this.log.info({ bytes: granted }, 'shared rtp socket receive buffer');
    rtp.on('message', (data, rinfo) => {
      const dialog = this.sharedRtpPeers.get(`${rinfo.address}:${rinfo.port}`);
      if (dialog === undefined) {
        this.counters.rtpWrongSource++;
        return;
      }
      try {
        this.onRtp(dialog, data, rinfo.address, rinfo.port);
      } catch (e) {
        this.callFault(dialog, 'rtp', e);
      }
    });
    return rtp;
  }

  private async openRtp(dialog: Dialog): Promise<void> {
    const shared = this.sharedRtp;
    const peer = dialog.rtpPeer;
    if (shared !== undefined && peer !== undefined) {
      const key = `${peer.address}:${peer.port}`;
      if (!this.sharedRtpPeers.has(key)) {
        if (dialog.state === 'terminated') return;
        this.sharedRtpPeers.set(key, dialog);
        dialog.sharedRtpKey = key;
        dialog.rtp = shared;
        return;
      }
    }
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
    rtp.on('message', (data, rinfo) => {
      // The per-call fault boundary of `contain`, without a closure per packet.
      try {
        this.onRtp(dialog, data, rinfo.address, rinfo.port);
      } catch (e) {
        this.callFault(dialog, 'rtp', e);
      }
    });
    if (dialog.state === 'terminated') rtp.close();
    else dialog.rtp = rtp;
  }

  private onRtp(dialog: Dialog, data: Buffer, address: string, port: number): void {
    if (!this.fromPeer(dialog, address, port)) {
      this.counters.rtpWrongSource++;
      return;
    }
    const h = this.rtpHeader;
    const malformed = parseRtpHeader(data, h);
    if (malformed !== undefined) {
      this.counters.rtpMalformed++;
      this.log.debug({ callId: dialog.callId, reason: malformed }, 'RTP garbage dropped');
      return;
    }
    if (dialog.media === undefined || h.payloadType !== dialog.media.payloadType) {
      this.counters.rtpForeign++; // comfort noise, DTMF events, other codecs
      return;
    }
    const bytes = h.payloadEnd - h.payloadOffset;
    if (g711PayloadProblem(bytes) !== undefined) {
      // Not a G.711 packetisation (see g711PayloadProblem): dropped and counted; the jitter buffer
      // sees a gap and fills it with silence of the right length from the next packet's timestamp.
      this.counters.rtpPayloadRefused++;
      return;
    }
    this.counters.rtpPacketsIn++;
    this.counters.rtpAudioMsIn += bytes / G711_SAMPLES_PER_MS;
    dialog.lastRtpMs = this.wallMs;
    if (dialog.remoteSsrc !== h.ssrc) {
      if (dialog.remoteSsrc !== undefined) this.deliver(dialog, dialog.jitter.flush());
      dialog.remoteSsrc = h.ssrc;
      this.counters.rtpLost += dialog.jitter.stats.lost;
      dialog.jitter = new JitterBuffer(this.options.jitter);
      // A listener may have ended the call while the old stream was flushed.
      if (dialog.state === 'terminated') return;
    }
    // In order with nothing held (nearly every packet): decoded straight from the datagram into
    // the reused buffer, nothing allocated. Anything else goes through the jitter buffer's queue.
    if (dialog.jitter.inOrder(h.sequenceNumber, bytes, h.timestamp)) {
      this.play(dialog, data, h.payloadOffset, h.payloadEnd);
      return;
    }
    const payload = data.subarray(h.payloadOffset, h.payloadEnd);
    this.deliver(dialog, dialog.jitter.push(h.sequenceNumber, payload, performance.now(), h.timestamp));
    if (dialog.jitter.held > 0 && dialog.state !== 'terminated') this.busy.add(dialog);
  }

  /** One in-order payload (`codes[from, to)`, 80–480 bytes) to the listener, decoded into `rxPcm`. */
  private play(dialog: Dialog, codes: Uint8Array, from: number, to: number): void {
    const listener = dialog.listener;
    const media = dialog.media;
    if (listener === undefined || media === undefined) return;
    const n = to - from;
    const slot = n / G711_SAMPLES_PER_MS;
    const pcm = (this.rxViews[slot] ??= this.rxPcm.subarray(0, n));
    if (media.codec === 'PCMU') mulawDecodeInto(codes, from, to, pcm);
    else alawDecodeInto(codes, from, to, pcm);
    listener.onAudio(pcm);
  }

  /** RTP latching: only the negotiated peer is heard (see `rtpSymmetricLatch`). */
  private fromPeer(dialog: Dialog, address: string, port: number): boolean {
    const media = dialog.media;
    if (media === undefined) return false;
    const peer = dialog.rtpPeer;
    if (peer === undefined) {
      // Symmetric latch: the first packet from the SDP address or the signalling source (a NAT's
      // public address) fixes the peer for the rest of the call.
      if (address !== media.remoteAddress && address !== dialog.source.address) return false;
      dialog.rtpPeer = { address, port };
      return true;
    }
    return address === peer.address && port === peer.port;
  }

  private deliver(dialog: Dialog, frames: ReturnType<JitterBuffer['poll']>): void {
    if (frames.length === 0) return;
    const listener = dialog.listener;
    if (listener === undefined || dialog.media === undefined) return;
    const decode = dialog.media.codec === 'PCMU' ? mulawDecode : alawDecode;
    for (const f of frames) listener.onAudio(f.kind === 'audio' ? decode(f.payload) : new Int16Array(f.bytes));
  }

  /**
   * The one shared ticker of all calls: jitter buffer timeouts and paced playout for the calls that
   * have either (`busy`), and every RTP_TIMEOUT_SWEEP_MS the RTP timeout of all calls. An idle
   * call (nothing held, nothing to play) is not visited by the tick at all.
   */
  private tick(): void {
    const now = performance.now();
    const wall = Date.now();
    this.wallMs = wall;
    // Deleting from a Set while iterating it is safe: deleted entries are not visited, and a call
    // added during the loop is visited in it (or on the next tick).
    for (const dialog of this.busy) {
      if (dialog.state === 'terminated') {
        this.busy.delete(dialog);
        continue;
      }
      try {
        this.tickDialog(dialog, now);
      } catch (e) {
        this.callFault(dialog, 'tick', e);
      }
      if (dialog.jitter.held === 0 && !dialog.pacer.playing) this.busy.delete(dialog);
    }
    if (this.options.rtpTimeoutMs > 0 && wall - this.lastTimeoutSweepMs >= RTP_TIMEOUT_SWEEP_MS) {
      this.lastTimeoutSweepMs = wall;
      for (const dialog of this.dialogs.values()) {
        if (dialog.state !== 'confirmed' || wall - dialog.lastRtpMs <= this.options.rtpTimeoutMs) continue;
        try {
          this.log.warn({ callId: dialog.callId }, 'RTP timeout: ending call');
          this.terminate(dialog, 'timeout', true);
        } catch (e) {
          this.callFault(dialog, 'tick', e);
        }
      }
    }
  }

  private tickDialog(dialog: Dialog, now: number): void {
    if (dialog.jitter.held > 0) this.deliver(dialog, dialog.jitter.poll(now));
    if (dialog.state === 'terminated' || !dialog.pacer.playing) return;
    const due = dialog.pacer.due(now);
    if (due.frames.length > 0) this.sendFrames(dialog, due.frames, due.spurtStart);
    if (due.drained) dialog.listener?.onPlayoutDone();
  }

  private sendFrames(dialog: Dialog, frames: Int16Array[], spurtStart: boolean): void {
    const media = dialog.media;
    const rtp = dialog.rtp;
    const peer = dialog.rtpPeer ?? { address: media?.remoteAddress ?? '', port: media?.remotePort ?? 0 };
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
      try {
        rtp.send(packet, peer.port, peer.address, (err) => {
          if (err !== null) this.sendFailed('rtp', err);
        });
      } catch (e) {
        this.sendFailed('rtp', e);
      }
    });
  }
}

type RefusalCode = Extract<
  ResultCodeName,
  | 'SIP_SOURCE_RATE_LIMITED'
  | 'SDP_MALFORMED'
  | 'SDP_MEDIA_ADDRESS_REFUSED'
  | 'SDP_MEDIA_PORT_REFUSED'
  | 'SDP_NO_COMMON_CODEC'
  | 'ENGINE_DRAINING'
  | 'ENGINE_LINES_EXHAUSTED'
  | 'ENGINE_LINES_RESERVED'
>;

/** SIP answers to refused INVITEs: load and policy are 503 (with Retry-After), media offers 488. */
const REFUSAL_STATUS: Readonly<Record<RefusalCode, readonly [number, string]>> = {
  SIP_SOURCE_RATE_LIMITED: [503, 'Service Unavailable'],
  SDP_MALFORMED: [488, 'Not Acceptable Here'],
  SDP_MEDIA_ADDRESS_REFUSED: [488, 'Not Acceptable Here'],
  SDP_MEDIA_PORT_REFUSED: [488, 'Not Acceptable Here'],
  SDP_NO_COMMON_CODEC: [488, 'Not Acceptable Here'],
  ENGINE_DRAINING: [503, 'Service Unavailable'],
  ENGINE_LINES_EXHAUSTED: [503, 'Service Unavailable'],
  ENGINE_LINES_RESERVED: [503, 'Service Unavailable'],
};

/** A Warning header (RFC 3261 §20.43, code 399 "miscellaneous") naming the catalogue code. */
function warning(codeName: ResultCodeName): [string, string] {
  const entry = resultCode(codeName);
  return ['Warning', `399 fixpay "${entry.code} ${entry.message}"`];
}

/** An error for logs: its class and message, scrubbed of anything that looks like card data. */
function errText(e: unknown): string {
  return e instanceof Error ? scrubText(`${e.name}: ${e.message}`) : 'unknown';
}
