/**
 * A verification run whose first workflow task is lost with a worker (ADR 0032): a poller takes the
 * task and never answers, as a central worker does that is killed or whose link is cut while the
 * server answers its poll. The run's short task timeout hands the task to a live worker within the
 * run's time, so the access node gets its verdict instead of declining 96.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { verifyThroughCentre } from '../channel-engine/access/handler';
import { startTestServer, testDataConverter } from '../test/support/temporal';
import { VERIFY_TASK_TIMEOUT_MS, VERIFY_TIMEOUT_MS } from '../terminal-protocol/verification';
import type { TerminalRequestVerdict } from '../terminal-protocol/verification';

describe('verification run on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTestServer();
  }, 120_000);
  afterAll(async () => {
    await env.teardown();
  });

  it('a task taken by a worker that never answers goes to a live worker within the run time', async () => {
    expect(VERIFY_TASK_TIMEOUT_MS).toBeLessThan(VERIFY_TIMEOUT_MS / 2);
    const taskQueue = 'test-verify-lost-task';
    const verdict: TerminalRequestVerdict = { verified: false, reason: 'TERMINAL_NOT_BOUND', responseCode: '03' };
    // The live worker is built (its workflows bundled) first, and polls only once the task is lost.
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('./verify-request'),
      activities: { verifyTerminalRequest: () => Promise.resolve(verdict) },
      dataConverter: testDataConverter(),
    });
    // The worker that is gone: it polls, is handed the run's first task, and never answers.
    const lost = env.client.connection.withDeadline(Date.now() + 60_000, () =>
      env.client.workflowService.pollWorkflowTaskQueue({
        namespace: 'default',
        taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        identity: 'worker-host-cut-off',
      }),
    );
    const answer = verifyThroughCentre(env.client, taskQueue)({ request: '00', ani: '0311234567' });
    const taken = await lost;
    expect(taken.taskToken.length).toBeGreaterThan(0);
    const workflowId = taken.workflowExecution?.workflowId ?? '';
    expect(workflowId).toMatch(/^verify:/);

    await expect(worker.runUntil(answer)).resolves.toEqual(verdict);
    // The history shows the lost task timing out and the next one completing the run.
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const types = (history.events ?? []).map((e) => e.eventType);
    expect(types).toContain(7); // WORKFLOW_TASK_TIMED_OUT
    expect(types[types.length - 1]).toBe(2); // WORKFLOW_EXECUTION_COMPLETED
  }, 120_000);
});
