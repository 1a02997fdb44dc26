/**
 * `fixpay ops reversal replay <key>` as an operator runs it: the real CLI in a child process, a real
 * card network gateway (its durable reversal queue on PostgreSQL) and the bank simulator over TCP.
 * A purchase's answer is lost, its reversal's answers are lost too and it expires unacknowledged;
 * the operator replays it twice at once; it is acknowledged, applied exactly once at the bank, each
 * replay is in the audit log, and a third replay of the done reversal is refused with nothing sent.
 * Each replay is a run on the central worker's task queue (ADR 0033: a real Temporal dev server and
 * the operator-action worker): its input and result name the operator and the outcome, and the
 * same --operation-id given again attaches to the same run instead of acting again.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, processEnv } from '../../config';
import { openDatabase } from '../../infra/database';
import type { Database } from '../../infra/database';
import { PrismaRequestJournal, PrismaReversalQueue } from '../../gateways/card-network/prisma-store';
import { connectGateway, purchase, startBank, waitFor } from '../../simulator/bank/harness';
import { startOpsWorker } from '../../test/support/ops-worker';
import type { OpsWorker } from '../../test/support/ops-worker';
import { createDatabase } from '../../test/support/roles';
import type { OperatorActionOutcome } from '../../activities/operator-actions';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { WorkflowExecutionDescription } from '@temporalio/client';

const keyword = (d: WorkflowExecutionDescription, name: string): string | undefined =>
  d.typedSearchAttributes.get(defineSearchAttributeKey(name, SearchAttributeType.KEYWORD));

const BIN = join(__dirname, '..', '..', 'bin', 'fixpay.js');
const serverUrl = loadConfig().database.url;
const describeWithPostgres = serverUrl === undefined ? describe.skip : describe;
if (serverUrl === undefined) console.warn('reversal-replay.int.test.ts skipped: the ops CLI needs DATABASE_URL');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describeWithPostgres('fixpay ops reversal replay', () => {
  jest.setTimeout(400_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-replay-'));
  let database: { url: string; drop(): Promise<void> };
  let db: Database;
  let ops: OpsWorker;

  const cli = (args: string[]): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'ops', ...args], {
        env: {
          PATH: processEnv()['PATH'],
          HOME: processEnv()['HOME'],
          FIXPAY_DATA_DIR: dataDir,
          FIXPAY_LOG_LEVEL: 'warn',
          DATABASE_URL: database.url,
          ...ops.cliEnv,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });

  beforeAll(async () => {
    database = await createDatabase(serverUrl ?? '', 'fixpay_replay');
    db = await openDatabase(loadConfig({ DATABASE_URL: database.url }));
    ops = await startOpsWorker(db.prisma, 'o'.repeat(40));
  });
  afterAll(async () => {
    await ops.stop();
    await db.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('an expired reversal replayed twice lands once; a done one is refused; bad input changes nothing', async () => {
    const sim = await startBank();
    const reversals = new PrismaReversalQueue(db.prisma);
    const journal = new PrismaRequestJournal(db.prisma);
    // Two attempts, then the reversal expires (the network never acknowledges it).
    const gateway = connectGateway(
      sim.port,
      { reversals, journal },
      { reversals: { pollIntervalMs: 50, retryDelayMsMin: 50, retryDelayMsMax: 100, attemptsMax: 2 } },
    );
    try {
      const req = purchase({ amountMinor: 4_321 });
      const before = sim.bank.account(req.pan)?.balanceMinor ?? 0;
      sim.server.inject({ kind: 'drop', mti: '0200' });
      sim.server.inject({ kind: 'drop', mti: '0400' });
      for (let i = 0; i < 20; i++) sim.server.inject({ kind: 'drop', mti: '0401' });
      await waitFor(() => gateway.isSignedOn, 90_000);
      await expect(gateway.authorize(req)).rejects.toMatchObject({ codeName: 'CARD_NETWORK_NO_RESPONSE' });
      await waitFor(async () => (await reversals.get(req.idempotencyKey))?.status === 'expired', 60_000);
      // The issuer applied the first 0400 but every answer was lost: the record expired without an
      // acknowledgement, so the platform cannot know the money came back. The replays' 0401s are
      // answered 00 and applied no second time.
      expect(sim.bank.reversalsOf(req.terminalId, req.stan)).toBe(1);
      expect(sim.bank.account(req.pan)?.balanceMinor).toBe(before);
      sim.server.clearFaults();
      const sentBefore = sim.bank.stats.reversalMessages;

      // Bad input and unknown keys: refused, nothing audited, nothing re-queued.
      const [shortReason, unknown] = await Promise.all([
        cli(['reversal', 'replay', req.idempotencyKey, '--reason', 'short', '--operator', 'bob']),
        cli(['reversal', 'replay', 'no-such-key', '--reason', 'stuck since the outage', '--operator', 'bob']),
      ]);
      expect(shortReason.code).toBe(2);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/FP1055 OPS_REVERSAL_NOT_FOUND/);
      expect((await reversals.get(req.idempotencyKey))?.status).toBe('expired');

      // Replayed twice at once: both audited, the reversal lands once.
      const replay = (): Promise<CliResult> =>
        cli([
          'reversal',
          'replay',
          req.idempotencyKey,
          '--reason',
          'network acknowledged nothing during the outage',
          '--operator',
          'bob',
          '--json',
        ]);
      const [r1, r2] = await Promise.all([replay(), replay()]);
      // Each one re-queued it, or found it already done (the forwarder sent it within milliseconds
      // of the first): FP1054, exit 1. At least one re-queued it.
      for (const r of [r1, r2])
        if (r.code !== 0)
          expect({ code: r.code, out: r.stdout }).toEqual({ code: 1, out: expect.stringMatching(/FP1054/) as string });
      const ok = [r1, r2].filter((r) => r.code === 0);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      const shown = JSON.parse(ok[0]?.stdout ?? '') as Record<string, unknown>;
      expect(shown).toMatchObject({ key: req.idempotencyKey, maskedPan: '622588******0001', amountMinor: 4_321 });
      expect(r1.stdout + r2.stdout).not.toContain(req.pan);
      await waitFor(async () => (await reversals.get(req.idempotencyKey))?.status === 'done', 60_000);
      const done = await reversals.get(req.idempotencyKey);
      expect(done).toMatchObject({ lastResponseCode: '00' });
      expect(done?.replays).toBeGreaterThanOrEqual(1);
      expect(sim.bank.reversalsOf(req.terminalId, req.stan)).toBe(1);
      expect(sim.bank.account(req.pan)?.balanceMinor).toBe(before);
      const audit = await db.prisma.auditEvent.findMany({ where: { subject: `reversal:${req.idempotencyKey}` } });
      // Audited before acting: every replay that found it open (a refused one that found it done is not).
      expect(audit.length).toBeGreaterThanOrEqual(ok.length);
      expect(audit.length).toBeLessThanOrEqual(2);
      for (const e of audit) expect([e.actor, e.action]).toEqual(['operator:bob', 'reversal.replay']);
      // Each replay was a run: its id in the audit row, its result the operator and the outcome.
      const runIds = [r1, r2].map((r) => /run (ops:reversal\.replay:\S+)/.exec(r.stderr)?.[1]);
      for (const id of runIds) expect(id).toBeDefined();
      for (const e of audit) expect(runIds).toContain((e.details as Record<string, string>)['workflowId']);
      const okRun = runIds[[r1, r2].findIndex((r) => r.code === 0)] ?? '';
      const described = await ops.env.client.workflow.getHandle(okRun).describe();
      expect(described.status.name).toBe('COMPLETED');
      expect(keyword(described, 'ServiceId')).toBe('ops.reversal.replay');
      expect(keyword(described, 'Outcome')).toBe('ok');
      const outcome = (await ops.env.client.workflow.getHandle(okRun).result()) as OperatorActionOutcome;
      expect(outcome).toMatchObject({
        ok: true,
        operator: 'bob',
        kind: 'reversal.replay',
        result: { status: 'pending' },
      });
      expect(JSON.stringify(outcome)).not.toContain(req.pan);

      // A third replay of the done reversal: refused, not audited, nothing sent.
      const sentAfter = sim.bank.stats.reversalMessages;
      expect(sentAfter).toBeGreaterThan(sentBefore);
      const third = await cli([
        'reversal',
        'replay',
        req.idempotencyKey,
        '--reason',
        'network acknowledged nothing during the outage',
        '--operator',
        'carol',
        '--operation-id',
        'replay-third-1',
        '--json',
      ]);
      expect(third.code).toBe(1);
      expect(third.stdout).toMatch(/FP1054/);
      // The refusal is the run's outcome, visible with the operator; the same operation id given
      // again (a CLI run again after a crash) attaches to that run and acts no second time.
      const thirdRun = `ops:reversal.replay:${req.idempotencyKey}:replay-third-1`;
      expect(third.stderr).toContain(`started run ${thirdRun}`);
      expect(await ops.env.client.workflow.getHandle(thirdRun).result()).toMatchObject({
        ok: false,
        operator: 'carol',
        codeName: 'OPS_REVERSAL_NOT_REPLAYABLE',
      });
      expect(keyword(await ops.env.client.workflow.getHandle(thirdRun).describe(), 'Outcome')).toBe(
        'OPS_REVERSAL_NOT_REPLAYABLE',
      );
      const again = await cli([
        'reversal',
        'replay',
        req.idempotencyKey,
        '--reason',
        'network acknowledged nothing during the outage',
        '--operator',
        'carol',
        '--operation-id',
        'replay-third-1',
      ]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`attached to run ${thirdRun}`);
      expect(again.stderr).toMatch(/FP1054/);
      await new Promise((r) => setTimeout(r, 500));
      expect(sim.bank.stats.reversalMessages).toBe(sentAfter);
      expect(await db.prisma.auditEvent.count({ where: { subject: `reversal:${req.idempotencyKey}` } })).toBe(
        audit.length,
      );
    } finally {
      await gateway.stop();
      await sim.server.close();
    }
  }, 300_000);
});
