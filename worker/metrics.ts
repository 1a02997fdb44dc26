/**
 * The central worker's Prometheus metrics: runs ended by service and outcome (reported by the
 * workflow interceptor workflows/run-metrics.ts through a sink), the duration of every activity by
 * type and result (the card network and HSM activities are the gateway and HSM latencies), and the
 * card network reversal queue's depth and oldest age, read from the database at scrape time.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { PrismaClient } from '../infra/database';
import type { RunMetricsSinks } from '../workflows/run-metrics';

/** Activity duration buckets, seconds (local HSM calls take ~1 ms; the network link allows seconds). */
export const ACTIVITY_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The workflow interceptor module the worker loads with its bundle. */
export const RUN_METRICS_WORKFLOW_MODULE = require.resolve('../workflows/run-metrics');

export interface WorkerMetrics {
  readonly activityInterceptor: ActivityInterceptorsFactory;
  readonly sinks: InjectedSinks<RunMetricsSinks>;
}

/** Reversal statuses still owed to the network (docs/adr/0006-card-network-reversals.md). */
const OPEN_REVERSAL_STATUSES = ['armed', 'pending'] as const;

export function registerWorkerMetrics(registry: Registry, prisma: PrismaClient | undefined): WorkerMetrics {
  const runs = new Counter({
    name: 'fixpay_runs_total',
    help: 'Runs ended, by workflow type, service id, outcome and how the run ended',
    labelNames: ['workflow', 'service', 'outcome', 'status'],
    registers: [registry],
  });
  const activities = new Histogram({
    name: 'fixpay_activity_duration_seconds',
    help: 'Activity attempts by activity type and result (ok, error)',
    labelNames: ['activity', 'result'],
    buckets: ACTIVITY_DURATION_BUCKETS,
    registers: [registry],
  });
  if (prisma !== undefined) {
    let rows: Promise<{ status: string; n: number; oldest: Date | null }[]> | undefined;
    // Both gauges come from one query per scrape.
    const read = (): Promise<{ status: string; n: number; oldest: Date | null }[]> =>
      (rows ??= prisma.$queryRaw<{ status: string; n: number; oldest: Date | null }[]>`
          SELECT status::text AS status, count(*)::int AS n, min(created_at) AS oldest
          FROM card_network_reversal WHERE status::text IN ('armed', 'pending') GROUP BY status`.finally(() => {
        setImmediate(() => {
          rows = undefined;
        });
      }));
    new Gauge({
      name: 'fixpay_reversal_queue_depth',
      help: 'Card network reversals not yet acknowledged, by status (armed: original in flight; pending: to be sent)',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        const found = await read();
        for (const status of OPEN_REVERSAL_STATUSES)
          this.set({ status }, found.find((r) => r.status === status)?.n ?? 0);
      },
    });
    new Gauge({
      name: 'fixpay_reversal_queue_oldest_age_seconds',
      help: 'Age of the oldest reversal not yet acknowledged (0 when the queue is empty)',
      registers: [registry],
      async collect() {
        const found = await read();
        const oldest = found
          .map((r) => r.oldest?.getTime())
          .filter((t): t is number => t !== undefined)
          .reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
        this.set(Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0);
      },
    });
  }
  return {
    activityInterceptor: (ctx) => ({
      inbound: {
        async execute(input, next) {
          const stop = activities.startTimer({ activity: ctx.info.activityType });
          try {
            const result = await next(input);
            stop({ result: 'ok' });
            return result;
          } catch (e) {
            stop({ result: 'error' });
            throw e;
          }
        },
      },
    }),
    sinks: {
      runMetrics: {
        ended: {
          fn(_info, workflow, service, outcome, status) {
            runs.inc({ workflow, service, outcome, status });
          },
          callDuringReplay: false,
        },
      },
    },
  };
}
