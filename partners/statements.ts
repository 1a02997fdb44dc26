/**
 * Daily statements per partner (docs/partners.md §Statements): every bill the partner's customers
 * paid on one UTC day, with its amount, fee, the `webhook-id` of its `bill.paid` confirmation and
 * that delivery's state, and — for bills paid from a phone — the ledger transfer that posted the
 * money, checked against the bill (a statement says whether it is consistent with the ledger).
 * Answered as JSON or CSV (RFC 4180, one header line). Bills paid in sandbox by
 * `POST /v1/test/bills/{id}/pay` move no money: their ledger column is `none`.
 */
import { FixpayError } from '../domain/errors';
import type { PrismaClient } from '../generated/prisma/client';
import type { KeyMode } from './keys';
import type { Principal } from './service';
import { requireScope } from './service';

/** Most bills one statement lists (a day with more is refused rather than cut short). */
export const STATEMENT_LINES_MAX = 10_000;

/** The ledger's view of a bill paid from a phone: the posting transfer, or nothing found. */
export type LedgerLookup = (bill: {
  readonly paidBy: string;
  readonly amountMinor: bigint;
}) => Promise<{ readonly transferId: string; readonly amountMinor: bigint } | undefined>;

export interface StatementLine {
  readonly billId: string;
  readonly customerRef: string;
  readonly paidAt: string;
  readonly channel: 'phone' | 'sandbox';
  readonly amount: { readonly minor: number; readonly currency: string };
  /** What the customer paid on top (the partner-bill service charges none today). */
  readonly fee: { readonly minor: number; readonly currency: string };
  readonly webhookId: string | null;
  readonly deliveryStatus: 'pending' | 'delivered' | 'failed' | null;
  readonly ledgerTransferId: string | null;
  /** `posted`: the ledger posted this amount; `missing`: it did not (an exception); `none`: sandbox. */
  readonly ledger: 'posted' | 'missing' | 'none';
}

export interface Statement {
  readonly partnerId: string;
  readonly mode: KeyMode;
  readonly date: string;
  /** False for today (the day is not over) and later. */
  readonly complete: boolean;
  readonly lines: readonly StatementLine[];
  readonly totals: readonly { currency: string; count: number; amountMinor: number; feeMinor: number }[];
  /** Every phone-paid bill has its posting in the ledger, of its amount. */
  readonly consistentWithLedger: boolean;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function dayBounds(date: string): { from: Date; to: Date } {
  const m = DATE.exec(date);
  const from = new Date(`${date}T00:00:00.000Z`);
  if (m === null || Number.isNaN(from.getTime()) || from.toISOString().slice(0, 10) !== date)
    throw new FixpayError('BAD_REQUEST', 'date must be a calendar day YYYY-MM-DD');
  return { from, to: new Date(from.getTime() + 86_400_000) };
}

export class StatementService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly ledger: LedgerLookup,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async statement(p: Principal, date: string): Promise<Statement> {
    requireScope(p, 'bills:read');
    const { from, to } = dayBounds(date);
    if (from > this.now()) throw new FixpayError('BAD_REQUEST', 'the day has not begun');
    const bills = await this.prisma.partnerBill.findMany({
      where: { partnerId: p.partnerId, mode: p.mode, status: 'paid', paidAt: { gte: from, lt: to } },
      orderBy: [{ paidAt: 'asc' }, { id: 'asc' }],
      take: STATEMENT_LINES_MAX + 1,
    });
    if (bills.length > STATEMENT_LINES_MAX)
      throw new FixpayError('BAD_REQUEST', `more than ${STATEMENT_LINES_MAX} bills paid that day`);
    // The confirmation of each bill: its first `bill.paid` delivery (replays keep its id), looked up
    // by the day's bill ids, so no later traffic can crowd it out; one row per bill, nothing capped.
    // A delivery is written after its bill (both stamped by the database clock), so the bills'
    // earliest `created_at` bounds the scan from below.
    const byBill = new Map<string, { messageId: string; status: 'pending' | 'delivered' | 'failed' }>();
    const [firstBill] = bills;
    if (firstBill !== undefined) {
      const since = bills.reduce((min, b) => (b.createdAt < min ? b.createdAt : min), firstBill.createdAt);
      const rows = await this.prisma.$queryRaw<{ bill_id: string; message_id: string; status: string }[]>`
        SELECT DISTINCT ON (payload->'bill'->>'id')
               payload->'bill'->>'id' AS bill_id, message_id, status::text AS status
          FROM webhook_delivery
         WHERE partner_id = ${p.partnerId} AND mode::text = ${p.mode} AND event_type = 'bill.paid'
           AND replay_of IS NULL AND created_at >= ${since}
           AND payload->'bill'->>'id' = ANY(${bills.map((b) => b.id)}::text[])
         ORDER BY payload->'bill'->>'id', created_at, id`;
      for (const d of rows)
        byBill.set(d.bill_id, { messageId: d.message_id, status: d.status as 'pending' | 'delivered' | 'failed' });
    }
    const lines: StatementLine[] = [];
    for (const b of bills) {
      const phone = b.paidBy !== null;
      const posted = phone ? await this.ledger({ paidBy: b.paidBy ?? '', amountMinor: b.amountMinor }) : undefined;
      const delivery = byBill.get(b.id);
      lines.push({
        billId: b.id,
        customerRef: b.customerRef,
        paidAt: (b.paidAt ?? from).toISOString(),
        channel: phone ? 'phone' : 'sandbox',
        amount: { minor: Number(b.amountMinor), currency: b.currency },
        fee: { minor: 0, currency: b.currency },
        webhookId: delivery?.messageId ?? null,
        deliveryStatus: delivery?.status ?? null,
        ledgerTransferId: posted?.transferId ?? null,
        ledger: !phone ? 'none' : posted !== undefined && posted.amountMinor === b.amountMinor ? 'posted' : 'missing',
      });
    }
    const totals = new Map<string, { currency: string; count: number; amountMinor: number; feeMinor: number }>();
    for (const l of lines) {
      const t = totals.get(l.amount.currency) ?? { currency: l.amount.currency, count: 0, amountMinor: 0, feeMinor: 0 };
      totals.set(l.amount.currency, {
        ...t,
        count: t.count + 1,
        amountMinor: t.amountMinor + l.amount.minor,
        feeMinor: t.feeMinor + l.fee.minor,
      });
    }
    return {
      partnerId: p.partnerId,
      mode: p.mode,
      date,
      complete: to <= this.now(),
      lines,
      totals: [...totals.values()].sort((a, b) => a.currency.localeCompare(b.currency)),
      consistentWithLedger: lines.every((l) => l.ledger !== 'missing'),
    };
  }
}

const CSV_HEADER = [
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
];

/** A field as RFC 4180 wants it, and never a spreadsheet formula (a leading = + - @ is quoted away). */
function csvField(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function statementCsv(s: Statement): string {
  const rows = s.lines.map((l) =>
    [
      s.date,
      l.billId,
      l.customerRef,
      l.paidAt,
      l.channel,
      l.amount.currency,
      String(l.amount.minor),
      String(l.fee.minor),
      l.webhookId ?? '',
      l.deliveryStatus ?? '',
      l.ledgerTransferId ?? '',
      l.ledger,
    ]
      .map(csvField)
      .join(','),
  );
  return [CSV_HEADER.join(','), ...rows].join('\r\n') + '\r\n';
}
