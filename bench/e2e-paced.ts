/**
 * `bench:e2e`'s paced-lines section (issue #18): `n` simulated phones over TCP PCM with audio in
 * real time, both ways (the phones pace theirs, the access node's driver paces its own), against
 * one access node with the whole platform behind it on the embedded engines (Temporal dev server,
 * PGlite), each phone making calls of a few purchases for a fixed window. The phones run in a
 * worker thread (`bench/e2e-paced-phones.ts`); the platform's CPU over the window is this
 * process's CPU without that thread's, plus the child processes' (Temporal, PGlite). The same
 * phones against the fake issuer behind a channel engine of its own (no Temporal, no database) are
 * the same run's baseline.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ChannelEngine } from '../channel-engine/engine';
import type { RequestHandler } from '../channel-engine/engine';
import { TcpPcmLineDriver } from '../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../channel-engine/profiles';
import { summarizeTerminalRequest } from '../terminal-protocol/messages';
import { FakeIssuer } from '../simulator/terminal/__fixtures__/fake-issuer';
import { EXAMPLE_CONFIG, parseTerminalConfig } from '../simulator/terminal/config';
import type { TerminalConfig } from '../simulator/terminal/config';
import type { DemoData } from '../demo/seed';
import { startE2e } from '../test/e2e/harness';
import { CpuMeter } from './e2e-profile';
import type { PhonesData, PhonesIn, PhonesOut } from './e2e-paced-phones';
import { atPace, countOutcome, heldCalls, pacedCapacity, percentile, ratio } from './paced-stats';
import type { PacedCapacity, PurchaseCounts } from './paced-stats';

const SAMPLE_MS = 100;
const PURCHASES_PER_CALL = 3;
const AMOUNT_MINOR = 100;
/** Longest warm-up: until every phone has finished a purchase, or this long. */
const WARMUP_MAX_MS = 45_000;
/** Longest wait for the phones to end their calls after the window. */
const STOP_WAIT_MS = 30_000;
/** STAN and PSAM counter every phone starts at (each has its own PSAM, and its own fake issuer). */
const STAN_START = 1;

export interface PacedOptions {
  readonly phones: number;
  readonly seconds: number;
  /** DEMO plus at least `phones` merchant terminals, and their indexes (bench:e2e's `benchDemo`). */
  readonly demo: { demo: DemoData; extra: number[] };
}

interface PacedFigures {
  readonly label: string;
  readonly phones: number;
  readonly seconds: number;
  readonly held: { max: number; mean: number };
  readonly counts: PurchaseCounts;
  readonly callErrors: number;
  readonly firstError: string | undefined;
  readonly p50: number;
  readonly p99: number;
  readonly capacity: PacedCapacity;
  readonly cpu: { processMs: number; phonesMs: number; childrenMs: number };
}

/** The phones' worker: purchase outcomes, thread CPU on request, stop. */
class Phones {
  private readonly worker: Worker;
  private cpuWaiters: ((ms: number) => void)[] = [];
  private readonly finished: Promise<void>;
  inWindow = false;
  readonly counts: PurchaseCounts = { completed: 0, approved: 0, failed: 0 };
  callErrors = 0;
  firstError: string | undefined;
  failure: Error | undefined;
  exited = false;
  /** Purchases finished before the window (warm-up), any outcome. */
  warm = 0;

  constructor(data: PhonesData) {
    this.worker = new Worker(join(__dirname, 'e2e-paced-phones.ts'), { workerData: data });
    this.finished = new Promise((resolve, reject) => {
      this.worker.on('message', (m: PhonesOut) => {
        if (m.type === 'cpu') this.cpuWaiters.shift()?.(m.ms);
        else if (m.type === 'purchase') {
          if (this.inWindow) countOutcome(this.counts, m.outcome);
          else this.warm += 1;
        } else if (m.type === 'error') {
          if (this.inWindow) {
            this.callErrors += 1;
            this.counts.failed += 1;
          }
          this.firstError ??= m.text;
        } else resolve();
      });
      this.worker.on('error', (e: unknown) => {
        const error = e instanceof Error ? e : new Error(String(e));
        this.failure = error;
        for (const w of this.cpuWaiters.splice(0)) w(Number.NaN);
        reject(error);
      });
      this.worker.on('exit', () => {
        this.exited = true;
        for (const w of this.cpuWaiters.splice(0)) w(Number.NaN);
        resolve();
      });
    });
  }

