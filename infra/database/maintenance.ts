/**
 * Periodic VACUUM for the embedded database. PGlite is PostgreSQL in single-user mode: there is no
 * autovacuum worker (`autovacuum` reads `on`, `autovacuum_count` stays 0), so the dead row versions
 * every UPDATE leaves (a PSAM counter and two ledger balances per purchase, each reversal record's
 * arm and cancel) were never reclaimed and the tables and their indexes only grew. A real
 * PostgreSQL runs its own autovacuum; this runs for the embedded database only (infra/database/index.ts).
 */

/** Time between two VACUUM (ANALYZE) runs of the embedded database, ms. See docs/operations.md. */
export const EMBEDDED_VACUUM_INTERVAL_MS = 5 * 60_000;

/** The statement run: reclaims dead rows for reuse and refreshes the planner's statistics. */
export const VACUUM_SQL = 'VACUUM (ANALYZE)';

export interface VacuumSchedule {
  /** Runs one VACUUM now (waits for one in progress instead of starting a second). */
  runNow(): Promise<void>;
  /** Stops the schedule; waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `vacuum` every `intervalMs` (never two at once; the timer does not keep the process
 * alive). A failed run is reported to `onError` and the schedule goes on.
 */
export function startVacuumSchedule(
  vacuum: () => Promise<unknown>,
  intervalMs: number,
  onError: (e: unknown) => void,
): VacuumSchedule {
  if (!(intervalMs > 0)) throw new RangeError(`vacuum interval must be positive, got ${intervalMs}`);
  let running: Promise<void> | undefined;
  let stopped = false;
  const run = (): Promise<void> => {
    running ??= vacuum().then(
      () => undefined,
      (e: unknown) => onError(e),
    );
    const current = running;
    void current.finally(() => {
      if (running === current) running = undefined;
    });
    return current;
  };
  const timer = setInterval(() => {
    if (!stopped) void run();
  }, intervalMs);
  timer.unref();
  return {
    runNow: () => (stopped ? Promise.resolve() : run()),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
