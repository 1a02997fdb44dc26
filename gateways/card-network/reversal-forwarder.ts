/**
 * Store-and-forward for reversals (the jPOS-EE SAF idea): due reversals are leased from the
 * durable queue, sent as 0400 then 0401 repeats, and retried with backoff until the network answers
 * with a final response code. Overdue armed entries (left by a crashed gateway) are activated first.
 *
 * Event-driven in-process: the gateway wakes the forwarder when it queues a reversal, and a retry
 * wakes it at its next attempt time, so the periodic pass (`pollIntervalMs`) is only the sweep for
 * work this process was not told about (another gateway's queue entries, a crashed gateway's armed
 * entries). A full batch is followed at once by the next pass.
 */
import { FixpayError } from '../../domain/errors';
import type { IsoMessage } from '../iso8583';
import { textField } from '../iso8583';
import type { GatewayLogger } from './logger';
import { silentLogger } from './logger';
import type { ReversalQueue, ReversalRecord } from './reversal-queue';
import { buildReversalRequest } from './transactions';

export const REVERSAL_POLL_INTERVAL_MS_DEFAULT = 500;
export const REVERSAL_BATCH_SIZE_DEFAULT = 20;
export const REVERSAL_RETRY_DELAY_MS_MIN_DEFAULT = 1_000;
export const REVERSAL_RETRY_DELAY_MS_MAX_DEFAULT = 60_000;
export const REVERSAL_ATTEMPTS_MAX_DEFAULT = 1_000;
export const REVERSAL_EXPIRE_AFTER_MS_DEFAULT = 7 * 24 * 3_600_000;
/** 00 = reversed; 25 = original not found (it never reached the issuer, so nothing moved). */
export const REVERSAL_FINAL_RESPONSE_CODES_DEFAULT: readonly string[] = ['00', '25'];

export interface ReversalForwarderOptions {
  readonly requestTimeoutMs: number;
  readonly pollIntervalMs?: number;
  readonly batchSize?: number;
  readonly retryDelayMsMin?: number;
  readonly retryDelayMsMax?: number;
  readonly attemptsMax?: number;
  readonly expireAfterMs?: number;
  readonly finalResponseCodes?: readonly string[];
}

export interface ReversalForwarderDeps {
  readonly queue: ReversalQueue;
  /** Sends a reversal and waits for its response (through the mux). */
  readonly send: (msg: IsoMessage, timeoutMs: number) => Promise<IsoMessage>;
  readonly clock: () => Date;
  readonly logger?: GatewayLogger;
}

export class ReversalForwarder {
  private timer: NodeJS.Timeout | undefined;
  /** When the scheduled pass fires (ms since the epoch, performance-free wall clock). */
  private timerAt = Number.POSITIVE_INFINITY;
  private running: Promise<number> | undefined;
  /** A wake-up came during a pass: run another one right after it. */
  private wokenDuringPass = false;
  private stopped = true;
  private readonly logger: GatewayLogger;
  private readonly o: Required<ReversalForwarderOptions>;

  constructor(
    private readonly deps: ReversalForwarderDeps,
    options: ReversalForwarderOptions,
  ) {
    this.logger = deps.logger ?? silentLogger;
    this.o = {
      requestTimeoutMs: options.requestTimeoutMs,
      pollIntervalMs: options.pollIntervalMs ?? REVERSAL_POLL_INTERVAL_MS_DEFAULT,
      batchSize: options.batchSize ?? REVERSAL_BATCH_SIZE_DEFAULT,
      retryDelayMsMin: options.retryDelayMsMin ?? REVERSAL_RETRY_DELAY_MS_MIN_DEFAULT,
      retryDelayMsMax: options.retryDelayMsMax ?? REVERSAL_RETRY_DELAY_MS_MAX_DEFAULT,
      attemptsMax: options.attemptsMax ?? REVERSAL_ATTEMPTS_MAX_DEFAULT,
      expireAfterMs: options.expireAfterMs ?? REVERSAL_EXPIRE_AFTER_MS_DEFAULT,
      finalResponseCodes: options.finalResponseCodes ?? REVERSAL_FINAL_RESPONSE_CODES_DEFAULT,
    };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops polling and waits for the tick in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    await this.running?.catch(() => 0);
  }

