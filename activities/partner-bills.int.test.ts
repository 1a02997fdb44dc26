/**
 * Partner bills paid from the phone (ADR 0027), against a real database: lookup by reference and
 * currency, a claim that belongs to its run (a retry is the same claim, another run is refused and
 * cannot reopen it), one confirmation per bill however often it is asked for, and hostile inputs.
 */
import { ApplicationFailure } from '@temporalio/common';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { confirmationIds, createPartnerBillActivities } from './partner-bills';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof ApplicationFailure ? String(e.type) : `not a failure: ${String(e)}`;
  }
  return 'resolved';
}

describe('partner bill activities', () => {
  let db: TestDatabase;
  const started: string[] = [];
  let acts: ReturnType<typeof createPartnerBillActivities>;
  let n = 0;

  async function bill(customerRef: string, over: { currency?: string; mode?: 'test' | 'live' } = {}): Promise<string> {
    const id = `bill_t${String(++n).padStart(23, '0')}`;
    await db.prisma.partnerBill.create({
      data: {
        id,
        partnerId: 'ptn_activities',
        mode: over.mode ?? 'test',
        customerRef,
        amountMinor: 4550n,
        currency: over.currency ?? 'CNY',
        description: 'Water, November',
        status: 'open',
      },
    });
    return id;
  }

  beforeAll(async () => {
    db = await startTestDatabase();
    await db.prisma.partner.create({
      data: {
        id: 'ptn_activities',
        name: 'Lake Water',
        email: 'ops@lake.example',
        webhookUrl: 'https://hooks.example/x',
      },
    });
    acts = createPartnerBillActivities({
      prisma: db.prisma,
      mode: 'test',
      startDelivery: (id) => {
        started.push(id);
        return Promise.resolve();
      },
    });
  }, 60_000);
  afterAll(async () => {
    await db.close();
  });

  it('finds the oldest open bill of the mode in the terminal currency; others are not found', async () => {
    const first = await bill('7001');
    await bill('7001');
    await bill('7002', { mode: 'live' });
    await bill('7003', { currency: 'USD' });
    expect(await acts.findPartnerBill({ customerRef: '7001', currency: '156' })).toMatchObject({
      status: 'DUE',
      billId: first,
      amount: 4550,
    });
    expect((await acts.findPartnerBill({ customerRef: '7002', currency: '156' })).status).toBe('NOT_FOUND');
    expect((await acts.findPartnerBill({ customerRef: '7003', currency: '156' })).status).toBe('WRONG_CURRENCY');
    expect((await acts.findPartnerBill({ customerRef: '9999', currency: 'CNY' })).status).toBe('NOT_FOUND');
  });

  it('refuses hostile inputs with clear codes', async () => {
    for (const customerRef of ['', 'x'.repeat(65), 'a b', "1' OR '1'='1\u0000"])
      expect(await code(acts.findPartnerBill({ customerRef, currency: '156' }))).toBe('BAD_REQUEST');
    expect(await code(acts.findPartnerBill({ customerRef: '7001', currency: 'XXX' }))).toBe('BAD_REQUEST');
    for (const billId of ['', 'bill_', '../etc', 'bill_a/b', `bill_${'a'.repeat(40)}`, 'ptn_activities']) {
      expect(await code(acts.claimPartnerBill({ billId, idempotencyKey: 'k' }))).toBe('BAD_REQUEST');
      expect(await code(acts.confirmPartnerBill({ billId, terminalId: 'T1', idempotencyKey: 'k' }))).toBe(
        'BAD_REQUEST',
      );
    }
    expect(await code(acts.claimPartnerBill({ billId: 'bill_nosuchbill', idempotencyKey: 'k' }))).toBe(
      'BILL_NOT_PAYABLE',
    );
  });

  it('a claim belongs to its run: a retry is the same claim, another run is refused and cannot reopen it', async () => {
    const id = await bill('7100');
    expect(await acts.claimPartnerBill({ billId: id, idempotencyKey: 'run-a/claim#0' })).toEqual({ claimed: true });
    expect(await acts.claimPartnerBill({ billId: id, idempotencyKey: 'run-a/claim#0' })).toEqual({ claimed: true });
    expect(await code(acts.claimPartnerBill({ billId: id, idempotencyKey: 'run-b/claim#0' }))).toBe('BILL_NOT_PAYABLE');
    expect(await acts.reopenPartnerBill({ billId: id, originalIdempotencyKey: 'run-b/claim#0' })).toEqual({
      reopened: false,
    });
    expect((await db.prisma.partnerBill.findUnique({ where: { id } }))?.status).toBe('paid');
    expect(await acts.reopenPartnerBill({ billId: id, originalIdempotencyKey: 'run-a/claim#0' })).toEqual({
      reopened: true,
    });
    expect(await db.prisma.partnerBill.findUnique({ where: { id } })).toMatchObject({ status: 'open', paidBy: null });
    // Reopened: the next run may claim it; confirming an open bill is refused.
    expect(await code(acts.confirmPartnerBill({ billId: id, terminalId: 'T1', idempotencyKey: 'k' }))).toBe(
      'BILL_NOT_PAYABLE',
    );
    expect(await acts.claimPartnerBill({ billId: id, idempotencyKey: 'run-b/claim#0' })).toEqual({ claimed: true });
  });

  it('one confirmation per bill, however often and concurrently it is asked for; no reopening after it', async () => {
    const id = await bill('7200');
    await acts.claimPartnerBill({ billId: id, idempotencyKey: 'run-c/claim#0' });
    const { deliveryId, messageId } = confirmationIds(id);
    const answers = await Promise.all(
      [1, 2, 3].map(() => acts.confirmPartnerBill({ billId: id, terminalId: 'T0000002', idempotencyKey: 'c' })),
    );
    for (const a of answers) expect(a).toEqual({ queued: true, deliveryId });
    const rows = await db.prisma.webhookDelivery.findMany({ where: { payload: { path: ['bill', 'id'], equals: id } } });
    expect(rows.map((r) => [r.id, r.messageId, r.eventType, r.status])).toEqual([
      [deliveryId, messageId, 'bill.paid', 'pending'],
    ]);
    expect(rows[0]?.payload).toMatchObject({ bill: { id, status: 'paid', amount: { minor: 4550, currency: 'CNY' } } });
    // Every ask starts the same run (the starter ignores a run that exists).
    expect(started.filter((s) => s === deliveryId)).toHaveLength(3);
    const audit = await db.prisma.auditEvent.findMany({
      where: { action: 'bill.paid', subject: 'partner:ptn_activities' },
    });
    expect(audit.filter((a) => (a.details as { billId?: string }).billId === id)).toHaveLength(1);
    expect(await acts.reopenPartnerBill({ billId: id, originalIdempotencyKey: 'run-c/claim#0' })).toEqual({
      reopened: false,
    });
    expect((await db.prisma.partnerBill.findUnique({ where: { id } }))?.status).toBe('paid');
  });
});
