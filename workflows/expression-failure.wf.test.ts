/**
 * Issue #15: an expression that fails at run time (here an integer overflow in a step's argument,
 * after a reservation) must end the run and undo the reservation, not fail the workflow task forever.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
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
const FIXTURE = join(__dirname, '..', 'services', 'runtime', '__fixtures__', 'overflow-after-reserve.yaml');

describe('run-time expression error on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const world = new FakeWorld(catalogue);
  const taskQueue = 'services-expression';
  const registry = new Registry(new MemoryDefinitionStore());
  const compiled = compileDefinition(readFileSync(FIXTURE, 'utf8'), FIXTURE, { catalogue });
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.diagnostics));
  const plan = compiled.plan;
  const hash = planHash(plan);

  beforeAll(async () => {
    await registry.deploy(plan, hash, 'test', randomUUID());
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

  it('ends the run COMPENSATED with SVC_EXPRESSION_FAILED and voids the reservation', async () => {
    const handle = await startPlan(env.client, {
      plan,
      planHash: hash,
      input: { ref: `ov-${randomUUID()}`, amount: 500, n: 2 ** 40 },
      taskQueue,
    });
    const result = await handle.result();
    expect(result.outcome).toBe('COMPENSATED');
    expect(result.code).toBe('SVC_EXPRESSION_FAILED');
    const mine = world.calls.filter((c) => c.key.startsWith(`${handle.workflowId}/`)).map((c) => c.activity);
    expect(mine).toEqual(['reserveFunds', 'voidReservation']);
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    // No workflow task failed on the way: the error took the step-failure path.
    const history = await handle.fetchHistory();
    expect((history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes != null)).toEqual([]);
  }, 60_000);
});
