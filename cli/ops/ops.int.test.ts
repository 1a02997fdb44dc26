/**
 * `fixpay ops` as an operator runs it: the real CLI in a child process against a real Temporal dev
 * server and a real database. Runs named like the platform's complete, hang on a failing step or
 * fail; the CLI lists and filters them, finds the stuck one, terminates it (audited, reason checked),
 * refuses to retry a completed run and retries the failed one from its failed step without running
 * its completed steps again; it checks the ledger, shows the reversal queue and key check values
 * without card data, and reads node state from a metrics endpoint.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { processEnv } from '../../config';
import { currency } from '../../domain/money';
import { PrismaLedgerStore } from '../../ledger/store';
import { loadConfig } from '../../config';
import { openDatabase } from '../../infra/database';
import type { Database } from '../../infra/database';
import { createDatabase } from '../../test/support/roles';
import { startTestServer, testDataConverter } from '../../test/support/temporal';
import type { OpsTestActivities } from '../../test/support/ops-workflows';

const BIN = join(__dirname, '..', '..', 'bin', 'fixpay.js');
const PAN = '6225880000000001';
const TASK_QUEUE = 'ops-test';
const DATE = '20261203';
const CNY = currency('CNY');

const ServiceId = defineSearchAttributeKey('ServiceId', SearchAttributeType.KEYWORD);
const TerminalId = defineSearchAttributeKey('TerminalId', SearchAttributeType.KEYWORD);

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `fixpay ops` reads the database as the roles do (a whole database): the machine's PostgreSQL. */
const serverUrl = loadConfig().database.url;
const describeWithPostgres = serverUrl === undefined ? describe.skip : describe;
if (serverUrl === undefined)
  console.warn('ops.int.test.ts skipped: the ops CLI needs a PostgreSQL server (set DATABASE_URL)');

