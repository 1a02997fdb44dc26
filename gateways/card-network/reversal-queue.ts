/**
 * The store-and-forward queue behind "reversals that always land". A reversal is written (armed)
 * BEFORE the original request goes out; a response disarms it; a timeout, a malformed response or
 * a crash activates it (the forwarder also activates armed entries whose deadline passed, which is
 * how a restarted gateway reverses what a dead one left in flight). Active reversals are sent as
 * 0400, repeated as 0401, until the network acknowledges them.
 *
 * Records hold no clear PAN: only the PAN-free fields a 0400 needs (the network spec identifies the
 * original by field 90) and the masked PAN for operators. See docs/adr/0006-card-network-reversals.md.
 */

/** armed → (cancelled | pending); pending → (done | expired). */
export type ReversalStatus = 'armed' | 'pending' | 'done' | 'expired' | 'cancelled';

/** The fields of the 0400 that reverses an original request; no card data. */
export interface ReversalMessage {
  readonly originalMti: string;
  readonly processingCode: string;
  /** Field 4, n12, minor units. */
  readonly amount: string;
  readonly currency: string;
  /** Field 11 of the original. */
  readonly stan: string;
  /** Field 7 of the original, MMDDhhmmss. */
  readonly transmissionDateTime: string;
  readonly terminalId: string;
  readonly merchantId: string;
  readonly acquirerId: string;
  readonly forwardingId: string;
  /** Field 39 of the reversal: 98 = no response, 96 = malformed response, 17 = cancelled by customer. */
  readonly reasonCode: string;
}

export interface ReversalRecord {
  /** The idempotency key of the original request. */
  readonly key: string;
  readonly status: ReversalStatus;
  readonly message: ReversalMessage;
  readonly maskedPan?: string;
  /** Reversal messages sent so far (the first is 0400, later ones 0401). */
  readonly attempts: number;
  /** An armed record becomes pending when this passes without a disarm. */
  readonly deadlineAt: Date;
  readonly nextAttemptAt: Date;
  readonly leaseUntil?: Date;
  readonly lastResponseCode?: string;
  readonly lastError?: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Operator replays so far; the attempt and expiry limits count from the last one. */
  readonly replays?: number;
  readonly replayedAt?: Date;
  /** `attempts` when it was last replayed. */
  readonly attemptsAtReplay?: number;
}

/** What a replay found: re-queued, or why not. */
export type ReplayOutcome = 'replayed' | 'not-found' | 'done' | 'armed' | 'cancelled';

export interface NewReversal {
  readonly key: string;
  readonly message: ReversalMessage;
  readonly maskedPan?: string;
  readonly deadlineAt: Date;
}

/** Durable store-and-forward queue of reversals. Every method is idempotent. */
export interface ReversalQueue {
  /** Records an armed reversal unless one exists for `key`. */
  arm(reversal: NewReversal, now: Date): Promise<void>;
  /** armed → cancelled. Returns false when the record was not armed (already activated or absent). */
  disarm(key: string, now: Date): Promise<boolean>;
  /** armed → pending, due now, with `reasonCode`. No-op in other states. */
  activate(key: string, reasonCode: string, now: Date): Promise<void>;
  /** Explicit reversal: inserts as pending, or activates an armed one. No-op when pending or done. */
  enqueue(reversal: NewReversal, now: Date): Promise<void>;
  /** Every armed record whose deadline passed becomes pending. Returns how many. */
  promoteOverdue(now: Date): Promise<number>;
  /** Leases up to `limit` pending records that are due and not leased; they are not handed out again until the lease ends. */
  claimDue(now: Date, limit: number, leaseMs: number): Promise<ReversalRecord[]>;
  markDone(key: string, responseCode: string, now: Date): Promise<void>;
  /**
   * markRetry and markExpired take the `replays` the caller read (0 when absent): when an operator
   * replayed the record since, the stale update is dropped and only the caller's lease is released,
   * so the replay (due now, fresh allowances) survives.
   */
  markRetry(key: string, update: RetryUpdate, now: Date, replaysSeen: number): Promise<void>;
  markExpired(key: string, reason: string, now: Date, replaysSeen: number): Promise<void>;
  get(key: string): Promise<ReversalRecord | undefined>;
  list(status?: ReversalStatus): Promise<ReversalRecord[]>;
  /**
   * An operator's replay of a stuck reversal: expired or pending → pending, due now, with fresh
   * attempt and expiry allowances counted from now (a lease being used is left alone). A done,
   * armed or cancelled record is not touched. Replaying twice only re-queues: the issuer applies a
   * reversal once (0401 repeats after the first 0400).
   */
  replay(key: string, now: Date): Promise<ReplayOutcome>;
}

export interface RetryUpdate {
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly lastResponseCode?: string;
  readonly lastError?: string;
}

