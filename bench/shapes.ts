/**
 * The engine floor of candidate purchase shapes (`npm run bench:shapes`), issue #18 and
 * docs/adr/0013-purchase-cost.md: each shape is one purchase's workflows reduced to their calls
 * (no-op activities, a tiny input: `workflows/engine-floor.ts`), run on one Temporal dev server with
 * the platform's dynamic configuration, in one process, at a fixed concurrency. Per shape: runs/s,
 * p50/p99 of one purchase (its workflows one after the other, as the access node waits for them),
 * CPU per purchase split ours (this process: client, worker, sandbox) / Temporal (the dev server) /
 * database (0 on the dev server: its SQLite is inside it), workflow tasks and history bytes per
 * purchase, and the ratio of each to shape (a) measured in the same run.
 *
 * Shapes (letters: L local activity, R remote activity; `+` a second workflow after the first):
 *   a   today: the verification workflow (L), then the interpreter run (LLLLRRLRR)
 *   a+  today's purchase in full since ADR 0012: the run is LLLRLRRLRRRR (post and its record after
 *       the phone's verdict), as bench:e2e profiles it; a is the shorter shape ADR 0013 recorded
 *   a-e a with both workflows started eagerly (what the access handler's `eagerStart` does)
 *   a1  one workflow: verification folded into the run, calls unchanged
 *   b   one workflow, the effect-free checks (verification, admission, binding, MAC) in one local
 *       activity, remote activities kept: L RR L RR
 *   c   one workflow, local activities only (b with every remote call made local)
 *   c-n c with the client on the worker's native connection (the control for d)
 *   d   c started eagerly (requestEagerStart: the first workflow task comes back in the start's
 *       answer to the worker of the same connection)
 *   e   the minimum: one workflow, one local activity
 *   e-e e started eagerly
 *
 * Options: `--concurrency 16` (purchases at once), `--runs 96` (per shape and round), `--rounds 2`
 * (each round runs the shapes in the reverse order of the one before, so a load that drifts during
 * the run weighs on every shape alike), `--only a,d` (a is always measured: it is the yardstick).
 */
import { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { loadavg } from 'node:os';
import { SEARCH_ATTRIBUTE_NAMES } from '../domain/search-attributes';
import { dynamicConfigArgs } from '../infra/temporal/dev-server';
import { quietTemporalRuntime, temporalCliPath, testDataConverter } from '../test/support/temporal';
import { CpuMeter, workflowCost } from './e2e-profile';
import type { CpuSplit } from './e2e-profile';

const TASK_QUEUE = 'bench-shapes';
const CONCURRENCY_DEFAULT = 16;
const RUNS_DEFAULT = 96;
const ROUNDS_DEFAULT = 2;
/** Purchases per shape before measuring (first activations, bundle caches, connections). */
const WARMUP_RUNS = 16;

interface Shape {
  readonly id: string;
  readonly label: string;
  /** One string of calls per workflow, run one after the other. */
  readonly workflows: readonly string[];
  /** The client on the worker's native connection (required for eager start). */
  readonly native: boolean;
  readonly eager: boolean;
}

const SHAPES: readonly Shape[] = [
  {
    id: 'a',
    label: 'today: verify L, then run LLLLRRLRR',
    workflows: ['L', 'LLLLRRLRR'],
    native: false,
    eager: false,
  },
  {
    id: 'a+',
    label: 'today in full (ADR 0012: post and record after the verdict)',
    workflows: ['L', 'LLLRLRRLRRRR'],
    native: false,
    eager: false,
  },
  { id: 'a-e', label: 'a, both started eagerly', workflows: ['L', 'LLLLRRLRR'], native: true, eager: true },
  { id: 'a1', label: 'one workflow LLLLLRRLRR', workflows: ['LLLLLRRLRR'], native: false, eager: false },
  { id: 'b', label: 'one workflow, checks in one L: LRRLRR', workflows: ['LRRLRR'], native: false, eager: false },
  { id: 'c', label: 'one workflow, local only: LLLLLL', workflows: ['LLLLLL'], native: false, eager: false },
  { id: 'c-n', label: 'c, client on the native connection', workflows: ['LLLLLL'], native: true, eager: false },
  { id: 'd', label: 'c + eager start', workflows: ['LLLLLL'], native: true, eager: true },
  { id: 'e', label: 'minimum: one workflow, one L', workflows: ['L'], native: false, eager: false },
  { id: 'e-e', label: 'e + eager start', workflows: ['L'], native: true, eager: true },
];

interface Figures {
  runs: number;
  seconds: number;
  latencies: number[];
  cpu: { selfMs: number; temporalMs: number; databaseMs: number };
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function intOption(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} needs a positive integer`);
  return v;
}

function cpuTotal(c: CpuSplit): number {
  return c.selfMs + c.temporalMs + c.databaseMs;
}

async function main(): Promise<void> {
  quietTemporalRuntime();
  const concurrency = intOption('--concurrency', CONCURRENCY_DEFAULT);
  const runs = intOption('--runs', RUNS_DEFAULT);
  const rounds = intOption('--rounds', ROUNDS_DEFAULT);
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt < 0 ? undefined : (process.argv[onlyAt + 1] ?? '').split(',');
  const shapes = SHAPES.filter((s) => s.id === 'a' || only === undefined || only.includes(s.id));
  const dataConverter = testDataConverter();
  // The dev server every platform process runs with (dynamic configuration of ADR 0008).
  const env = await TestWorkflowEnvironment.createLocal({
    client: { dataConverter },
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      searchAttributes: SEARCH_ATTRIBUTE_NAMES.map((n) => defineSearchAttributeKey(n, SearchAttributeType.KEYWORD)),
      extraArgs: dynamicConfigArgs(),
    },
  });
  const nativeClient = new Client({ connection: env.nativeConnection, dataConverter });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowsPath: require.resolve('../workflows/engine-floor'),
    dataConverter,
    activities: { floorStep: (i: number): Promise<number> => Promise.resolve(i) },
  });
  const workerDone = worker.run();
  const meter = CpuMeter.forEmbedded();
  let seq = 0;
  const purchase = async (shape: Shape): Promise<number> => {
    const client = shape.native ? nativeClient : env.client;
    const started = performance.now();
    for (const steps of shape.workflows) {
      seq += 1;
      await client.workflow.execute('engineFloor', {
        taskQueue: TASK_QUEUE,
        workflowId: `shape:${shape.id}:${seq}`,
        args: [steps],
        ...(shape.eager ? { requestEagerStart: true } : {}),
      });
    }
    return performance.now() - started;
  };
  const drive = async (shape: Shape, total: number): Promise<Figures> => {
    const latencies: number[] = [];
    let left = total;
    const cpu0 = await meter.snapshot();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(concurrency, total) }, async () => {
        while (left > 0) {
          left -= 1;
          latencies.push(await purchase(shape));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = CpuMeter.delta(cpu0, await meter.snapshot(), 1);
    return { runs: total, seconds, latencies, cpu: { ...cpu } };
  };
  try {
    const load0 = loadavg();
    console.log(
      `bench:shapes: engine floor of purchase shapes on the dev server, ${concurrency} purchases at once, ${runs} per shape × ${rounds} rounds; load average ${load0.map((l) => l.toFixed(1)).join(' ')}; compare ratios within this run`,
    );
    for (const s of shapes) await drive(s, WARMUP_RUNS);
    const totals = new Map<string, Figures>(
      shapes.map((s) => [
        s.id,
        { runs: 0, seconds: 0, latencies: [], cpu: { selfMs: 0, temporalMs: 0, databaseMs: 0 } },
      ]),
    );
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? shapes : [...shapes].reverse();
      for (const s of order) {
        const f = await drive(s, runs);
        const t = totals.get(s.id);
        if (t === undefined) continue;
        t.runs += f.runs;
        t.seconds += f.seconds;
        t.latencies.push(...f.latencies);
        t.cpu.selfMs += f.cpu.selfMs;
        t.cpu.temporalMs += f.cpu.temporalMs;
        t.cpu.databaseMs += f.cpu.databaseMs;
      }
    }
    // What one purchase of each shape is in Temporal: workflow tasks and history bytes.
    const costs = new Map<string, { tasks: number; bytes: number; steps: string }>();
    for (const s of shapes) {
      const first = seq;
      await purchase(s);
      let tasks = 0;
      let bytes = 0;
      const steps: string[] = [];
      for (let i = 0; i < s.workflows.length; i++) {
        const c = await workflowCost(env.client, `shape:${s.id}:${first + 1 + i}`);
        tasks += c.workflowTasks;
        bytes += c.historyBytes;
        steps.push(c.steps);
      }
      costs.set(s.id, { tasks, bytes, steps: steps.join('+') });
    }
    const per = (t: Figures): CpuSplit => ({
      selfMs: t.cpu.selfMs / t.runs,
      temporalMs: t.cpu.temporalMs / t.runs,
      databaseMs: t.cpu.databaseMs / t.runs,
    });
    const base = totals.get('a');
    if (base === undefined) throw new Error('shape a was not measured');
    const baseCpu = cpuTotal(per(base));
    const baseRate = base.runs / base.seconds;
    const head = [
      'shape',
      'calls',
      'wf tasks',
      'history B',
      'purchases/s',
      'p50 ms',
      'p99 ms',
      'CPU ms/purchase (ours + Temporal + db)',
      'CPU / a',
      'rate / a',
    ];
    const rows = shapes.map((s) => {
      const t = totals.get(s.id);
      const c = costs.get(s.id);
      if (t === undefined || c === undefined) return [];
      const cpu = per(t);
      const rate = t.runs / t.seconds;
      return [
        `${s.id} ${s.label}`,
        c.steps,
        String(c.tasks),
        String(c.bytes),
        rate.toFixed(1),
        percentile(t.latencies, 50).toFixed(0),
        percentile(t.latencies, 99).toFixed(0),
        `${cpuTotal(cpu).toFixed(1)} (${cpu.selfMs.toFixed(1)} + ${cpu.temporalMs.toFixed(1)} + ${cpu.databaseMs.toFixed(1)})`,
        (cpuTotal(cpu) / baseCpu).toFixed(2),
        (rate / baseRate).toFixed(2),
      ];
    });
    console.log(`| ${head.join(' | ')} |`);
    console.log(`| ${head.map(() => '---').join(' | ')} |`);
    for (const row of rows) console.log(`| ${row.join(' | ')} |`);
    const load1 = loadavg();
    console.log(`load average at the end ${load1.map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    worker.shutdown();
    await workerDone;
    await env.teardown();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
