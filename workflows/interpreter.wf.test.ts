import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { defaultCatalogue } from '../services/catalogue/entries';
import { createFakeActivities, FakeWorld } from '../services/catalogue/fake';
import { compileDefinition } from '../services/compiler/compile';
import { planHash } from '../services/plan/hash';
import { createPlanAdmissionActivities } from '../services/registry/admission';
import { MemoryDefinitionStore, Registry } from '../services/registry/registry';
import { startPlan, startService } from '../services/registry/start';
import type { Plan } from '../services/runtime/plan';
import { startTestServer, testDataConverter } from '../test/support/temporal';
import type { Progress } from '../services/runtime/interpreter';

const HISTORIES = join(__dirname, '__histories__', 'interpreter');
const catalogue = defaultCatalogue();

/** A reserve, a wait for a release signal, then the post as pivot. v2 adds an event. */
function holdDefinition(version: string, extra = ''): string {
  return `
apiVersion: fixpay/v1
kind: Service
metadata: { id: hold, version: ${version} }
spec:
  businessKey: "\${input.terminalId}:\${input.stan}"
  terminalId: "\${input.terminalId}"
  input:
    type: object
    required: [terminalId, stan, amount]
    properties:
      terminalId: { type: string }
      stan: { type: string }
      amount: { type: integer, money: true }
  steps:
    - id: reserve
      call: reserveFunds
      with: { accountId: "merchant:M1", amount: "\${input.amount}", currency: "156" }
      timeout: 5s
      retry: { maxAttempts: 3, initialInterval: 100ms }
      compensate: { call: voidReservation, with: { accountId: "merchant:M1" } }
    - id: release
      listen: { signal: release, timeout: 60s, into: release, schema: { type: object, required: [fail], properties: { fail: { type: boolean } } } }
    - id: decide
      switch:
        - when: "vars.release.fail"
          do:
            - id: injected
              fail: { code: INJECTED, message: "failure injected after the reserve" }
      default: []
${extra}
    - id: post
      call: postReservation
      with: { accountId: "merchant:M1", reservationId: "\${steps.reserve.reservationId}" }
      timeout: 5s
      pivot: true
      retry: { until: success, initialInterval: 100ms }
  output: { version: "${version}" }
`;
}

/** What the worker admits (plan admission, docs/security.md): every plan these tests compile. */
const admitted = new MemoryDefinitionStore();

/** Compiles and stores the version, as a deploy would, so the worker admits it. */
function register(plan: Plan, hash: string): { plan: Plan; planHash: string } {
  void admitted.insert({
    id: `${plan.serviceId}@${plan.version}`,
    serviceId: plan.serviceId,
    version: plan.version,
    planHash: hash,
    plan,
    status: 'active',
    author: 'test',
    createdAt: new Date(0),
  });
  return { plan, planHash: hash };
}

function compile(text: string): { plan: Plan; planHash: string } {
  const r = compileDefinition(text, 'hold.yaml', { catalogue });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`).join('\n'));
  return register(r.plan, planHash(r.plan));
}

const QUOTE = `
apiVersion: fixpay/v1
kind: Service
metadata: { id: quote, version: 1.0.0 }
spec:
  businessKey: "\${input.ref}"
  input: { type: object, required: [ref, amount], properties: { ref: { type: string }, amount: { type: integer } } }
  steps:
    - id: price
      set: { total: "\${input.amount * 2}" }
  output: { total: "\${vars.total}" }
`;

const COMBO = `
apiVersion: fixpay/v1
kind: Service
metadata: { id: combo, version: 1.0.0 }
spec:
  businessKey: "\${input.terminalId}:\${input.stan}"
  input:
    type: object
    required: [terminalId, stan, amount]
    properties: { terminalId: { type: string }, stan: { type: string }, amount: { type: integer, money: true } }
  steps:
    - id: quote
      subflow: quote
      with: { ref: "\${input.stan}", amount: "\${input.amount}" }
      timeout: 30s
    - id: reserve
      call: reserveFunds
      with: { accountId: "merchant:M1", amount: "\${steps.quote.total}", currency: "156" }
      timeout: 5s
      retry: { maxAttempts: 3, initialInterval: 100ms }
      compensate: { call: voidReservation, with: { accountId: "merchant:M1" } }
    - id: confirm
      listen: { update: confirm, timeout: 60s, into: answer, schema: { type: object, required: [ok], properties: { ok: { type: boolean } } } }
    - id: post
      call: postReservation
      with: { accountId: "merchant:M1", reservationId: "\${steps.reserve.reservationId}" }
      timeout: 5s
      pivot: true
      retry: { until: success, initialInterval: 100ms }
  output: { total: "\${steps.quote.total}", ok: "\${vars.answer.ok}" }
`;

function compileCombo(): { plan: Plan; planHash: string } {
  const quote = compile(QUOTE);
  const r = compileDefinition(COMBO, 'combo.yaml', {
    catalogue,
    resolveSubflow: (id) => (id === 'quote' ? quote : undefined),
  });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`).join('\n'));
  return register(r.plan, planHash(r.plan));
}

