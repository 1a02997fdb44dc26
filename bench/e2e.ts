/**
 * End-to-end purchase benchmark (`npm run bench:e2e [-- <purchases>]`) on the embedded engines:
 * the terminal simulator dials over TCP PCM (audio unpaced, so the modem runs as fast as the CPU
 * allows) and makes sequential purchases on one call through the whole platform (Temporal dev
 * server, database, HSM, card network gateway, bank simulator). Figures, each beside a baseline
 * from the same run:
 * - purchases per second, against the same script answered by the in-process fake issuer
 *   (simulator/terminal/__fixtures__) behind an identical channel engine;
 * - host latency p50/p99 (the engine hands over the decoded request → the answer is returned for
 *   framing), against the fake issuer's;
 * - line time of one purchase, against its physical minimum at 1200 bit/s: every burst's lead-in
 *   and trailing mark bits plus 10 bits per byte (start, 8 data, stop), and the profile's turnaround
 *   between the four bursts (request, ACK, response, ACK).
 *
 * Host mode (`npm run bench:e2e -- --host <purchases> [--terminals <n>]`; HOST ONLY, NO LINE TIME): terminals built from
 * the simulator's PSAM, secure element and message builders hand their request frames straight to
 * the access handler (what the channel engine calls once a frame is decoded), several terminals
 * at once, each one sequentially (its PSAM counter must rise). Purchases/s and host latency
 * p50/p99 with one terminal and with `n`, against the fake issuer driven the same way.
 *
 * Matrix mode (the default; `--quick`, `--db embedded|postgresql|both`, `--levels 1,16`,
 * `--profile`): see docs/adr/0013-purchase-cost.md. `--eager on|off|compare`: the access handler's
 * client on the central worker's native connection, starting the verification and the run eagerly;
 * `compare` runs the matrix without, then with it, in the same process (before/after in one run).
 *
 * Paced lines (issue #18; after the matrix, `bench/e2e-paced.ts`): `--paced <n>` phones (64 in a
 * full run, 16 with `--quick`, 0 skips) dial the access node over TCP PCM with audio in real time
 * both ways and make calls of three purchases for `--paced-s <seconds>` (60 / 20) on the embedded
 * engines (PGlite; the matrix's `--db` does not apply). The phones run in a worker thread; the
 * platform's CPU is this process's minus that thread's, plus the Temporal dev server's and
 * PGlite's. Printed: concurrent calls held (max and mean of the access node's live calls sampled
 * every 100 ms), purchases completed/approved/failed and per second, host latency p50/p99, platform
 * CPU per purchase and per line-second, and lines per core = 1000 / (CPU ms per line-second), beside
 * the same phones against the fake issuer in the same run. `--only paced` runs this section alone.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { ChannelEngine } from '../channel-engine/engine';
import type { RequestHandler, TerminalRequest } from '../channel-engine/engine';
import { TcpPcmLineDriver } from '../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../channel-engine/profiles';
import { summarizeTerminalRequest } from '../terminal-protocol/messages';
import { DEMO } from '../demo/seed';
import type { DemoData, DemoTerminal } from '../demo/seed';
import { toHex } from '../hsm/crypto/bytes';
import { PsamEmulator } from '../simulator/psam/psam';
import { TerminalSecureElement } from '../simulator/psam/terminal-secure-element';
import { buildFinancialRequest, buildSignOnRequest, parseResponse } from '../simulator/terminal/messages';
import type { BuiltRequest, MacSigner, TerminalIdentity } from '../simulator/terminal/messages';
import { FakeIssuer } from '../simulator/terminal/__fixtures__/fake-issuer';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../simulator/terminal/config';
import type { TerminalConfig } from '../simulator/terminal/config';
import { runTerminalScript } from '../simulator/terminal/script';
import type { ScriptStep } from '../simulator/terminal/script';
import { quietTemporalRuntime } from '../test/support/temporal';
import { startE2e } from '../test/e2e/harness';
import { verifyThroughCentre } from '../channel-engine/access/handler';
import { Worker } from '@temporalio/worker';
import { testDataConverter } from '../test/support/temporal';
import type { E2e } from '../test/e2e/harness';
import {
  CpuMeter,
  installRoundTripCounter,
  roundTrips,
  roundTripsSince,
  workflowCost,
  workflowsStartedSince,
} from './e2e-profile';
import type { CpuSplit, RoundTrips, WorkflowCost } from './e2e-profile';
import { pacedSection } from './e2e-paced';

const PURCHASES_DEFAULT = 20;
const AMOUNT_MINOR = 100;
const PROFILE_ID = 'es201912-v23';
/** Link frame overhead per DATA/ACK frame of the profile: type, length, check. */
const FRAME_OVERHEAD_BYTES = 3;
const BITS_PER_BYTE = 10;
const BIT_RATE = 1200;
/** Host mode: terminals driven at once by default, and the extra merchant terminals seeded for it. */
const HOST_TERMINALS_DEFAULT = 32;
const HOST_TERMINALS_MAX = 500;
/** Host mode: warm-up purchases per terminal before measuring. */
const HOST_WARMUP_PER_TERMINAL = 2;
const STAN_START = 1;

