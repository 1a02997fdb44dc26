/**
 * The terminal's telephone line: dial, audio both ways, hang up. Two kinds: TCP PCM (the
 * channel engine's simulator line, `TcpPcmClient`) and SIP/RTP through our own minimal UAC
 * (INVITE with an SDP offer of PCMU, ACK, RTP in 20 ms frames, BYE; answers the host's BYE).
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mulawDecode, mulawEncode } from '../../channel-engine/audio';
import { AudioPacer } from '../../channel-engine/lines/pacer';
import { buildRtp, parseRtp } from '../../channel-engine/lines/rtp';
import { parseSipMessage, serializeSipMessage, SipHeaders } from '../../channel-engine/lines/sip/message';
import type { SipRequest, SipResponse } from '../../channel-engine/lines/sip/message';
import { buildSdp, parseSdp } from '../../channel-engine/lines/sip/sdp';
import { TcpPcmClient } from '../../channel-engine/lines/tcp-pcm';
import { FRAME_MS, SAMPLE_RATE_HZ } from '../../channel-engine/lines/types';
import { FixpayError } from '../../domain/errors';

export interface TerminalLine {
  /** Audio from the host. */
  onAudio: (pcm: Int16Array) => void;
  /** The call ended (host BYE, socket closed); called at most once. */
  onEnd: (reason: string) => void;
  /** Resolves when answered; throws TERMINAL_SIM_DIAL_FAILED. */
  dial(timeoutMs: number): Promise<void>;
  /** Queues audio; `done` runs once all of it has left the line. */
  play(pcm: Int16Array, done: () => void): void;
  /** Ends the call politely (TCP BYE, SIP BYE). */
  hangup(): Promise<void>;
  /** Ends the call at once (cable pulled). */
  drop(): void;
  /** Samples we sent (line time = samplesSent / 8000 s). */
  readonly samplesSent: number;
  readonly samplesReceived: number;
}

export interface LineTarget {
  readonly host: string;
  readonly port: number;
  readonly callerNumber: string;
  readonly calledNumber: string;
}

/** Ticker period for paced audio: half a frame, like the drivers. */
const PACE_TICK_MS = FRAME_MS / 2;

/** Real-time playout shared by both lines. */
class Playout {
  private readonly pacer = new AudioPacer();
  private ticker: NodeJS.Timeout | undefined;
  private waiting: (() => void)[] = [];
  onFrame: (frame: Int16Array, spurtStart: boolean) => void = () => {};

  play(pcm: Int16Array, done: () => void): void {
    this.pacer.enqueue(pcm);
    this.waiting.push(done);
    this.ticker ??= setInterval(() => {
      this.tick();
    }, PACE_TICK_MS);
    this.tick();
  }

  private tick(): void {
    const due = this.pacer.due(performance.now());
    due.frames.forEach((f, i) => {
      this.onFrame(f, due.spurtStart && i === 0);
    });
    if (due.drained) {
      this.stop();
      const w = this.waiting;
      this.waiting = [];
      for (const done of w) done();
    }
  }

  stop(): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  clear(): void {
    this.stop();
    this.pacer.clear();
    this.waiting = [];
  }
}

/** TCP PCM (docs/protocols/tcp-pcm.md) through the channel engine's own client. */
export class TcpPcmLine implements TerminalLine {
  onAudio: (pcm: Int16Array) => void = () => {};
  onEnd: (reason: string) => void = () => {};
  samplesSent = 0;
  samplesReceived = 0;
  private readonly client = new TcpPcmClient();
  private readonly playout = new Playout();
  private ended = false;

  constructor(
    private readonly target: LineTarget,
    private readonly pace: boolean,
  ) {
    this.client.onAudio = (pcm) => {
      this.samplesReceived += pcm.length;
      this.onAudio(pcm);
    };
    this.client.onEnd = (reason) => {
      if (this.ended) return;
      this.ended = true;
      this.playout.clear();
      this.onEnd(reason);
    };
    this.playout.onFrame = (frame) => {
      this.client.sendAudio(frame);
    };
  }

