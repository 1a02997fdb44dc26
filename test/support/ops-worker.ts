/**
 * The part of the central worker that carries operator actions (ADR 0033), for the ops CLI tests:
 * a real Temporal dev server and a worker on its task queue running `operatorActionWorkflow` with
 * the real activity (audit rows in the test's database, the node's control routes with the given
 * operator token). `env` gives the CLI what it needs to start runs there.
 */
import { randomBytes } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { createOperatorActionActivities } from '../../activities/operator-actions';
import { operatorActionPerformer } from '../../cli/ops/actions';
import type { PrismaClient } from '../../generated/prisma/client';
import { startTestServer, TEST_CODEC_KEYS, testDataConverter } from './temporal';

export interface OpsWorker {
  readonly env: TestWorkflowEnvironment;
  readonly taskQueue: string;
  /** Environment variables for `fixpay ops …` to reach this server and encrypt its run input. */
  readonly cliEnv: Record<string, string>;
  stop(): Promise<void>;
}

export async function startOpsWorker(prisma: PrismaClient, operatorToken: string): Promise<OpsWorker> {
  const env = await startTestServer();
  const taskQueue = `ops-${randomBytes(4).toString('hex')}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows/operator-action') }),
    dataConverter: testDataConverter(),
    activities: createOperatorActionActivities({ perform: operatorActionPerformer({ prisma, operatorToken }) }),
  });
  const running = worker.run();
  const address = env.connection.options.address;
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), address.slice(address.lastIndexOf(':') + 1)];
  return {
    env,
    taskQueue,
    cliEnv: {
      FIXPAY_TEMPORAL_EMBEDDED: 'false',
      FIXPAY_TEMPORAL_HOST: host,
      FIXPAY_TEMPORAL_PORT: port,
      FIXPAY_TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      FIXPAY_TEMPORAL_TASK_QUEUE: taskQueue,
      FIXPAY_CODEC_KEYS: TEST_CODEC_KEYS,
    },
    stop: async () => {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}