interface Timed {
  readonly latenciesMs: number[];
  /** The last purchase request handled (caller number and bytes). */
  last?: { ani: string; request: string };
  answerBytes: number;
  wrap: (h: RequestHandler) => RequestHandler;
}

function timed(): Timed {
  const t: Timed = {
    latenciesMs: [],
    answerBytes: 0,
    wrap: (h) => async (req) => {
      const started = performance.now();
      const answer = await h(req);
      if (summarizeTerminalRequest(req.payload).serviceId === 'purchase') {
        t.latenciesMs.push(performance.now() - started);
        t.answerBytes = answer.length;
        t.last = { ani: req.callerNumber ?? '', request: Buffer.from(req.payload).toString('hex') };
      }
      return answer;
    },
  };
  return t;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function runScript(config: TerminalConfig, purchases: number, stan: number) {
  const steps: ScriptStep[] = [
    { step: 'sign-on' },
    ...Array.from({ length: purchases }, (): ScriptStep => ({ step: 'purchase', amountMinor: AMOUNT_MINOR })),
    { step: 'hang-up' },
  ];
  const state = new MemoryStateStore({ stan, batch: '000001', psamCounter: stan });
  const started = performance.now();
  const r = await runTerminalScript({ config, stateStore: state }, steps);
  const seconds = (performance.now() - started) / 1000;
  const bought = r.transactions.filter((x) => x.kind === 'purchase');
  if (bought.some((x) => x.outcome !== 'approved')) throw new Error('a purchase was not approved');
  return { seconds, bought };
}

/** A terminal without a line: the simulator's PSAM, secure element and frames, handed to a handler. */
class FrameTerminal {
  private readonly psam: PsamEmulator;
  private readonly secureElement: TerminalSecureElement;
  private readonly identity: TerminalIdentity;
  private stan = STAN_START - 1;

  constructor(
    private readonly config: TerminalConfig,
    private readonly handler: RequestHandler,
  ) {
    const masterKey = config.psam.masterKey;
    if (masterKey === undefined) throw new Error('bench terminals need a PSAM master key');
    this.psam = PsamEmulator.issue(masterKey, {
      serial: config.psam.serial,
      terminalNumber: config.psam.terminalNumber,
    });
    this.secureElement = new TerminalSecureElement(config.keys.tmk);
    this.identity = {
      terminalId: config.terminalId,
      merchantId: config.merchantId,
      tpdu: { id: 0x60, destination: config.tpdu.destination, source: config.tpdu.source },
      applicationHeader: config.applicationHeader,
      currency: config.currency,
      operatorCode: config.operatorCode,
    };
  }

  private async exchange(build: (signer: MacSigner, stan: number) => BuiltRequest) {
    this.stan += 1;
    const tx = this.psam.beginTransaction();
    const signer: MacSigner = {
      psam: {
        serial: this.config.psam.serial,
        terminalNumber: this.psam.readTerminalNumber(),
        random: toHex(tx.random),
        counter: tx.counter,
      },
      mac: (d) => tx.mac(d, 'unionpay-ecb'),
    };
    const request = build(signer, this.stan);
    const req: TerminalRequest = {
      nodeId: 'bench',
      lineId: `bench-${this.config.terminalId}`,
      callerNumber: this.config.line.callerNumber,
      calledNumber: undefined,
      profileId: this.config.profile,
      payload: request.payload,
      answerSettled: Promise.resolve(true),
    };
    const started = performance.now();
    const answer = await this.handler(req);
    const latencyMs = performance.now() - started;
    return { response: parseResponse(answer, request, this.identity), latencyMs };
  }

  async signOn(): Promise<void> {
    const layout = this.config.keys.signOnLayout;
    const { response } = await this.exchange((signer, stan) =>
      buildSignOnRequest(this.identity, { stan, batch: '000001', layout }, signer),
    );
    if (response.responseCode !== '00' || response.field62 === undefined)
      throw new Error(`sign-on of ${this.config.terminalId} answered ${response.responseCode}`);
    this.secureElement.loadWorkingKeys(layout, response.field62);
  }

  /** One purchase; the host latency (handler in → answer out), ms. Throws unless approved. */
  async purchase(amountMinor: number): Promise<number> {
    const card = this.config.card;
    const { response, latencyMs } = await this.exchange((signer, stan) =>
      buildFinancialRequest(
        this.identity,
        {
          kind: 'purchase',
          stan,
          amountMinor,
          track2: card.track2,
          pinBlock: this.secureElement.encryptPin(card.pin, card.track2.pan),
          batch: '000001',
        },
        signer,
      ),
    );
    if (response.responseCode !== '00')
      throw new Error(`purchase at ${this.config.terminalId} answered ${response.responseCode}`);
    return latencyMs;
  }

  /** One purchase under load: its latency, or NaN when it was not approved (counted, not fatal). */
  async tryPurchase(amountMinor: number): Promise<number> {
    try {
      return await this.purchase(amountMinor);
    } catch {
      return Number.NaN;
    }
  }
}

interface HostFigures {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly purchases: number;
  /** CPU ms per purchase: this process (worker, handler, bank, HSM) and its children (Temporal, PGlite). */
  readonly cpuSelfMs: number;
  readonly cpuChildrenMs: number;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU ms of every descendant process (Linux /proc; 0 elsewhere). */
function descendantsCpuMs(): number {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return 0;
  }
  const stats = new Map<number, { ppid: number; ms: number }>();
  for (const d of entries) {
    try {
      const after = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      stats.set(Number(d), { ppid: Number(after[1]), ms: ((Number(after[11]) + Number(after[12])) * 1000) / USER_HZ });
    } catch {
      // The process ended meanwhile.
    }
  }
  let total = 0;
  const mine = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, st] of stats) {
      if (!mine.has(pid) && mine.has(st.ppid)) {
        mine.add(pid);
        total += st.ms;
        grew = true;
      }
    }
  }
  return total;
}

