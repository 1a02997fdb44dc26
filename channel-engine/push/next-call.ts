/**
 * Pushes for phones that were offline (docs/protocols/push.md, "At the next call"): a push that
 * could not be delivered stays pending for its terminal; when that terminal's line next calls the
 * access node, the node delivers what is pending as soon as the call has ended (the phone is back
 * on-hook and its line is known to work). The hook sits around the line drivers, not in the
 * access handler: it sees only the caller number of each call and when the call ends.
 */
import type { PushCallOutcome } from '../../domain/push';
import { scrubText } from '../../domain/masking';
import type { DeviceProfile } from '../profiles';
import type { CallListener, CallOffer, LineDriver, LineHost, LineLogger, OfferAnswer } from '../lines/types';
import { SILENT_LOGGER } from '../lines/types';
import type { PushLine } from './dialer';
import { pushAudioFor } from './onhook-push';

/** A push waiting for its terminal. The text was checked when the push was stored. */
export interface PendingPush {
  readonly id: string;
  /** The terminal's line number (its active phone binding). */
  readonly calledNumber: string;
  readonly text: string;
  readonly sender?: string;
  readonly profileId: string;
  readonly utcOffsetMinutes?: number;
}

/** The store of pending pushes, as the access node sees it. */
export interface PendingPushes {
  /** Pending pushes for the terminal bound to this caller number, oldest first (at most a few). */
  pendingFor(callerNumber: string): Promise<PendingPush[]>;
  /** Records the outcome of a delivery at the next call (only `delivered` changes the status). */
  settle(id: string, outcome: PushCallOutcome): Promise<void>;
}

export interface NextCallOptions {
  /** Wait after the call ends before dialling back, ms (the phone hangs up, the line settles). */
  readonly afterCallDelayMs: number;
  readonly profiles: ReadonlyMap<string, DeviceProfile>;
  readonly defaultProfileId: string;
  /** The clock for the date-time parameter. */
  readonly now?: () => number;
}

/** Delivers pending pushes after a terminal's call. Failures are logged and counted, never thrown. */
export class NextCallDelivery {
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly counters = { nextCallChecks: 0, nextCallDelivered: 0, nextCallFailed: 0, nextCallErrors: 0 };

  constructor(
    private readonly store: PendingPushes,
    private readonly dialer: PushLine,
    private readonly options: NextCallOptions,
    private readonly log: LineLogger = SILENT_LOGGER,
  ) {}

  metrics(): Record<string, number> {
    return { ...this.counters };
  }

  /** Call when a call ends; returns at once. */
  callEnded(offer: CallOffer): void {
    const caller = offer.callerNumber;
    if (caller === undefined || this.busy.has(caller)) return;
    this.busy.add(caller);
    const p = this.deliver(caller).finally(() => {
      this.busy.delete(caller);
      this.running.delete(p);
    });
    this.running.add(p);
  }

  /** Resolves when every delivery in progress has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async deliver(caller: string): Promise<void> {
    try {
      await new Promise((r) => setTimeout(r, this.options.afterCallDelayMs));
      this.counters.nextCallChecks++;
      const pending = await this.store.pendingFor(caller);
      for (const push of pending) {
        const profile =
          this.options.profiles.get(push.profileId) ?? this.options.profiles.get(this.options.defaultProfileId);
        if (profile === undefined) continue;
        let outcome: PushCallOutcome;
        let audio: Int16Array | undefined;
        try {
          audio = pushAudioFor(push, profile, (this.options.now ?? Date.now)());
        } catch (e) {
          // Text the terminal cannot show: the push can never be delivered to it.
          this.log.warn(
            { pushId: push.id, err: e instanceof Error ? scrubText(e.message) : 'unknown' },
            'push refused',
          );
        }
        if (audio === undefined) outcome = 'refused';
        else
          outcome = await this.dialer.dial({
            calledNumber: push.calledNumber,
            ...(push.sender === undefined ? {} : { sender: push.sender }),
            audio,
          });
        await this.store.settle(push.id, outcome);
        if (outcome === 'delivered') this.counters.nextCallDelivered++;
        else this.counters.nextCallFailed++;
        this.log.info({ pushId: push.id, outcome }, 'push at next call');
      }
    } catch (e) {
      this.counters.nextCallErrors++;
      this.log.warn({ err: e instanceof Error ? scrubText(e.message) : 'unknown' }, 'next-call push failed');
    }
  }
}

/** The driver with every call's end reported to `ended` (after the engine has seen it). */
export function withCallEndHook(driver: LineDriver, ended: (offer: CallOffer) => void): LineDriver {
  const hooked = (host: LineHost): LineHost => ({
    get draining() {
      return host.draining;
    },
    offer(offer: CallOffer): OfferAnswer {
      const answer = host.offer(offer);
      if (!answer.accept) return answer;
      return {
        accept: true,
        attach: (call): CallListener => {
          const inner = answer.attach(call);
          return {
            onAudio: (pcm) => inner.onAudio(pcm),
            onPlayoutDone: () => inner.onPlayoutDone(),
            onHangup: (reason) => {
              inner.onHangup(reason);
              ended(offer);
            },
          };
        },
      };
    },
  });
  return {
    name: driver.name,
    start: (host) => driver.start(hooked(host)),
    stop: () => driver.stop(),
    metrics: () => driver.metrics(),
  };
}
