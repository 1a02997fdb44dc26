import { ApplicationFailure } from '@temporalio/common';
import { createLedgerActivities } from '../activities/ledger';
import { createTerminalActivities } from '../activities/terminals';
import { PrismaLedgerStore } from '../ledger/store';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { CoreRepository } from './repository';
import { accountIdFor, DEMO, seedDemo } from '../demo/seed';

describe('business core on the database', () => {
  let db: TestDatabase;
  let core: CoreRepository;
  let ledger: PrismaLedgerStore;

  beforeAll(async () => {
    db = await startTestDatabase();
    core = new CoreRepository(db.prisma);
    ledger = new PrismaLedgerStore(db.prisma);
    await seedDemo({ core, ledger });
  }, 60_000);
  afterAll(async () => {
    await db.close();
  });
  afterEach(async () => {
    for (const t of await ledger.totals()) {
      expect(t.debitsPosted).toBe(t.creditsPosted);
      expect(t.debitsPending).toBe(t.creditsPending);
    }
  });

  it('seeds idempotently: terminals in service, accounts funded once', async () => {
    const again = await seedDemo({ core, ledger });
    expect(again.terminals).toEqual(DEMO.terminals.map((t) => ({ id: t.terminalId, state: 'in_service' })));
    const [household] = await ledger.lookupAccounts([accountIdFor('customer-funds:H0001')]);
    expect(household?.creditsPosted).toBe(DEMO.householdFundsMinor);
    const history = await db.prisma.terminalStateChange.findMany({
      where: { terminalId: 'T0000001' },
      orderBy: { id: 'asc' },
    });
    expect(history.map((h) => h.event)).toEqual(['register', 'bind', 'activate', 'downloadKeys']);
  });

  it('checks the binding: right line passes, wrong caller number is refused', async () => {
    const activities = createTerminalActivities({ core });
    expect(
      await activities.checkBinding({ terminalId: 'T0000001', ani: '+86 21 5000 0001', psamId: 'A1B2C3D4E5F60001' }),
    ).toEqual({
      bound: true,
      merchantId: 'M0001',
      accountId: 'merchant:M0001',
      resultCode: 'FP1000',
      reason: 'OK',
    });
    expect(await activities.checkBinding({ terminalId: 'T0000001', ani: '862150000002' })).toMatchObject({
      bound: false,
      reason: 'BINDING_ANI_MISMATCH',
    });
    expect(await activities.checkBinding({ terminalId: 'T0000009', ani: '862150000001' })).toMatchObject({
      bound: false,
      reason: 'TERMINAL_UNKNOWN',
    });
  });

  it('refuses a second binding of the same number and walks suspend/resume', async () => {
    expect(
      await core.registerTerminal({ id: 'T0000003', customerId: 'M0001', deviceProfileId: 'es201912-v23' }, 'test'),
    ).toMatchObject({ ok: true });
    await core.registerPsam({ psamNo: 'A1B2C3D4E5F60003' });
    expect(
      await core.bind({ terminalId: 'T0000003', psamNo: 'A1B2C3D4E5F60003', ani: '862150000001' }, 'test'),
    ).toMatchObject({
      ok: false,
      code: 'BINDING_CONFLICT',
    });
    expect(await core.applyTerminalEvent('T0000001', 'suspend', 'test')).toMatchObject({
      ok: true,
      value: { state: 'suspended' },
    });
    expect(await core.checkBinding({ terminalId: 'T0000001', ani: '862150000001', psamNo: undefined })).toMatchObject({
      ok: false,
      code: 'TERMINAL_NOT_IN_SERVICE',
    });
    expect(await core.applyTerminalEvent('T0000001', 'activate', 'test')).toMatchObject({
      ok: false,
      code: 'TERMINAL_TRANSITION_INVALID',
    });
    await core.applyTerminalEvent('T0000001', 'resume', 'test');
    await core.applyTerminalEvent('T0000001', 'downloadKeys', 'test');
    expect((await core.terminal('T0000001'))?.state).toBe('in_service');
  });

  it('routes cards by BIN', async () => {
    expect(await core.routeCard('6225881234567890')).toMatchObject({
      ok: true,
      value: { network: 'cup', gatewayId: 'sim-bank' },
    });
    expect(await core.routeCard('3530111333300000')).toMatchObject({ ok: false, code: 'BIN_NOT_ROUTED' });
  });

  it('records a transaction with a masked PAN only and keeps its status history', async () => {
    const activities = createTerminalActivities({ core });
    const input = {
      idempotencyKey: 'wf-1:record',
      terminalId: 'T0000001',
      serviceId: 'payment',
      stan: '000123',
      maskedPan: '5432101234567891', // clear by mistake: stored masked
      amount: 4550,
      currency: '156',
    };
    const first = await activities.recordTransaction(input);
    expect(await activities.recordTransaction(input)).toEqual(first);
    await expect(activities.recordTransaction({ ...input, amount: 1 })).rejects.toMatchObject({
      type: 'TRANSACTION_EXISTS_WITH_DIFFERENT_FIELDS',
      nonRetryable: true,
    });
    await activities.updateTransactionStatus({
      transactionKey: 'wf-1:record',
      status: 'authorized',
      rrn: '000000000001',
      authCode: 'A12345',
      responseCode: '00',
    });
    await activities.updateTransactionStatus({ transactionKey: 'wf-1:record', status: 'authorized' });
    await activities.updateTransactionStatus({ transactionKey: 'wf-1:record', status: 'completed' });
    await expect(
      activities.updateTransactionStatus({ transactionKey: 'wf-1:record', status: 'reversed' }),
    ).rejects.toBeInstanceOf(ApplicationFailure);
    expect(await core.transactionHistory('wf-1:record')).toEqual([
      { from: undefined, to: 'pending' },
      { from: 'pending', to: 'authorized' },
      { from: 'authorized', to: 'completed' },
    ]);
    const row = await core.transaction('wf-1:record');
    expect(row).toMatchObject({ panMasked: '543210******7891', currency: 'CNY', amount: 4550n, rrn: '000000000001' });
    // No column anywhere holds the clear PAN, and the database refuses one outright.
    const dump = JSON.stringify(await db.prisma.terminalTransaction.findMany(), (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
    expect(dump).not.toContain('5432101234567891');
    await expect(
      db.prisma.$executeRawUnsafe(
        `UPDATE terminal_transaction SET pan_masked = '5432101234567891' WHERE idempotency_key = 'wf-1:record'`,
      ),
    ).rejects.toThrow(/terminal_transaction_pan_masked/);
  });

  it('reserves, posts and voids through the activities, idempotently', async () => {
    const activities = createLedgerActivities({ ledger });
    const household = accountIdFor('customer-funds:H0001');
    const before = (await ledger.lookupAccounts([household]))[0];
    const reserve = {
      accountId: 'customer-funds:H0001',
      amount: 3000,
      currency: 'CNY',
      idempotencyKey: 'wf-2:reserve',
    };
    const r1 = await activities.reserveFunds(reserve);
    expect(await activities.reserveFunds(reserve)).toEqual(r1);
    expect(
      await activities.postReservation({
        accountId: reserve.accountId,
        reservationKey: 'wf-2:reserve',
        idempotencyKey: 'wf-2:post',
      }),
    ).toEqual({ posted: true });
    expect(
      await activities.postReservation({
        accountId: reserve.accountId,
        reservationKey: 'wf-2:reserve',
        idempotencyKey: 'wf-2:post',
      }),
    ).toEqual({ posted: true });
    // A void after the post cannot undo it.
    await expect(
      activities.voidReservation({
        accountId: reserve.accountId,
        idempotencyKey: 'wf-2:void',
        originalIdempotencyKey: 'wf-2:reserve',
      }),
    ).rejects.toMatchObject({ type: 'LEDGER_PENDING_TRANSFER_ALREADY_POSTED' });

    await activities.reserveFunds({ ...reserve, idempotencyKey: 'wf-3:reserve' });
    const v = { accountId: reserve.accountId, idempotencyKey: 'wf-3:void', originalIdempotencyKey: 'wf-3:reserve' };
    expect(await activities.voidReservation(v)).toEqual({ voided: true, outcome: 'voided' });
    expect(await activities.voidReservation(v)).toEqual({ voided: true, outcome: 'voided' });
    expect(
      await activities.voidReservation({ ...v, idempotencyKey: 'wf-4:void', originalIdempotencyKey: 'wf-4:reserve' }),
    ).toEqual({
      voided: false,
      outcome: 'not_found',
    });

    const after = (await ledger.lookupAccounts([household]))[0];
    expect((after?.debitsPosted ?? 0n) - (before?.debitsPosted ?? 0n)).toBe(3000n);
    expect(after?.debitsPending).toBe(before?.debitsPending);
    await expect(
      activities.reserveFunds({ ...reserve, amount: 10_000_000, idempotencyKey: 'wf-5:reserve' }),
    ).rejects.toMatchObject({
      type: 'LEDGER_EXCEEDS_CREDITS',
      nonRetryable: true,
    });
  });
});