/** `total` purchases spread over the terminals, each terminal sequential, all terminals at once. */
async function drive(terminals: readonly FrameTerminal[], total: number): Promise<HostFigures> {
  const latencies: number[] = [];
  let left = total;
  const cpu0 = process.cpuUsage();
  const children0 = descendantsCpuMs();
  const started = performance.now();
  await Promise.all(
    terminals.map(async (t) => {
      while (left > 0) {
        left -= 1;
        latencies.push(await t.purchase(AMOUNT_MINOR));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    rate: total / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    purchases: total,
    cpuSelfMs: (cpu.user + cpu.system) / 1000 / total,
    cpuChildrenMs: (descendantsCpuMs() - children0) / total,
  };
}

/** DEMO plus `count` merchant terminals (own customer, PSAM and caller number) for host mode. */
function benchDemo(count: number): { demo: DemoData; extra: number[] } {
  const pad = (n: number, width: number): string => String(n).padStart(width, '0');
  const extra: DemoTerminal[] = Array.from({ length: count }, (_, i) => ({
    customer: { id: `MB${pad(i, 4)}`, kind: 'merchant', name: `Bench Shop ${i}` },
    terminalId: `TB${pad(i, 6)}`,
    deviceProfileId: PROFILE_ID,
    psamNo: `B0B0B0B0${pad(i, 8)}`,
    psamKeyHandle: 'psam-master:demo',
    ani: `86219${pad(i, 7)}`,
  }));
  const first = DEMO.terminals.length;
  return {
    demo: { ...DEMO, terminals: [...DEMO.terminals, ...extra] },
    extra: extra.map((_, i) => first + i),
  };
}

function flag(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  const next = process.argv[i + 1];
  if (i < 0 || next === undefined || next.startsWith('--')) return undefined;
  const v = Number(next);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} needs a positive integer`);
  return v;
}

function line(label: string, f: HostFigures, base: HostFigures): string {
  return `${label}: ${f.rate.toFixed(1)} purchases/s  p50 ${f.p50.toFixed(1)} ms p99 ${f.p99.toFixed(1)} ms (n=${f.purchases}; CPU per purchase ${f.cpuSelfMs.toFixed(1)} ms here + ${f.cpuChildrenMs.toFixed(1)} ms Temporal/PGlite)  baseline fake issuer (1 terminal) ${base.rate.toFixed(1)}/s p50 ${base.p50.toFixed(2)} ms  ratio ${(f.rate / base.rate).toFixed(3)}`;
}

async function hostMode(total: number, terminalCount: number): Promise<void> {
  // Baseline: the fake issuer handler with the same frames, one terminal.
  const issuer = new FakeIssuer();
  await issuer.ready;
  const exampleConfig = parseTerminalConfig(EXAMPLE_CONFIG, '/tmp');
  const fake = new FrameTerminal(exampleConfig, issuer.handler);
  await fake.signOn();
  await drive([fake], Math.min(total, 50));
  const base = await drive([fake], Math.min(total, 200));

  const { demo, extra } = benchDemo(terminalCount);
  const e2e = await startE2e({ demo });
  try {
    const terminals = extra.map((i) => new FrameTerminal(e2e.terminal({ demoTerminal: i }), e2e.handler));
    await Promise.all(terminals.map((t) => t.signOn()));
    await drive(terminals, terminals.length * HOST_WARMUP_PER_TERMINAL);
    const [one] = terminals;
    if (one === undefined) throw new Error('no terminal');
    const sequential = await drive([one], Math.min(total, 50));
    console.log(line('HOST ONLY (no line time), 1 terminal, sequential', sequential, base));
    const concurrent = await drive(terminals, total);
    console.log(line(`HOST ONLY (no line time), ${terminals.length} terminals at once`, concurrent, base));
  } finally {
    await e2e.stop();
  }
}

/** Matrix mode: concurrent terminals per level, purchases per level (full run and `--quick`). */
const LEVELS = [1, 16, 64] as const;
const PURCHASES_PER_LEVEL: Record<'full' | 'quick', Record<(typeof LEVELS)[number], number>> = {
  full: { 1: 30, 16: 192, 64: 384 },
  quick: { 1: 8, 16: 48, 64: 128 },
};
/** Sequential purchases whose histories are read for the profile. */
const PROFILE_PURCHASES = 3;
/** The bench's own PostgreSQL database (a schema per run is created in it and dropped after). */
const POSTGRES_URL_DEFAULT = 'postgresql://postgres@127.0.0.1:5432/fixpay_perf';
const FLOOR_TASK_QUEUE = 'bench-engine-floor';
const SIGN_ON_ATTEMPTS = 3;

interface LevelFigures {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly n: number;
  /** Purchases not approved (e.g. 96 when the answer did not come in time under overload). */
  readonly failed: number;
  readonly cpu: CpuSplit;
  readonly trips: RoundTrips;
}

function cpuTotal(c: CpuSplit): number {
  return c.selfMs + c.temporalMs + c.databaseMs;
}

function tripCount(t: RoundTrips): { count: number; ms: number } {
  let count = 0;
  let ms = 0;
  for (const v of t.values()) {
    count += v.count;
    ms += v.ms;
  }
  return { count, ms };
}

/** Runs `one` concurrently from `concurrency` loops until `total` were done; rate and latencies. */
async function measure(
  meter: CpuMeter,
  concurrency: number,
  total: number,
  one: (slot: number) => Promise<number>,
  settle: () => Promise<void>,
): Promise<LevelFigures> {
  const latencies: number[] = [];
  let left = total;
  const cpu0 = await meter.snapshot();
  const trips0 = roundTrips();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, slot) => {
      while (left > 0) {
        left -= 1;
        latencies.push(await one(slot));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  // The work after the answer (the post) belongs to the purchase: wait for it before reading CPU.
  await settle();
  const cpu1 = await meter.snapshot();
  const answered = latencies.filter((l) => !Number.isNaN(l));
  return {
    rate: answered.length / seconds,
    p50: percentile(answered, 50),
    p99: percentile(answered, 99),
    n: total,
    failed: total - answered.length,
    cpu: CpuMeter.delta(cpu0, cpu1, total),
    trips: new Map([...roundTripsSince(trips0)].map(([k, v]) => [k, { count: v.count / total, ms: v.ms / total }])),
  };
}

function cpuText(c: CpuSplit): string {
  return `${cpuTotal(c).toFixed(1)} ms (ours ${c.selfMs.toFixed(1)} + Temporal ${c.temporalMs.toFixed(1)} + database ${c.databaseMs.toFixed(1)})`;
}

function tripsTable(t: RoundTrips, indent: string): string {
  return [...t]
    .sort((a, b) => b[1].count - a[1].count)
    .map(([k, v]) => `${indent}${v.count.toFixed(2).padStart(6)} × ${k.padEnd(48)} ${v.ms.toFixed(2)} ms`)
    .join('\n');
}

/**
 * One purchase's workflows, read from the histories of `PROFILE_PURCHASES` sequential purchases.
 * A purchase run ends only after the phone's verdict (ADR 0012), which its terminal's next request
 * gives: one more purchase follows, and neither it nor its verification is profiled.
 */
async function profilePurchase(e2e: E2e, terminal: FrameTerminal): Promise<WorkflowCost[][]> {
  const since = new Date();
  const known = e2e.workflowIds.length;
  for (let i = 0; i < PROFILE_PURCHASES; i++) await terminal.purchase(AMOUNT_MINOR);
  const until = new Date();
  const profiled = e2e.workflowIds.slice(known);
  await terminal.purchase(AMOUNT_MINOR);
  const ids = new Set([...(await workflowsStartedSince(e2e.env.client, since, until)), ...profiled]);
  const costs = await Promise.all([...ids].map((id) => workflowCost(e2e.env.client, id)));
  const byType = new Map<string, WorkflowCost[]>();
  for (const c of costs) byType.set(c.workflowType, [...(byType.get(c.workflowType) ?? []), c]);
  return [...byType.values()];
}

/** Longest wait for the runs of a measured window to end (their post after the verdict). */
const SETTLE_TIMEOUT_MS = 60_000;

/**
 * Waits for the purchase runs started since `from` (an index into `e2e.workflowIds`) that have
 * their verdict: each terminal's runs but its latest, which waits for that terminal's next request
 * (ADR 0012) and is confirmed, and posted, in the next window.
 */
function settleConfirmed(e2e: E2e, from: number): () => Promise<void> {
  return async () => {
    const byTerminal = new Map<string, string[]>();
    for (const id of new Set(e2e.workflowIds.slice(from))) {
      if (!id.startsWith('purchase:')) continue;
      const terminal = id.split(':')[1] ?? '';
      byTerminal.set(terminal, [...(byTerminal.get(terminal) ?? []), id]);
    }
    const confirmed = [...byTerminal.values()].flatMap((ids) => ids.slice(0, -1));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SETTLE_TIMEOUT_MS);
    });
    await Promise.race([
      Promise.all(
        confirmed.map((id) =>
          e2e.env.client.workflow
            .getHandle(id)
            .result()
            .catch(() => undefined),
        ),
      ),
      timeout,
    ]);
    clearTimeout(timer);
  };
}

function printProfile(label: string, groups: readonly WorkflowCost[][], seq: LevelFigures): void {
  console.log(`[${label}] profile of one purchase (sequential, one terminal, n=${seq.n}):`);
  console.log(`  host latency p50 ${seq.p50.toFixed(1)} ms p99 ${seq.p99.toFixed(1)} ms`);
  console.log(`  CPU per purchase ${cpuText(seq.cpu)}`);
  let bytes = 0;
  for (const g of groups) {
    const per = g.length / PROFILE_PURCHASES;
    const avg = (f: (c: WorkflowCost) => number): number => g.reduce((s, c) => s + f(c), 0) / g.length;
    const first = g[0];
    if (first === undefined) continue;
    bytes += avg((c) => c.historyBytes) * per;
    console.log(
      `  workflow ${first.workflowType} ×${per.toFixed(1)}: history ${avg((c) => c.historyBytes).toFixed(0)} B, ${avg((c) => c.events).toFixed(0)} events, ${avg((c) => c.workflowTasks).toFixed(1)} workflow tasks, ${avg((c) => c.localActivities).toFixed(1)} local + ${avg((c) => c.remoteActivities.length).toFixed(1)} remote activities (${first.remoteActivities.join(', ')}), ${avg((c) => c.children).toFixed(1)} children; calls ${first.steps}`,
    );
  }
  console.log(`  history bytes per purchase ${bytes.toFixed(0)}`);
  for (const g of groups) {
    const first = g[0];
    if (first === undefined) continue;
    const parts = [...first.bytesByEvent].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`);
    console.log(`    ${first.workflowType} bytes by event: ${parts.join(', ')}`);
  }
  const t = tripCount(seq.trips);
  console.log(
    `  database round trips per purchase ${t.count.toFixed(1)} (${t.ms.toFixed(1)} ms waiting), by statement:`,
  );
  console.log(tripsTable(seq.trips, '    '));
}

