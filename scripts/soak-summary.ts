/**
 * The soak's arithmetic: least-squares slopes after warm-up and the flat/not-flat verdict with its
 * stated threshold. Pure, so `soak-summary.test.ts` can check it.
 */

/** Share of the run treated as warm-up (caches filling, JIT, first checkpoints) and left out of slopes. */
export const WARM_UP_SHARE = 0.2;
/**
 * A memory series is flat when its slope after warm-up is at most this share of its post-warm-up
 * mean per hour… (2 %/h of 300 MB is 6 MB/h: a process that would need 50 hours to grow by its size)
 */
export const FLAT_SHARE_PER_HOUR = 0.02;
/** …or at most this many MB per hour (small series: a few MB of sawtooth is not a leak). */
export const FLAT_MB_PER_HOUR_MIN = 5;
/** A count series (descriptors, handles, threads) is flat when it grows at most this much per hour. */
export const FLAT_COUNT_PER_HOUR = 6;

/** Least-squares slope of y over x (per unit of x); 0 with fewer than two points. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export type SeriesKind = 'mb' | 'count';

export interface SeriesSummary {
  readonly first: number;
  readonly last: number;
  readonly max: number;
  /** Mean after warm-up. */
  readonly mean: number;
  /** Least-squares slope per hour after warm-up. */
  readonly slopePerHour: number;
  /** The largest slope per hour still called flat for this series. */
  readonly limitPerHour: number;
  readonly flat: boolean;
}

/** The growth a series may show per hour and still be flat (see the constants above). */
export function flatLimitPerHour(kind: SeriesKind, mean: number): number {
  return kind === 'count' ? FLAT_COUNT_PER_HOUR : Math.max(FLAT_MB_PER_HOUR_MIN, FLAT_SHARE_PER_HOUR * mean);
}

/**
 * Summarises `points` ([seconds since start, value], in time order) of a run that lasted
 * `totalS` seconds; undefined when there are no points.
 */
export function summarise(
  points: readonly (readonly [number, number])[],
  totalS: number,
  kind: SeriesKind,
): SeriesSummary | undefined {
  const first = points[0];
  const last = points[points.length - 1];
  if (first === undefined || last === undefined) return undefined;
  const warm = points.filter(([t]) => t >= totalS * WARM_UP_SHARE);
  const mean = warm.length === 0 ? last[1] : warm.reduce((a, [, v]) => a + v, 0) / warm.length;
  const slopePerHour = slope(warm.map(([t, v]) => [t / 3600, v] as const));
  const limitPerHour = flatLimitPerHour(kind, mean);
  return {
    first: first[1],
    last: last[1],
    max: Math.max(...points.map(([, v]) => v)),
    mean,
    slopePerHour,
    limitPerHour,
    flat: slopePerHour <= limitPerHour,
  };
}
