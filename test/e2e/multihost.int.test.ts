/**
 * The cluster's topology across hosts (docs/operations/multihost.md): network namespaces joined by
 * veth pairs on a bridge stand for hosts on a LAN. The core host (the root namespace) runs the real
 * Temporal server (1.29.1, on databases of its own in the machine's PostgreSQL) bound to its bridge
 * address, and relays PostgreSQL and the card network onto that address; it serves two worker
 * hosts (versioned workers, build A) and three access node hosts (N+1: nodes A and B, and a spare);
 * the phones call across the bridge, each with a primary and a backup number.
 *
 * 1. A worker host's link is dropped (`ip link set … down`) and purchases still complete on the
 *    other; the link comes back, the other worker host's processes are killed, and purchases
 *    complete on the first.
 * 2. Rolling upgrade under the phones' load (Worker Versioning, ADR 0022): build B starts beside A
 *    on both worker hosts, is made current, A drains (its runs finish on A) and stops; no purchase
 *    fails, each approved amount settles once.
 * 3. Access node A is killed (SIGKILL) while phones' purchases are on it: the phones redial the
 *    spare; each purchase completes (the repeat attaches to its run) or is reversed (a phone that
 *    does not repeat sends its owed reversal), and nothing is charged twice (bank and ledger).
 * 4. Access node B is drained with `fixpay ops drain`: the call in progress on it goes on, new
 *    calls are refused and go to the spare, the drain reports no live call left, and B stops.
 *
 * The test prints its figures (purchases attempted, approved, failed and runs on each build; calls
 * in flight at the kill, completed, reversed, charged twice).
 *
 * Needs root with `ip netns`, a PostgreSQL server (DATABASE_URL) and the real server's binaries
 * (`fixpay temporal server install`); skipped with a message otherwise. It takes minutes (the
 * hosts' processes start in turn), so `npm test` leaves it out unless FIXPAY_TEST_MULTIHOST=1;
 * `npm run test:multihost` runs it alone with that set. The single-host cluster test
 * (cluster.int.test.ts: a real server, two workers, one killed) is the quick slice that always runs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporal as proto } from '@temporalio/proto';
import { loadConfig, processEnv } from '../../config';
import { DEMO } from '../../demo/seed';
import type { DemoWorld } from '../../demo/world';
import type { Database } from '../../infra/database';
import { ledgerCheck } from '../../cli/ops/checks';
import { openRunsOnBuild } from '../../infra/temporal/deployments';
import { findServerBinaries } from '../../infra/temporal/server';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import type { TerminalConfig } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import { PosTerminal } from '../../simulator/terminal/terminal';
import type { TransactionResult } from '../../simulator/terminal/terminal';
import { createDatabase, prepareRoleWorld, startRole, within } from '../support/roles';
import type { RoleProcess } from '../support/roles';
import { startRealTemporalServer } from '../support/temporal-server';
import type { TestTemporalServer } from '../support/temporal-server';

const CARD = { track2: '6225880000000001=30122011234567890', pin: '123456', pan: '6225880000000001' };
const BIN = join(__dirname, '..', '..', 'bin', 'fixpay.js');
/** The whole suite's time budget (`npm run test:multihost`): five hosts' processes start in turn. */
const BUDGET_MS = 1_200_000;
/** How long one role process may take to be ready: a worker bundles its workflows first. */
const READY_MS = 420_000;
/** The central workers' builds (Worker Versioning, ADR 0022) before and after the rolling upgrade. */
const BUILD_A = 'build-a';
const BUILD_B = 'build-b';
const DEPLOYMENT = 'fixpay-worker';
/** The merchant terminals of the demo room that act as the city's phones. */
const PHONES = ['T0000001', 'T0000011', 'T0000012'] as const;