const keyword = (name: string) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);

describe('interpreter workflow on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const world = new FakeWorld(catalogue);
  const taskQueue = 'services-test';

  beforeAll(async () => {
    env = await startTestServer();
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('./interpreter'),
      dataConverter: testDataConverter(),
      activities: {
        ...createFakeActivities(world, catalogue),
        // A fresh registry per check: these tests re-register one version with other content.
        ...createPlanAdmissionActivities({ admit: (plan, hash) => new Registry(admitted).admit(plan, hash) }),
      },
    });
    running = worker.run();
  }, 120_000);
  afterAll(async () => {
    worker.shutdown();
    await running;
    await env.teardown();
  });

  /** Captures a real run for the replay gate; index.json records its workflow id (child ids derive from it). */
  const save = async (workflowId: string, name: string): Promise<void> => {
    if (process.env['UPDATE_HISTORIES'] !== '1') return;
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    mkdirSync(HISTORIES, { recursive: true });
    writeFileSync(join(HISTORIES, `${name}.json`), historyToJSON(history));
    const indexFile = join(HISTORIES, 'index.json');
    const index = existsSync(indexFile) ? (JSON.parse(readFileSync(indexFile, 'utf8')) as Record<string, string>) : {};
    index[`${name}.json`] = workflowId;
    const sorted = Object.fromEntries(Object.entries(index).sort(([a], [b]) => a.localeCompare(b)));
    writeFileSync(indexFile, `${JSON.stringify(sorted, null, 2)}\n`);
  };
  const calls = (activity: string, workflowId: string): number =>
    world.calls.filter((c) => c.activity === activity && c.key.startsWith(`${workflowId}/`)).length;

  it('runs a reserve with its compensation registered, then posts', async () => {
    const v1 = compile(holdDefinition('1.0.0'));
    const input = { terminalId: 'T1', stan: '000001', amount: 700 };
    const handle = await startPlan(env.client, { ...v1, input, taskQueue });
    expect(handle.workflowId).toBe('hold:T1:000001');
    await handle.signal('deliver', { name: 'release', value: { fail: false } });
    const result = await handle.result();
    expect(result.outcome).toBe('COMPLETED');
    expect(result.output).toEqual({ version: '1.0.0' });
    expect(calls('voidReservation', handle.workflowId)).toBe(0);
    expect(world.violations('COMPLETED')).toEqual([]);
    const d = await handle.describe();
    expect(d.typedSearchAttributes.get(keyword('ServiceId'))).toBe('hold');
    expect(d.typedSearchAttributes.get(keyword('PlanHash'))).toBe(v1.planHash);
    expect(d.typedSearchAttributes.get(keyword('TerminalId'))).toBe('T1');
    expect(d.typedSearchAttributes.get(keyword('Outcome'))).toBe('COMPLETED');
    const progress = await handle.query<Progress>('progress');
    expect(progress.steps['post#0']).toBe('done');
    await save(handle.workflowId, 'hold-completed');
  }, 30_000);

  it('runs the compensation exactly once when a failure is injected after the reserve', async () => {
    const v1 = compile(holdDefinition('1.0.0'));
    const input = { terminalId: 'T1', stan: '000002', amount: 900 };
    const handle = await startPlan(env.client, { ...v1, input, taskQueue });
    await handle.signal('deliver', { name: 'release', value: { fail: true } });
    const result = await handle.result();
    expect(result.outcome).toBe('COMPENSATED');
    expect(result.code).toBe('INJECTED');
    expect(calls('voidReservation', handle.workflowId)).toBe(1);
    expect(calls('postReservation', handle.workflowId)).toBe(0);
    const reservation = world.effects.get(`${handle.workflowId}/reserve#0`);
    expect(reservation?.undone).toBe(1);
    await save(handle.workflowId, 'hold-compensated');
  }, 30_000);

  it('attaches a retransmitted start to the same run, and refuses a rerun of a finished money run', async () => {
    const v1 = compile(holdDefinition('1.0.0'));
    const input = { terminalId: 'T1', stan: '000003', amount: 100 };
    const first = await startPlan(env.client, { ...v1, input, taskQueue });
    const again = await startPlan(env.client, { ...v1, input, taskQueue });
    expect(again.firstExecutionRunId).toBe(first.firstExecutionRunId);
    await first.signal('deliver', { name: 'release', value: { fail: false } });
    await first.result();
    expect(calls('reserveFunds', first.workflowId)).toBe(1);
    await expect(startPlan(env.client, { ...v1, input, taskQueue })).rejects.toThrow();
  }, 30_000);

  it('keeps a running v1 on v1 while new starts go to a v2 deployed meanwhile, without a restart', async () => {
    const registry = new Registry(new MemoryDefinitionStore());
    const v1 = compile(holdDefinition('1.0.0'));
    await registry.deploy(v1.plan, v1.planHash, 'test', 'id-1');
    await registry.promote('hold', '1.0.0');
    const old = await startService(
      env.client,
      registry,
      'hold',
      { terminalId: 'T2', stan: '000010', amount: 50 },
      taskQueue,
    );

    const v2 = compile(
      holdDefinition('2.0.0', '    - id: audit\n      emit: { event: hold.released, data: { stan: "${input.stan}" } }'),
    );
    expect(v2.planHash).not.toBe(v1.planHash);
    await registry.deploy(v2.plan, v2.planHash, 'test', 'id-2');
    await registry.promote('hold', '2.0.0');
    const fresh = await startService(
      env.client,
      registry,
      'hold',
      { terminalId: 'T2', stan: '000011', amount: 60 },
      taskQueue,
    );

    await fresh.signal('deliver', { name: 'release', value: { fail: false } });
    await old.signal('deliver', { name: 'release', value: { fail: false } });
    expect((await fresh.result()).version).toBe('2.0.0');
    const oldResult = await old.result();
    expect(oldResult.version).toBe('1.0.0');
    expect(oldResult.planHash).toBe(v1.planHash);
    expect(calls('emitEvent', old.workflowId)).toBe(0);
    expect(calls('emitEvent', fresh.workflowId)).toBe(1);
    await save(fresh.workflowId, 'hold-v2-completed');
  }, 30_000);
  it('runs a subflow as a child, takes input through a validated update, answers with progress', async () => {
    const combo = compileCombo();
    const handle = await startPlan(env.client, {
      ...combo,
      input: { terminalId: 'T3', stan: '000020', amount: 21 },
      taskQueue,
    });
    await expect(
      handle.executeUpdate<Progress, [{ name: string; value: unknown }]>('deliver', {
        args: [{ name: 'confirm', value: { ok: 'yes' } }],
      }),
    ).rejects.toThrow();
    const progress = await handle.executeUpdate<Progress, [{ name: string; value: unknown }]>('deliver', {
      args: [{ name: 'confirm', value: { ok: true } }],
    });
    // The update may arrive before the listen step starts: the value waits in the mailbox.
    expect(progress).toMatchObject({ serviceId: 'combo', outcome: 'RUNNING' });
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'COMPLETED', output: { total: 42, ok: true } });
    const reserve = world.calls.find((c) => c.activity === 'reserveFunds' && c.key.startsWith(handle.workflowId));
    expect(reserve).toBeDefined();
    await save(handle.workflowId, 'combo-completed');
  }, 30_000);

  it('runs local calls as markers in the workflow task, money calls as activities', async () => {
    const checked = compile(`
apiVersion: fixpay/v1
kind: Service
metadata: { id: checked, version: 1.0.0 }
spec:
  businessKey: "\${input.terminalId}:\${input.stan}"
  terminalId: "\${input.terminalId}"
  input:
    type: object
    required: [terminalId, stan, amount]
    properties: { terminalId: { type: string }, stan: { type: string }, amount: { type: integer, money: true } }
  steps:
    - id: binding
      call: checkBinding
      with: { terminalId: "\${input.terminalId}", ani: "862150000001" }
      timeout: 3s
      retry: { maxAttempts: 3, initialInterval: 100ms }
    - id: mac
      call: verifyMac
      with: { terminalId: "\${input.terminalId}", macData: "00", mac: "00" }
      timeout: 2s
      retry: { maxAttempts: 3, initialInterval: 100ms }
    - id: reserve
      call: reserveFunds
      with: { accountId: "\${steps.binding.accountId}", amount: "\${input.amount}", currency: "156" }
      timeout: 5s
      retry: { maxAttempts: 3, initialInterval: 100ms }
      compensate: { call: voidReservation, with: { accountId: "\${steps.binding.accountId}" } }
    - id: post
      call: postReservation
      with: { accountId: "\${steps.binding.accountId}", reservationId: "\${steps.reserve.reservationId}" }
      timeout: 5s
      pivot: true
      retry: { until: success, initialInterval: 100ms }
  output: { bound: "\${steps.binding.bound}", valid: "\${steps.mac.valid}" }
`);
    const handle = await startPlan(env.client, {
      ...checked,
      input: { terminalId: 'T4', stan: '000030', amount: 300 },
      taskQueue,
    });
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'COMPLETED', output: { bound: true, valid: true } });
    expect(calls('checkBinding', handle.workflowId)).toBe(1);
    expect(calls('verifyMac', handle.workflowId)).toBe(1);
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    expect(scheduled).toEqual(['reserveFunds', 'postReservation']);
    // Plan admission, then the two local checks.
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(3);
    await save(handle.workflowId, 'local-checks-completed');

    // A plan compiled before `local` existed (the field absent) keeps running every call as an activity.
    const legacyPlan = JSON.parse(
      JSON.stringify(checked.plan, (k, v: unknown) => (k === 'local' ? undefined : v)),
    ) as Plan;
    const legacy = await startPlan(env.client, {
      // Registered as it was stored then (it replaces the current plan of that version in the store).
      ...register(legacyPlan, planHash(legacyPlan)),
      input: { terminalId: 'T4', stan: '000031', amount: 300 },
      taskQueue,
    });
    expect((await legacy.result()).outcome).toBe('COMPLETED');
    const legacyEvents = (await legacy.fetchHistory()).events ?? [];
    expect(legacyEvents.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [])).toEqual([
      'checkBinding',
      'verifyMac',
      'reserveFunds',
      'postReservation',
    ]);
    await save(legacy.workflowId, 'pre-local-checks-completed');
  }, 30_000);

  it('runs the compensations when a running transaction is cancelled', async () => {
    const combo = compileCombo();
    const handle = await startPlan(env.client, {
      ...combo,
      input: { terminalId: 'T3', stan: '000021', amount: 5 },
      taskQueue,
    });
    for (let i = 0; i < 100; i++) {
      const p = await handle.query<Progress>('progress');
      if (p.steps['confirm#0'] === 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect(calls('voidReservation', handle.workflowId)).toBe(1);
    expect(world.effects.get(`${handle.workflowId}/reserve#0`)?.undone).toBe(1);
    await save(handle.workflowId, 'combo-cancelled');
  }, 30_000);
});
