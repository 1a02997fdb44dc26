/**
 * The roles as processes (issue 11): `fixpay worker`, `fixpay access-node` and `fixpay api` run as
 * three separate processes against one Temporal dev server and one database; the demo room (demo
 * data, demo keys, key directory, bank simulator) is prepared by the test. A simulated phone's
 * purchase over FSK is approved through them, and SIGTERM to the access node mid-call lets the
 * call finish before the process exits 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../../config';
import { DEMO } from '../../demo/seed';
import type { DemoWorld } from '../../demo/world';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import type { TerminalConfig } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import { PosTerminal } from '../../simulator/terminal/terminal';
import type { Database } from '../../infra/database';
import { startTestServer } from '../support/temporal';
import { createDatabase, prepareRoleWorld, startRole, within } from '../support/roles';
import type { RoleProcess } from '../support/roles';

const CARD = { track2: '6225880000000001=30122011234567890', pin: '123456', pan: '6225880000000001' };
const EXIT_TIMEOUT_MS = 30_000;

/** The machine's PostgreSQL (DATABASE_URL); the embedded PGlite serves one connection, not three processes. */
const serverUrl = loadConfig().database.url;
const describeWithPostgres = serverUrl === undefined ? describe.skip : describe;
if (serverUrl === undefined)
  console.warn('roles.int.test.ts skipped: three processes need a PostgreSQL server (set DATABASE_URL)');

describeWithPostgres('fixpay worker, access-node and api as three processes', () => {
  jest.setTimeout(300_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-roles-'));
  let env: TestWorkflowEnvironment | undefined;
  let db: Database | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  let world: DemoWorld | undefined;
  const roles: RoleProcess[] = [];
  let tcpPcmPort = 0;
  let apiUrl = '';

  beforeAll(async () => {
    [env, database] = await Promise.all([startTestServer(), createDatabase(serverUrl ?? '')]);
    let childEnv: NodeJS.ProcessEnv;
    ({
      db,
      world,
      env: childEnv,
    } = await prepareRoleWorld({
      dataDir,
      databaseUrl: database.url,
      temporalAddress: env.address,
      nodeId: 'roles',
      logName: 'roles-test',
    }));
    // The worker deploys the definitions the access node resolves: it comes up first.
    const worker = startRole('worker', childEnv);
    roles.push(worker);
    await worker.ready;
    const access = startRole('access-node', childEnv);
    const apiRole = startRole('api', childEnv);
    roles.push(access, apiRole);
    const accessReady = await access.ready;
    tcpPcmPort = Number(/TCP PCM [^:]+:(\d+)/.exec(accessReady)?.[1]);
    apiUrl = /ready: (http:\/\/\S+)/.exec(await apiRole.ready)?.[1] ?? '';
  }, 300_000);

  afterAll(async () => {
    for (const r of roles) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await world?.stop();
    await db?.close();
    await database?.drop();
    await env?.teardown();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function terminal(pace: boolean): TerminalConfig {
    const t = DEMO.terminals[0];
    if (t === undefined) throw new Error('no demo terminal');
    return parseTerminalConfig(
      {
        ...EXAMPLE_CONFIG,
        terminalId: t.terminalId,
        psam: { ...EXAMPLE_CONFIG.psam, serial: t.psamNo },
        // The bank simulator's first test card (demo accounts).
        card: { track2: CARD.track2, pin: CARD.pin },
        line: {
          ...EXAMPLE_CONFIG.line,
          transport: 'tcp-pcm',
          host: '127.0.0.1',
          port: tcpPcmPort,
          pace,
          callerNumber: t.ani,
        },
      },
      dataDir,
    );
  }

  it('a purchase over FSK is approved through the three processes; the API answers its health check', async () => {
    const before = world?.bank?.account(CARD.pan)?.balanceMinor ?? 0;
    const r = await runTerminalScript(
      { config: terminal(false), stateStore: new MemoryStateStore({ stan: 100, batch: '000001', psamCounter: 100 }) },
      [{ step: 'sign-on' }, { step: 'purchase', amountMinor: 1_250 }, { step: 'hang-up' }],
    );
    expect(r.transactions.map((t) => t.outcome)).toEqual(['approved', 'approved']);
    expect(world?.bank?.account(CARD.pan)?.balanceMinor).toBe(before - 1_250);
    const health = await fetch(`${apiUrl}/health`);
    expect(health.status).toBe(200);
  });

  it('SIGTERM to the access node mid-call lets the call finish, then the process exits 0', async () => {
    const access = roles[1];
    if (access === undefined) throw new Error('no access node');
    const pos = new PosTerminal(terminal(true), {
      stateStore: new MemoryStateStore({ stan: 200, batch: '000001', psamCounter: 200 }),
    });
    try {
      expect((await pos.signOn()).outcome).toBe('approved');
      // The call is up and a purchase is on the line (paced: real time) when the signal comes.
      const purchase = pos.purchase(900);
      await new Promise((resolve) => setTimeout(resolve, 300));
      access.child.kill('SIGTERM');
      expect(await purchase).toMatchObject({ outcome: 'approved', responseCode: '00' });
    } finally {
      await pos.hangUp();
    }
    expect(await within(access.exited, EXIT_TIMEOUT_MS, 'the access node exit')).toBe(0);
    expect(access.output()).toContain('fixpay access-node stopped');

    // The other roles drain and exit 0 too.
    for (const r of [roles[0], roles[2]]) r?.child.kill('SIGTERM');
    for (const r of [roles[0], roles[2]])
      expect(await within(r?.exited ?? Promise.resolve(null), EXIT_TIMEOUT_MS, 'exit')).toBe(0);
  });
});