async function matrixFor(
  label: string,
  databaseUrl: string | null,
  mode: 'full' | 'quick',
  showTrips: boolean,
  levels: readonly (typeof LEVELS)[number][],
  eagerStart: boolean,
): Promise<void> {
  const maxLevel = Math.max(...LEVELS);
  const { demo, extra } = benchDemo(maxLevel);
  const metered =
    databaseUrl === null
      ? { meter: CpuMeter.forEmbedded(), close: () => Promise.resolve() }
      : CpuMeter.forPostgres(databaseUrl);
  const { meter } = metered;
  const e2e = await startE2e({ demo, databaseUrl, eagerStart });
  const floorWorker = await Worker.create({
    connection: e2e.env.nativeConnection,
    taskQueue: FLOOR_TASK_QUEUE,
    workflowsPath: require.resolve('../workflows/engine-floor'),
    dataConverter: testDataConverter(),
    activities: { floorStep: (i: number): Promise<number> => Promise.resolve(i) },
  });
  const floorDone = floorWorker.run();
  try {
    const terminals = extra.map((i) => new FrameTerminal(e2e.terminal({ demoTerminal: i }), e2e.handler));
    // Sign-ons 8 at a time, each repeated (new STAN) when an overloaded host answered 96.
    for (let i = 0; i < terminals.length; i += 8)
      await Promise.all(
        terminals.slice(i, i + 8).map(async (t) => {
          for (let attempt = 1; ; attempt++) {
            try {
              return await t.signOn();
            } catch (e) {
              if (attempt >= SIGN_ON_ATTEMPTS) throw e;
            }
          }
        }),
      );
    // Warm-up (first runs of each activity and workflow task are slower), 16 terminals at a time;
    // a decline under overload is only counted later, not here.
    for (let i = 0; i < terminals.length; i += 16) {
      const batch = terminals.slice(i, i + 16);
      for (let k = 0; k < HOST_WARMUP_PER_TERMINAL; k++)
        await Promise.all(batch.map((t) => t.tryPurchase(AMOUNT_MINOR)));
    }
    const [one] = terminals;
    if (one === undefined) throw new Error('no terminal');

    const groups = await profilePurchase(e2e, one);
    const shapes = groups.map((g) => g[0]?.steps ?? '');
    const seq = await measure(
      meter,
      1,
      PROFILE_PURCHASES * 3,
      async () => one.purchase(AMOUNT_MINOR),
      settleConfirmed(e2e, e2e.workflowIds.length),
    );
    printProfile(label, groups, seq);

    let floorSeq = 0;
    const floorPurchase = async (): Promise<number> => {
      const started = performance.now();
      for (const steps of shapes) {
        floorSeq += 1;
        await e2e.env.client.workflow.execute('engineFloor', {
          taskQueue: FLOOR_TASK_QUEUE,
          workflowId: `floor:${floorSeq}`,
          args: [steps],
        });
      }
      return performance.now() - started;
    };
    // Warm the floor worker up as the platform's was.
    for (let i = 0; i < 3; i++) await floorPurchase();
    console.log(
      `[${label}] engine floor per purchase: ${shapes.map((s) => `workflow ${s}`).join(' then ')}, no-op activities`,
    );
    for (const level of levels) {
      const n = PURCHASES_PER_LEVEL[mode][level];
      const active = terminals.slice(0, level);
      const from = e2e.workflowIds.length;
      const p = await measure(
        meter,
        level,
        n,
        (slot) => active[slot]?.tryPurchase(AMOUNT_MINOR) ?? Promise.resolve(Number.NaN),
        settleConfirmed(e2e, from),
      );
      const f = await measure(meter, level, n, floorPurchase, () => Promise.resolve());
      const t = tripCount(p.trips);
      console.log(
        `[${label}] ${String(level).padStart(2)} terminals: ${p.rate.toFixed(1)} purchases/s p50 ${p.p50.toFixed(0)} ms p99 ${p.p99.toFixed(0)} ms (n=${n}${p.failed > 0 ? `, ${p.failed} NOT APPROVED` : ''}); CPU per purchase ${cpuText(p.cpu)}; ${t.count.toFixed(1)} database round trips`,
      );
      console.log(
        `[${label}] ${String(level).padStart(2)} engine floor: ${f.rate.toFixed(1)}/s p50 ${f.p50.toFixed(0)} ms p99 ${f.p99.toFixed(0)} ms; CPU ${cpuText(f.cpu)}  purchase / engine floor: rate ${(p.rate / f.rate).toFixed(3)}, p50 ${(p.p50 / f.p50).toFixed(2)}, CPU ${(cpuTotal(p.cpu) / cpuTotal(f.cpu)).toFixed(2)}`,
      );
      if (showTrips) console.log(tripsTable(p.trips, '    '));
    }
  } finally {
    floorWorker.shutdown();
    await floorDone;
    await e2e.stop();
    await metered.close();
  }
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** A whole number ≥ 0 given as `name <n>`, or `fallback` when the flag is absent. */
function count(name: string, fallback: number): number {
  const text = option(name);
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} needs a whole number ≥ 0`);
  return v;
}

/** Paced lines (issue #18): phones, and the window in seconds, for a full run and `--quick`. */
const PACED_DEFAULT = { full: { phones: 64, seconds: 60 }, quick: { phones: 16, seconds: 20 } } as const;

async function matrixMode(): Promise<void> {
  quietTemporalRuntime();
  installRoundTripCounter();
  const mode = process.argv.includes('--quick') ? 'quick' : 'full';
  const showTrips = process.argv.includes('--profile');
  const pgUrl = option('--pg-url') ?? POSTGRES_URL_DEFAULT;
  const which = option('--db') ?? 'both';
  const only = option('--levels')?.split(',').map(Number);
  const levels = LEVELS.filter((l) => only === undefined || only.includes(l));
  // Eager workflow start (ADR 0013): off (as the separate access-node role), on, or both back to back.
  const eager = option('--eager') ?? 'off';
  const eagerModes = eager === 'compare' ? [false, true] : eager === 'on' ? [true] : [false];
  // `--only paced` runs the paced-lines section alone (no matrix).
  const onlyPaced = option('--only') === 'paced';
  const pacedPhones = count('--paced', PACED_DEFAULT[mode].phones);
  const pacedSeconds = count('--paced-s', PACED_DEFAULT[mode].seconds);
  if (pacedPhones > HOST_TERMINALS_MAX) throw new Error(`--paced is at most ${HOST_TERMINALS_MAX}`);
  console.log(
    `bench:e2e ${onlyPaced ? 'paced lines only' : `host only (request frames handed to the access handler, no line time), levels ${LEVELS.join('/')} terminals, then paced lines`}, ${mode} run; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; timings are noisy on a shared machine: compare ratios within one run`,
  );
  for (const e of onlyPaced ? [] : eagerModes) {
    const tag = e ? ' eager' : '';
    if (which === 'both' || which === 'embedded') await matrixFor(`embedded${tag}`, null, mode, showTrips, levels, e);
    if (which === 'both' || which === 'postgresql')
      await matrixFor(`postgresql${tag}`, pgUrl, mode, showTrips, levels, e);
  }
  if (pacedPhones > 0 && pacedSeconds > 0)
    await pacedSection({ phones: pacedPhones, seconds: pacedSeconds, demo: benchDemo(pacedPhones) });
  console.log(
    `load average at the end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}

