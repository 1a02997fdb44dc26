/**
 * Simulated phones for information push (docs/protocols/push.md): a TCP PCM gateway that fronts
 * many on-hook phones. The access node dials it (HELLO `sender NUL called NUL onhook`); a phone
 * that is offline does not answer, a busy one says so, an online one takes the call, demodulates
 * the FSK it hears with the platform's receiver — real audio, real checksum — and confirms with BYE
 * `received` once a whole caller-ID message has checked. Each phone can also call the access node.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { MessageAssembler, PARAM_TYPE, type CallerIdMessage } from '../../channel-engine/callerid';
import { createDemodulator, type Modulation } from '../../channel-engine/modem';
import { pushTextOf } from '../../channel-engine/push/onhook-push';
import { bytesToPcm, encodeTcpPcm, TCP_PCM_TYPE, TcpPcmReader } from '../../channel-engine/lines/tcp-pcm';

export interface SimulatedPushPhone {
  readonly number: string;
  readonly modulation: Modulation;
  /** Offline: calls to it are not answered. */
  online: boolean;
  /** The next this many calls find the line busy. */
  busyCalls: number;
  /** Texts received, in order. */
  readonly received: string[];
  /** Calls that reached the gateway for this phone (answered or not). */
  calls: number;
  /** Wall-clock time of each call that reached the gateway, ms. */
  readonly callTimes: number[];
  /** Wall-clock time of each text received, ms. */
  readonly receivedAt: number[];
  /** Messages heard that did not check (framing, checksum). */
  garbled: number;
}

/** A notice as a phone's display shows it: the text, and the sender and date-time when present. */
export interface PushNotice {
  readonly text: string;
  readonly sender?: string;
  /** MMDDHHMM as sent (the terminal's local time). */
  readonly dateTime?: string;
}

/** The notice a received caller-ID message carries, or undefined when it is not a push (docs/protocols/push.md). */
export function pushNoticeOf(m: CallerIdMessage): PushNotice | undefined {
  const text = pushTextOf(m);
  if (text === undefined || m.format !== 'mdmf') return undefined;
  const param = (type: number): string | undefined => {
    const p = m.params.find((x) => x.type === type);
    return p === undefined ? undefined : new TextDecoder('latin1').decode(p.value);
  };
  const sender = param(PARAM_TYPE.callingNumber);
  const dateTime = param(PARAM_TYPE.dateTime);
  return { text, ...(sender === undefined ? {} : { sender }), ...(dateTime === undefined ? {} : { dateTime }) };
}

/** What a gateway tells its owner as calls come in (the terminal simulator rings and shows the notice). */
export interface PushPhoneEvents {
  /** A push call for this phone was answered (the phone "rings": its display wakes). */
  onRing?(phone: SimulatedPushPhone): void;
  /** A whole message checked; the receipt is being sent. */
  onNotice?(phone: SimulatedPushPhone, notice: PushNotice): void;
  /** A message was heard but did not check: not acknowledged. */
  onGarbled?(phone: SimulatedPushPhone): void;
  /** The phone's line is in a call of its own (the exchange answers busy). */
  isBusy?(phone: SimulatedPushPhone): boolean;
}

export function simulatedPhone(number: string, modulation: Modulation, online = true): SimulatedPushPhone {
  return {
    number,
    modulation,
    online,
    busyCalls: 0,
    received: [],
    calls: 0,
    callTimes: [],
    receivedAt: [],
    garbled: 0,
  };
}

export class PushPhoneGateway {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  readonly phones = new Map<string, SimulatedPushPhone>();

  constructor(
    phones: readonly SimulatedPushPhone[],
    private readonly events: PushPhoneEvents = {},
  ) {
    for (const p of phones) this.phones.set(p.number, p);
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null | undefined)?.port ?? 0;
  }

  /** Listens on `host:port` (port 0: a free one, see `port`). */
  async start(host = '127.0.0.1', port = 0): Promise<void> {
    const server = net.createServer((s) => {
      this.onCall(s);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private onCall(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const reader = new TcpPcmReader();
    let phone: SimulatedPushPhone | undefined;
    let rx: ReturnType<typeof createDemodulator> | undefined;
    const asm = new MessageAssembler();
    let done = false;
    const refuse = (reason: string): void => {
      done = true;
      socket.end(encodeTcpPcm(TCP_PCM_TYPE.reject, Buffer.from(reason, 'latin1')));
    };
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      const r = reader.push(chunk);
      if (!r.ok) return refuse('FP3600');
      for (const m of r.value) {
        if (done) return;
        if (phone === undefined) {
          if (m.type !== TCP_PCM_TYPE.hello) return refuse('FP3600');
          const [, called = '', mode] = Buffer.from(m.body).toString('latin1').split('\0');
          phone = this.phones.get(called);
          if (phone === undefined || mode !== 'onhook') return refuse('refused');
          phone.calls++;
          phone.callTimes.push(Date.now());
          // An offline phone: the line rings out (the gateway says so rather than keep the caller waiting).
          if (!phone.online) return refuse('no-answer');
          if (phone.busyCalls > 0) {
            phone.busyCalls--;
            return refuse('busy');
          }
          if (this.events.isBusy?.(phone) === true) return refuse('busy');
          rx = createDemodulator({ modulation: phone.modulation });
          socket.write(encodeTcpPcm(TCP_PCM_TYPE.answer));
          this.events.onRing?.(phone);
        } else if (m.type === TCP_PCM_TYPE.audio && rx !== undefined) {
          for (const got of asm.push(rx.push(bytesToPcm(m.body)))) {
            done = true;
            const notice = got.ok ? pushNoticeOf(got.message) : undefined;
            if (notice === undefined) {
              phone.garbled++;
              this.events.onGarbled?.(phone);
              socket.end(encodeTcpPcm(TCP_PCM_TYPE.byeOut, Buffer.from('garbled')));
            } else {
              phone.received.push(notice.text);
              phone.receivedAt.push(Date.now());
              this.events.onNotice?.(phone, notice);
              socket.end(encodeTcpPcm(TCP_PCM_TYPE.byeOut, Buffer.from('received')));
            }
            return;
          }
        } else if (m.type === TCP_PCM_TYPE.bye) {
          done = true;
          socket.end();
        }
      }
    });
  }
}

/**
 * The phone calls the access node over TCP PCM and hangs up once answered (a short call: enough
 * for the node to know the line works). Resolves `answered`, the REJECT reason, `timeout` or `error`.
 */
export function callAccessNode(port: number, callerNumber: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const reader = new TcpPcmReader();
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, timeoutMs);
    socket.on('error', () => {
      clearTimeout(timer);
      resolve('error');
    });
    socket.on('connect', () => socket.write(encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from(callerNumber, 'latin1'))));
    socket.on('data', (chunk: Buffer) => {
      const r = reader.push(chunk);
      if (!r.ok) return;
      for (const m of r.value) {
        if (m.type === TCP_PCM_TYPE.answer) {
          clearTimeout(timer);
          socket.end(encodeTcpPcm(TCP_PCM_TYPE.bye));
          resolve('answered');
          return;
        }
        if (m.type === TCP_PCM_TYPE.reject) {
          clearTimeout(timer);
          socket.destroy();
          resolve(Buffer.from(m.body).toString('latin1'));
          return;
        }
      }
    });
  });
}