function netnsWorks(): string | undefined {
  try {
    const probe = `fxprobe${randomBytes(2).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'delete', probe], { stdio: 'ignore' });
    return undefined;
  } catch (e) {
    return `ip netns is not available here (needs root and iproute2): ${(e as Error).message.split('\n')[0]}`;
  }
}

const serverUrl = loadConfig().database.url;
const binaries = findServerBinaries(loadConfig().temporal.cacheDir);
const skipReason =
  processEnv()['FIXPAY_TEST_MULTIHOST'] !== '1'
    ? 'a long suite: run it with npm run test:multihost (FIXPAY_TEST_MULTIHOST=1)'
    : serverUrl === undefined
      ? 'needs a PostgreSQL server (set DATABASE_URL)'
      : binaries === undefined
        ? `needs the real Temporal server: run \`npm run fixpay -- temporal server install\` (binaries in ${loadConfig().temporal.cacheDir})`
        : (netnsWorks() ?? undefined);
if (skipReason !== undefined) console.warn(`multihost.int.test.ts skipped: ${skipReason}`);
const describeMultihost = skipReason === undefined ? describe : describe.skip;

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** A TCP relay on the core host's bridge address to a service listening on its loopback. */
function relay(bindHost: string, targetPort: number): Promise<{ port: number; server: Server }> {
  const server = createServer((inbound) => {
    const outbound = createConnection({ host: '127.0.0.1', port: targetPort });
    inbound.pipe(outbound).pipe(inbound);
    const close = (): void => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.once('error', close);
    outbound.once('error', close);
    inbound.once('close', close);
    outbound.once('close', close);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, bindHost, () => {
      const a = server.address();
      resolve({ port: typeof a === 'object' && a !== null ? a.port : 0, server });
    });
  });
}

describeMultihost('hosts in network namespaces: core, two worker hosts, N+1 access node hosts', () => {
  jest.setTimeout(BUDGET_MS);
  const sfx = randomBytes(2).toString('hex');
  const subnet = `10.213.${Math.floor(Math.random() * 250) + 1}`;
  const core = `${subnet}.1`;
  const hosts = {
    w1: `${subnet}.11`,
    w2: `${subnet}.12`,
    a1: `${subnet}.13`,
    a2: `${subnet}.14`,
    sp: `${subnet}.15`,
  } as const;
  type Host = keyof typeof hosts;
  const accessHosts = ['a1', 'a2', 'sp'] as const;
  const nodeId = (h: Host): string => `city-${h}`;
  // Names carry the fp17 prefix and a random suffix: parallel runs and other users' devices never collide.
  const ns = (h: Host): string => `fp17${sfx}-${h}`;
  const link = (h: Host): string => `fp17${sfx}${h}p`;
  const bridge = `fp17${sfx}br`;
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-multihost-'));
  let temporal: TestTemporalServer | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  let db: Database | undefined;
  let world: DemoWorld | undefined;
  const relays: Server[] = [];
  const roles: Partial<Record<Host, RoleProcess>> = {};
  /** Role processes replaced by a later one on the same host (kept for the cleanup). */
  const retired: RoleProcess[] = [];
  let tcpPcmPort = 0;
  let lanEnv: NodeJS.ProcessEnv = {};
  let workerEnv: NodeJS.ProcessEnv = {};
  /** Build B's workers (the rolling upgrade), beside build A's on the worker hosts. */
  const buildB: RoleProcess[] = [];
  const METRICS_PORT = 9464;

  beforeAll(async () => {
    // The LAN: a bridge on the core host, one veth pair per other host.
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${core}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (const [h, address] of Object.entries(hosts) as [Host, string][]) {
      ip('netns', 'add', ns(h));
      ip('link', 'add', link(h), 'type', 'veth', 'peer', 'name', `fp17${sfx}${h}n`);
      ip('link', 'set', `fp17${sfx}${h}n`, 'netns', ns(h));
      ip('link', 'set', link(h), 'master', bridge);
      ip('link', 'set', link(h), 'up');
      ip('netns', 'exec', ns(h), 'ip', 'addr', 'add', `${address}/24`, 'dev', `fp17${sfx}${h}n`);
      ip('netns', 'exec', ns(h), 'ip', 'link', 'set', `fp17${sfx}${h}n`, 'up');
      ip('netns', 'exec', ns(h), 'ip', 'link', 'set', 'lo', 'up');
    }

    // The real Temporal server runs on the core host, bound to its LAN address: the other hosts
    // dial it over their veth; it reaches its own databases on the core host's loopback PostgreSQL.
    if (binaries === undefined) throw new Error('no server binaries');
    [temporal, database] = await Promise.all([
      startRealTemporalServer({ binaries, adminUrl: serverUrl ?? '', dataDir, bindAddress: core, prefix: 'fixpay_mh' }),
      createDatabase(serverUrl ?? '', 'fixpay_multihost'),
    ]);
    let childEnv: NodeJS.ProcessEnv;
    ({
      db,
      world,
      env: childEnv,
    } = await prepareRoleWorld({
      dataDir,
      databaseUrl: database.url,
      temporalAddress: temporal.address,
      nodeId: 'multihost',
      logName: 'multihost-test',
    }));
    // PostgreSQL and the card network live on the core host's loopback, relayed onto its LAN address.
    const pgUrl = new URL(String(childEnv['DATABASE_URL']));
    const pg = await relay(core, Number(pgUrl.port || 5432));
    const bank = await relay(core, Number(childEnv['FIXPAY_CARD_NETWORK_PORT']));
    relays.push(pg.server, bank.server);
    pgUrl.hostname = core;
    pgUrl.port = String(pg.port);
    lanEnv = {
      ...childEnv,
      DATABASE_URL: pgUrl.toString(),
      FIXPAY_CARD_NETWORK_HOST: core,
      FIXPAY_CARD_NETWORK_PORT: String(bank.port),
    };
    // The central workers are versioned (ADR 0022) from the start: build A, made current by the
    // first; the rolling upgrade replaces it with build B under load.
    workerEnv = { ...lanEnv, FIXPAY_WORKER_BUILD_ID: BUILD_A };
    roles.w1 = startRole('worker', workerEnv, { netns: ns('w1'), readyTimeoutMs: READY_MS });
    await roles.w1.ready;
    roles.w2 = startRole('worker', workerEnv, { netns: ns('w2'), readyTimeoutMs: READY_MS });
    // Each access node serves its lines, metrics and control routes on its own host's address.
    for (const h of accessHosts)
      roles[h] = startRole(
        'access-node',
        {
          ...lanEnv,
          FIXPAY_ACCESS_HOST: hosts[h],
          FIXPAY_NODE_ID: nodeId(h),
          FIXPAY_METRICS_HOST: hosts[h],
          FIXPAY_METRICS_PORT: String(METRICS_PORT),
        },
        { netns: ns(h), readyTimeoutMs: READY_MS },
      );
    await roles.w2.ready;
    const ports = await Promise.all(
      accessHosts.map(async (h) => Number(/TCP PCM [^:]+:(\d+)/.exec(await (roles[h] as RoleProcess).ready)?.[1])),
    );
    // Every host has its own ports: the nodes listen on the same port number.
    expect(new Set(ports).size).toBe(1);
    tcpPcmPort = ports[0] ?? 0;
  }, BUDGET_MS);

  afterAll(async () => {
    const all = [...Object.values(roles), ...retired, ...buildB];
    for (const r of all) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await Promise.all(all.map((r) => within(r.exited, 15_000, 'exit').catch(() => undefined)));
    for (const s of relays) s.close();
    await world?.stop();
    await db?.close();
    await database?.drop();
    await temporal?.stop();
    for (const h of Object.keys(hosts) as Host[]) {
      try {
        ip('link', 'delete', link(h));
      } catch {
        // gone with its namespace
      }
      try {
        ip('netns', 'delete', ns(h));
      } catch {
        // never made
      }
    }
    try {
      ip('link', 'delete', bridge);
    } catch {
      // never made
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A phone of the city: primary number on `primary`, backup number on the spare. */
  const terminalConfig = (terminalId: string, primary: Host, pace = false): TerminalConfig => {
    const t = DEMO.terminals.find((d) => d.terminalId === terminalId);
    if (t === undefined) throw new Error(`no demo terminal ${terminalId}`);
    return parseTerminalConfig(
      {
        ...EXAMPLE_CONFIG,
        terminalId: t.terminalId,
        psam: { ...EXAMPLE_CONFIG.psam, serial: t.psamNo },
        card: { track2: CARD.track2, pin: CARD.pin },
        line: {
          ...EXAMPLE_CONFIG.line,
          transport: 'tcp-pcm',
          host: hosts[primary],
          port: tcpPcmPort,
          pace,
          callerNumber: t.ani,
          backups: [{ host: hosts.sp, port: tcpPcmPort, calledNumber: '95106' }],
        },
        timeouts: { ...EXAMPLE_CONFIG.timeouts, dialMs: 5_000 },
      },
      dataDir,
    );
  };
  const terminal = (): TerminalConfig => terminalConfig('T0000001', 'a1');
  const state = new MemoryStateStore({ stan: 700, batch: '000001', psamCounter: 700 });
  /** Each phone's memory (STAN, PSAM counter, keys, the pending purchase or owed reversal). */
  const stores: Record<string, MemoryStateStore> = {
    T0000001: state,
    T0000011: new MemoryStateStore({ stan: 800, batch: '000001', psamCounter: 800 }),
    T0000012: new MemoryStateStore({ stan: 900, batch: '000001', psamCounter: 900 }),
  };
  const phone = (terminalId: string, primary: Host, pace = false, onDisplay?: (l: readonly string[]) => void) =>
    new PosTerminal(terminalConfig(terminalId, primary, pace), {
      stateStore: stores[terminalId] ?? new MemoryStateStore(),
      ...(onDisplay === undefined ? {} : { onDisplay }),
    });
  const bankBalance = (): number => world?.bank?.account(CARD.pan)?.balanceMinor ?? Number.NaN;
  /** Settled (approved, not reversed) bank transactions per amount: each purchase has its own amount. */
  const settledByAmount = (): Map<number, number> => {
    const m = new Map<number, number>();
    for (const r of world?.bank?.settlementRecords() ?? []) m.set(r.amountMinor, (m.get(r.amountMinor) ?? 0) + 1);
    return m;
  };
  /** Until the gateways' reversal queue holds nothing pending (a reversal landed or expired). */
  const reversalsSettled = async (ms: number): Promise<void> => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if ((await db?.prisma.cardNetworkReversal.count({ where: { status: 'pending' } })) === 0) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`reversals still pending after ${ms} ms`);
  };
  const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'ops', ...args], {
        env: {
          PATH: lanEnv['PATH'],
          HOME: lanEnv['HOME'],
          FIXPAY_DATA_DIR: dataDir,
          FIXPAY_LOG_LEVEL: 'warn',
          FIXPAY_OPERATOR_TOKEN: lanEnv['FIXPAY_OPERATOR_TOKEN'],
          DATABASE_URL: database?.url,
          // Drain runs on the central workers (ADR 0033): the CLI starts the run on Temporal.
          FIXPAY_TEMPORAL_EMBEDDED: 'false',
          FIXPAY_TEMPORAL_HOST: lanEnv['FIXPAY_TEMPORAL_HOST'],
          FIXPAY_TEMPORAL_PORT: lanEnv['FIXPAY_TEMPORAL_PORT'],
          FIXPAY_TEMPORAL_NAMESPACE: lanEnv['FIXPAY_TEMPORAL_NAMESPACE'],
          FIXPAY_TEMPORAL_TASK_QUEUE: lanEnv['FIXPAY_TEMPORAL_TASK_QUEUE'],
          FIXPAY_CODEC_KEYS: lanEnv['FIXPAY_CODEC_KEYS'],
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });

  /** Until a workflow and an activity poll of the worker process `pid` reached the server after `since`. */
  const pollingAgain = async (pid: number | undefined, since: number, timeoutMs: number): Promise<void> => {
    const client = temporal?.client;
    if (client === undefined || pid === undefined) throw new Error('no client or no worker process');
    // The role processes' queue: the environment's when it names one, else the configured default.
    const name = lanEnv['FIXPAY_TEMPORAL_TASK_QUEUE'] ?? loadConfig().temporal.taskQueue;
    const heard = async (taskQueueType: proto.api.enums.v1.TaskQueueType): Promise<boolean> => {
      const r = await client.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name, kind: proto.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType,
      });
      return r.pollers.some(
        (p) => (p.identity ?? '').startsWith(`${pid}@`) && Number(p.lastAccessTime?.seconds ?? 0) * 1000 >= since,
      );
    };
    const deadline = Date.now() + timeoutMs;
    while (!(
      (await heard(proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)) &&
      (await heard(proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
    )) {
      if (Date.now() > deadline)
        throw new Error(`worker process ${pid} did not poll ${name} again within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  it('a worker host cut off, then another killed: purchases complete, nothing is lost or charged twice', async () => {
    const started = Date.now();
    const before = world?.bank?.account(CARD.pan)?.balanceMinor ?? 0;
    const buy = async (amounts: number[]): Promise<string[]> =>
      (
        await runTerminalScript({ config: terminal(), stateStore: state }, [
          ...amounts.map((a) => ({ step: 'purchase' as const, amountMinor: a })),
          { step: 'hang-up' },
        ])
      ).transactions.map((t) => {
        // The response code and failure name say why, should one not be approved.
        if (t.outcome !== 'approved')
          console.warn(`multihost: ${t.outcome} ${t.responseCode ?? ''} ${t.failure?.codeName ?? ''}`);
        return t.outcome;
      });

    expect(
      (await runTerminalScript({ config: terminal(), stateStore: state }, [{ step: 'sign-on' }, { step: 'hang-up' }]))
        .transactions[0]?.outcome,
    ).toBe('approved');
    expect(await buy([3_001, 3_002])).toEqual(['approved', 'approved']);

    // Worker host 1 loses its link: its polls hang, the other host takes the runs.
    ip('link', 'set', link('w1'), 'down');
    expect(await buy([3_003, 3_004])).toEqual(['approved', 'approved']);

    // The link comes back; worker host 2's processes die.
    const linkUp = Date.now();
    ip('link', 'set', link('w1'), 'up');
    // Polls answered while the link was down are lost, and TCP retransmits on its own backoff: worker
    // host 1 hears again only when its workflow and activity polls reach the server anew. Kill host
    // 2 before that and no worker is listening — the requests then decline 96, rightly.
    await pollingAgain(roles.w1?.child.pid, linkUp, 90_000);
    roles.w2?.child.kill('SIGKILL');
    if (roles.w2) await within(roles.w2.exited, 15_000, 'worker host 2 exit');
    expect(await buy([3_005, 3_006])).toEqual(['approved', 'approved']);

    expect(world?.bank?.account(CARD.pan)?.balanceMinor).toBe(before - (3_001 + 3_002 + 3_003 + 3_004 + 3_005 + 3_006));
    const client = temporal?.client;
    if (client === undefined) throw new Error('no client');
    const count = async (query: string): Promise<number> =>
      Number((await client.workflowService.countWorkflowExecutions({ namespace: 'default', query })).count);
    // No run failed, timed out or was terminated; the last one may still wait for the phone's next
    // message (ADR 0012): open, not lost.
    expect(
      await count(`ServiceId = 'purchase' AND ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut', 'Canceled')`),
    ).toBe(0);
    expect(await count(`ServiceId = 'purchase'`)).toBe(6);
    console.log(
      `multihost: 6 purchases approved across a dropped link and a killed host in ${Date.now() - started} ms`,
    );
  });

  it("rolling upgrade of the central workers under the phones' load: runs started on build A finish on A, new runs go to B, 0 failed", async () => {
    const started = Date.now();
    const since = new Date(started - 1_000).toISOString();
    const client = temporal?.client;
    if (client === undefined) throw new Error('no client');
    const count = async (query: string): Promise<number> =>
      Number((await client.workflowService.countWorkflowExecutions({ namespace: 'default', query })).count);
    const purchasesSince = `ServiceId = 'purchase' AND StartTime >= '${since}'`;
    // Worker host 2 (its processes killed above) comes back on build A: two central workers on A.
    if (roles.w2 !== undefined) retired.push(roles.w2);
    roles.w2 = startRole('worker', workerEnv, { netns: ns('w2'), readyTimeoutMs: READY_MS });
    expect(await roles.w2.ready).toMatch(/build fixpay-worker:build-a/);
    const workersA = [roles.w1, roles.w2].filter((r): r is RoleProcess => r !== undefined);

    // Live load: the three phones on both access nodes, call after call of two purchases each. Each
    // phone calls again, so the sale it left waiting for its verdict (ADR 0012) on build A, like
    // T0000001's last purchase above, is confirmed and its run closes on A: a phone that never
    // called again would keep its run, and build A, open for the verdict window.
    const outcomes: string[] = [];
    const failures: string[] = [];
    const approved: number[] = [];
    const control = { stop: false };
    // Small amounts, each its own (the card's balance lasts; the bank's records tell them apart).
    let amount = 101;
    const loop = async (id: string, primary: Host): Promise<void> => {
      const config = terminalConfig(id, primary);
      const stateStore = stores[id];
      if (stateStore === undefined) throw new Error(`no state for ${id}`);
      if (id !== 'T0000001') {
        const on = await runTerminalScript({ config, stateStore }, [{ step: 'sign-on' }, { step: 'hang-up' }]);
        expect(on.transactions[0]?.outcome).toBe('approved');
      }
      while (!control.stop) {
        const call = [amount++, amount++];
        try {
          const r = await runTerminalScript({ config, stateStore }, [
            ...call.map((a) => ({ step: 'purchase' as const, amountMinor: a })),
            { step: 'hang-up' },
          ]);
          r.transactions.forEach((t, i) => {
            outcomes.push(t.outcome);
            if (t.outcome === 'approved') approved.push(call[i] ?? 0);
            else failures.push(`${id} ${t.outcome} ${t.responseCode ?? ''} ${t.failure?.codeName ?? ''}`);
          });
        } catch (e) {
          outcomes.push('failed');
          failures.push(`${id} call failed: ${(e as Error).message}`);
        }
      }
    };
    const waitFor = async (n: number): Promise<void> => {
      const deadline = Date.now() + 240_000;
      while (outcomes.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    };
    const before = bankBalance();
    const traffic = Promise.all([loop('T0000001', 'a1'), loop('T0000011', 'a2'), loop('T0000012', 'a1')]);
    const figures = { openOnAAtSwitch: 0, afterSwitch: 0 };
    try {
      await waitFor(6);
      // Build B starts beside A on both worker hosts (its own metrics port on the host; A's SDK
      // metrics take the port after A's).
      for (const h of ['w1', 'w2'] as const)
        buildB.push(
          startRole(
            'worker',
            { ...workerEnv, FIXPAY_WORKER_BUILD_ID: BUILD_B, FIXPAY_METRICS_PORT: String(METRICS_PORT + 2) },
            { netns: ns(h), readyTimeoutMs: READY_MS },
          ),
        );
      for (const b of buildB) expect(await b.ready).toMatch(/build fixpay-worker:build-b/);
      // The operator makes B current (audited): new runs go to B, runs open on A stay on A.
      const switched = await cli([
        'deployment',
        'set-current',
        BUILD_B,
        '--operator',
        'release-bot',
        '--reason',
        'rolling upgrade in the multihost test',
      ]);
      expect({ code: switched.code, stdout: switched.stdout }).toEqual({
        code: 0,
        stdout: `current build is now ${BUILD_B}\n`,
      });
      figures.openOnAAtSwitch = await openRunsOnBuild(client, 'default', DEPLOYMENT, BUILD_A);
      const atSwitch = outcomes.length;
      await waitFor(atSwitch + 6);
      // A is drained once no open run is pinned to it; then its workers stop cleanly.
      const deadline = Date.now() + 180_000;
      while ((await openRunsOnBuild(client, 'default', DEPLOYMENT, BUILD_A)) > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 1_000));
      const drained = await cli(['deployment', 'drained', BUILD_A]);
      if (drained.code !== 0) {
        const open: string[] = [];
        for await (const w of client.workflow.list({
          query: `TemporalWorkerDeploymentVersion = '${DEPLOYMENT}:${BUILD_A}' AND ExecutionStatus = 'Running'`,
        }))
          open.push(w.workflowId);
        console.warn(`multihost rolling upgrade: still open on ${BUILD_A}: ${open.join(', ')}`);
      }
      expect(drained.code).toBe(0);
      for (const w of workersA) w.child.kill('SIGTERM');
      for (const w of workersA) expect(await within(w.exited, 60_000, 'build A worker exit')).toBe(0);
      // B alone serves the phones.
      await waitFor(outcomes.length + 6);
      figures.afterSwitch = outcomes.length - atSwitch;
    } finally {
      control.stop = true;
      await traffic;
    }

    const onA = await count(`${purchasesSince} AND TemporalWorkerDeploymentVersion = '${DEPLOYMENT}:${BUILD_A}'`);
    const finishedOnA = await count(
      `${purchasesSince} AND TemporalWorkerDeploymentVersion = '${DEPLOYMENT}:${BUILD_A}' AND ExecutionStatus = 'Completed'`,
    );
    const onB = await count(`${purchasesSince} AND TemporalWorkerDeploymentVersion = '${DEPLOYMENT}:${BUILD_B}'`);
    const all = await count(purchasesSince);
    const bad = await count(
      `${purchasesSince} AND ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut', 'Canceled')`,
    );
    console.log(
      `multihost rolling upgrade: purchases attempted ${outcomes.length}, approved ${approved.length}, failed ${failures.length}; runs on build-a ${onA} (finished on build-a ${finishedOnA}, open at the switch ${figures.openOnAAtSwitch}), on build-b ${onB}, ${figures.afterSwitch} purchases after the switch; runs failed ${bad} (${Date.now() - started} ms)`,
    );
    if (failures.length > 0) console.warn(`multihost rolling upgrade failures: ${failures.join('; ')}`);
    expect(failures).toEqual([]);
    expect(outcomes.length).toBeGreaterThanOrEqual(12);
    expect(bad).toBe(0);
    // Every run that started on A finished there; none is left open on A; the rest are on B.
    expect(onA).toBeGreaterThanOrEqual(2);
    expect(finishedOnA).toBe(onA);
    expect(await openRunsOnBuild(client, 'default', DEPLOYMENT, BUILD_A)).toBe(0);
    expect(onB).toBeGreaterThanOrEqual(2);
    expect(onA + onB).toBe(all);
    // The bank moved exactly the approved amounts: nothing charged twice, nothing lost.
    expect(bankBalance()).toBe(before - approved.reduce((a, b) => a + b, 0));
    const settled = settledByAmount();
    expect(approved.filter((a) => settled.get(a) !== 1)).toEqual([]);
    if (db === undefined) throw new Error('no database');
    expect((await ledgerCheck(db.prisma)).balanced).toBe(true);
  });

  it('access node A killed mid-call: phones redial the spare, each purchase completes or is reversed, none charged twice', async () => {
    const started = Date.now();
    // Every phone signs on (on A) with its own keys.
    for (const id of PHONES) {
      const p = phone(id, 'a1');
      expect((await p.signOn()).outcome).toBe('approved');
      await p.hangUp();
    }
    const before = bankBalance();
    // Three purchases at once on A, in real time (paced audio). T0000011 is a phone that does not
    // repeat (ADR 0012 allows either): it owes the reversal of a purchase cut off.
    const amounts: Record<string, number> = { T0000001: 4_101, T0000011: 4_102, T0000012: 4_103 };
    const waiting = new Set<string>();
    const phones = PHONES.map((id) =>
      phone(id, 'a1', true, (lines) => {
        if (lines.includes('WAITING...') || lines.includes('SENDING...')) waiting.add(id);
      }),
    );
    const done = new Set<string>();
    const first = phones.map((p, i) =>
      p.purchase(amounts[PHONES[i] ?? ''] ?? 0).then((r) => {
        done.add(PHONES[i] ?? '');
        return r;
      }),
    );
    // Kill A once every phone's request is on the line (or one has already finished).
    const until = Date.now() + 120_000;
    while (waiting.size < PHONES.length && done.size === 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 10));
    const inFlight = PHONES.filter((id) => !done.has(id) && waiting.has(id));
    roles.a1?.child.kill('SIGKILL');
    if (roles.a1) await within(roles.a1.exited, 15_000, 'access node A exit');

    const outcome: Record<string, 'completed' | 'reversed' | 'declined'> = {};
    const neverSeen: string[] = [];
    const results: TransactionResult[] = await Promise.all(first);
    for (const [i, p] of phones.entries()) {
      const id = PHONES[i] ?? '';
      let r = results[i];
      if (r?.outcome !== 'approved' && r?.outcome !== 'declined' && id !== 'T0000011') {
        // The phone calls again at once and repeats the request byte for byte: A refuses (it is
        // gone), the spare answers, and the repeat attaches to the purchase's run.
        r = await p.repeatLast();
        expect(p.dialled).toMatchObject({ host: hosts.sp, backup: true });
      }
      if (r?.outcome === 'approved') outcome[id] = 'completed';
      else if (r?.outcome === 'declined') outcome[id] = 'declined';
      else {
        // No valid answer: the phone sends its owed reversal on its next call (through the spare).
        // A valid 0410 ends it: 00 reversed, 25 the host never saw the sale (nothing to reverse).
        const rev = await p.settleReversal();
        expect(rev?.responseCode).toMatch(/^(00|25)$/);
        expect(p.owedReversal).toBeUndefined();
        outcome[id] = 'reversed';
        if (rev?.responseCode === '25') neverSeen.push(id);
      }
      await p.hangUp();
    }
    // Each phone's next purchase (on the spare) confirms the one before it (ADR 0012).
    for (const id of PHONES) {
      const p = phone(id, 'a1');
      const r = await p.purchase((amounts[id] ?? 0) + 1_000);
      expect(r.outcome).toBe('approved');
      expect(p.dialled).toMatchObject({ host: hosts.sp, backup: true });
      await p.hangUp();
    }
    await reversalsSettled(120_000);

    const completed = PHONES.filter((id) => outcome[id] === 'completed');
    const reversed = PHONES.filter((id) => outcome[id] === 'reversed');
    const settled = settledByAmount();
    const chargedTwice = PHONES.filter((id) => (settled.get(amounts[id] ?? 0) ?? 0) > 1).length;
    console.log(
      `multihost access node killed: calls in flight at the kill ${inFlight.length}, completed ${completed.length}, reversed ${reversed.length} (${neverSeen.length} never reached the host), charged twice ${chargedTwice} (${Date.now() - started} ms)`,
    );
    expect(inFlight.length).toBeGreaterThanOrEqual(1);
    expect(completed.length + reversed.length).toBe(PHONES.length);
    expect(chargedTwice).toBe(0);
    // The bank: each completed purchase settled once, each reversed one not at all, and the
    // account moved by exactly the completed purchases and the confirming ones.
    for (const id of completed) expect(settled.get(amounts[id] ?? 0)).toBe(1);
    for (const id of reversed) expect(settled.get(amounts[id] ?? 0)).toBeUndefined();
    const confirming = PHONES.reduce((n, id) => n + (amounts[id] ?? 0) + 1_000, 0);
    expect(bankBalance()).toBe(before - completed.reduce((n, id) => n + (amounts[id] ?? 0), 0) - confirming);
    // The ledger balances, and no purchase run failed.
    if (db === undefined) throw new Error('no database');
    expect((await ledgerCheck(db.prisma)).balanced).toBe(true);
    const client = temporal?.client;
    if (client === undefined) throw new Error('no client');
    expect(
      Number(
        (
          await client.workflowService.countWorkflowExecutions({
            namespace: 'default',
            query: `ServiceId = 'purchase' AND ExecutionStatus IN ('Failed', 'TimedOut', 'Canceled')`,
          })
        ).count,
      ),
    ).toBe(0);
  });

  it('access node B drained with fixpay ops drain: the call in progress goes on, new calls go to the spare, then B stops', async () => {
    const started = Date.now();
    const metricsOf = (h: Host): string => `${hosts[h]}:${METRICS_PORT}`;
    // A call on B that stays busy: purchase after purchase on the same call.
    const busy = phone('T0000001', 'a2');
    let amount = 5_001;
    const bought: TransactionResult[] = [await busy.purchase(amount++)];
    expect(busy.dialled).toMatchObject({ host: hosts.a2, backup: false });
    const drained = cli([
      'drain',
      nodeId('a2'),
      '--metrics',
      metricsOf('a2'),
      '--reason',
      'host maintenance in the multihost test',
      '--operator',
      'multihost',
      '--wait',
      '5m',
      '--json',
    ]);
    const draining = async (): Promise<boolean> => {
      const page = await fetch(`http://${metricsOf('a2')}/metrics`).then((r) => r.text());
      return /^fixpay_node_draining\{[^}]*\} 1$/m.test(page);
    };
    const until = Date.now() + 120_000;
    while (!(await draining()) && Date.now() < until) bought.push(await busy.purchase(amount++));
    expect(await draining()).toBe(true);
    const beforeDrain = bought.length;
    // The call in progress carries on after the drain: purchase after purchase on it (an idle call
    // would be hung up by the node after its idle timeout) while a new call and ops nodes happen.
    const busyState = { keep: true };
    const busyLoop = (async (): Promise<void> => {
      while (busyState.keep) bought.push(await busy.purchase(amount++));
    })();
    // A new call: B refuses it, the spare answers.
    const fresh = phone('T0000011', 'a2');
    const freshBuy = await fresh.purchase(6_001);
    expect(fresh.dialled).toMatchObject({ host: hosts.sp, backup: true });
    await fresh.hangUp();
    const nodes = await cli(['nodes', '--metrics', metricsOf('a2'), metricsOf('sp'), '--json']);
    busyState.keep = false;
    await busyLoop;
    expect(busy.dialled).toMatchObject({ host: hosts.a2, backup: false }); // never redialled
    expect(bought.length).toBeGreaterThan(beforeDrain);
    const seen = JSON.parse(nodes.stdout) as { node?: string; draining?: boolean; lines?: { busy: number } }[];
    expect(seen.map((n) => [n.node, n.draining, n.lines?.busy])).toEqual([
      [nodeId('a2'), true, 1],
      [nodeId('sp'), false, 0],
    ]);
    await busy.hangUp();
    const r = await drained;
    // The drain is a run on the central workers (ADR 0033): the CLI names it on stderr, nothing else.
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^started run ops:node\.drain:\S+ \(run again with --operation-id/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ nodeId: nodeId('a2'), draining: true, liveCalls: 0 });
    // Then it stops: SIGTERM, and it exits 0.
    roles.a2?.child.kill('SIGTERM');
    if (roles.a2) expect(await within(roles.a2.exited, 60_000, 'access node B exit')).toBe(0);
    expect(roles.a2?.output()).toMatch(/fixpay access-node stopped/);
    expect([...bought, freshBuy].map((t) => t.outcome)).toEqual([...bought, freshBuy].map(() => 'approved'));
    const audit = await db?.prisma.auditEvent.findMany({ where: { subject: `node:${nodeId('a2')}` } });
    expect(audit?.map((e) => [e.actor, e.action])).toEqual([['operator:multihost', 'node.drain']]);
    console.log(
      `multihost access node drained: ${bought.length} purchases on the call in progress (${bought.length - beforeDrain} after the drain began), new call refused and approved on the spare, node stopped with exit 0 (${Date.now() - started} ms)`,
    );
  });
});
