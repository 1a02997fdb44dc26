/**
 * Pure arithmetic of `bench:e2e`'s paced-lines section: the concurrent-calls samples, the
 * purchase counts and the CPU figures, and the derived capacity in lines per core.
 */

/** Max and mean of the live-call counts sampled at a fixed interval (0 and 0 for no samples). */
export function heldCalls(samples: readonly number[]): { max: number; mean: number } {
  if (samples.length === 0) return { max: 0, mean: 0 };
  let max = 0;
  let sum = 0;
  for (const s of samples) {
    if (s > max) max = s;
    sum += s;
  }
  return { max, mean: sum / samples.length };
}

/** Purchase outcomes reported by the phones in the measured window. */
export interface PurchaseCounts {
  completed: number;
  approved: number;
  /** Not approved: declined, failed, dropped, or the phone's script threw. */
  failed: number;
}

export function countOutcome(c: PurchaseCounts, outcome: string): void {
  c.completed += 1;
  if (outcome === 'approved') c.approved += 1;
  else c.failed += 1;
}

/** Nearest-rank percentile (NaN for no values). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

/** CPU ms over the measured window, by where it was spent. */
export interface WindowCpu {
  /** This process, every thread (process.cpuUsage()). */
  readonly processMs: number;
  /** The phones' worker thread alone (its process.threadCpuUsage()). */
  readonly phonesMs: number;
  /** Child processes: the Temporal dev server, and the embedded database when it runs as one. */
  readonly childrenMs: number;
}

export interface PacedCapacity {
  /** The platform's CPU: this process without the phones' thread, plus its child processes. */
  readonly platformCpuMs: number;
  /** Line-seconds held: mean concurrent calls × window seconds. */
  readonly lineSeconds: number;
  readonly cpuPerPurchaseMs: number;
  readonly cpuPerLineSecondMs: number;
  /**
   * Lines one core keeps up with the platform behind them: a core has 1000 ms of CPU per second,
   * and each held line costs `cpuPerLineSecondMs` of it per second.
   */
  readonly linesPerCore: number;
}

export function pacedCapacity(cpu: WindowCpu, meanCalls: number, seconds: number, purchases: number): PacedCapacity {
  const platformCpuMs = Math.max(0, cpu.processMs - cpu.phonesMs) + cpu.childrenMs;
  const lineSeconds = meanCalls * seconds;
  const cpuPerLineSecondMs = lineSeconds > 0 ? platformCpuMs / lineSeconds : Number.NaN;
  return {
    platformCpuMs,
    lineSeconds,
    cpuPerPurchaseMs: purchases > 0 ? platformCpuMs / purchases : Number.NaN,
    cpuPerLineSecondMs,
    linesPerCore: cpuPerLineSecondMs > 0 ? 1000 / cpuPerLineSecondMs : Number.NaN,
  };
}

/** `a / b` with two decimals, or `n/a` when either is not a positive finite number. */
export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : 'n/a';
}

/**
 * Lines per core if every line bought at `purchasesPerLineSecond` (the pace the phones keep when
 * the host answers at once, from the baseline) and each purchase cost `cpuPerPurchaseMs`: when
 * the host is saturated, its phones wait, and the measured CPU per line-second understates what a
 * line that keeps buying would cost.
 */
export function atPace(cpuPerPurchaseMs: number, purchasesPerLineSecond: number): number {
  const perLineSecond = cpuPerPurchaseMs * purchasesPerLineSecond;
  return Number.isFinite(perLineSecond) && perLineSecond > 0 ? 1000 / perLineSecond : Number.NaN;
}
