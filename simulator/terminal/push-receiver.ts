/**
 * The terminal simulator's side of information push (docs/protocols/push.md, docs/simulator.md):
 * the phone's own line, reachable by the access node's push dialer over TCP PCM (HELLO `… onhook`)
 * or SIP (INVITE with the push Alert-Info). When a push call for the phone's number comes in, the
 * display wakes ("RING" and the sender); the FSK is demodulated by the platform's receiver, the
 * notice is shown on the display, and the phone acknowledges it (BYE `received` / the SIP receipt
 * reason) only once the caller-ID checksum has checked.
 */
import type { DeviceProfile } from '../../channel-engine/profiles';
import type { Transport } from './config';
import { PushPhoneGateway, simulatedPhone, type PushNotice, type SimulatedPushPhone } from './push-phones';
import { SipPushPhoneGateway } from './sip-push-phones';
import { noticeLines } from './terminal';

export interface PushListenOptions {
  readonly transport: Transport;
  /** Address to listen on (and announce in SIP). */
  readonly host: string;
  /** 0: any free port (printed when listening). */
  readonly port: number;
}

export interface ReceivedPush extends PushNotice {
  /** Wall-clock time it was received, ms. */
  readonly atMs: number;
  /** The display after it was shown. */
  readonly display: readonly string[];
}

export interface PushReceiverEvents {
  /** Lines for the display (up to four, 20 columns). */
  show(lines: readonly string[]): void;
  /** A notice was shown and acknowledged. */
  onNotice?(push: ReceivedPush): void;
  /** A message was heard but did not check; not acknowledged. */
  onGarbled?(): void;
  /** The phone is in a call of its own: push calls find the line busy. */
  busy?(): boolean;
}

/** Longest wait for a push in one `await-push` step, ms. */
export const PUSH_WAIT_MS_MAX = 600_000;

export { noticeLines } from './terminal';

export class PushReceiver {
  private gateway: PushPhoneGateway | SipPushPhoneGateway | undefined;
  private readonly phone: SimulatedPushPhone;
  /** Notices received, in order. */
  readonly received: ReceivedPush[] = [];
  private readonly waiters: ((p: ReceivedPush) => void)[] = [];
  private display: readonly string[] = [];

  constructor(
    /** The phone's own number (the number the access node dials: its line's ANI). */
    readonly number: string,
    profile: DeviceProfile,
    private readonly options: PushListenOptions,
    private readonly events: PushReceiverEvents,
  ) {
    this.phone = simulatedPhone(number, profile.modem.modulation);
  }

  get port(): number {
    return this.gateway?.port ?? 0;
  }

  get garbled(): number {
    return this.phone.garbled;
  }

  /** Starts listening; resolves with the port. */
  async start(): Promise<number> {
    const show = (lines: readonly string[]): void => {
      this.display = lines;
      this.events.show(lines);
    };
    const handlers = {
      onRing: () => show(['RING', 'PUSH MESSAGE']),
      onNotice: (_: SimulatedPushPhone, n: PushNotice) => {
        show(noticeLines(n.text));
        const push: ReceivedPush = { ...n, atMs: Date.now(), display: this.display };
        this.received.push(push);
        this.events.onNotice?.(push);
        this.waiters.splice(0).forEach((w) => w(push));
      },
      onGarbled: () => {
        show(['RING', 'MESSAGE GARBLED']);
        this.events.onGarbled?.();
      },
      isBusy: () => this.events.busy?.() === true,
    };
    this.gateway =
      this.options.transport === 'sip'
        ? new SipPushPhoneGateway([this.phone], handlers, this.options.host)
        : new PushPhoneGateway([this.phone], handlers);
    await this.gateway.start(this.options.host, this.options.port);
    return this.gateway.port;
  }

  /** The next notice after `since` received ones (at once if already here), or undefined after `timeoutMs`. */
  next(since: number, timeoutMs: number): Promise<ReceivedPush | undefined> {
    const known = this.received[since];
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => {
      const take = (p: ReceivedPush): void => {
        clearTimeout(timer);
        resolve(p);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(take);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.push(take);
    });
  }

  async stop(): Promise<void> {
    await this.gateway?.stop();
    this.gateway = undefined;
  }
}
