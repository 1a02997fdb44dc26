// Reversals that always land, across a gateway that dies: a real child process sends a purchase
// whose response the simulator drops, and is SIGKILLed while waiting. A fresh gateway on the same
// database finds the armed reversal after its deadline, sends 0400 (its answer dropped too), then
// 0401, and the bank applies the reversal exactly once.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestDatabase } from '../../test/support/database';
import { startTestDatabase } from '../../test/support/database';
import { connectGateway, purchase, startBank, waitFor } from '../../simulator/bank/harness';
import { PrismaReconciliationExceptionQueue, PrismaRequestJournal, PrismaReversalQueue } from './prisma-store';
import { reconcile } from './settlement';

jest.setTimeout(90_000);

describe('durable reversal queue (Prisma)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase();
  });
  afterAll(async () => {
    await db.close();
  });

  it('lands the reversal exactly once after the sending gateway process is killed', async () => {
    const sim = await startBank();
    const req = purchase({ amountMinor: 7_700 });
    const before = sim.bank.account(req.pan)!.balanceMinor;
    sim.server.inject({ kind: 'drop', mti: '0200' });
    sim.server.inject({ kind: 'drop', mti: '0400' });

    const child = spawn(
      process.execPath,
      [
        '--require',
        'tsx/cjs',
        join(__dirname, '..', '..', 'simulator', 'bank', 'gateway-child.ts'),
        String(sim.port),
        db.url,
        db.schema,
        JSON.stringify(req),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`gateway child exited early (${code ?? 'signal'})`)));
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.includes('"sent":true')) resolve();
      });
    });
    await waitFor(() => sim.bank.sawOriginal(req.terminalId, req.stan), 10_000);
    child.kill('SIGKILL');
    await exited;

    const reversals = new PrismaReversalQueue(db.prisma);
    expect((await reversals.get(req.idempotencyKey))?.status).toBe('armed');
    expect(sim.bank.account(req.pan)!.balanceMinor).toBe(before - 7_700);

    const gateway = connectGateway(sim.port, { reversals, journal: new PrismaRequestJournal(db.prisma) });
    try {
      await waitFor(async () => (await reversals.get(req.idempotencyKey))?.status === 'done', 20_000);
      expect(sim.bank.stats.reversalMessages).toBe(2); // 0400 (answer dropped) then 0401
      expect(sim.bank.reversalsOf(req.terminalId, req.stan)).toBe(1);
      expect(sim.bank.account(req.pan)!.balanceMinor).toBe(before);
      const record = await reversals.get(req.idempotencyKey);
      expect(record).toMatchObject({ attempts: 1, lastResponseCode: '00', maskedPan: '622588******0001' });
      // The activity retried on the new gateway learns the outcome without sending anything.
      await expect(gateway.authorize(req)).rejects.toMatchObject({ codeName: 'CARD_NETWORK_NO_RESPONSE' });
      // No clear PAN in the database.
      const rows =
        JSON.stringify(await db.prisma.cardNetworkReversal.findMany()) +
        JSON.stringify(await db.prisma.cardNetworkRequest.findMany());
      expect(rows).not.toContain(req.pan);
    } finally {
      await gateway.stop();
      await sim.server.close();
    }
  });

  it('survives a torn-down gateway instance with a reversal pending, and keeps reconciliation exceptions', async () => {
    const sim = await startBank();
    const reversals = new PrismaReversalQueue(db.prisma);
    const journal = new PrismaRequestJournal(db.prisma);
    const req = purchase({ amountMinor: 990 });
    const before = sim.bank.account(req.pan)!.balanceMinor;
    sim.server.inject({ kind: 'drop', mti: '0200' });
    // Every reversal answer is lost while the first gateway lives.
    sim.server.inject({ kind: 'drop', mti: '0400' });
    for (let i = 0; i < 50; i++) sim.server.inject({ kind: 'drop', mti: '0401' });
    const first = connectGateway(sim.port, { reversals, journal }, { requestTimeoutMs: 300 });
    await waitFor(() => first.isSignedOn);
    await expect(first.authorize(req)).rejects.toMatchObject({ codeName: 'CARD_NETWORK_NO_RESPONSE' });
    await waitFor(() => sim.bank.stats.reversalMessages >= 2);
    await first.stop();
    expect((await reversals.get(req.idempotencyKey))?.status).toBe('pending');
    sim.server.clearFaults();

    const second = connectGateway(sim.port, { reversals, journal });
    try {
      await waitFor(async () => (await reversals.get(req.idempotencyKey))?.status === 'done', 20_000);
      expect(sim.bank.reversalsOf(req.terminalId, req.stan)).toBe(1);
      expect(sim.bank.account(req.pan)!.balanceMinor).toBe(before);
    } finally {
      await second.stop();
      await sim.server.close();
    }

    const queue = new PrismaReconciliationExceptionQueue(db.prisma);
    const record = {
      terminalId: 'TERM0001',
      stan: '000001',
      date: '1126',
      amountMinor: 100,
      currency: '156',
      processingCode: '000000',
    };
    const report = reconcile(
      [record],
      [
        { ...record, amountMinor: 101 },
        { ...record, stan: '000002' },
      ],
    );
    await queue.push('batch-1', report.exceptions);
    expect((await queue.open('batch-1')).map((e) => e.kind).sort()).toEqual(['amount_mismatch', 'short']);
  });

  it('keeps an operator replay that lands between a forwarder read and its markExpired/markRetry', async () => {
    const reversals = new PrismaReversalQueue(db.prisma);
    const t0 = new Date('2026-12-03T10:00:00Z');
    const at = (ms: number): Date => new Date(t0.getTime() + ms);
    const message = {
      originalMti: '0200',
      processingCode: '000000',
      amount: '000000001000',
      currency: '156',
      stan: '000777',
      transmissionDateTime: '1203100000',
      terminalId: 'TERM0001',
      merchantId: 'MERCHANT0000001',
      acquirerId: '1234',
      forwardingId: '5678',
      reasonCode: '98',
    };
    for (const [key, stale] of [
      ['race-expire', (seen: number) => reversals.markExpired('race-expire', 'gave up after 5 attempts', at(3), seen)],
      [
        'race-retry',
        (seen: number) =>
          reversals.markRetry('race-retry', { attempts: 9, nextAttemptAt: at(999_999), lastError: 'X' }, at(3), seen),
      ],
    ] as const) {
      await reversals.enqueue({ key, message, deadlineAt: t0 }, t0);
      const [read] = (await reversals.claimDue(at(1), 100, 60_000)).filter((r) => r.key === key);
      expect(read).toBeDefined();
      expect(await reversals.replay(key, at(2))).toBe('replayed');
      await stale(read!.replays ?? 0);
      const after = await reversals.get(key);
      expect(after).toMatchObject({ status: 'pending', attempts: 0, replays: 1, nextAttemptAt: at(2) });
      expect(after?.leaseUntil).toBeUndefined();
      expect(after?.lastError).toBeUndefined();
    }
    // Without a replay in between, the forwarder's decision stands.
    await reversals.enqueue({ key: 'no-race', message, deadlineAt: t0 }, t0);
    const [read] = (await reversals.claimDue(at(1), 100, 60_000)).filter((r) => r.key === 'no-race');
    await reversals.markExpired('no-race', 'gave up', at(3), read!.replays ?? 0);
    expect((await reversals.get('no-race'))?.status).toBe('expired');
  });
});
