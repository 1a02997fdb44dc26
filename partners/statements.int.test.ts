/**
 * Which `bill.paid` delivery a statement line names, against a real database: the first
 * confirmation of each of the day's bills, however much later webhook traffic the partner has and
 * whatever order the rows lie in; replays, other partners, other modes and other events are not
 * taken for it.
 */
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import type { Principal } from './service';
import { StatementService } from './statements';

jest.setTimeout(180_000);

const DAY = '2026-11-20';
const t = (hhmm: string, day = DAY): Date => new Date(`${day}T${hhmm}:00.000Z`);
const principal: Principal = {
  partnerId: 'ptn_statements',
  keyId: 'key_statements',
  mode: 'test',
  scopes: new Set(['bills:read']),
  actor: 'test',
};

describe('statement webhook ids', () => {
  let db: TestDatabase;
  let service: StatementService;
  let n = 0;

  async function paidBill(paidAt: Date, createdAt: Date, over: { mode?: 'test' | 'live' } = {}): Promise<string> {
    const id = `bill_s${String(++n).padStart(23, '0')}`;
    await db.prisma.partnerBill.create({
      data: {
        id,
        partnerId: 'ptn_statements',
        mode: over.mode ?? 'test',
        customerRef: `c${n}`,
        amountMinor: 1000n,
        currency: 'CNY',
        description: 'Water',
        status: 'paid',
        paidAt,
        createdAt,
      },
    });
    return id;
  }

  function delivery(
    billId: string,
    createdAt: Date,
    over: { partnerId?: string; mode?: 'test' | 'live'; eventType?: string; replayOf?: string } = {},
  ) {
    const i = ++n;
    return {
      id: `dlv_s${String(i).padStart(27, '0')}`,
      messageId: `msg_s${String(i).padStart(27, '0')}`,
      partnerId: over.partnerId ?? 'ptn_statements',
      mode: over.mode ?? ('test' as const),
      eventType: over.eventType ?? 'bill.paid',
      payload: { bill: { id: billId } },
      status: 'delivered' as const,
      replayOf: over.replayOf ?? null,
      createdAt,
    };
  }

  beforeAll(async () => {
    db = await startTestDatabase();
    for (const id of ['ptn_statements', 'ptn_other'])
      await db.prisma.partner.create({ data: { id, name: id, email: 'ops@x.example', webhookUrl: null } });
    service = new StatementService(
      db.prisma,
      () => Promise.resolve(undefined),
      () => t('00:00', '2026-12-01'),
    );
  }, 120_000);
  afterAll(async () => {
    await db.close();
  });

  it('names the first confirmation of each bill, even behind 20,001 later deliveries stored first', async () => {
    const early = await paidBill(t('09:00'), t('08:00'));
    const late = await paidBill(t('23:59'), t('08:30'));
    // Later days' traffic of the same partner, stored before the confirmations (the old query read
    // at most 20,000 rows from the day on, unordered, and missed these bills).
    const noise = Array.from({ length: 20_001 }, (_, i) => delivery(`bill_noise${i}`, t('10:00', '2026-11-25')));
    for (let i = 0; i < noise.length; i += 2_000)
      await db.prisma.webhookDelivery.createMany({ data: noise.slice(i, i + 2_000) });
    // Rows that are not the first confirmation, stored before it.
    const later = delivery(early, t('09:30'));
    const first = delivery(early, t('09:01'));
    const replay = delivery(early, t('08:59'), { replayOf: first.id });
    const otherPartner = delivery(early, t('08:59'), { partnerId: 'ptn_other' });
    const otherMode = delivery(early, t('08:59'), { mode: 'live' });
    const otherEvent = delivery(early, t('08:59'), { eventType: 'bill.created' });
    const lateFirst = delivery(late, t('00:01', '2026-11-21'));
    await db.prisma.webhookDelivery.createMany({
      data: [later, replay, otherPartner, otherMode, otherEvent, first, lateFirst],
    });

    const s = await service.statement(principal, DAY);
    expect(s.lines.map((l) => [l.billId, l.webhookId, l.deliveryStatus])).toEqual([
      [early, first.messageId, 'delivered'],
      [late, lateFirst.messageId, 'delivered'],
    ]);
  });

  it('leaves a bill without a confirmation empty, and does not take another bill’s', async () => {
    const day = '2026-11-22';
    const none = await paidBill(t('10:00', day), t('09:00', day));
    const lookalike = await paidBill(t('11:00', day), t('09:00', day), { mode: 'live' });
    await db.prisma.webhookDelivery.createMany({
      data: [
        delivery(lookalike, t('11:00', day), { mode: 'live' }),
        { ...delivery(none, t('10:00', day)), payload: { bill: { id: `${none}x` } } },
        { ...delivery(none, t('10:00', day)), payload: { billId: none } },
      ],
    });
    const s = await service.statement(principal, day);
    expect(s.lines).toHaveLength(1);
    expect(s.lines[0]).toMatchObject({ billId: none, webhookId: null, deliveryStatus: null });
  });
});
