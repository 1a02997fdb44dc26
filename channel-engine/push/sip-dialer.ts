/**
 * Originated push calls over SIP (docs/protocols/push.md, "SIP"): the access node is a user agent
 * client towards its configured trunk. INVITE `sip:<called>@<trunk>` with an SDP offer (PCMU,
 * PCMA) and `Alert-Info: <urn:fixpay:push:onhook>` (the trunk's gateway seizes the line for
 * on-hook data, without ringing); 486/600 busy, 408/480/487 no answer, 403/404/484/603 refused;
 * 200 → ACK, the notice as G.711 RTP in 20 ms packets, then the far end's BYE with
 * `Reason: fixpay;text="received"` is the receipt (answered 200). One UDP socket per call for
 * signalling and one for media; the INVITE is resent at 0.5, 1, 2 s … until a response.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { PushCallOutcome } from '../../domain/push';
import { alawEncode, mulawEncode } from '../audio/g711';
import { buildRtp } from '../lines/rtp';
import { parseSipMessage, serializeSipMessage, SipHeaders, type SipMessage } from '../lines/sip/message';
import { buildSdp, chooseCodec, parseSdp, STATIC_PAYLOAD_TYPES } from '../lines/sip/sdp';
import { SILENT_LOGGER, type LineLogger } from '../lines/types';
import type { PushDial, PushLine } from './dialer';

export const PUSH_ALERT_INFO = '<urn:fixpay:push:onhook>';
export const PUSH_RECEIPT_REASON = 'fixpay;text="received"';

export interface SipPushDialerOptions {
  readonly trunkHost: string;
  readonly trunkPort: number;
  /** Our address in Via, Contact and SDP (the address the trunk reaches us on). */
  readonly localHost: string;
  readonly maxLines: number;
  readonly answerTimeoutMs: number;
  readonly receiptTimeoutMs: number;
}

const FRAME_SAMPLES = 160;

function outcomeOfStatus(status: number): PushCallOutcome {
  if (status === 486 || status === 600) return 'busy';
  if (status === 408 || status === 480 || status === 487) return 'no-answer';
  if (status === 403 || status === 404 || status === 484 || status === 603) return 'refused';
  if (status === 503) return 'busy';
  return 'failed';
}

const token = (): string => randomBytes(8).toString('hex');

export class SipPushDialer implements PushLine {
  private open = 0;
  private readonly sockets = new Set<dgram.Socket>();
  private readonly counters: Record<string, number> = { pushCalls: 0 };

  constructor(
    private readonly options: SipPushDialerOptions,
    private readonly log: LineLogger = SILENT_LOGGER,
  ) {}

  get linesInUse(): number {
    return this.open;
  }

  metrics(): Record<string, number> {
    return { ...this.counters, pushLinesInUse: this.open, pushLinesMax: this.options.maxLines };
  }

  close(): void {
    for (const s of this.sockets) s.close();
    this.sockets.clear();
  }

