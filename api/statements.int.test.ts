/**
 * Daily statements per partner over a real socket and a real database: the bills paid on a day
 * with amounts, fees, the webhook id of each confirmation and the ledger check — a bill paid from
 * a phone is matched to the ledger posting of its run's reservation (the real ledger activities
 * and the real partner-bill activities make them here); a claim without a posting makes the
 * statement inconsistent. JSON and CSV agree; hostile dates, other partners and missing scopes
 * are refused.
 */
import { createLedgerActivities } from '../activities/ledger';
import { createPartnerBillActivities } from '../activities/partner-bills';
import { ledgerReferenceFor } from '../core/model';
import { CoreRepository } from '../core/repository';
import { DEMO, seedDemo } from '../demo/seed';
import { PrismaLedgerStore } from '../ledger/store';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { call, startPartnerApi, type PartnerApi } from '../test/support/partner-api';

jest.setTimeout(120_000);

const HOUSEHOLD = ledgerReferenceFor({ id: 'H0001', kind: 'household' });
let db: TestDatabase;
let api: PartnerApi;
let n = 0;
const idem = (): string => `st-${++n}`;

beforeAll(async () => {
  db = await startTestDatabase();
  await seedDemo({ core: new CoreRepository(db.prisma), ledger: new PrismaLedgerStore(db.prisma) }, DEMO);
  api = await startPartnerApi({ prisma: db.prisma, rateLimit: { ratePerSecond: 1000, burst: 1000 } });
}, 180_000);

afterAll(async () => {
  await api.close();
  await db.close();
});

async function signUp(name: string): Promise<{ key: string; partnerId: string }> {
  const r = await call(api.base, 'POST', '/v1/partners', { idem: idem(), body: { name, email: 'ops@x.example' } });
  return { key: (r.body['key'] as { secret: string }).secret, partnerId: (r.body['partner'] as { id: string }).id };
}

async function bill(key: string, customerRef: string, minor: number): Promise<string> {
  const r = await call(api.base, 'POST', '/v1/bills', {
    key,
    idem: idem(),
    body: { customerRef, amount: { minor, currency: 'CNY' }, description: 'Water' },
  });
  expect(r.status).toBe(201);
  return String(r.body['id']);
}

