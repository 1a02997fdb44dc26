/**
 * The plan by reference (ADR 0013) on a real Temporal dev server: a run started with a stored plan
 * keeps only its reference in the history, runs, and replays deterministically from the registry;
 * a run started inline (an older client, or one without a registry) still runs on the same worker.
 */
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { defaultCatalogue } from '../services/catalogue/entries';
import { createFakeActivities, FakeWorld } from '../services/catalogue/fake';
import { compileDefinition } from '../services/compiler/compile';
import { planHash } from '../services/plan/hash';
import { createPlanAdmissionActivities } from '../services/registry/admission';
import { MemoryDefinitionStore, Registry } from '../services/registry/registry';
import { startPlan } from '../services/registry/start';
import { startTestServer, testDataConverter } from '../test/support/temporal';

const catalogue = defaultCatalogue();

const DEFINITION = `
apiVersion: fixpay/v1
kind: Service
metadata: { id: by-reference, version: 1.0.0 }
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

describe('plans by reference on a real Temporal dev server', () => {
  // A run, a history fetch and a replay (which bundles the workflow code) take seconds on a busy
  // machine: far more than jest's default 5 s.
  jest.setTimeout(120_000);
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = 'services-plan-reference';
  const registry = new Registry(new MemoryDefinitionStore());
  const compiled = compileDefinition(DEFINITION, 'by-reference.yaml', { catalogue });
  if (!compiled.ok) throw new Error('the test definition does not compile');
  const plan = compiled.plan;
  const hash = planHash(plan);
  const planBytes = JSON.stringify(plan).length;

  beforeAll(async () => {
    await registry.deploy(plan, hash, 'test', randomUUID());
    env = await startTestServer(registry);
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('./interpreter'),
      dataConverter: testDataConverter(registry),
      activities: {
        ...createFakeActivities(new FakeWorld(catalogue), catalogue),
        ...createPlanAdmissionActivities(registry),
      },
    });
    running = worker.run();
  }, 120_000);
  afterAll(async () => {
    worker.shutdown();
    await running;
    await env.teardown();
  });

  const startedEventBytes = async (workflowId: string): Promise<number> => {
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const started = history.events?.[0];
    if (started === undefined) throw new Error('empty history');
    return temporal.api.history.v1.HistoryEvent.encode(started).finish().length;
  };

  it('keeps only the reference in the history, completes, and replays from the registry', async () => {
    const handle = await startPlan(env.client, { plan, planHash: hash, input: { ref: 'r-1', amount: 100 }, taskQueue });
    const result = await handle.result();
    expect(result.outcome).toBe('COMPLETED');
    expect(result.planHash).toBe(hash);
    expect(await startedEventBytes(handle.workflowId)).toBeLessThan(planBytes);
    const history = await handle.fetchHistory();
    await expect(
      Worker.runReplayHistory(
        { workflowsPath: require.resolve('./interpreter'), dataConverter: testDataConverter(registry) },
        history,
        handle.workflowId,
      ),
    ).resolves.toBeUndefined();
  });

  it('runs a plan started inline by a client without a registry on the same worker', async () => {
    const inlineClient = new Client({ connection: env.connection, dataConverter: testDataConverter() });
    const handle = await startPlan(inlineClient, {
      plan,
      planHash: hash,
      input: { ref: 'r-2', amount: 100 },
      taskQueue,
    });
    expect((await handle.result()).outcome).toBe('COMPLETED');
    expect(await startedEventBytes(handle.workflowId)).toBeGreaterThan(planBytes);
  });
});
