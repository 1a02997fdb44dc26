/**
 * Originated push calls over TCP PCM (docs/protocols/push.md): the access node dials out through a
 * TCP PCM gateway, speaking the client side of the line protocol (docs/protocols/tcp-pcm.md):
 * HELLO `sender NUL called NUL onhook`; the far end seizes the line without ringing and answers
 * (ANSWER) or refuses (REJECT `busy` | `no-answer` | `refused`); the node sends the on-hook
 * message as AUDIO, and the far end confirms with BYE `received` (its receiver checked the
 * checksum) or `garbled`. A per-node line budget caps the push calls open at once.
 */
import net from 'node:net';
import type { PushCallOutcome } from '../../domain/push';
import { encodeTcpPcm, pcmToBytes, TCP_PCM_TYPE, TcpPcmReader } from '../lines/tcp-pcm';
import { SILENT_LOGGER, type LineLogger } from '../lines/types';

/** Samples per AUDIO message when not paced (2,000 = 4,000 bytes, the largest body). */
const CHUNK_SAMPLES = 2000;
const FRAME_SAMPLES = 160;

export interface PushDialerOptions {
  readonly gatewayHost: string;
  readonly gatewayPort: number;
  /** Push calls open at once on this node; more get `budget` at once. */
  readonly maxLines: number;
  /** Time for the TCP connection and the far end's ANSWER or REJECT (ringing is not used). */
  readonly answerTimeoutMs: number;
  /** Time for the receipt after the last audio left. */
  readonly receiptTimeoutMs: number;
  /** Send the audio in real time (20 ms frames); false sends it at once (simulations). */
  readonly pace: boolean;
}

export const DEFAULT_PUSH_DIALER_OPTIONS: Omit<PushDialerOptions, 'gatewayHost' | 'gatewayPort'> = {
  maxLines: 16,
  answerTimeoutMs: 10_000,
  receiptTimeoutMs: 5_000,
  pace: true,
};

export interface PushDial {
  /** The terminal's line number (the called number in HELLO). */
  readonly calledNumber: string;
  readonly sender?: string;
  readonly audio: Int16Array;
}

/** A way to place push calls: TCP PCM (this file) or SIP (sip-dialer.ts). */
export interface PushLine {
  /** One push call; never rejects (every failure is an outcome). */
  dial(d: PushDial): Promise<PushCallOutcome>;
  readonly linesInUse: number;
  metrics(): Record<string, number>;
  /** Ends every open push call (the node stops). */
  close(): void;
}

/** The reasons a far end may give in REJECT, and what they mean for the push. */
const REJECT_OUTCOME: Record<string, PushCallOutcome> = {
  busy: 'busy',
  'no-answer': 'no-answer',
  refused: 'refused',
  FP3620: 'busy',
  FP3621: 'busy',
};

export class PushDialer implements PushLine {
  private readonly options: PushDialerOptions;
  private open = 0;
  private readonly sockets = new Set<net.Socket>();
  private readonly counters = {
    pushCalls: 0,
    pushDelivered: 0,
    pushBusy: 0,
    pushNoAnswer: 0,
    pushBudget: 0,
    pushNoReceipt: 0,
    pushRefused: 0,
    pushFailed: 0,
  };

  constructor(
    options: Partial<PushDialerOptions> & Pick<PushDialerOptions, 'gatewayHost' | 'gatewayPort'>,
    private readonly log: LineLogger = SILENT_LOGGER,
  ) {
    this.options = { ...DEFAULT_PUSH_DIALER_OPTIONS, ...options };
  }

  /** Push calls open now. */
  get linesInUse(): number {
    return this.open;
  }

  metrics(): Record<string, number> {
    return { ...this.counters, pushLinesInUse: this.open, pushLinesMax: this.options.maxLines };
  }

