/**
 * Issue #10 defect 5, as the attack: someone who can reach the `services` task queue starts the
 * interpreter by hand with a plan of their own. The worker must run only plans the registry holds
 * (admission local activity) and must not decode payloads our codec did not encrypt.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { defaultCatalogue } from '../services/catalogue/entries';
import { createFakeActivities, FakeWorld } from '../services/catalogue/fake';
import { compileDefinition } from '../services/compiler/compile';
import { planHash } from '../services/plan/hash';
import { createPlanAdmissionActivities } from '../services/registry/admission';
import { MemoryDefinitionStore, Registry } from '../services/registry/registry';
import { startPlan } from '../services/registry/start';
import { INTERPRETER_WORKFLOW } from '../services/runtime/plan';
import type { Plan } from '../services/runtime/plan';
import { startTestServer, testDataConverter } from '../test/support/temporal';

const catalogue = defaultCatalogue();
const HISTORIES = join(__dirname, '__histories__', 'interpreter');

/** A definition that moves money in its first step: what an attacker would want to run. */
function reserveDefinition(id: string): string {
  return `
apiVersion: fixpay/v1
kind: Service
metadata: { id: ${id}, version: 1.0.0 }
spec:
  businessKey: "\${input.ref}"
  input:
    type: object
    required: [ref, amount]
    properties: { ref: { type: string }, amount: { type: integer, money: true } }
  steps:
    - id: reserve
      call: reserveFunds
      with: { accountId: "merchant:M1", amount: "\${input.amount}", currency: "156" }
      timeout: 5s
      retry: { maxAttempts: 2, initialInterval: 100ms }
      compensate:
        call: voidReservation
        with: { accountId: "merchant:M1" }
    - id: post
      call: postReservation
      with: { accountId: "merchant:M1", reservationId: "\${steps.reserve.reservationId}" }
      timeout: 5s
      pivot: true
      retry: { until: success, initialInterval: 100ms, maxInterval: 1s }
  output: { done: true }
`;
}

function compile(text: string): { plan: Plan; planHash: string } {
  const r = compileDefinition(text, 'reserve.yaml', { catalogue });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`).join('\n'));
  return { plan: r.plan, planHash: planHash(r.plan) };
}

describe('plan admission on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const world = new FakeWorld(catalogue);
  const taskQueue = 'services-admission';
  const registry = new Registry(new MemoryDefinitionStore());
  const registered = compile(reserveDefinition('registered'));

  beforeAll(async () => {
    await registry.deploy(registered.plan, registered.planHash, 'test', randomUUID());
    env = await startTestServer();
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('./interpreter'),
      dataConverter: testDataConverter(),
      activities: { ...createFakeActivities(world, catalogue), ...createPlanAdmissionActivities(registry) },
    });
    running = worker.run();
  }, 120_000);
  afterAll(async () => {
    worker.shutdown();
    await running;
    await env.teardown();
  });

  /** Captures a run for the replay gate (interpreter.replay.wf.test.ts), as interpreter.wf.test.ts does. */
  const save = async (workflowId: string, name: string): Promise<void> => {
    if (process.env['UPDATE_HISTORIES'] !== '1') return;
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    writeFileSync(join(HISTORIES, `${name}.json`), historyToJSON(history));
    const indexFile = join(HISTORIES, 'index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8')) as Record<string, string>;
    index[`${name}.json`] = workflowId;
    const sorted = Object.fromEntries(Object.entries(index).sort(([a], [b]) => a.localeCompare(b)));
    writeFileSync(indexFile, `${JSON.stringify(sorted, null, 2)}\n`);
  };
  const reserves = (workflowId: string): number =>
    world.calls.filter((c) => c.activity === 'reserveFunds' && c.key.startsWith(`${workflowId}/`)).length;

  it('runs a registered plan', async () => {
    const handle = await startPlan(env.client, { ...registered, input: { ref: 'ok-1', amount: 100 }, taskQueue });
    expect((await handle.result()).outcome).toBe('COMPLETED');
    expect(reserves(handle.workflowId)).toBe(1);
    await save(handle.workflowId, 'admitted-completed');
  });

  it('refuses a plan that is in no registry: the run fails with FP1040 before any step', async () => {
    const rogue = compile(reserveDefinition('rogue'));
    const handle = await startPlan(env.client, { ...rogue, input: { ref: 'rogue-1', amount: 100_000 }, taskQueue });
    const err: unknown = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('SVC_PLAN_NOT_REGISTERED');
    expect((cause as ApplicationFailure).nonRetryable).toBe(true);
    expect(reserves(handle.workflowId)).toBe(0);
    // The refusal replays deterministically (a query or a worker restart replays it).
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory(
      { workflowsPath: require.resolve('./interpreter'), dataConverter: testDataConverter() },
      history,
      handle.workflowId,
    );
    await save(handle.workflowId, 'not-registered-refused');
  });

  it('refuses a registered version whose plan was edited (the claimed hash is recomputed)', async () => {
    const edited = structuredClone(registered.plan);
    (edited as { taskQueue: string }).taskQueue = `${registered.plan.taskQueue}-x`; // same id and version, other content
    const handle = await startPlan(env.client, {
      plan: edited,
      planHash: registered.planHash,
      input: { ref: 'edited-1', amount: 100_000 },
      taskQueue,
    });
    const err: unknown = await handle.result().catch((e: unknown) => e);
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('SVC_PLAN_NOT_REGISTERED');
    expect(reserves(handle.workflowId)).toBe(0);
  });

  it('does not decode a plain-JSON start made without the codec: the run never gets to a step', async () => {
    // The attacker's client: no codec, plain json/plain payloads.
    const plain = new Client({ connection: env.connection });
    const workflowId = `plain-${randomUUID()}`;
    const handle = await plain.workflow.start(INTERPRETER_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [{ plan: registered.plan, planHash: registered.planHash, input: { ref: workflowId, amount: 100_000 } }],
    });
    // Wait for the worker to try (and refuse) the first workflow task.
    let failedTasks = 0;
    for (let i = 0; i < 100 && failedTasks === 0; i++) {
      const history = await handle.fetchHistory();
      failedTasks = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes != null).length;
      if (failedTasks === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(failedTasks).toBeGreaterThan(0);
    const history = await handle.fetchHistory();
    const steps = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes != null || e.markerRecordedEventAttributes != null,
    );
    expect(steps).toEqual([]);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    expect(reserves(workflowId)).toBe(0);
    await handle.terminate('test over');
  }, 30_000);
});