  async dial(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.dial(this.target.host, this.target.port, this.target.callerNumber, this.target.calledNumber),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer in time')), timeoutMs);
        }),
      ]);
    } catch (e) {
      this.client.destroy();
      throw new FixpayError('TERMINAL_SIM_DIAL_FAILED', e instanceof Error ? e.message : 'tcp-pcm', { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  play(pcm: Int16Array, done: () => void): void {
    this.samplesSent += pcm.length;
    if (this.pace) {
      this.playout.play(pcm, done);
      return;
    }
    this.client.sendAudio(pcm);
    setImmediate(done);
  }

  hangup(): Promise<void> {
    this.playout.clear();
    this.ended = true;
    this.client.hangup();
    return Promise.resolve();
  }

  drop(): void {
    this.playout.clear();
    this.ended = true;
    this.client.destroy();
  }
}

/** SIP timers (RFC 3261 §17): T1 and the INVITE/BYE transaction limit 64·T1. */
export const SIP_T1_MS = 500;
export const SIP_TRANSACTION_MS = 64 * SIP_T1_MS;

interface PendingTransaction {
  readonly method: string;
  readonly cseq: number;
  readonly resolve: (r: SipResponse) => void;
  timer: NodeJS.Timeout | undefined;
}

/** A minimal SIP user agent client over UDP for one call, with PCMU RTP. */
export class SipLine implements TerminalLine {
  onAudio: (pcm: Int16Array) => void = () => {};
  onEnd: (reason: string) => void = () => {};
  samplesSent = 0;
  samplesReceived = 0;
  private readonly sip = dgram.createSocket('udp4');
  private readonly rtp = dgram.createSocket('udp4');
  private readonly playout = new Playout();
  private readonly callId = `${randomBytes(8).toString('hex')}@fixpay-terminal`;
  private readonly fromTag = randomBytes(4).toString('hex');
  private readonly ssrc = randomBytes(4).readUInt32BE(0);
  private toHeader: string | undefined;
  private remoteRtp: { address: string; port: number } | undefined;
  private cseq = 0;
  private sequenceNumber = randomBytes(2).readUInt16BE(0);
  private timestamp = randomBytes(4).readUInt32BE(0);
  private pending: PendingTransaction | undefined;
  private state: 'idle' | 'calling' | 'confirmed' | 'ended' = 'idle';

  constructor(
    private readonly target: LineTarget,
    private readonly localHost: string,
  ) {
    this.sip.on('message', (data) => {
      this.onSip(data);
    });
    this.rtp.on('message', (data) => {
      const p = parseRtp(data);
      if (!p.ok || p.value.payloadType !== 0 || this.state !== 'confirmed') return;
      const pcm = mulawDecode(p.value.payload);
      this.samplesReceived += pcm.length;
      this.onAudio(pcm);
    });
    this.sip.on('error', () => {});
    this.rtp.on('error', () => {});
    this.playout.onFrame = (frame, spurtStart) => {
      this.sendRtp(frame, spurtStart);
    };
  }

  private get localSip(): string {
    return `${this.localHost}:${this.sip.address().port}`;
  }

  async dial(timeoutMs: number): Promise<void> {
    const bind = (s: dgram.Socket): Promise<void> =>
      new Promise((resolve, reject) => {
        s.once('error', reject);
        s.bind(0, this.localHost, () => {
          s.off('error', reject);
          resolve();
        });
      });
    try {
      await bind(this.sip);
      await bind(this.rtp);
    } catch (e) {
      this.close();
      throw new FixpayError('TERMINAL_SIM_DIAL_FAILED', 'cannot bind SIP/RTP sockets', { cause: e });
    }
    this.state = 'calling';
    const sdp = buildSdp({
      address: this.localHost,
      port: this.rtp.address().port,
      sessionId: Date.now() % 1_000_000_000,
      formats: [{ payloadType: 0, codec: 'PCMU' }],
      ptimeMs: FRAME_MS,
    });
    const invite = this.request('INVITE', sdp);
    let timer: NodeJS.Timeout | undefined;
    const response = await Promise.race([
      invite.response,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), Math.min(timeoutMs, SIP_TRANSACTION_MS));
      }),
    ]);
    clearTimeout(timer);
    if (response === undefined) {
      this.cancelPending();
      this.close();
      throw new FixpayError('TERMINAL_SIM_DIAL_FAILED', 'no final answer to INVITE');
    }
    if (response.status >= 300) {
      this.sendAck(invite.cseq, response, invite.branch);
      this.close();
      throw new FixpayError('TERMINAL_SIM_DIAL_FAILED', `SIP ${response.status} ${response.reason}`);
    }
    const offer = parseSdp(response.body);
    if (!offer.ok || !offer.value.formats.some((f) => f.payloadType === 0)) {
      this.toHeader = response.headers.get('to');
      this.sendAck(invite.cseq, response);
      await this.hangup();
      throw new FixpayError('TERMINAL_SIM_DIAL_FAILED', 'the answer does not accept PCMU');
    }
    this.remoteRtp = { address: offer.value.address, port: offer.value.port };
    this.toHeader = response.headers.get('to');
    this.sendAck(invite.cseq, response);
    this.state = 'confirmed';
  }

  play(pcm: Int16Array, done: () => void): void {
    this.samplesSent += pcm.length;
    this.playout.play(pcm, done);
  }

  async hangup(): Promise<void> {
    if (this.state !== 'confirmed') {
      this.close();
      return;
    }
    this.playout.clear();
    this.state = 'ended';
    const bye = this.request('BYE', '');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      bye.response,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SIP_TRANSACTION_MS);
      }),
    ]);
    clearTimeout(timer);
    this.close();
  }

  drop(): void {
    this.state = 'ended';
    this.close();
  }

  private close(): void {
    this.playout.clear();
    this.cancelPending();
    for (const s of [this.sip, this.rtp]) {
      try {
        s.close();
      } catch {
        // already closed or never bound
      }
    }
  }

  private cancelPending(): void {
    if (this.pending?.timer !== undefined) clearTimeout(this.pending.timer);
    this.pending = undefined;
  }

  private sendRtp(frame: Int16Array, marker: boolean): void {
    const remote = this.remoteRtp;
    if (remote === undefined || this.state !== 'confirmed') return;
    const packet = buildRtp({
      payloadType: 0,
      marker,
      sequenceNumber: this.sequenceNumber,
      timestamp: this.timestamp,
      ssrc: this.ssrc,
      payload: mulawEncode(frame),
    });
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    this.timestamp = (this.timestamp + frame.length) >>> 0;
    this.rtp.send(packet, remote.port, remote.address);
  }

  private send(text: string): void {
    this.sip.send(text, this.target.port, this.target.host);
  }

  private baseHeaders(method: string, cseq: number, branch: string): SipHeaders {
    const { callerNumber, calledNumber, host, port } = this.target;
    return new SipHeaders()
      .add('Via', `SIP/2.0/UDP ${this.localSip};branch=${branch};rport`)
      .add('Max-Forwards', '70')
      .add('From', `<sip:${callerNumber}@${this.localHost}>;tag=${this.fromTag}`)
      .add('To', this.toHeader ?? `<sip:${calledNumber}@${host}:${port}>`)
      .add('Call-ID', this.callId)
      .add('CSeq', `${cseq} ${method}`);
  }

  /** Sends a request, retransmitted every T1 (doubling up to 4 s) until any response. */
  private request(method: string, body: string): { response: Promise<SipResponse>; cseq: number; branch: string } {
    this.cseq += 1;
    const cseq = this.cseq;
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const headers = this.baseHeaders(method, cseq, branch)
      .add('Contact', `<sip:${this.target.callerNumber}@${this.localSip}>`)
      .add('User-Agent', 'fixpay-terminal-simulator');
    if (body.length > 0) headers.add('Content-Type', 'application/sdp');
    const uri = `sip:${this.target.calledNumber}@${this.target.host}:${this.target.port}`;
    const text = serializeSipMessage({ kind: 'request', method, uri, headers, body });
    const response = new Promise<SipResponse>((resolve) => {
      const tx: PendingTransaction = { method, cseq, resolve, timer: undefined };
      this.pending = tx;
      let interval = SIP_T1_MS;
      const again = (): void => {
        if (this.pending !== tx) return;
        this.send(text);
        tx.timer = setTimeout(again, interval);
        interval = Math.min(interval * 2, 8 * SIP_T1_MS);
      };
      again();
    });
    return { response, cseq, branch };
  }

  private sendAck(cseq: number, response: SipResponse, branch?: string): void {
    // A 2xx ACK is a new transaction (new branch); a non-2xx ACK reuses the INVITE's branch.
    const b = branch ?? `z9hG4bK${randomBytes(6).toString('hex')}`;
    this.toHeader = response.headers.get('to') ?? this.toHeader;
    const headers = this.baseHeaders('ACK', cseq, b);
    const uri = `sip:${this.target.calledNumber}@${this.target.host}:${this.target.port}`;
    this.send(serializeSipMessage({ kind: 'request', method: 'ACK', uri, headers, body: '' }));
  }

  private onSip(data: Buffer): void {
    const parsed = parseSipMessage(data);
    if (!parsed.ok) return;
    const m = parsed.value;
    if (m.kind === 'response') {
      const tx = this.pending;
      const cseq = /^(\d+)\s+(\w+)/.exec(m.headers.get('cseq') ?? '');
      if (tx === undefined || Number(cseq?.[1]) !== tx.cseq || cseq?.[2] !== tx.method) {
        // A retransmitted 200 to our INVITE: ACK it again.
        if (cseq?.[2] === 'INVITE' && m.status >= 200 && m.status < 300) this.sendAck(Number(cseq[1]), m);
        return;
      }
      if (m.status < 200) {
        // Provisional: stop retransmitting, keep waiting for the final answer (RFC 3261 §17.1.1.2).
        if (tx.timer !== undefined) clearTimeout(tx.timer);
        tx.timer = undefined;
        return;
      }
      this.cancelPending();
      tx.resolve(m);
      return;
    }
    this.onSipRequest(m);
  }

  private onSipRequest(m: SipRequest): void {
    const h = m.headers;
    const reply = (status: number, reason: string): void => {
      const headers = new SipHeaders();
      for (const via of h.getAll('via')) headers.add('Via', via);
      headers
        .add('From', h.get('from') ?? '')
        .add('To', h.get('to') ?? '')
        .add('Call-ID', h.get('call-id') ?? '')
        .add('CSeq', h.get('cseq') ?? '');
      this.send(serializeSipMessage({ kind: 'response', status, reason, headers, body: '' }));
    };
    if (h.get('call-id') !== this.callId) {
      reply(481, 'Call/Transaction Does Not Exist');
      return;
    }
    if (m.method === 'BYE') {
      reply(200, 'OK');
      if (this.state === 'confirmed' || this.state === 'calling') {
        this.state = 'ended';
        this.close();
        this.onEnd('hangup');
      }
      return;
    }
    if (m.method === 'ACK') return;
    reply(m.method === 'OPTIONS' ? 200 : 405, m.method === 'OPTIONS' ? 'OK' : 'Method Not Allowed');
  }
}

/** Line time in ms of a sample count at 8 kHz. */
export function lineTimeMs(samples: number): number {
  return (samples * 1000) / SAMPLE_RATE_HZ;
}
