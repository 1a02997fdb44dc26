/**
 * Figures of `bench:services`: per service, the transactions run, how many were approved, the
 * throughput and the host latency percentiles, and each service's p50 against purchase's p50
 * measured in the same run. Pure code (no I/O) so it can be unit tested.
 */

export interface ServiceSample {
  readonly service: string;
  /** Transactions attempted. */
  readonly count: number;
  readonly approved: number;
  /** Wall time of the whole batch (one line, one after the other), seconds. */
  readonly seconds: number;
  /** Host latency of each transaction, ms (NaN entries are ignored). */
  readonly latenciesMs: readonly number[];
}

export interface ServiceRow {
  readonly service: string;
  readonly count: number;
  readonly approved: number;
  /** Transactions per second over the batch's wall time. */
  readonly throughput: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** This service's p50 / the reference service's p50 (NaN when either is missing). */
  readonly ratioP50: number;
}

/** Nearest-rank percentile (`p` in 0–100) of the finite values; NaN when there is none. */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0–100`);
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

/** One row per sample, the p50 ratio against `reference`'s p50 (e.g. purchase). */
export function serviceRows(samples: readonly ServiceSample[], reference: string): ServiceRow[] {
  const ref = samples.find((s) => s.service === reference);
  const refP50 = ref === undefined ? Number.NaN : percentile(ref.latenciesMs, 50);
  return samples.map((s) => {
    const p50 = percentile(s.latenciesMs, 50);
    return {
      service: s.service,
      count: s.count,
      approved: s.approved,
      throughput: s.seconds > 0 ? s.count / s.seconds : Number.NaN,
      p50,
      p95: percentile(s.latenciesMs, 95),
      p99: percentile(s.latenciesMs, 99),
      ratioP50: refP50 > 0 ? p50 / refP50 : Number.NaN,
    };
  });
}

const num = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** The rows as a fixed-width text table. */
export function formatTable(rows: readonly ServiceRow[], reference: string): string {
  const head = ['service', 'count', 'approved', 'tx/s', 'p50 ms', 'p95 ms', 'p99 ms', `p50 / ${reference}`];
  const body = rows.map((r) => [
    r.service,
    String(r.count),
    String(r.approved),
    num(r.throughput, 2),
    num(r.p50, 1),
    num(r.p95, 1),
    num(r.p99, 1),
    num(r.ratioP50, 2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const fmt = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}
