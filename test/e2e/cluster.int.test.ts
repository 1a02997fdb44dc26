/**
 * The cluster path (issue 17): the real Temporal server (v1.29.1, built by `fixpay temporal server
 * install`) on the machine's PostgreSQL, its databases created and migrated by the SQL tool, two
 * central workers and an access node as separate processes against it. Purchases over FSK are
 * approved; one worker is killed with SIGKILL between purchases and the next purchases are still
 * approved by the other. Every process serves /metrics; a real Prometheus (Debian's) scrapes the
 * surviving worker, the access node and the Temporal server with the shipped alerting rules loaded.
 *
 * Needs a PostgreSQL server (DATABASE_URL) and the server binaries in the cache (`.ci/run` builds
 * them when Go is present); skipped with a warning otherwise.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { loadConfig } from '../../config';
import { DEMO } from '../../demo/seed';
import type { DemoWorld } from '../../demo/world';
import type { Database } from '../../infra/database';
import {
  findServerBinaries,
  frontendAddress,
  serverDatabaseFromUrl,
  setupServerSchemas,
  startServer,
  writeServerConfig,
} from '../../infra/temporal/server';
import type { RunningServer } from '../../infra/temporal/server';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import { createDatabase, freePort, prepareRoleWorld, startRole, within } from '../support/roles';
import type { RoleProcess } from '../support/roles';
import { serverPorts } from '../support/temporal-server';

const prometheusBinary = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p));

/** Debian's Prometheus with a scrape config for `jobs` (1 s interval) and the shipped alert rules. */
async function startPrometheus(
  binary: string,
  dir: string,
  jobs: Record<string, string[]>,
): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const home = join(dir, 'prometheus');
  mkdirSync(home, { recursive: true });
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [join(__dirname, '..', '..', 'ops', 'prometheus', 'alerts.yml')],
    scrape_configs: Object.entries(jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
  };
  writeFileSync(join(home, 'prometheus.yml'), JSON.stringify(config));
  const child = spawn(
    binary,
    [
      `--config.file=${join(home, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(home, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('prometheus did not become ready');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The value of the one series of `name` whose labels include `labels` (any order), or undefined. */
function series(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf('}'));
    const found: Record<string, string | undefined> = Object.fromEntries(
      [...inside.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const CARD = { track2: '6225880000000001=30122011234567890', pin: '123456', pan: '6225880000000001' };

const serverUrl = loadConfig().database.url;
const binaries = findServerBinaries(loadConfig().temporal.cacheDir);
const runnable = serverUrl !== undefined && binaries !== undefined;
if (!runnable)
  console.warn(
    'cluster.int.test.ts skipped: needs DATABASE_URL (a PostgreSQL server) and `fixpay temporal server install`',
  );
const describeCluster = runnable ? describe : describe.skip;

describeCluster('the real Temporal server on PostgreSQL, two workers and an access node', () => {
  jest.setTimeout(420_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-cluster-'));
  const suffix = randomBytes(5).toString('hex');
  const temporalDb = `fixpay_tsrv_${suffix}`;
  const visibilityDb = `fixpay_tsrv_${suffix}_vis`;
  let server: RunningServer | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  let db: Database | undefined;
  let world: DemoWorld | undefined;
  const roles: RoleProcess[] = [];
  let tcpPcmPort = 0;
  let metricsUrl = '';
  const roleMetricsPorts: Record<string, number> = {};
  const roleSdkMetricsPorts: Record<string, number> = {};

  beforeAll(async () => {
    if (binaries === undefined || serverUrl === undefined) throw new Error('not runnable');
    const ports = await serverPorts();
    const options = {
      db: serverDatabaseFromUrl(serverUrl, temporalDb, visibilityDb),
      bindAddress: '127.0.0.1',
      ports,
      numHistoryShards: 2,
      logLevel: 'warn' as const,
    };
    await setupServerSchemas(binaries.sqlTool, options.db);
    const root = writeServerConfig(join(dataDir, 'temporal-server'), options);
    metricsUrl = `http://127.0.0.1:${ports.metrics}/metrics`;
    [server, database] = await Promise.all([
      startServer({
        server: binaries.server,
        root,
        address: frontendAddress(options),
        metricsUrl,
        namespace: 'default',
        startTimeoutMs: 120_000,
      }),
      createDatabase(serverUrl, 'fixpay_cluster'),
    ]);

    let childEnv: NodeJS.ProcessEnv;
    ({
      db,
      world,
      env: childEnv,
    } = await prepareRoleWorld({
      dataDir,
      databaseUrl: database.url,
      temporalAddress: `127.0.0.1:${ports.frontend}`,
      nodeId: 'cluster',
      logName: 'cluster-test',
    }));
    // Two central workers (the first deploys the definitions the access node resolves), then the node.
    for (const name of ['worker-1', 'worker-2', 'access-node']) {
      roleMetricsPorts[name] = await freePort();
      roleSdkMetricsPorts[name] = await freePort();
    }
    const withMetrics = (name: string): NodeJS.ProcessEnv => ({
      ...childEnv,
      FIXPAY_METRICS_PORT: String(roleMetricsPorts[name]),
      FIXPAY_SDK_METRICS_PORT: String(roleSdkMetricsPorts[name]),
    });
    const first = startRole('worker', withMetrics('worker-1'));
    roles.push(first);
    await first.ready;
    const second = startRole('worker', withMetrics('worker-2'));
    roles.push(second);
    await second.ready;
    const access = startRole('access-node', withMetrics('access-node'));
    roles.push(access);
    tcpPcmPort = Number(/TCP PCM [^:]+:(\d+)/.exec(await access.ready)?.[1]);
  }, 420_000);

  afterAll(async () => {
    for (const r of roles) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await Promise.all(roles.map((r) => within(r.exited, 15_000, 'role exit').catch(() => undefined)));
    await world?.stop();
    await db?.close();
    await database?.drop();
    await server?.stop();
    if (serverUrl !== undefined) {
      const admin = new PgClient({ connectionString: serverUrl });
      await admin.connect();
      for (const name of [temporalDb, visibilityDb])
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  const terminal = (): ReturnType<typeof parseTerminalConfig> => {
    const t = DEMO.terminals[0];
    if (t === undefined) throw new Error('no demo terminal');
    return parseTerminalConfig(
      {
        ...EXAMPLE_CONFIG,
        terminalId: t.terminalId,
        psam: { ...EXAMPLE_CONFIG.psam, serial: t.psamNo },
        card: { track2: CARD.track2, pin: CARD.pin },
        line: {
          ...EXAMPLE_CONFIG.line,
          transport: 'tcp-pcm',
          host: '127.0.0.1',
          port: tcpPcmPort,
          pace: false,
          callerNumber: t.ani,
        },
      },
      dataDir,
    );
  };
  const state = new MemoryStateStore({ stan: 300, batch: '000001', psamCounter: 300 });

  it('purchases are approved through the real server; a worker killed with SIGKILL leaves the other serving', async () => {
    const before = world?.bank?.account(CARD.pan)?.balanceMinor ?? 0;
    const first = await runTerminalScript({ config: terminal(), stateStore: state }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 1_111 },
      { step: 'purchase', amountMinor: 1_112 },
      { step: 'hang-up' },
    ]);
    expect(first.transactions.map((t) => t.outcome)).toEqual(['approved', 'approved', 'approved']);

    const killed = roles[0];
    if (killed === undefined) throw new Error('no worker');
    killed.child.kill('SIGKILL');
    await within(killed.exited, 15_000, 'the killed worker exit');

    const second = await runTerminalScript({ config: terminal(), stateStore: state }, [
      { step: 'purchase', amountMinor: 1_113 },
      { step: 'purchase', amountMinor: 1_114 },
      { step: 'hang-up' },
    ]);
    expect(second.transactions.map((t) => t.outcome)).toEqual(['approved', 'approved']);
    expect(world?.bank?.account(CARD.pan)?.balanceMinor).toBe(before - (1_111 + 1_112 + 1_113 + 1_114));
  });

  it("the server's Prometheus endpoint counts the requests it served", async () => {
    const text = await (await fetch(metricsUrl)).text();
    // Frontend request counters exist once the workers have polled.
    expect(text).toMatch(/^service_requests\{[^}]*operation="PollWorkflowTaskQueue"[^}]*\} \d+/m);
  });

  it('the worker and the access node serve their metrics: runs by service and outcome, host latency, calls', async () => {
    const scrape = async (name: string): Promise<string> =>
      (await fetch(`http://127.0.0.1:${roleMetricsPorts[name]}/metrics`)).text();
    const worker = await scrape('worker-2');
    const access = await scrape('access-node');
    // The surviving worker completed at least the two purchases made after the kill.
    const completed = [
      ...worker.matchAll(
        /^fixpay_runs_total\{[^}]*service="purchase",outcome="COMPLETED",status="completed"[^}]*\} (\d+)/gm,
      ),
    ].reduce((n, m) => n + Number(m[1]), 0);
    expect(completed).toBeGreaterThanOrEqual(2);
    expect(worker).toMatch(/^fixpay_activity_duration_seconds_count\{[^}]*result="ok"[^}]*\} \d+/m);
    expect(worker).toMatch(/^fixpay_reversal_queue_depth\{status="pending",process="worker",node="cluster"\} 0$/m);
    // The purchases' PIN translations went through the worker's metered HSM.
    expect(series(worker, 'fixpay_hsm_commands_total', { command: 'translatePin', result: 'ok' })).toBeGreaterThan(0);
    expect(series(worker, 'fixpay_webhook_backlog', { status: 'pending', process: 'worker' })).toBe(0);
    expect(series(access, 'fixpay_host_latency_seconds_count', { service: 'purchase' })).toBe(4);
    expect(series(access, 'fixpay_calls_total', { event: 'answered' })).toBe(2);
    // No card number, PIN block or terminal id in any label or value.
    for (const text of [worker, access]) {
      expect(text).not.toContain(CARD.pan);
      expect(text).not.toMatch(/T0000001/);
    }
  });

  it("the worker and the access node serve the Temporal SDK's own metrics on their SDK port", async () => {
    const scrape = async (name: string): Promise<string> =>
      (await fetch(`http://127.0.0.1:${roleSdkMetricsPorts[name]}/metrics`)).text();
    const worker = await scrape('worker-2');
    const access = await scrape('access-node');
    // The worker's workflow tasks and activities, labelled with its process and node (durations in ms).
    expect(
      series(worker, 'temporal_workflow_task_execution_latency_count', {
        workflow_type: 'serviceInterpreter',
        task_queue: 'services',
        process: 'worker',
        node: 'cluster',
      }),
    ).toBeGreaterThan(0);
    expect(
      series(worker, 'temporal_activity_execution_latency_count', { activity_type: 'authorizeCard' }),
    ).toBeGreaterThan(0);
    expect(series(worker, 'temporal_worker_task_slots_available', { worker_type: 'WorkflowWorker' })).toBeGreaterThan(
      0,
    );
    expect(worker).toMatch(/^temporal_sticky_cache_size\{[^}]*process="worker"[^}]*\} \d+/m);
    // The access node runs an activity worker on its lines queue only.
    expect(
      series(access, 'temporal_activity_execution_latency_count', {
        activity_type: 'deliverTerminalResponse',
        task_queue: 'lines.cluster',
        process: 'access-node',
      }),
    ).toBeGreaterThan(0);
    expect(series(access, 'temporal_num_pollers', { poller_type: 'activity_task' })).toBeGreaterThan(0);
    for (const text of [worker, access]) {
      expect(text).not.toContain(CARD.pan);
      expect(text).not.toMatch(/T0000001/);
    }
  });

  it('a real Prometheus scrapes the processes and loads the alerting rules', async () => {
    if (prometheusBinary === undefined) {
      console.warn('prometheus not installed (Debian package prometheus): scrape test not run');
      return;
    }
    const prom = await startPrometheus(prometheusBinary, dataDir, {
      'fixpay-worker': [`127.0.0.1:${roleMetricsPorts['worker-2']}`],
      'fixpay-access-node': [`127.0.0.1:${roleMetricsPorts['access-node']}`],
      temporal: [new URL(metricsUrl).host],
      'temporal-sdk': [`127.0.0.1:${roleSdkMetricsPorts['worker-2']}`],
    });
    try {
      const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
        const r = (await (await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as {
          data: { result: { metric: Record<string, string>; value: [number, string] }[] };
        };
        return r.data.result;
      };
      const deadline = Date.now() + 60_000;
      let up: { metric: Record<string, string>; value: [number, string] }[] = [];
      while (Date.now() < deadline) {
        up = await query('up == 1');
        if (up.length === 4) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(up.map((s) => s.metric['job']).sort()).toEqual([
        'fixpay-access-node',
        'fixpay-worker',
        'temporal',
        'temporal-sdk',
      ]);
      const runs = await query('sum(fixpay_runs_total{service="purchase",outcome="COMPLETED"})');
      expect(Number(runs[0]?.value[1])).toBeGreaterThanOrEqual(2);
      const tasks = await query('sum(temporal_workflow_task_execution_latency_count{process="worker"})');
      expect(Number(tasks[0]?.value[1])).toBeGreaterThan(0);
      const rules = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as {
        data: { groups: { rules: { name: string; health: string }[] }[] };
      };
      const loaded = rules.data.groups.flatMap((g) => g.rules);
      expect(loaded.map((r) => r.name).sort()).toEqual([
        'FixpayLineQualityFalling',
        'FixpayLinesFull',
        'FixpayNodeDown',
        'FixpayReversalQueueStuck',
        'FixpayRunsFailing',
        'FixpayWebhookBacklogStuck',
      ]);
    } finally {
      await prom.stop();
    }
  });
});
