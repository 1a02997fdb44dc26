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
 * Update-per-purchase shapes (`workflows/terminal-floor.ts`): one long-lived workflow per simulated
 * terminal (the concurrency is the number of terminals), each purchase one Update whose handler
 * makes the calls and returns, the workflow continuing as new every `--per-run` purchases:
 *   u-e     the handler makes one local activity (compare e, e-e)
 *   u-c     the handler makes six local activities (compare c, d)
 *   u-ack   u-c, then the phone's ACK as a second Update (its result says the run recorded it),
 *           then the post and its record as two remote activities (ADR 0012's hand-over)
 *   u-ack-s u-ack with the ACK as a signal (its answer says only that the server stored it)
 *   u-a+    the handler makes today's full sequence, verification folded in: L + LLLRLRRLRRRR
 *   u-a+ack today's calls with the remote steps kept remote, the hand-over replaced by the Update's
 *           answer and an ACK Update: LLLLRLRRLR (to the stored answer), the ACK, then RR
 * A u-purchase's latency runs from its Update to the end of its last call (for u-ack and u-ack-s,
 * the post's record; the answer's own latency is printed below the table). The terminals'
 * workflows are started (and running) before a shape's measured window and ended after it, so the
 * window holds purchases only; each terminal keeps its place in its run from one window to the
 * next, spread over the terminals at the first, so continue-as-new falls inside the windows at its
 * real rate. History bytes and workflow tasks of a u-shape are per purchase over one whole run
 * (`--per-run` purchases, first workflow task and continue-as-new included).
 *
 * Options: `--concurrency 16` (purchases at once), `--runs 96` (per shape and round), `--rounds 2`
 * (each round runs the shapes in the reverse order of the one before, so a load that drifts during
 * the run weighs on every shape alike), `--only a,d` (a is always measured: it is the yardstick),
 * `--per-run 100` (purchases per run of a terminal's workflow before it continues as new).
 */
import { Client, WorkflowContinuedAsNewError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { loadavg } from 'node:os';
import { SEARCH_ATTRIBUTE_NAMES } from '../domain/search-attributes';
import { dynamicConfigArgs } from '../infra/temporal/dev-server';
import { quietTemporalRuntime, temporalCliPath, testDataConverter } from '../test/support/temporal';
import {
  floorAck,
  floorAckSignal,
  floorEnd,
  floorPurchase,
  floorReady,
  terminalFloor,
} from '../workflows/terminal-floor';
import type { TerminalFloorInput } from '../workflows/terminal-floor';
import { CpuMeter, workflowCost } from './e2e-profile';
import type { CpuSplit } from './e2e-profile';

const TASK_QUEUE = 'bench-shapes';
const CONCURRENCY_DEFAULT = 16;
const RUNS_DEFAULT = 96;
const ROUNDS_DEFAULT = 2;
/** Purchases per shape before measuring (first activations, bundle caches, connections). */
const WARMUP_RUNS = 16;
/** Purchases per run of a terminal's workflow before it continues as new (u-shapes). */
const PER_RUN_DEFAULT = 100;

/** A purchase as one Update to its terminal's long-lived workflow. */
interface UpdateShape {
  /** The calls the Update's handler makes before it returns the answer. */
  readonly steps: string;
  /** How the phone's ACK reaches the run, if the purchase waits for it. */
  readonly ack?: 'update' | 'signal';
  /** Calls after the ACK (the post and its record). */
  readonly post: string;
}

interface Shape {
  readonly id: string;
  readonly label: string;
  /** One string of calls per workflow, run one after the other. */
  readonly workflows: readonly string[];
  /** The client on the worker's native connection (required for eager start). */
  readonly native: boolean;
  readonly eager: boolean;
  /** Set for the Update-per-purchase shapes: `workflows` is then empty. */
  readonly update?: UpdateShape;
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
  {
    id: 'u-e',
    label: 'a workflow per terminal, a purchase = an Update running one L',
    workflows: [],
    native: false,
    eager: false,
    update: { steps: 'L', post: '' },
  },
  {
    id: 'u-c',
    label: 'u-e with six L in the Update',
    workflows: [],
    native: false,
    eager: false,
    update: { steps: 'LLLLLL', post: '' },
  },
  {
    id: 'u-ack',
    label: 'u-c, then the ACK as an Update, then RR (post, record)',
    workflows: [],
    native: false,
    eager: false,
    update: { steps: 'LLLLLL', ack: 'update', post: 'RR' },
  },
  {
    id: 'u-ack-s',
    label: 'u-ack with the ACK as a signal',
    workflows: [],
    native: false,
    eager: false,
    update: { steps: 'LLLLLL', ack: 'signal', post: 'RR' },
  },
  {
    id: 'u-a+',
    label: "a+'s calls in one Update: L + LLLRLRRLRRRR",
    workflows: [],
    native: false,
    eager: false,
    update: { steps: 'LLLLRLRRLRRRR', post: '' },
  },
  {
    id: 'u-a+ack',
    label: "a+'s calls to the stored answer in one Update, the ACK as an Update, then RR",
    workflows: [],
    native: false,
    eager: false,
    update: { steps: 'LLLLRLRRLR', ack: 'update', post: 'RR' },
  },
];

/** One simulated terminal of a u-shape: its workflow and where it stands in the current run. */
interface Terminal {
  readonly workflowId: string;
  runId: string;
  inRun: number;
}

/** The calls of one purchase of a shape, as the table shows them. */
function callsOf(shape: Shape): string {
  const u = shape.update;
  if (u === undefined) return shape.workflows.join('+');
  const ack = u.ack === undefined ? '' : ` ack(${u.ack}) ${u.post}`;
  return `U(${u.steps})${ack}`;
}

interface Figures {
  runs: number;
  seconds: number;
  latencies: number[];
  /** u-ack shapes: from the purchase's Update to its answer (before the ACK and the post). */
  answers: number[];
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
  const perRun = intOption('--per-run', PER_RUN_DEFAULT);
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
  // The post of a u-ack purchase is done when its run reports it through the sink.
  const postWaiters = new Map<number, () => void>();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowsPath: require.resolve('../workflows/terminal-floor'),
    dataConverter,
    activities: { floorStep: (i: number): Promise<number> => Promise.resolve(i) },
    sinks: {
      floorBench: {
        posted: {
          fn: (_info, seq: number): void => {
            postWaiters.get(seq)?.();
            postWaiters.delete(seq);
          },
          callDuringReplay: false,
        },
      },
    },
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
  // The terminals' workflows still running (terminated at the end should anything fail).
  const open = new Set<string>();
  const startTerminal = async (shape: Shape, u: UpdateShape, inRun: number, ready = true): Promise<Terminal> => {
    seq += 1;
    const workflowId = `shape:${shape.id}:terminal:${seq}`;
    const input: TerminalFloorInput = { perRun, inRun, ack: u.ack !== undefined, post: u.post };
    const handle = await env.client.workflow.start(terminalFloor, {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [input],
    });
    open.add(workflowId);
    // Its first workflow task is done before the window opens (not for a run whose history is
    // measured: the Update would be in it).
    if (ready) await handle.executeUpdate(floorReady);
    return { workflowId, runId: handle.firstExecutionRunId, inRun };
  };
  const endTerminal = async (t: Terminal): Promise<number> => {
    const handle = env.client.workflow.getHandle<typeof terminalFloor>(t.workflowId);
    await handle.signal(floorEnd);
    const inRun = await handle.result();
    open.delete(t.workflowId);
    return inRun;
  };
  /** One purchase on a terminal's workflow: its latency and its answer's. */
  const purchaseOn = async (u: UpdateShape, t: Terminal): Promise<{ total: number; answer: number }> => {
    const handle = env.client.workflow.getHandle(t.workflowId);
    const started = performance.now();
    await handle.executeUpdate(floorPurchase, { args: [u.steps] });
    const answer = performance.now() - started;
    if (u.ack !== undefined) {
      seq += 1;
      const s = seq;
      const posted = new Promise<void>((resolve) => postWaiters.set(s, resolve));
      if (u.ack === 'update') await handle.executeUpdate(floorAck, { args: [s] });
      else await handle.signal(floorAckSignal, s);
      await posted;
    }
    const total = performance.now() - started;
    t.inRun += 1;
    if (t.inRun >= perRun) {
      // The run continues as new: the next purchase goes to the next run.
      const run = env.client.workflow.getHandle(t.workflowId, t.runId, { followRuns: false });
      try {
        await run.result();
        throw new Error(`${t.workflowId} ended instead of continuing as new`);
      } catch (e) {
        if (!(e instanceof WorkflowContinuedAsNewError)) throw e;
        t.runId = e.newExecutionRunId;
      }
      t.inRun = 0;
    }
    return { total, answer };
  };
  /** Waits until a terminal's run has no workflow task pending or running. */
  const idle = async (t: Terminal): Promise<void> => {
    const handle = env.client.workflow.getHandle(t.workflowId);
    for (;;) {
      const d = await handle.describe();
      if (d.raw.pendingWorkflowTask == null) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  // Where each terminal of a u-shape stands in its run, carried from one window to the next.
  const places = new Map<string, number[]>();
  const drive = async (shape: Shape, total: number): Promise<Figures> => {
    const latencies: number[] = [];
    const answers: number[] = [];
    let left = total;
    const lanes = Math.min(concurrency, total);
    const u = shape.update;
    let terminals: Terminal[] = [];
    let place: number[] = [];
    if (u !== undefined) {
      place =
        places.get(shape.id) ?? Array.from({ length: concurrency }, (_, i) => Math.floor((i * perRun) / concurrency));
      places.set(shape.id, place);
      terminals = await Promise.all(Array.from({ length: lanes }, (_, i) => startTerminal(shape, u, place[i] ?? 0)));
    }
    const cpu0 = await meter.snapshot();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: lanes }, async (_, i) => {
        const t = terminals[i];
        while (left > 0) {
          left -= 1;
          if (u === undefined || t === undefined) {
            latencies.push(await purchase(shape));
          } else {
            const r = await purchaseOn(u, t);
            latencies.push(r.total);
            answers.push(r.answer);
          }
        }
      }),
    );
    // A post is reported from the activation that completes it, before that workflow task's
    // completion reaches the server: wait for the terminals to be idle before closing the window.
    if (u?.ack !== undefined) await Promise.all(terminals.map(idle));
    const seconds = (performance.now() - started) / 1000;
    const cpu = CpuMeter.delta(cpu0, await meter.snapshot(), 1);
    const ended = await Promise.all(terminals.map(endTerminal));
    ended.forEach((inRun, i) => (place[i] = inRun));
    return { runs: total, seconds, latencies, answers, cpu: { ...cpu } };
  };
  /** A u-shape's cost per purchase over one whole run of `perRun` purchases. */
  const runCost = async (shape: Shape, u: UpdateShape) => {
    const t = await startTerminal(shape, u, 0, false);
    const firstRun = t.runId;
    for (let i = 0; i < perRun; i++) await purchaseOn(u, t);
    const c = await workflowCost(env.client, t.workflowId, firstRun);
    await endTerminal(t);
    return c;
  };
  try {
    const load0 = loadavg();
    console.log(
      `bench:shapes: engine floor of purchase shapes on the dev server, ${concurrency} purchases at once, ${runs} per shape × ${rounds} rounds, u-shapes continue as new every ${perRun}; load average ${load0.map((l) => l.toFixed(1)).join(' ')}; compare ratios within this run`,
    );
    for (const s of shapes) await drive(s, WARMUP_RUNS);
    const totals = new Map<string, Figures>(
      shapes.map((s) => [
        s.id,
        { runs: 0, seconds: 0, latencies: [], answers: [], cpu: { selfMs: 0, temporalMs: 0, databaseMs: 0 } },
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
        t.answers.push(...f.answers);
        t.cpu.selfMs += f.cpu.selfMs;
        t.cpu.temporalMs += f.cpu.temporalMs;
        t.cpu.databaseMs += f.cpu.databaseMs;
      }
    }
    // What one purchase of each shape is in Temporal: workflow tasks and history bytes.
    const costs = new Map<string, { tasks: number; bytes: number; steps: string }>();
    const breakdowns: string[] = [];
    for (const s of shapes) {
      if (s.update !== undefined) {
        // Per purchase over one whole run: its history / the purchases in it.
        const c = await runCost(s, s.update);
        costs.set(s.id, { tasks: c.workflowTasks / perRun, bytes: c.historyBytes / perRun, steps: callsOf(s) });
        const parts = [...c.bytesByEvent]
          .sort((x, y) => y[1] - x[1])
          .map(([k, v]) => `${k} ${(v / perRun).toFixed(0)}`);
        breakdowns.push(
          `${s.id}: one run of ${perRun} purchases, ${c.events} events, ${c.historyBytes} B; per purchase: ${parts.join(', ')}`,
        );
        continue;
      }
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
    const full = totals.get('a+');
    const fullCpu = full === undefined ? undefined : cpuTotal(per(full));
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
      ...(fullCpu === undefined ? [] : ['CPU / a+']),
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
        Number.isInteger(c.tasks) ? String(c.tasks) : c.tasks.toFixed(2),
        c.bytes.toFixed(0),
        rate.toFixed(1),
        percentile(t.latencies, 50).toFixed(0),
        percentile(t.latencies, 99).toFixed(0),
        `${cpuTotal(cpu).toFixed(1)} (${cpu.selfMs.toFixed(1)} + ${cpu.temporalMs.toFixed(1)} + ${cpu.databaseMs.toFixed(1)})`,
        (cpuTotal(cpu) / baseCpu).toFixed(2),
        ...(fullCpu === undefined ? [] : [(cpuTotal(cpu) / fullCpu).toFixed(2)]),
        (rate / baseRate).toFixed(2),
      ];
    });
    console.log(`| ${head.join(' | ')} |`);
    console.log(`| ${head.map(() => '---').join(' | ')} |`);
    for (const row of rows) console.log(`| ${row.join(' | ')} |`);
    for (const s of shapes) {
      const t = totals.get(s.id);
      if (s.update?.ack === undefined || t === undefined) continue;
      console.log(
        `${s.id}: the answer (the purchase's Update) p50 ${percentile(t.answers, 50).toFixed(0)} ms, p99 ${percentile(t.answers, 99).toFixed(0)} ms`,
      );
    }
    for (const line of breakdowns) console.log(line);
    const load1 = loadavg();
    console.log(`load average at the end ${load1.map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    for (const id of open) {
      await env.client.workflow
        .getHandle(id)
        .terminate('bench:shapes ended')
        .catch(() => undefined);
    }
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
