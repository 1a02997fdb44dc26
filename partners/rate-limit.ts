/**
 * Per-key token buckets: `ratePerSecond` tokens refill continuously up to `burst`. In memory, per
 * API process (ADR 0014): N API processes allow N times the rate. The map is bounded by evicting
 * the least recently used bucket.
 */
export interface RateLimit {
  readonly ratePerSecond: number;
  readonly burst: number;
}

export const PARTNER_RATE_LIMIT: RateLimit = { ratePerSecond: 50, burst: 100 };
/** Buckets kept in memory at most. */
export const RATE_LIMIT_BUCKETS_MAX = 10_000;

export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit = PARTNER_RATE_LIMIT,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): RateDecision {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    this.buckets.delete(key);
    b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.ratePerSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (this.buckets.size > RATE_LIMIT_BUCKETS_MAX) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / this.limit.ratePerSecond)) };
  }
}
