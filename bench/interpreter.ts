/**
 * `npm run bench:interpreter`: the interpreter workflow running definitions/payment.yaml against a
 * hand-written workflow with the same seven activity calls, on the same real Temporal dev server and
 * worker, in one run. Prints per-figure lines and the overhead ratio (goal: ≤ 1.05).
 *
 * Options: `-- --runs=20` (sequential runs per variant per round), `--rounds=3`, `--concurrency=50`
 * (twice this many runs are started at once per round).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { defaultCatalogue } from '../services/catalogue/entries';
import { createFakeActivities, FakeWorld } from '../services/catalogue/fake';
import { compileDefinition } from '../services/compiler/compile';
import { planHash } from '../services/plan/hash';
import { createPlanAdmissionActivities } from '../services/registry/admission';
import { MemoryDefinitionStore, Registry } from '../services/registry/registry';
import { startPlan, startSearchAttributes } from '../services/registry/start';
import { startTestServer, testDataConverter } from '../test/support/temporal';

const arg = (name: string, dflt: number): number =>
  Number(
    new RegExp(`^--${name}=(\\d+)$`).exec(process.argv.find((a) => a.startsWith(`--${name}=`)) ?? '')?.[1] ?? dflt,
  );
const RUNS = arg('runs', 20);
const ROUNDS = arg('rounds', 3);
const CONCURRENCY = arg('concurrency', 50);
const TASK_QUEUE = 'bench-interpreter';

async function main(): Promise<void> {
  const catalogue = defaultCatalogue();
  const text = readFileSync(join(__dirname, '..', 'definitions', 'payment.yaml'), 'utf8');
  const compiled = compileDefinition(text, 'payment.yaml', { catalogue });
  if (!compiled.ok) throw new Error('definitions/payment.yaml does not compile');
  const plan = compiled.plan;
  const hash = planHash(plan);

  const registry = new Registry(new MemoryDefinitionStore());
  await registry.deploy(plan, hash, 'bench', 'bench-1');

  const env = await startTestServer();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowsPath: require.resolve('../workflows/interpreter-bench'),
    dataConverter: testDataConverter(),
    activities: {
      ...createFakeActivities(new FakeWorld(catalogue), catalogue),
      // Plan admission, as in production: the plan is a stored version.
      ...createPlanAdmissionActivities(registry),
    },
  });
  let seq = 0;
  const input = (): Record<string, unknown> => ({
    terminalId: 'T0000001',
    ani: '0215550100',
    stan: String(++seq).padStart(6, '0'),
    localDate: '1126',
    pan: '6225880000000002',
    pinBlock: '0412AC89ABCDEF67',
    amount: 12500,
    currency: '156',
    macData: '0200',
    mac: 'A1B2C3D4',
  });
  const runInterpreter = async (): Promise<void> => {
    const i = input();
    // The real starter: workflow id from the business key, search attributes at start.
    const handle = await startPlan(env.client, { plan, planHash: hash, input: i, taskQueue: TASK_QUEUE });
    const r = await handle.result();
    if (r.outcome !== 'COMPLETED') throw new Error('interpreter run did not complete');
  };
  const runHand = async (): Promise<void> => {
    const i = input();
    const r: unknown = await env.client.workflow.execute('handWrittenPayment', {
      taskQueue: TASK_QUEUE,
      workflowId: `hand:${String(i['terminalId'])}:${String(i['stan'])}:${String(i['localDate'])}`,
      args: [i],
      // The same attributes the interpreter's starter sets, so both pay the same visibility cost.
      typedSearchAttributes: startSearchAttributes(plan, hash, i),
    });
    if ((r as { approved?: unknown }).approved !== true) throw new Error('hand-written run did not complete');
  };
  const sequential = async (fn: () => Promise<void>): Promise<number> => {
    const t0 = performance.now();
    for (let k = 0; k < RUNS; k++) await fn();
    return (performance.now() - t0) / RUNS;
  };
  const concurrent = async (fn: () => Promise<void>): Promise<number> => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY * 2 }, () => fn()));
    return ((CONCURRENCY * 2) / (performance.now() - t0)) * 1000;
  };

  await worker.runUntil(async () => {
    for (let k = 0; k < 5; k++) {
      await runHand();
      await runInterpreter();
    }
    const hand: number[] = [];
    const interp: number[] = [];
    const handTput: number[] = [];
    const interpTput: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate the order each round so drift on the shared 2-core machine hits both alike.
      if (r % 2 === 0) {
        hand.push(await sequential(runHand));
        interp.push(await sequential(runInterpreter));
        handTput.push(await concurrent(runHand));
        interpTput.push(await concurrent(runInterpreter));
      } else {
        interp.push(await sequential(runInterpreter));
        hand.push(await sequential(runHand));
        interpTput.push(await concurrent(runInterpreter));
        handTput.push(await concurrent(runHand));
      }
    }
    const median = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.floor(s.length / 2)] ?? NaN;
    };
    const h = median(hand);
    const i = median(interp);
    const ht = median(handTput);
    const it = median(interpTput);
    console.log(`hand-written payment workflow (7 activities), sequential: ${h.toFixed(1)} ms/run (baseline)`);
    console.log(`interpreter running payment.yaml (7 activities), sequential: ${i.toFixed(1)} ms/run`);
    console.log(`hand-written, ${CONCURRENCY * 2} concurrent: ${ht.toFixed(1)} runs/s (baseline)`);
    console.log(`interpreter, ${CONCURRENCY * 2} concurrent: ${it.toFixed(1)} runs/s`);
    console.log(`overhead ratio (latency, interpreter / hand-written): ${(i / h).toFixed(3)} (goal ≤ 1.05)`);
    console.log(`overhead ratio (throughput, hand-written / interpreter): ${(ht / it).toFixed(3)} (goal ≤ 1.05)`);
    console.log(
      `rounds=${ROUNDS} runs=${RUNS} plan=${hash.slice(0, 19)} history≈${plan.estimate.historyEvents} events`,
    );
  });
  await env.teardown();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
