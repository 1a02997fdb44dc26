/**
 * The central worker's Prometheus metrics: runs ended by service and outcome (reported by the
 * workflow interceptor workflows/run-metrics.ts through a sink), the duration of every activity by
 * type and result (the card network and HSM activities are the gateway and HSM latencies), every
 * HSM operation by command and result (hsm/metrics.ts, through `meterHsm`), and two queues read
 * from the database at scrape time, one query each per scrape: the card network reversal queue and
 * the partner webhook backlog (this role runs the webhook deliveries).
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { PrismaClient } from '../infra/database';
import type { RunMetricsSinks } from '../workflows/run-metrics';
import { registerHsmMetrics } from '../hsm/metrics';
import type { HsmPort } from '../hsm/port';

/** Activity duration buckets, seconds (local HSM calls take ~1 ms; the network link allows seconds). */
export const ACTIVITY_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The workflow interceptor module the worker loads with its bundle. */
export const RUN_METRICS_WORKFLOW_MODULE = require.resolve('../workflows/run-metrics');

export interface WorkerMetrics {
  readonly activityInterceptor: ActivityInterceptorsFactory;
  readonly sinks: InjectedSinks<RunMetricsSinks>;
  /** The HSM with every operation counted and timed (hsm/metrics.ts). */
  meterHsm(hsm: HsmPort): HsmPort;
}

/** Reversal statuses still owed to the network (docs/adr/0006-card-network-reversals.md). */
const OPEN_REVERSAL_STATUSES = ['armed', 'pending'] as const;

/** Webhook deliveries not yet delivered (`failed` ones were given up: not a backlog). */
export const WEBHOOK_BACKLOG_STATUSES = ['pending', 'retrying'] as const;

interface QueueRow {
  readonly status: string;
  readonly n: number;
  readonly oldest: Date | null;
}

/**
 * One read shared by the gauges of one scrape: the first collector starts it, the others of the
 * same scrape await the same promise, and the next scrape reads again.
 */
function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= read().finally(() => {
      setImmediate(() => {
        pending = undefined;
      });
    }));
}

/** Seconds since the oldest row's creation; 0 when there is none. */
function oldestAgeSeconds(rows: readonly QueueRow[]): number {
  const oldest = rows
    .map((r) => r.oldest?.getTime())
    .filter((t): t is number => t !== undefined)
    .reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
  return Number.isFinite(oldest) ? Math.max(0, (Date.now() - oldest) / 1000) : 0;
}

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
    const reversals = oncePerScrape(
      () => prisma.$queryRaw<QueueRow[]>`
          SELECT status::text AS status, count(*)::int AS n, min(created_at) AS oldest
          FROM card_network_reversal WHERE status::text IN ('armed', 'pending') GROUP BY status`,
    );
    new Gauge({
      name: 'fixpay_reversal_queue_depth',
      help: 'Card network reversals not yet acknowledged, by status (armed: original in flight; pending: to be sent)',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        const found = await reversals();
        for (const status of OPEN_REVERSAL_STATUSES)
          this.set({ status }, found.find((r) => r.status === status)?.n ?? 0);
      },
    });
    new Gauge({
      name: 'fixpay_reversal_queue_oldest_age_seconds',
      help: 'Age of the oldest reversal not yet acknowledged (0 when the queue is empty)',
      registers: [registry],
      async collect() {
        this.set(oldestAgeSeconds(await reversals()));
      },
    });
    // Deliveries still owed to partners: `pending` before any attempt, `retrying` once an attempt
    // failed and the delivery run tries again on its schedule. One partial-index read per scrape.
    const webhooks = oncePerScrape(
      () => prisma.$queryRaw<QueueRow[]>`
          SELECT CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END AS status,
                 count(*)::int AS n, min(created_at) AS oldest
          FROM webhook_delivery WHERE status = 'pending' GROUP BY 1`,
    );
    new Gauge({
      name: 'fixpay_webhook_backlog',
      help: 'Partner webhook deliveries not yet delivered, by status (pending: not tried yet; retrying: an attempt failed, more to come)',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        const found = await webhooks();
        for (const status of WEBHOOK_BACKLOG_STATUSES)
          this.set({ status }, found.find((r) => r.status === status)?.n ?? 0);
      },
    });
    new Gauge({
      name: 'fixpay_webhook_backlog_oldest_age_seconds',
      help: 'Age of the oldest webhook delivery not yet delivered (0 when there is none)',
      registers: [registry],
      async collect() {
        this.set(oldestAgeSeconds(await webhooks()));
      },
    });
  }
  const hsm = registerHsmMetrics(registry);
  return {
    meterHsm: (port) => hsm.meter(port),
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
