/**
 * The cluster path (issue 17): the real Temporal server (v1.29.1, built by `fixpay temporal server
 * install`) on the machine's PostgreSQL, its databases created and migrated by the SQL tool, two
 * central workers and an access node as separate processes against it. Purchases over FSK are
 * approved; one worker is killed with SIGKILL between purchases and the next purchases are still
 * approved by the other; the server's own Prometheus endpoint answers.
 *
 * Needs a PostgreSQL server (DATABASE_URL) and the server binaries in the cache (`.ci/run` builds
 * them when Go is present); skipped with a warning otherwise.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { loadConfig } from '../../config';
import { DEMO } from '../../demo/seed';
import { prepareDemoWorld } from '../../demo/world';
import type { DemoWorld } from '../../demo/world';
import { openDatabase } from '../../infra/database';
import type { Database } from '../../infra/database';
import { createLogger } from '../../infra/logging';
import {
  DEFAULT_SERVER_PORTS,
  findServerBinaries,
  frontendAddress,
  serverDatabaseFromUrl,
  setupServerSchemas,
  startServer,
  writeServerConfig,
} from '../../infra/temporal/server';
import type { RunningServer, ServerConfigOptions } from '../../infra/temporal/server';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import { createDatabase, freePort, startRole, within } from '../support/roles';
import type { RoleProcess } from '../support/roles';
import { TEST_CODEC_KEYS } from '../support/temporal';

const CARD = { track2: '6225880000000001=30122011234567890', pin: '123456', pan: '6225880000000001' };

const serverUrl = loadConfig().database.url;
const binaries = findServerBinaries(loadConfig().temporal.cacheDir);
const runnable = serverUrl !== undefined && binaries !== undefined;
if (!runnable)
  console.warn(
    'cluster.int.test.ts skipped: needs DATABASE_URL (a PostgreSQL server) and `fixpay temporal server install`',
  );
const describeCluster = runnable ? describe : describe.skip;

/** A block of free ports for one server host: frontend, +1, +2, +6, +10, membership −300, pprof +703. */
async function serverPorts(): Promise<ServerConfigOptions['ports']> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 9_000);
    const wanted = [0, 1, 2, 6, 10, -300, -299, -298, -294, 703].map((d) => base + d);
    const metrics = await freePort();
    if (await allFree(wanted)) {
      return {
        ...DEFAULT_SERVER_PORTS,
        frontend: base,
        frontendHttp: base + 10,
        history: base + 1,
        matching: base + 2,
        worker: base + 6,
        metrics,
        pprof: base + 703,
      };
    }
  }
  throw new Error('no free block of ports for the Temporal server');
}

async function allFree(ports: number[]): Promise<boolean> {
  const { createServer } = await import('node:net');
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

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

    const lmk = randomBytes(32).toString('hex');
    const base = { FIXPAY_DATA_DIR: dataDir, FIXPAY_CARD_NETWORK_HOST: '127.0.0.1', FIXPAY_LOG_LEVEL: 'warn' };
    db = await openDatabase(loadConfig({ ...base, DATABASE_URL: database.url }));
    world = await prepareDemoWorld({
      config: loadConfig(base),
      prisma: db.prisma,
      lmkHex: lmk,
      log: createLogger('cluster-test', { level: 'warn' }),
      bankPort: 0,
    });
    const [tcp, sip, api, codec] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const childEnv: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      ...base,
      DATABASE_URL: db.url,
      FIXPAY_TEMPORAL_EMBEDDED: 'false',
      FIXPAY_TEMPORAL_HOST: '127.0.0.1',
      FIXPAY_TEMPORAL_PORT: String(ports.frontend),
      FIXPAY_LMK: lmk,
      FIXPAY_CODEC_KEYS: TEST_CODEC_KEYS,
      FIXPAY_OPERATOR_TOKEN: randomBytes(16).toString('hex'),
      FIXPAY_HSM_CLIENT_SECRET: randomBytes(32).toString('hex'),
      FIXPAY_BANK_SIMULATOR: 'false',
      FIXPAY_CARD_NETWORK_PORT: String(world.bankPort),
      FIXPAY_NODE_ID: 'cluster',
      FIXPAY_ACCESS_HOST: '127.0.0.1',
      FIXPAY_TCP_PCM_PORT: String(tcp),
      FIXPAY_SIP_PORT: String(sip),
      FIXPAY_API_HOST: '127.0.0.1',
      FIXPAY_API_PORT: String(api),
      FIXPAY_CODEC_PORT: String(codec),
    };
    // Two central workers (the first deploys the definitions the access node resolves), then the node.
    const first = startRole('worker', childEnv);
    roles.push(first);
    await first.ready;
    const second = startRole('worker', childEnv);
    roles.push(second);
    await second.ready;
    const access = startRole('access-node', childEnv);
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
});