  async dial(d: PushDial): Promise<PushCallOutcome> {
    let outcome: PushCallOutcome;
    if (!/^\+?[0-9*#]{1,32}$/.test(d.calledNumber) || (d.sender !== undefined && !/^[0-9]{1,20}$/.test(d.sender)))
      outcome = 'refused';
    else if (this.open >= this.options.maxLines) outcome = 'budget';
    else {
      this.open++;
      this.counters['pushCalls'] = (this.counters['pushCalls'] ?? 0) + 1;
      try {
        outcome = await this.call(d);
      } catch (e) {
        this.log.warn({ err: e instanceof Error ? e.message : 'unknown' }, 'sip push call failed');
        outcome = 'failed';
      } finally {
        this.open--;
      }
    }
    const key = `push_${outcome}`;
    this.counters[key] = (this.counters[key] ?? 0) + 1;
    return outcome;
  }

  private async bind(): Promise<dgram.Socket> {
    const s = dgram.createSocket('udp4');
    this.sockets.add(s);
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.bind(0, this.options.localHost, resolve));
    return s;
  }

  private async call(d: PushDial): Promise<PushCallOutcome> {
    const o = this.options;
    const sig = await this.bind();
    const media = await this.bind();
    const sigPort = sig.address().port;
    const callId = `${token()}@${o.localHost}`;
    const fromTag = token();
    const branch = `z9hG4bK${token()}`;
    const target = `sip:${d.calledNumber}@${o.trunkHost}:${o.trunkPort}`;
    const from = `<sip:${d.sender ?? 'fixpay'}@${o.localHost}>;tag=${fromTag}`;
    const via = (b: string): string => `SIP/2.0/UDP ${o.localHost}:${sigPort};branch=${b};rport`;
    const send = (m: SipMessage): void => {
      sig.send(serializeSipMessage(m), o.trunkPort, o.trunkHost);
    };
    const invite: SipMessage = {
      kind: 'request',
      method: 'INVITE',
      uri: target,
      headers: new SipHeaders()
        .add('Via', via(branch))
        .add('Max-Forwards', '70')
        .add('From', from)
        .add('To', `<${target}>`)
        .add('Call-ID', callId)
        .add('CSeq', '1 INVITE')
        .add('Contact', `<sip:${d.sender ?? 'fixpay'}@${o.localHost}:${sigPort}>`)
        .add('Alert-Info', PUSH_ALERT_INFO)
        .add('Content-Type', 'application/sdp'),
      body: buildSdp({
        address: o.localHost,
        port: media.address().port,
        sessionId: Date.now() % 1_000_000_000,
        formats: [
          { payloadType: STATIC_PAYLOAD_TYPES.PCMU, codec: 'PCMU' },
          { payloadType: STATIC_PAYLOAD_TYPES.PCMA, codec: 'PCMA' },
        ],
        ptimeMs: 20,
      }),
    };
    return new Promise<PushCallOutcome>((resolve) => {
      let phase: 'inviting' | 'sending' | 'receipt' | 'done' = 'inviting';
      let toHeader = `<${target}>`;
      const timers: NodeJS.Timeout[] = [];
      let deadline: NodeJS.Timeout | undefined;
      const finish = (outcome: PushCallOutcome, sendBye: boolean): void => {
        if (phase === 'done') return;
        phase = 'done';
        timers.forEach(clearTimeout);
        clearTimeout(deadline);
        if (sendBye)
          send({
            kind: 'request',
            method: 'BYE',
            uri: target,
            headers: new SipHeaders()
              .add('Via', via(`z9hG4bK${token()}`))
              .add('Max-Forwards', '70')
              .add('From', from)
              .add('To', toHeader)
              .add('Call-ID', callId)
              .add('CSeq', '3 BYE'),
            body: '',
          });
        setTimeout(() => {
          for (const s of [sig, media]) if (this.sockets.delete(s)) s.close();
        }, 200).unref();
        resolve(outcome);
      };
      deadline = setTimeout(() => finish('no-answer', false), o.answerTimeoutMs);
      // INVITE retransmissions (RFC 3261 timer A) until the first response.
      let gotResponse = false;
      const resend = (wait: number): void => {
        timers.push(
          setTimeout(() => {
            if (gotResponse || phase !== 'inviting') return;
            send(invite);
            resend(Math.min(wait * 2, 4_000));
          }, wait),
        );
      };
      send(invite);
      resend(500);
      const ack = (toValue: string, b: string): void =>
        send({
          kind: 'request',
          method: 'ACK',
          uri: target,
          headers: new SipHeaders()
            .add('Via', via(b))
            .add('Max-Forwards', '70')
            .add('From', from)
            .add('To', toValue)
            .add('Call-ID', callId)
            .add('CSeq', '1 ACK'),
          body: '',
        });
      sig.on('message', (data) => {
        const parsed = parseSipMessage(data);
        if (!parsed.ok) return;
        const m = parsed.value;
        if (m.headers.get('call-id') !== callId) return;
        if (m.kind === 'response') {
          gotResponse = true;
          if (m.status < 200 || phase !== 'inviting') {
            if (m.status >= 200 && m.status < 300) ack(m.headers.get('to') ?? toHeader, `z9hG4bK${token()}`); // a resent 200
            return;
          }
          toHeader = m.headers.get('to') ?? toHeader;
          if (m.status >= 300) {
            ack(toHeader, branch); // a non-2xx final answer is ACKed in the INVITE's transaction
            finish(outcomeOfStatus(m.status), false);
            return;
          }
          ack(toHeader, `z9hG4bK${token()}`);
          const sdp = parseSdp(m.body);
          const audio = sdp.ok ? chooseCodec(sdp.value, ['PCMU', 'PCMA']) : undefined;
          if (audio === undefined) {
            finish('failed', true);
            return;
          }
          clearTimeout(deadline);
          phase = 'sending';
          const encode = audio.codec === 'PCMU' ? mulawEncode : alawEncode;
          const ssrc = randomBytes(4).readUInt32BE(0);
          let at = 0;
          let seq = randomBytes(2).readUInt16BE(0);
          const started = Date.now();
          const pacer = setInterval(() => {
            const due = Math.floor((Date.now() - started) / 20) + 1;
            while (phase === 'sending' && at < d.audio.length && at / FRAME_SAMPLES < due) {
              const frame = new Int16Array(FRAME_SAMPLES);
              frame.set(d.audio.subarray(at, at + FRAME_SAMPLES));
              media.send(
                buildRtp({
                  payloadType: audio.payloadType,
                  marker: at === 0,
                  sequenceNumber: seq & 0xffff,
                  timestamp: at,
                  ssrc,
                  payload: encode(frame),
                }),
                audio.remotePort,
                audio.remoteAddress,
              );
              seq++;
              at += FRAME_SAMPLES;
            }
            if (at >= d.audio.length || phase !== 'sending') {
              clearInterval(pacer);
              if (phase === 'sending') {
                phase = 'receipt';
                deadline = setTimeout(() => finish('no-receipt', true), o.receiptTimeoutMs);
              }
            }
          }, 10);
          timers.push(pacer);
          return;
        }
        if (m.method === 'BYE') {
          const ok: SipMessage = {
            kind: 'response',
            status: 200,
            reason: 'OK',
            headers: new SipHeaders(),
            body: '',
          };
          for (const h of ['via', 'from', 'to', 'call-id', 'cseq'])
            for (const v of m.headers.getAll(h)) ok.headers.add(h, v);
          send(ok);
          const reason = m.headers.get('reason') ?? '';
          finish(
            (phase === 'receipt' || phase === 'sending') && reason === PUSH_RECEIPT_REASON ? 'delivered' : 'no-receipt',
            false,
          );
        }
      });
    });
  }
}
