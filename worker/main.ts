/**
 * The central Temporal worker (task queue `services`): the workflows in worker/workflows.ts and
 * every activity, built from their factories with real dependencies. This is a composition root.
 */
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Config } from '../config';
import { createPingActivities } from '../activities/ping';
import type { Logger } from '../infra/logging';
import { temporalTls } from '../infra/temporal/tls';
import { becomeCurrentIfNone } from '../infra/temporal/deployments';
import { RUN_METRICS_WORKFLOW_MODULE } from './metrics';
import type { WorkerMetrics } from './metrics';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import type { Tracing } from '../infra/tracing';

export interface RunningWorker {
  readonly taskQueue: string;
  /**
   * The worker's connection: a client built on it in this process can start runs eagerly on this
   * worker (docs/adr/0013-purchase-cost.md). Closed when the worker has stopped.
   */
  readonly connection: NativeConnection;
  /** Resolves when the worker has stopped (after `shutdown()` or a fatal error). */
  readonly done: Promise<void>;
  shutdown(): Promise<void>;
}

export interface WorkerDeps {
  /** Encrypts every payload (codec/data-converter.ts); the same one every client uses. */
  readonly dataConverter: DataConverter;
  readonly config: Config;
  readonly log: Logger;
  /** Node name, shown in activity answers and logs. */
  readonly nodeName: string;
  /** Every activity (worker/platform-activities.ts); only the ping activities when absent. */
  readonly activities?: object;
  /** Prometheus instrumentation (worker/metrics.ts); none when absent. */
  readonly metrics?: WorkerMetrics;
  /** OpenTelemetry: runs and activities become spans of the trace their start carried. */
  readonly tracing?: Tracing;
}

/** Connects, bundles the workflows and starts polling. Throws TEMPORAL_UNAVAILABLE-style errors from the SDK. */
export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const t = deps.config.temporal;
  const tls = temporalTls(t);
  const connection = await NativeConnection.connect({
    address: `${t.host}:${t.port}`,
    ...(tls === undefined ? {} : { tls }),
  });
  const worker = await Worker.create({
    connection,
    namespace: t.namespace,
    taskQueue: t.taskQueue,
    workflowsPath: require.resolve('./workflows'),
    dataConverter: deps.dataConverter,
    activities: deps.activities ?? { ...createPingActivities({ responder: deps.nodeName }) },
    // Worker Versioning (ADR 0022): with a build id, each run stays on the build it started on;
    // new runs go to the deployment's current version, set by the operator (`fixpay ops deployment`).
    ...(t.workerBuildId === undefined
      ? {}
      : {
          workerDeploymentOptions: {
            version: { deploymentName: t.workerDeployment, buildId: t.workerBuildId },
            useWorkerVersioning: true,
            defaultVersioningBehavior: 'PINNED' as const,
          },
        }),
    ...(deps.metrics === undefined
      ? {}
      : {
          interceptors: {
            activity: [deps.metrics.activityInterceptor],
            workflowModules: [RUN_METRICS_WORKFLOW_MODULE],
          },
          sinks: deps.metrics.sinks,
        }),
    ...(deps.tracing === undefined
      ? {}
      : {
          plugins: [
            new OpenTelemetryPlugin({ resource: deps.tracing.resource, spanProcessor: deps.tracing.spanProcessor }),
          ],
        }),
  });
  const done = worker.run().finally(() => connection.close());
  if (t.workerBuildId !== undefined) {
    try {
      const made = await becomeCurrentIfNone(connection, {
        namespace: t.namespace,
        deployment: t.workerDeployment,
        buildId: t.workerBuildId,
        identity: `fixpay-worker/${deps.nodeName}`,
        waitMs: t.startTimeoutMs,
      });
      if (made) deps.log.info({ buildId: t.workerBuildId }, 'first build of the deployment: made current');
    } catch (e) {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => undefined);
      throw e;
    }
  }
  deps.log.info(
    {
      taskQueue: t.taskQueue,
      ...(t.workerBuildId === undefined ? {} : { deployment: t.workerDeployment, buildId: t.workerBuildId }),
    },
    'worker polling',
  );
  return {
    taskQueue: t.taskQueue,
    connection,
    done,
    shutdown: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