  cpuMs(): Promise<number> {
    if (this.exited) return Promise.reject(this.failure ?? new Error('the phones worker exited'));
    return new Promise((resolve) => {
      this.cpuWaiters.push(resolve);
      this.worker.postMessage({ type: 'cpu' } satisfies PhonesIn);
    });
  }

  async stop(): Promise<void> {
    this.worker.postMessage({ type: 'stop' } satisfies PhonesIn);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_WAIT_MS);
    });
    await Promise.race([this.finished.catch(() => undefined), late]);
    clearTimeout(timer);
    await this.worker.terminate();
  }
}

/** Host latency of purchase requests (the same wrap as the matrix's line mode), while `on`. */
function latencyWrap(): { latencies: number[]; on: boolean; wrap: (h: RequestHandler) => RequestHandler } {
  const t = {
    latencies: [] as number[],
    on: false,
    wrap:
      (h: RequestHandler): RequestHandler =>
      async (req) => {
        const started = performance.now();
        const answer = await h(req);
        if (t.on && summarizeTerminalRequest(req.payload).serviceId === 'purchase')
          t.latencies.push(performance.now() - started);
        return answer;
      },
  };
  return t;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Warm-up, then the measured window: samples the live calls and meters CPU around it. */
async function window(
  label: string,
  configs: readonly TerminalConfig[],
  seconds: number,
  liveCalls: () => number,
  latency: ReturnType<typeof latencyWrap>,
): Promise<PacedFigures> {
  const meter = CpuMeter.forEmbedded();
  const phones = new Phones({
    phones: configs.map((config) => ({ config, stanBase: STAN_START })),
    purchasesPerCall: PURCHASES_PER_CALL,
    amountMinor: AMOUNT_MINOR,
  });
  try {
    const warmStarted = performance.now();
    while (phones.warm < configs.length && performance.now() - warmStarted < WARMUP_MAX_MS) await sleep(SAMPLE_MS);
    const cpu0 = await meter.snapshot();
    const phones0 = await phones.cpuMs();
    phones.inWindow = true;
    latency.on = true;
    const samples: number[] = [];
    const started = performance.now();
    const sampler = setInterval(() => samples.push(liveCalls()), SAMPLE_MS);
    await sleep(seconds * 1000);
    clearInterval(sampler);
    phones.inWindow = false;
    latency.on = false;
    const measured = (performance.now() - started) / 1000;
    const phones1 = await phones.cpuMs();
    const cpu1 = await meter.snapshot();
    const cpu = {
      processMs: cpu1.at.selfMs - cpu0.at.selfMs,
      phonesMs: phones1 - phones0,
      childrenMs: cpu1.at.temporalMs - cpu0.at.temporalMs + (cpu1.at.databaseMs - cpu0.at.databaseMs),
    };
    const held = heldCalls(samples);
    return {
      label,
      phones: configs.length,
      seconds: measured,
      held,
      counts: { ...phones.counts },
      callErrors: phones.callErrors,
      firstError: phones.firstError,
      p50: percentile(latency.latencies, 50),
      p99: percentile(latency.latencies, 99),
      capacity: pacedCapacity(cpu, held.mean, measured, phones.counts.completed),
      cpu,
    };
  } finally {
    await phones.stop();
  }
}

/** Baseline: the same phones against the fake issuer (one per phone: its PSAM counter and keys). */
async function baseline(n: number, seconds: number): Promise<PacedFigures> {
  const issuers = new Map<string, FakeIssuer>();
  const configs: TerminalConfig[] = [];
  const tcp = new TcpPcmLineDriver({ port: 0, pace: true });
  const latency = latencyWrap();
  const route: RequestHandler = (req) => {
    const issuer = issuers.get(req.callerNumber ?? '');
    if (issuer === undefined) throw new Error(`no fake issuer for caller ${req.callerNumber}`);
    return issuer.handler(req);
  };
  const engine = new ChannelEngine({
    profiles: loadProfiles(),
    defaultProfileId: EXAMPLE_CONFIG.profile,
    handler: latency.wrap(route),
    nodeId: 'bench-paced-base',
  }).addDriver(tcp);
  await engine.start();
  try {
    for (let i = 0; i < n; i++) {
      const callerNumber = `86218${String(i).padStart(7, '0')}`;
      const issuer = new FakeIssuer();
      await issuer.ready;
      issuers.set(callerNumber, issuer);
      configs.push(
        parseTerminalConfig(
          { ...EXAMPLE_CONFIG, line: { ...EXAMPLE_CONFIG.line, port: tcp.port, pace: true, callerNumber } },
          '/tmp',
        ),
      );
    }
    return await window('fake issuer', configs, seconds, () => engine.liveCalls().length, latency);
  } finally {
    await engine.stop();
  }
}

async function platform(o: PacedOptions): Promise<PacedFigures> {
  const latency = latencyWrap();
  const e2e = await startE2e({
    demo: o.demo.demo,
    databaseUrl: null,
    wrapHandler: latency.wrap,
    lines: { tcp: { pace: true } },
  });
  try {
    const configs = o.demo.extra.slice(0, o.phones).map((i) => {
      const c = e2e.terminal({ demoTerminal: i });
      return { ...c, line: { ...c.line, pace: true } };
    });
    return await window('platform', configs, o.seconds, () => e2e.engine.liveCalls().length, latency);
  } finally {
    await e2e.stop();
  }
}

function print(f: PacedFigures, base?: PacedFigures): void {
  const c = f.capacity;
  const tag = `[paced ${f.label}]`;
  console.log(
    `${tag} ${f.phones} phones, ${f.seconds.toFixed(1)} s window: concurrent calls held max ${f.held.max} mean ${f.held.mean.toFixed(1)}; purchases ${f.counts.completed} completed, ${f.counts.approved} approved, ${f.counts.failed} failed${f.callErrors > 0 ? ` (${f.callErrors} calls broke; first: ${f.firstError ?? '?'})` : ''}; ${(f.counts.completed / f.seconds).toFixed(2)} purchases/s; host latency p50 ${f.p50.toFixed(1)} ms p99 ${f.p99.toFixed(1)} ms`,
  );
  console.log(
    `${tag} CPU over the window: process ${f.cpu.processMs.toFixed(0)} ms − phones' thread ${f.cpu.phonesMs.toFixed(0)} ms + child processes ${f.cpu.childrenMs.toFixed(0)} ms = ${c.platformCpuMs.toFixed(0)} ms; per purchase ${c.cpuPerPurchaseMs.toFixed(1)} ms; per line-second ${c.cpuPerLineSecondMs.toFixed(1)} ms (${c.lineSeconds.toFixed(0)} line-seconds = mean calls × window)`,
  );
  const what = f.label === 'platform' ? 'lines per core with the platform behind them' : 'lines per core (fake issuer)';
  console.log(
    `${tag} ${what}: ${c.linesPerCore.toFixed(0)} (= 1000 ms per core-second / ${c.cpuPerLineSecondMs.toFixed(1)} ms per line-second)`,
  );
  if (base !== undefined) {
    const pace = base.counts.completed / base.capacity.lineSeconds;
    console.log(
      `${tag} at the pace the phones buy when the host answers at once (fake issuer: ${pace.toFixed(3)} purchases per line-second), ${c.cpuPerPurchaseMs.toFixed(0)} ms per purchase would be ${(c.cpuPerPurchaseMs * pace).toFixed(1)} ms per line-second: ${atPace(c.cpuPerPurchaseMs, pace).toFixed(1)} lines per core`,
    );
    console.log(
      `[paced] platform / fake issuer: purchases/s ${ratio(f.counts.completed / f.seconds, base.counts.completed / base.seconds)}, host p99 ${ratio(f.p99, base.p99)}, CPU per purchase ${ratio(c.cpuPerPurchaseMs, base.capacity.cpuPerPurchaseMs)}, CPU per line-second ${ratio(c.cpuPerLineSecondMs, base.capacity.cpuPerLineSecondMs)}, lines per core ${ratio(c.linesPerCore, base.capacity.linesPerCore)}`,
    );
  }
}

/** The section: the fake-issuer baseline first (nothing else running), then the platform. */
export async function pacedSection(o: PacedOptions): Promise<void> {
  console.log(
    `[paced] ${o.phones} phones over TCP PCM, audio paced both ways, calls of ${PURCHASES_PER_CALL} purchases, ${o.seconds} s window after each phone's first purchase; platform on the embedded engines (PGlite); the phones run in a worker thread whose CPU is left out`,
  );
  const base = await baseline(o.phones, o.seconds);
  print(base);
  const p = await platform(o);
  print(p, base);
}