describeWithPostgres('fixpay ops against a real Temporal server and database', () => {
  jest.setTimeout(300_000);
  let env: TestWorkflowEnvironment;
  let db: Database;
  let database: { url: string; drop(): Promise<void> };
  let worker: Worker;
  let running: Promise<void>;
  let metrics: Server;
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-ops-'));
  const counts = { step: 0, flaky: 0 };
  let flakyFails = true;

  const cli = (...args: string[]): Promise<CliResult> => {
    const [host, port] = env.address.split(':');
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'ops', ...args], {
        env: {
          PATH: processEnv()['PATH'],
          HOME: processEnv()['HOME'],
          FIXPAY_DATA_DIR: dataDir,
          FIXPAY_LOG_LEVEL: 'warn',
          FIXPAY_TEMPORAL_EMBEDDED: 'false',
          FIXPAY_TEMPORAL_HOST: host,
          FIXPAY_TEMPORAL_PORT: port,
          DATABASE_URL: db.url,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  };
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape
  const json = <T>(r: CliResult): T => {
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`not JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`);
    }
  };

  const start = (id: string, mode: 'complete' | 'hang' | 'flaky', service: string, terminal: string) =>
    env.client.workflow.start('opsTestWorkflow', {
      workflowId: id,
      taskQueue: TASK_QUEUE,
      args: [mode],
      typedSearchAttributes: new TypedSearchAttributes([
        { key: ServiceId, value: service },
        { key: TerminalId, value: terminal },
      ]),
    });

  const ids = {
    completed: `purchase:T0000001:000101:${DATE}`,
    hanging: `purchase:T0000002:000102:${DATE}`,
    failed: `balance:T0000001:000103:${DATE}`,
  };

  beforeAll(async () => {
    [env, database] = await Promise.all([startTestServer(), createDatabase(serverUrl ?? '', 'fixpay_ops')]);
    db = await openDatabase(loadConfig({ DATABASE_URL: database.url }));
    const activities: OpsTestActivities = {
      step: (name) => {
        counts.step++;
        return Promise.resolve(`${name} done`);
      },
      flaky: () => {
        counts.flaky++;
        if (flakyFails) return Promise.reject(new Error('the step failed'));
        return Promise.resolve('flaky done');
      },
      // The failure names a card number: the CLI must never print it.
      hang: () => Promise.reject(new Error(`card ${PAN} refused by the network`)),
    };
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowsPath: require.resolve('../../test/support/ops-workflows'),
      dataConverter: testDataConverter(),
      activities,
    });
    running = worker.run();
    await (await start(ids.completed, 'complete', 'purchase', 'T0000001')).result();
    await start(ids.hanging, 'hang', 'purchase', 'T0000002');
    await expect((await start(ids.failed, 'flaky', 'balance', 'T0000001')).result()).rejects.toThrow();
    // Visibility trails the runs by a moment.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const n = await env.client.workflowService.countWorkflowExecutions({
        namespace: 'default',
        query: `TaskQueue = '${TASK_QUEUE}'`,
      });
      if (Number(n.count) >= 3) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    metrics = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(
          [
            '# TYPE fixpay_lines gauge',
            'fixpay_lines{state="busy",process="access-node",node="a"} 3',
            'fixpay_lines{state="free",process="access-node",node="a"} 5',
            'fixpay_lines{state="reserved",process="access-node",node="a"} 2',
            'fixpay_lines_max{process="access-node",node="a"} 10',
            'fixpay_node_draining{process="access-node",node="a"} 1',
            'fixpay_line_snr_db{window="last",process="access-node",node="a"} 21.5',
            'fixpay_calls_total{event="answered",process="access-node",node="a"} 42',
            '',
          ].join('\n'),
        );
    });
    await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', () => r()));
  }, 300_000);

  afterAll(async () => {
    metrics.close();
    worker.shutdown();
    await running;
    await env.teardown();
    await db.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  interface Row {
    workflowId: string;
    status: string;
    service?: string;
    terminal?: string;
    stan?: string;
  }

  it('lists runs by terminal, STAN, service and status', async () => {
    const byTerminal = json<Row[]>(await cli('runs', '--terminal', 'T0000001', '--json'));
    expect(byTerminal.map((r) => r.workflowId).sort()).toEqual([ids.failed, ids.completed].sort());
    const byStan = json<Row[]>(await cli('runs', '--stan', '000102', '--json'));
    expect(byStan).toEqual([
      expect.objectContaining({
        workflowId: ids.hanging,
        status: 'running',
        service: 'purchase',
        terminal: 'T0000002',
        stan: '000102',
      }),
    ]);
    const failed = json<Row[]>(await cli('runs', '--service', 'balance', '--status', 'failed', '--json'));
    expect(failed.map((r) => r.workflowId)).toEqual([ids.failed]);
    const human = await cli('runs', '--service', 'purchase');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^RUN\s+STATUS/);
    expect(human.stdout).toContain(ids.completed);
  });

  it('refuses bad filters with a clear error and exit 2, and never queries with them', async () => {
    for (const args of [
      ['--terminal', "T1' OR 1=1"],
      ['--stan', '12345', '--status', 'lost'],
      ['--service', 'Purchase;'],
      ['--limit', '0'],
    ]) {
      const r = await cli('runs', ...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error FP1003 BAD_REQUEST: /);
    }
  });

  it('finds the stuck run with its failing step, its attempts and no card number', async () => {
    // Wait for a few attempts of the failing step.
    const deadline = Date.now() + 60_000;
    let stuck: {
      workflowId: string;
      pendingActivities: { activity: string; attempt: number; lastFailure?: string }[];
    }[] = [];
    let r: CliResult = { code: null, stdout: '', stderr: '' };
    while (Date.now() < deadline) {
      r = await cli('stuck', '--older-than', '1s', '--json');
      stuck = json<typeof stuck>(r);
      if ((stuck[0]?.pendingActivities[0]?.attempt ?? 0) >= 2) break;
    }
    expect(r.code).toBe(1); // something is stuck
    expect(stuck.map((s) => s.workflowId)).toEqual([ids.hanging]);
    const activity = stuck[0]?.pendingActivities[0];
    expect(activity?.activity).toBe('hang');
    expect(activity?.attempt).toBeGreaterThanOrEqual(2);
    // Failure messages are encrypted by the platform's failure converter: only the codec shows them.
    expect(activity?.lastFailure).toBe('Encoded failure');
    const human = await cli('describe', ids.hanging);
    for (const text of [r.stdout, human.stdout, human.stderr]) expect(text).not.toContain(PAN);
    expect(human.stdout).toContain('pending    hang');
    // Nothing older than a day is stuck.
    const none = await cli('stuck', '--older-than', '1d');
    expect(none.code).toBe(0);
    expect(none.stdout.trim()).toBe('no stuck runs');
  });

  it('describe: an unknown run is FP1004 (exit 1), a malformed one FP1003 (exit 2)', async () => {
    const unknown = await cli('describe', `purchase:T0000009:000999:${DATE}`, '--json');
    expect(unknown.code).toBe(1);
    expect(json<{ error: { code: string } }>(unknown).error.code).toBe('FP1004');
    const bad = await cli('describe', 'a b');
    expect(bad.code).toBe(2);
  });

  it('terminate needs a reason without card data and an operator, is audited, and only once', async () => {
    const noReason = await cli('terminate', ids.hanging, '--operator', 'alice');
    expect(noReason.code).not.toBe(0);
    expect(noReason.stderr).toMatch(/--reason/);
    const withPan = await cli('terminate', ids.hanging, '--operator', 'alice', '--reason', `card ${PAN} stuck`);
    expect(withPan.code).toBe(2);
    expect(withPan.stderr).toMatch(/FP1049/);
    expect(withPan.stderr).not.toContain(PAN);
    const short = await cli('terminate', ids.hanging, '--operator', 'alice', '--reason', 'why');
    expect(short.code).toBe(2);
    const badOperator = await cli(
      'terminate',
      ids.hanging,
      '--operator',
      'a b',
      '--reason',
      'network refuses the step',
    );
    expect(badOperator.code).toBe(2);
    expect((await env.client.workflow.getHandle(ids.hanging).describe()).status.name).toBe('RUNNING');

    const ok = await cli(
      'terminate',
      ids.hanging,
      '--operator',
      'alice',
      '--reason',
      'network refuses the step',
      '--json',
    );
    expect(ok.code).toBe(0);
    expect(json<{ status: string }>(ok).status).toBe('terminated');
    const history = await env.client.workflow.getHandle(ids.hanging).fetchHistory();
    const terminated = history.events?.find((e) => e.workflowExecutionTerminatedEventAttributes);
    expect(terminated?.workflowExecutionTerminatedEventAttributes?.reason).toBe(
      'network refuses the step (operator alice)',
    );
    expect(terminated?.workflowExecutionTerminatedEventAttributes?.identity).toBe('fixpay-ops/alice');
    const audit = await db.prisma.auditEvent.findMany({ where: { subject: `run:${ids.hanging}` } });
    expect(audit).toEqual([
      expect.objectContaining({
        actor: 'operator:alice',
        action: 'run.terminate',
        details: expect.objectContaining({ reason: 'network refuses the step' }) as unknown,
      }),
    ]);
    const again = await cli('terminate', ids.hanging, '--operator', 'alice', '--reason', 'network refuses the step');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/FP1048 OPS_RUN_NOT_OPEN/);
  });

  it('never retries a completed run; retries a failed one from its failed step only', async () => {
    const completed = await cli('retry', ids.completed, '--operator', 'bob', '--reason', 'customer says not charged');
    expect(completed.code).toBe(1);
    expect(completed.stderr).toMatch(/FP1047 OPS_RUN_NOT_RETRYABLE/);

    const stepsBefore = counts.step;
    const flakyBefore = counts.flaky;
    flakyFails = false;
    const r = await cli(
      'retry',
      ids.failed,
      '--operator',
      'bob',
      '--reason',
      'network back after the outage',
      '--json',
    );
    expect(r.code).toBe(0);
    const { newRunId } = json<{ newRunId: string }>(r);
    expect(newRunId).toMatch(/^[0-9a-f-]{36}$/);
    const result: unknown = await env.client.workflow.getHandle(ids.failed, newRunId).result();
    expect(result).toBe('first done+flaky done');
    expect(counts.step).toBe(stepsBefore); // the completed step did not run again
    expect(counts.flaky).toBe(flakyBefore + 1);
    const audit = await db.prisma.auditEvent.findMany({ where: { subject: `run:${ids.failed}`, action: 'run.retry' } });
    expect(audit).toHaveLength(1);
  });

  it('ledger: balanced exits 0; a journal that does not sum to zero exits 1', async () => {
    const ledger = new PrismaLedgerStore(db.prisma);
    const base = BigInt(Date.now()) * 1000n;
    expect(
      await ledger.createAccounts([
        { id: base + 1n, ledger: 156, code: 1, currency: CNY.code },
        { id: base + 2n, ledger: 156, code: 1, currency: CNY.code },
      ]),
    ).toEqual(['ok', 'ok']);
    await ledger.createTransfers([
      { id: base + 3n, debitAccountId: base + 1n, creditAccountId: base + 2n, amount: 1_500n, ledger: 156, code: 1 },
    ]);
    const ok = await cli('ledger', '--json');
    expect(ok.code).toBe(0);
    expect(json<{ balanced: boolean; ledgers: { postedDifference: string; debitsPosted: string }[] }>(ok)).toEqual(
      expect.objectContaining({ balanced: true }),
    );
    // A row written behind the ledger's back: the debits no longer equal the credits.
    await db.prisma.$executeRawUnsafe(`UPDATE ledger_account SET debits_posted = debits_posted + 7 WHERE ledger = 156`);
    const broken = await cli('ledger');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/LEDGER NOT BALANCED/);
  });

  it('reversal queue and key check values show no card number and no key handle', async () => {
    const now = new Date();
    await db.prisma.cardNetworkReversal.create({
      data: {
        key: `rev-${randomUUID()}`,
        status: 'pending',
        originalMti: '0200',
        processingCode: '000000',
        amount: '000000001500',
        currency: '156',
        stan: '000104',
        transmissionDateTime: '1203120000',
        terminalId: 'T0000001',
        merchantId: 'M00000000000001',
        acquirerId: '12345678',
        forwardingId: '12345678',
        reasonCode: '68',
        maskedPan: '622588******0001',
        attempts: 3,
        deadlineAt: new Date(now.getTime() + 3_600_000),
        nextAttemptAt: now,
        lastError: 'timeout',
        createdAt: new Date(now.getTime() - 120_000),
        updatedAt: now,
      },
    });
    const q = await cli('reversals', '--json');
    expect(q.code).toBe(0);
    const view = json<{ byStatus: Record<string, number>; oldestOpenAgeSeconds: number; open: { stan: string }[] }>(q);
    expect(view.byStatus['pending']).toBe(1);
    expect(view.oldestOpenAgeSeconds).toBeGreaterThanOrEqual(100);
    expect(view.open.map((r) => r.stan)).toEqual(['000104']);
    expect(q.stdout).not.toContain(PAN);

    const handle = 'S10096P0TN00N0000' + 'AB'.repeat(40);
    await db.prisma.terminalKey.create({
      data: {
        terminalId: 'T0000001',
        tmk: { handle, type: 'TMK', algorithm: 'TDES', kcv: 'a1b2c3' },
        currentKeys: {
          version: 2,
          layout: '004',
          createdAtMs: now.getTime(),
          tpk: { handle, type: 'TPK', algorithm: 'TDES', kcv: '0f0e0d' },
          tak: { handle, type: 'TAK', algorithm: 'TDES', kcv: '112233' },
        },
        updatedAt: now,
      },
    });
    const keys = await cli('keys', '--terminal', 'T0000001');
    expect(keys.code).toBe(0);
    expect(keys.stdout).toMatch(/T0000001\s+A1B2C3\s+2\s+0F0E0D\s+112233/);
    expect(keys.stdout).not.toContain(handle);
    const missing = await cli('keys', '--terminal', 'T0000099');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/FP1004/);
  });

  it('node status from a metrics endpoint; an unreachable one is DOWN and exits 1', async () => {
    const port = (metrics.address() as AddressInfo).port;
    const up = await cli('nodes', '--metrics', `127.0.0.1:${port}`, '--json');
    expect(up.code).toBe(0);
    expect(json<unknown[]>(up)).toEqual([
      expect.objectContaining({
        up: true,
        lines: { busy: 3, free: 5, reserved: 2, max: 10 },
        draining: true,
        snrDb: { last: 21.5 },
        calls: { answered: 42 },
      }),
    ]);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const down = await cli('nodes', '--metrics', `127.0.0.1:${port}`, `127.0.0.1:${deadPort}`);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/DOWN/);
    expect(down.stdout).toMatch(/FP1050/);
    const bad = await cli('nodes', '--metrics', 'file:///etc/passwd');
    expect(bad.code).toBe(2);
  });
});
