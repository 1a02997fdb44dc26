/**
 * A rolling upgrade of the central workers under traffic (ADR 0022, docs/operations/rolling-upgrade.md):
 * `fixpay worker` of build A takes purchases over FSK from a looping phone; a worker of build B
 * starts; the operator makes B current with `fixpay ops deployment set-current`; A's open runs
 * finish on A (pinned); once `fixpay ops deployment drained A` says so, A gets SIGTERM and exits 0;
 * B serves the rest. No purchase fails, no run fails, each run is on the build it started on, and
 * the bank moved exactly the approved amounts.
 *
 * Needs a PostgreSQL server (DATABASE_URL): three processes share the database. Skipped otherwise.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../../config';
import { DEMO } from '../../demo/seed';
import type { DemoWorld } from '../../demo/world';
import type { Database } from '../../infra/database';
import { openRunsOnBuild } from '../../infra/temporal/deployments';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import type { TerminalConfig } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import { createDatabase, prepareRoleWorld, startRole, within } from '../support/roles';
import type { RoleProcess } from '../support/roles';
import { startTestServer } from '../support/temporal';

const CARD = { track2: '6225880000000001=30122011234567890', pin: '123456', pan: '6225880000000001' };
const BIN = join(__dirname, '..', '..', 'bin', 'fixpay.js');
const DEPLOYMENT = 'fixpay-worker';

const serverUrl = loadConfig().database.url;
const describeWithPostgres = serverUrl === undefined ? describe.skip : describe;
if (serverUrl === undefined)
  console.warn('rolling-upgrade.int.test.ts skipped: three processes need a PostgreSQL server (set DATABASE_URL)');

describeWithPostgres('rolling upgrade of the central workers under traffic (Worker Versioning)', () => {
  jest.setTimeout(600_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-upgrade-'));
  let env: TestWorkflowEnvironment | undefined;
  let db: Database | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  let world: DemoWorld | undefined;
  let childEnv: NodeJS.ProcessEnv = {};
  const roles: RoleProcess[] = [];
  let tcpPcmPort = 0;

  beforeAll(async () => {
    [env, database] = await Promise.all([startTestServer(), createDatabase(serverUrl ?? '', 'fixpay_upgrade')]);
    ({
      db,
      world,
      env: childEnv,
    } = await prepareRoleWorld({
      dataDir,
      databaseUrl: database.url,
      temporalAddress: env.address,
      nodeId: 'upgrade',
      logName: 'upgrade-test',
    }));
  }, 300_000);

  afterAll(async () => {
    for (const r of roles) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await Promise.all(roles.map((r) => within(r.exited, 15_000, 'role exit').catch(() => undefined)));
    await world?.stop();
    await db?.close();
    await database?.drop();
    await env?.teardown();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const terminal = (): TerminalConfig => {
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

  const ops = (...args: string[]): Promise<{ code: number | null; out: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'ops', ...args], {
        env: childEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => resolve({ code, out }));
    });

  it('build B takes new runs, build A finishes its own and stops; no purchase and no run fails', async () => {
    if (env === undefined) throw new Error('no server');
    const client = env.client;
    const workerA = startRole('worker', { ...childEnv, FIXPAY_WORKER_BUILD_ID: 'build-a' });
    roles.push(workerA);
    // The first build of a deployment makes itself current.
    expect(await workerA.ready).toMatch(/build fixpay-worker:build-a/);
    const access = startRole('access-node', childEnv);
    roles.push(access);
    tcpPcmPort = Number(/TCP PCM [^:]+:(\d+)/.exec(await access.ready)?.[1]);

    // The phone loops: one call of two purchases after another, until told to stop.
    const state = new MemoryStateStore({ stan: 500, batch: '000001', psamCounter: 500 });
    const outcomes: string[] = [];
    const amounts: number[] = [];
    const control = { stop: false };
    let amount = 2_000;
    const traffic = (async () => {
      await runTerminalScript({ config: terminal(), stateStore: state }, [{ step: 'sign-on' }, { step: 'hang-up' }]);
      while (!control.stop) {
        const call = [amount++, amount++];
        const r = await runTerminalScript({ config: terminal(), stateStore: state }, [
          ...call.map((a) => ({ step: 'purchase' as const, amountMinor: a })),
          { step: 'hang-up' },
        ]);
        r.transactions.forEach((t, i) => {
          outcomes.push(t.outcome);
          if (t.outcome === 'approved') amounts.push(call[i] ?? 0);
        });
      }
    })();
    const waitFor = async (n: number): Promise<void> => {
      const deadline = Date.now() + 240_000;
      while (outcomes.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    };
    const before = world?.bank?.account(CARD.pan)?.balanceMinor ?? 0;
    try {
      await waitFor(2);

      // Build B starts (same task queue, same deployment) while the phone keeps buying.
      const workerB = startRole('worker', { ...childEnv, FIXPAY_WORKER_BUILD_ID: 'build-b' });
      roles.push(workerB);
      expect(await workerB.ready).toMatch(/build fixpay-worker:build-b/);
      const switched = await ops(
        'deployment',
        'set-current',
        'build-b',
        '--operator',
        'release-bot',
        '--reason',
        'rolling upgrade to build-b',
      );
      expect(switched).toEqual({ code: 0, out: 'current build is now build-b\n' });
      const switchedAt = outcomes.length;
      await waitFor(switchedAt + 2);

      // Build A is drained once no open run is pinned to it; then it stops cleanly.
      const deadline = Date.now() + 120_000;
      while ((await openRunsOnBuild(client, 'default', DEPLOYMENT, 'build-a')) > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 500));
      const drained = await ops('deployment', 'drained', 'build-a');
      expect(drained.code).toBe(0);
      workerA.child.kill('SIGTERM');
      expect(await within(workerA.exited, 60_000, 'worker A exit')).toBe(0);
      await waitFor(outcomes.length + 2);
    } finally {
      control.stop = true;
      await traffic;
    }

    // Zero failed purchases; the bank moved exactly what was approved.
    expect(outcomes.length).toBeGreaterThanOrEqual(6);
    expect(outcomes.filter((o) => o !== 'approved')).toEqual([]);
    expect(world?.bank?.account(CARD.pan)?.balanceMinor).toBe(before - amounts.reduce((a, b) => a + b, 0));

    // Every purchase run completed; runs are on A before the switch and on B after it.
    const count = async (query: string): Promise<number> =>
      Number((await client.workflowService.countWorkflowExecutions({ namespace: 'default', query })).count);
    // No run failed, timed out or was terminated; a run still open (the last ones wait for the
    // phone's next message or their grace, ADR 0012) is on the current build B, never stranded on A.
    expect(
      await count(`ServiceId = 'purchase' AND ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut', 'Canceled')`),
    ).toBe(0);
    expect(await openRunsOnBuild(client, 'default', DEPLOYMENT, 'build-a')).toBe(0);
    const open = await count(`ServiceId = 'purchase' AND ExecutionStatus = 'Running'`);
    expect(await openRunsOnBuild(client, 'default', DEPLOYMENT, 'build-b')).toBe(open);
    const onA = await count(`ServiceId = 'purchase' AND TemporalWorkerDeploymentVersion = '${DEPLOYMENT}:build-a'`);
    const onB = await count(`ServiceId = 'purchase' AND TemporalWorkerDeploymentVersion = '${DEPLOYMENT}:build-b'`);
    expect(onA).toBeGreaterThanOrEqual(2);
    expect(onB).toBeGreaterThanOrEqual(2);
    expect(onA + onB).toBe(await count(`ServiceId = 'purchase'`));
    const shown = await ops('deployment', 'show', '--json');
    const view = JSON.parse(shown.out) as { currentBuildId: string; versions: { buildId: string; openRuns: number }[] };
    expect(view.currentBuildId).toBe('build-b');
    expect(view.versions.find((v) => v.buildId === 'build-a')?.openRuns).toBe(0);
    console.log(
      `rolling upgrade: ${outcomes.length} purchases approved (${onA} runs on build-a, ${onB} on build-b, ${open} still open on build-b), 0 failed`,
    );
  });
});