  /**
   * Asks for a pass at `at` (now by default) unless one is already due by then. A no-op when
   * stopped. Wake-ups are hints: the periodic sweep still finds anything a lost wake-up missed.
   */
  wake(at?: Date): void {
    if (this.stopped) return;
    const delayMs = Math.max(0, (at?.getTime() ?? 0) - this.deps.clock().getTime());
    if (this.running !== undefined && delayMs === 0) {
      this.wokenDuringPass = true;
      return;
    }
    if (Date.now() + delayMs < this.timerAt) this.schedule(delayMs);
  }

  /** One pass: activate overdue armed entries, then send what is due. Returns how many were sent. */
  async tick(): Promise<number> {
    const now = this.deps.clock();
    const promoted = await this.deps.queue.promoteOverdue(now);
    if (promoted > 0)
      this.logger.warn({ event: 'reversal.promoted_overdue', count: promoted }, 'activated reversals left armed');
    const due = await this.deps.queue.claimDue(
      now,
      this.o.batchSize,
      this.o.requestTimeoutMs * 2 + this.o.pollIntervalMs,
    );
    await Promise.all(due.map((r) => this.forward(r)));
    return due.length;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const target = Date.now() + delayMs;
    this.timerAt = target;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Timers run on the event loop's cached clock, which lags the wall clock by however long the
      // loop's current turn has run: under load a timer fires early. A pass before the retry time
      // would find the entry not yet due and leave it to the sweep, so wait out the rest.
      const early = target - Date.now();
      if (early > 0) {
        this.schedule(early);
        return;
      }
      this.timerAt = Number.POSITIVE_INFINITY;
      if (this.running !== undefined) {
        // One pass at a time: the pass in progress schedules the next when it ends.
        this.wokenDuringPass = true;
        return;
      }
      this.wokenDuringPass = false;
      const pass = this.tick().catch((e: unknown) => {
        this.logger.error({ event: 'reversal.tick_failed', error: String(e) }, 'reversal forwarder pass failed');
        return 0;
      });
      this.running = pass;
      void pass.then((sent) => {
        this.running = undefined;
        // A full batch may have left more due; a wake-up during the pass may have come too late for it.
        const again = sent >= this.o.batchSize || this.wokenDuringPass;
        const delay = again ? 0 : this.o.pollIntervalMs;
        if (Date.now() + delay < this.timerAt) this.schedule(delay);
      });
    }, delayMs);
  }

  private async forward(r: ReversalRecord): Promise<void> {
    const now = this.deps.clock();
    const log = {
      event: 'reversal.attempt',
      key: r.key,
      stan: r.message.stan,
      terminalId: r.message.terminalId,
      attempt: r.attempts + 1,
    };
    // Limits count from the last operator replay, if any (fixpay ops reversal replay).
    const since = r.replayedAt ?? r.createdAt;
    const attemptsSince = r.attempts - (r.attemptsAtReplay ?? 0);
    if (now.getTime() - since.getTime() > this.o.expireAfterMs || attemptsSince >= this.o.attemptsMax) {
      await this.deps.queue.markExpired(r.key, `gave up after ${r.attempts} attempts`, now, r.replays ?? 0);
      this.logger.error(
        { ...log, code: new FixpayError('REVERSAL_EXPIRED').code },
        'reversal expired without acknowledgement',
      );
      return;
    }
    const msg = buildReversalRequest(r.message, r.attempts, now);
    let responseCode: string | undefined;
    let error: string | undefined;
    try {
      const response = await this.deps.send(msg, this.o.requestTimeoutMs);
      responseCode = textField(response, 39);
    } catch (e) {
      error = e instanceof FixpayError ? e.codeName : 'INTERNAL';
    }
    const later = this.deps.clock();
    if (responseCode !== undefined && this.o.finalResponseCodes.includes(responseCode)) {
      await this.deps.queue.markDone(r.key, responseCode, later);
      this.logger.info({ ...log, responseCode }, 'reversal acknowledged');
      return;
    }
    const attempts = r.attempts + (error === 'CARD_NETWORK_UNAVAILABLE' ? 0 : 1);
    const delay = Math.min(this.o.retryDelayMsMax, this.o.retryDelayMsMin * 2 ** Math.min(attempts, 20));
    await this.deps.queue.markRetry(
      r.key,
      {
        attempts,
        nextAttemptAt: new Date(later.getTime() + delay),
        ...(responseCode === undefined ? {} : { lastResponseCode: responseCode }),
        ...(error === undefined ? {} : { lastError: error }),
      },
      later,
      r.replays ?? 0,
    );
    this.wake(new Date(later.getTime() + delay));
    this.logger.warn({ ...log, responseCode, error, retryInMs: delay }, 'reversal not acknowledged; will repeat');
  }
}