/** In-memory queue for unit tests and single-process demos; not durable. */
export class InMemoryReversalQueue implements ReversalQueue {
  private readonly records = new Map<string, ReversalRecord>();

  arm(r: NewReversal, now: Date): Promise<void> {
    if (!this.records.has(r.key)) {
      this.records.set(r.key, {
        ...r,
        status: 'armed',
        attempts: 0,
        nextAttemptAt: r.deadlineAt,
        createdAt: now,
        updatedAt: now,
      });
    }
    return Promise.resolve();
  }

  disarm(key: string, now: Date): Promise<boolean> {
    const r = this.records.get(key);
    if (r?.status !== 'armed') return Promise.resolve(false);
    this.records.set(key, { ...r, status: 'cancelled', updatedAt: now });
    return Promise.resolve(true);
  }

  activate(key: string, reasonCode: string, now: Date): Promise<void> {
    const r = this.records.get(key);
    if (r?.status === 'armed') {
      this.records.set(key, {
        ...r,
        status: 'pending',
        message: { ...r.message, reasonCode },
        nextAttemptAt: now,
        updatedAt: now,
      });
    }
    return Promise.resolve();
  }

  async enqueue(r: NewReversal, now: Date): Promise<void> {
    const existing = this.records.get(r.key);
    if (existing === undefined || existing.status === 'cancelled') {
      this.records.set(r.key, {
        ...r,
        status: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        createdAt: now,
        updatedAt: now,
      });
    } else if (existing.status === 'armed') {
      await this.activate(r.key, r.message.reasonCode, now);
    }
  }

  promoteOverdue(now: Date): Promise<number> {
    let n = 0;
    for (const r of this.records.values()) {
      if (r.status === 'armed' && r.deadlineAt.getTime() <= now.getTime()) {
        this.records.set(r.key, { ...r, status: 'pending', nextAttemptAt: now, updatedAt: now });
        n++;
      }
    }
    return Promise.resolve(n);
  }

  claimDue(now: Date, limit: number, leaseMs: number): Promise<ReversalRecord[]> {
    const out: ReversalRecord[] = [];
    const due = [...this.records.values()]
      .filter(
        (r) => r.status === 'pending' && r.nextAttemptAt <= now && (r.leaseUntil === undefined || r.leaseUntil <= now),
      )
      .sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime());
    for (const r of due.slice(0, limit)) {
      const leased = { ...r, leaseUntil: new Date(now.getTime() + leaseMs) };
      this.records.set(r.key, leased);
      out.push(leased);
    }
    return Promise.resolve(out);
  }

  markDone(key: string, responseCode: string, now: Date): Promise<void> {
    this.update(key, (r) =>
      r.status === 'pending' ? { ...r, status: 'done', lastResponseCode: responseCode, updatedAt: now } : r,
    );
    return Promise.resolve();
  }

  markRetry(key: string, u: RetryUpdate, now: Date, replaysSeen: number): Promise<void> {
    this.update(key, (r) => {
      if (r.status !== 'pending') return r;
      const { leaseUntil: _drop, ...rest } = r;
      if ((r.replays ?? 0) !== replaysSeen) return { ...rest, updatedAt: now };
      return { ...rest, ...u, updatedAt: now };
    });
    return Promise.resolve();
  }

  markExpired(key: string, reason: string, now: Date, replaysSeen: number): Promise<void> {
    this.update(key, (r) => {
      if (r.status !== 'pending') return r;
      const { leaseUntil: _drop, ...rest } = r;
      if ((r.replays ?? 0) !== replaysSeen) return { ...rest, updatedAt: now };
      return { ...rest, status: 'expired', lastError: reason, updatedAt: now };
    });
    return Promise.resolve();
  }

  get(key: string): Promise<ReversalRecord | undefined> {
    return Promise.resolve(this.records.get(key));
  }

  list(status?: ReversalStatus): Promise<ReversalRecord[]> {
    return Promise.resolve([...this.records.values()].filter((r) => status === undefined || r.status === status));
  }

  replay(key: string, now: Date): Promise<ReplayOutcome> {
    const r = this.records.get(key);
    if (r === undefined) return Promise.resolve('not-found');
    if (r.status !== 'pending' && r.status !== 'expired') return Promise.resolve(r.status);
    const leased = r.leaseUntil !== undefined && r.leaseUntil > now;
    const { leaseUntil: _l, ...rest } = r;
    this.records.set(key, {
      ...(leased ? r : rest),
      status: 'pending',
      nextAttemptAt: now,
      replays: (r.replays ?? 0) + 1,
      replayedAt: now,
      attemptsAtReplay: r.attempts,
      updatedAt: now,
    });
    return Promise.resolve('replayed');
  }

  private update(key: string, f: (r: ReversalRecord) => ReversalRecord): void {
    const r = this.records.get(key);
    if (r !== undefined) this.records.set(key, f(r));
  }
}