describe('daily statements', () => {
  it('lists the day’s paid bills with webhook ids, matched to the ledger; JSON and CSV agree', async () => {
    const a = await signUp('Lake Water');
    const other = await signUp('River Water');
    await call(api.base, 'PATCH', '/v1/account', {
      key: a.key,
      idem: idem(),
      body: { webhookUrl: 'http://127.0.0.1:9/h' },
    });
    const ledger = createLedgerActivities({ ledger: new PrismaLedgerStore(db.prisma) });
    const bills = createPartnerBillActivities({
      prisma: db.prisma,
      mode: 'test',
      startDelivery: () => Promise.resolve(),
    });

    // 1. Paid in sandbox (no money moves).
    const sandbox = await bill(a.key, 'cust-1', 1_000);
    const paid = await call(api.base, 'POST', `/v1/test/bills/${sandbox}/pay`, { key: a.key, idem: idem() });
    expect(paid.status).toBe(200);
    // 2. Paid from a phone: reserve, claim, post, confirm — as the partner-bill run does.
    const phone = await bill(a.key, '5550001', 4_550);
    const run = 'partner-bill:T0000002:000101:20261203';
    await ledger.reserveFunds({
      accountId: HOUSEHOLD,
      amount: 4550,
      currency: '156',
      idempotencyKey: `${run}/reserve#0`,
    });
    expect(await bills.claimPartnerBill({ billId: phone, idempotencyKey: `${run}/claim#0` })).toEqual({
      claimed: true,
    });
    await ledger.postReservation({
      accountId: HOUSEHOLD,
      reservationKey: `${run}/reserve#0`,
      idempotencyKey: `${run}/post#0`,
    });
    await bills.confirmPartnerBill({ billId: phone, terminalId: 'T0000002', idempotencyKey: `${run}/confirm#0` });
    // 3. Open, not on the statement; and another partner's paid bill, not on this one.
    await bill(a.key, 'cust-3', 700);
    const theirs = await bill(other.key, 'cust-9', 900);
    await call(api.base, 'POST', `/v1/test/bills/${theirs}/pay`, { key: other.key, idem: idem() });

    const today = new Date().toISOString().slice(0, 10);
    const json = await call(api.base, 'GET', `/v1/statements/${today}`, { key: a.key });
    expect(json.status).toBe(200);
    const deliveries = await db.prisma.webhookDelivery.findMany({ where: { partnerId: a.partnerId } });
    const webhookOf = (billId: string) =>
      deliveries.find((d) => (d.payload as { bill: { id: string } }).bill.id === billId)?.messageId;
    expect(json.body).toMatchObject({
      partnerId: a.partnerId,
      mode: 'test',
      date: today,
      complete: false,
      consistentWithLedger: true,
      totals: [{ currency: 'CNY', count: 2, amountMinor: 5_550, feeMinor: 0 }],
    });
    const lines = json.body['lines'] as Record<string, unknown>[];
    expect(lines.map((l) => [l['billId'], l['channel'], l['ledger'], l['webhookId']])).toEqual([
      [sandbox, 'sandbox', 'none', webhookOf(sandbox)],
      [phone, 'phone', 'posted', webhookOf(phone)],
    ]);
    expect(webhookOf(phone)).toMatch(/^msg_/);
    // The ledger posting named on the statement moved the bill's amount from the household.
    const posting = await db.prisma.ledgerTransfer.findUnique({
      where: { id: String(lines[1]?.['ledgerTransferId']) },
    });
    expect(posting?.postPendingTransfer).toBe(true);

    const csv = await fetch(`${api.base}/v1/statements/${today}?format=csv`, {
      headers: { authorization: `Bearer ${a.key}` },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const rows = (await csv.text())
      .trimEnd()
      .split('\r\n')
      .map((r) => r.split(','));
    expect(rows[0]).toEqual([
      'date',
      'bill_id',
      'customer_ref',
      'paid_at',
      'channel',
      'currency',
      'amount_minor',
      'fee_minor',
      'webhook_id',
      'delivery_status',
      'ledger_transfer_id',
      'ledger',
    ]);
    expect(rows.slice(1).map((r) => [r[1], r[6], r[8], r[11]])).toEqual(
      lines.map((l) => [l['billId'], String((l['amount'] as { minor: number }).minor), l['webhookId'], l['ledger']]),
    );

    // The other partner sees only its own bill; yesterday is empty and complete.
    const theirsStatement = await call(api.base, 'GET', `/v1/statements/${today}`, { key: other.key });
    expect((theirsStatement.body['lines'] as { billId: string }[]).map((l) => l.billId)).toEqual([theirs]);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    expect((await call(api.base, 'GET', `/v1/statements/${yesterday}`, { key: a.key })).body).toMatchObject({
      complete: true,
      lines: [],
      totals: [],
      consistentWithLedger: true,
    });
  });

  it('says when the ledger has no posting for a phone-paid bill, and keeps formulas out of the CSV', async () => {
    const a = await signUp('Hill Water');
    const bills = createPartnerBillActivities({
      prisma: db.prisma,
      mode: 'test',
      startDelivery: () => Promise.resolve(),
    });
    const claimed = await bill(a.key, '-2-1', 300);
    await bills.claimPartnerBill({ billId: claimed, idempotencyKey: 'partner-bill:T0000002:000202:20261203/claim#0' });
    const today = new Date().toISOString().slice(0, 10);
    const s = await call(api.base, 'GET', `/v1/statements/${today}`, { key: a.key });
    expect(s.body).toMatchObject({ consistentWithLedger: false, lines: [{ billId: claimed, ledger: 'missing' }] });
    const csv = await (
      await fetch(`${api.base}/v1/statements/${today}?format=csv`, { headers: { authorization: `Bearer ${a.key}` } })
    ).text();
    expect(csv).toContain(`,'-2-1,`);
    expect(csv).not.toContain(',-2-1,');
  });

  it('refuses impossible and future days, other formats, and keys without bills:read', async () => {
    const a = await signUp('Dale Water');
    const problem = async (path: string, key = a.key) => {
      const r = await call(api.base, 'GET', path, { key });
      return { status: r.status, code: r.body['code'], type: r.headers.get('content-type')?.split(';')[0] };
    };
    const bad = { status: 400, code: 'FP1003', type: 'application/problem+json' };
    expect(await problem('/v1/statements/2026-02-30')).toEqual(bad);
    expect(await problem('/v1/statements/2999-01-01')).toEqual(bad);
    expect(await problem('/v1/statements/20261203')).toEqual(bad);
    expect(await problem('/v1/statements/2026-12-03?format=xlsx')).toEqual(bad);
    expect(await problem('/v1/statements/..%2F..%2Fetc')).toEqual(bad);
    const k = await call(api.base, 'POST', '/v1/keys', {
      key: a.key,
      idem: idem(),
      body: { mode: 'test', scopes: ['account:read'] },
    });
    expect(await problem('/v1/statements/2026-12-03', String(k.body['secret']))).toEqual({
      status: 403,
      code: 'FP8401',
      type: 'application/problem+json',
    });
  });
});