async function main(): Promise<void> {
  if (!process.argv.includes('--line') && flag('--host') === undefined) {
    await matrixMode();
    return;
  }
  const hostPurchases = flag('--host');
  if (hostPurchases !== undefined) {
    quietTemporalRuntime();
    const terminals = Math.min(HOST_TERMINALS_MAX, flag('--terminals') ?? HOST_TERMINALS_DEFAULT);
    await hostMode(hostPurchases, terminals);
    return;
  }
  const purchases = flag('--line') ?? PURCHASES_DEFAULT;
  quietTemporalRuntime();
  const profile = loadProfiles().get(PROFILE_ID);
  if (profile === undefined) throw new Error(`no profile ${PROFILE_ID}`);

  // Baseline: the fake issuer behind the same engine and line.
  const issuer = new FakeIssuer();
  await issuer.ready;
  const base = timed();
  const tcp = new TcpPcmLineDriver({ port: 0, pace: false });
  const engine = new ChannelEngine({
    profiles: loadProfiles(),
    defaultProfileId: PROFILE_ID,
    handler: base.wrap(issuer.handler),
    nodeId: 'bench',
  }).addDriver(tcp);
  await engine.start();
  const baseConfig = parseTerminalConfig(
    { ...EXAMPLE_CONFIG, line: { ...EXAMPLE_CONFIG.line, port: tcp.port, pace: false } },
    '/tmp',
  );
  const baseline = await runScript(baseConfig, purchases, 1);
  await engine.stop();

  const platform = timed();
  const e2e = await startE2e({ wrapHandler: (h) => platform.wrap(h) });
  const verifyMs: number[] = [];
  let full;
  try {
    // Warm-up: the first run of each activity and workflow task is slower.
    await runScript(e2e.terminal(), 2, 10_000);
    full = await runScript(e2e.terminal(), purchases, 20_000);
    // The access node's pre-check (binding + MAC at the centre) alone, on the last request: it
    // spends no PSAM counter, so the same request verifies again each time.
    const verify = verifyThroughCentre(e2e.env.client);
    const last = platform.last;
    if (last === undefined) throw new Error('no purchase request seen');
    for (let i = 0; i < purchases; i++) {
      const started = performance.now();
      if (!(await verify(last)).verified) throw new Error('the request did not verify');
      verifyMs.push(performance.now() - started);
    }
  } finally {
    await e2e.stop();
  }
  const platformLatencies = platform.latenciesMs.slice(2);

  const rate = purchases / full.seconds;
  const baseRate = purchases / baseline.seconds;
  console.log(
    `purchases/s (one line, sequential, TCP PCM unpaced, n=${purchases}): ${rate.toFixed(2)}  baseline fake issuer ${baseRate.toFixed(2)}  ratio ${(rate / baseRate).toFixed(2)}`,
  );
  const p50 = percentile(platformLatencies, 50);
  const p99 = percentile(platformLatencies, 99);
  const b50 = percentile(base.latenciesMs, 50);
  const b99 = percentile(base.latenciesMs, 99);
  console.log(
    `host latency p50 ${p50.toFixed(1)} ms p99 ${p99.toFixed(1)} ms  baseline fake issuer p50 ${b50.toFixed(1)} ms p99 ${b99.toFixed(1)} ms  ratio p50 ${(p50 / b50).toFixed(1)}`,
  );
  const v50 = percentile(verifyMs, 50);
  console.log(
    `request verification at the centre (short workflow + local activity, part of host latency) p50 ${v50.toFixed(1)} ms p99 ${percentile(verifyMs, 99).toFixed(1)} ms (n=${verifyMs.length})  share of host latency p50 ${(v50 / p50).toFixed(2)}`,
  );
  const one = full.bought[full.bought.length - 1];
  const requestBytes = one?.requestBytes ?? 0;
  const burstBits = (payload: number): number =>
    profile.modem.leadInMarkBits + (payload + FRAME_OVERHEAD_BYTES) * BITS_PER_BYTE + profile.modem.trailMarkBits;
  const bits = burstBits(requestBytes) + burstBits(0) + burstBits(platform.answerBytes) + burstBits(0);
  const minimumMs = (bits / BIT_RATE) * 1000 + 3 * profile.timers.turnaroundMs;
  const lineMs = one?.lineTimeMs ?? Number.NaN;
  console.log(
    `line time of one purchase (${requestBytes} B request, ${platform.answerBytes} B answer): ${lineMs} ms  physical minimum ${minimumMs.toFixed(0)} ms  ratio ${(lineMs / minimumMs).toFixed(2)}  (fake issuer line time ${baseline.bought[0]?.lineTimeMs ?? '?'} ms)`,
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