  /** One push call; never rejects (every failure is an outcome). */
  async dial(d: PushDial): Promise<PushCallOutcome> {
    if (!/^\+?[0-9*#]{1,32}$/.test(d.calledNumber) || (d.sender !== undefined && !/^[0-9]{1,20}$/.test(d.sender))) {
      this.counters.pushRefused++;
      return 'refused';
    }
    if (this.open >= this.options.maxLines) {
      this.counters.pushBudget++;
      return 'budget';
    }
    this.open++;
    this.counters.pushCalls++;
    let outcome: PushCallOutcome;
    try {
      outcome = await this.call(d);
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : 'unknown' }, 'push call failed');
      outcome = 'failed';
    } finally {
      this.open--;
    }
    const key = {
      delivered: 'pushDelivered',
      busy: 'pushBusy',
      'no-answer': 'pushNoAnswer',
      budget: 'pushBudget',
      'no-receipt': 'pushNoReceipt',
      refused: 'pushRefused',
      failed: 'pushFailed',
    } as const;
    this.counters[key[outcome]]++;
    return outcome;
  }

  /** Ends every open push call (the node stops). */
  close(): void {
    for (const s of this.sockets) s.destroy();
  }

  private call(d: PushDial): Promise<PushCallOutcome> {
    return new Promise<PushCallOutcome>((resolve) => {
      const socket = net.connect({ host: this.options.gatewayHost, port: this.options.gatewayPort });
      this.sockets.add(socket);
      const reader = new TcpPcmReader();
      let phase: 'connecting' | 'answering' | 'sending' | 'receipt' | 'done' = 'connecting';
      let timer: NodeJS.Timeout | undefined;
      let pacer: NodeJS.Timeout | undefined;
      const finish = (o: PushCallOutcome): void => {
        if (phase === 'done') return;
        phase = 'done';
        clearTimeout(timer);
        clearInterval(pacer);
        if (!socket.destroyed && socket.writable) socket.end(encodeTcpPcm(TCP_PCM_TYPE.bye));
        setTimeout(() => socket.destroy(), 1_000).unref();
        this.sockets.delete(socket);
        resolve(o);
      };
      const wait = (ms: number, o: PushCallOutcome): void => {
        clearTimeout(timer);
        timer = setTimeout(() => finish(o), ms);
      };
      wait(this.options.answerTimeoutMs, 'no-answer');
      socket.on('error', () => finish(phase === 'connecting' || phase === 'answering' ? 'no-answer' : 'no-receipt'));
      socket.on('close', () => finish(phase === 'connecting' || phase === 'answering' ? 'no-answer' : 'no-receipt'));
      socket.on('connect', () => {
        phase = 'answering';
        const hello = Buffer.from(`${d.sender ?? ''}\0${d.calledNumber}\0onhook`, 'latin1');
        socket.write(encodeTcpPcm(TCP_PCM_TYPE.hello, hello));
      });
      const sendAudio = (): void => {
        phase = 'sending';
        clearTimeout(timer);
        const afterSent = (): void => {
          phase = 'receipt';
          wait(this.options.receiptTimeoutMs, 'no-receipt');
        };
        if (!this.options.pace) {
          for (let at = 0; at < d.audio.length; at += CHUNK_SAMPLES)
            socket.write(encodeTcpPcm(TCP_PCM_TYPE.audio, pcmToBytes(d.audio.subarray(at, at + CHUNK_SAMPLES))));
          socket.write(new Uint8Array(0), afterSent);
          return;
        }
        let at = 0;
        const started = Date.now();
        pacer = setInterval(() => {
          // Frames due by the wall clock; a late tick sends what it owes.
          const due = Math.floor((Date.now() - started) / 20) + 1;
          while (at < d.audio.length && at / FRAME_SAMPLES < due) {
            socket.write(encodeTcpPcm(TCP_PCM_TYPE.audio, pcmToBytes(d.audio.subarray(at, at + FRAME_SAMPLES))));
            at += FRAME_SAMPLES;
          }
          if (at >= d.audio.length) {
            clearInterval(pacer);
            socket.write(new Uint8Array(0), afterSent);
          }
        }, 10);
      };
      socket.on('data', (chunk: Buffer) => {
        const r = reader.push(chunk);
        if (!r.ok) return finish('failed');
        for (const m of r.value) {
          const body = Buffer.from(m.body).toString('latin1');
          if (phase === 'answering' && m.type === TCP_PCM_TYPE.answer) sendAudio();
          else if (phase === 'answering' && m.type === TCP_PCM_TYPE.reject) finish(REJECT_OUTCOME[body] ?? 'failed');
          else if (m.type === TCP_PCM_TYPE.byeOut)
            finish(
              phase === 'receipt' || phase === 'sending'
                ? body === 'received'
                  ? 'delivered'
                  : 'no-receipt'
                : 'failed',
            );
        }
      });
    });
  }
}
