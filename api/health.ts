/**
 * `/health` behind a short cache and a single flight: however many callers ask at once, each
 * dependency is checked at most once per HEALTH_CACHE_MS, so a monitoring burst cannot load the
 * dependencies it watches (issue #10: 50 clients each opening a Temporal connection pushed terminal
 * latency p99 from 0.6 s to 4.5 s).
 */
export interface HealthCheck {
  readonly name: string;
  /** Resolves true when the dependency answers; a rejection counts as down. */
  check(): Promise<boolean>;
}

export interface HealthReport {
  readonly ok: boolean;
  readonly checks: Readonly<Record<string, boolean>>;
}

/** How long a report is served from memory. */
export const HEALTH_CACHE_MS = 1_000;
/** A check that has not answered by then counts as down. */
export const HEALTH_CHECK_TIMEOUT_MS = 2_000;

export interface HealthOptions {
  readonly cacheMs?: number;
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

function withTimeout(check: HealthCheck, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
    check.check().then(
      (up) => {
        clearTimeout(timer);
        resolve(up);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}

export class HealthMonitor {
  private inFlight: Promise<HealthReport> | undefined;
  private last: { readonly at: number; readonly report: HealthReport } | undefined;
  private readonly cacheMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(
    private readonly checks: readonly HealthCheck[],
    options: HealthOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? HEALTH_CACHE_MS;
    this.timeoutMs = options.timeoutMs ?? HEALTH_CHECK_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
  }

  /** The cached report, the one being made, or a fresh one. Never rejects. */
  report(): Promise<HealthReport> {
    if (this.last !== undefined && this.now() - this.last.at < this.cacheMs) return Promise.resolve(this.last.report);
    this.inFlight ??= this.run().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async run(): Promise<HealthReport> {
    const results = await Promise.all(
      this.checks.map(async (c) => [c.name, await withTimeout(c, this.timeoutMs)] as const),
    );
    const report = { ok: results.every(([, up]) => up), checks: Object.fromEntries(results) };
    this.last = { at: this.now(), report };
    return report;
  }
}
