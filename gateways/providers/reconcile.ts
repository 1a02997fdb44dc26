/**
 * Daily reconciliation per provider: the provider's report of the day against our journal.
 * - long: the provider reports a completed transaction we have no captured entry for (we owe it
 *   money we never collected — or a refund to the customer went wrong);
 * - short: we captured money for a transaction the provider does not report as completed (the
 *   customer paid for nothing delivered: refund);
 * - amount: both sides have it, with different amounts or currencies.
 *
 * What "completed" means on the provider's side is the connector kind's: an aggregator's
 * `COMPLETED`; for ticketing (ADR 0023) every state in which the provider keeps the money — paid,
 * issued, or paid with the issue failed and not yet refunded (after the profile's status mapping).
 */
import { FixpayError } from '../../domain/errors';
import { parseCurrency } from '../../domain/money';
import type { JournalEntry, ProviderJournal } from './journal';
import { canonicalStatus, providerRequest } from './http';
import type { ProviderProfile } from './profile';
import { payStatusOf } from './ticketing';

export interface ReportRow {
  readonly reference: string;
  readonly status: string;
  readonly amount: number;
  readonly currency: string;
}

export interface ReconciliationException {
  readonly kind: 'long' | 'short' | 'amount';
  readonly reference: string;
  readonly ours?: { amount: number; currency: string };
  readonly theirs?: { amount: number; currency: string; status: string };
}

export interface Reconciliation {
  readonly provider: string;
  readonly day: string;
  readonly matched: number;
  readonly exceptions: readonly ReconciliationException[];
  /** Completed face value on each side (minor units). */
  readonly totals: { ours: number; theirs: number };
}

/** Parses a provider report body `{ transactions: [...] }`; throws PROVIDER_REPORT_INVALID. */
export function parseReport(value: unknown): ReportRow[] {
  const rows = (value as { transactions?: unknown } | null)?.transactions;
  if (!Array.isArray(rows)) throw new FixpayError('PROVIDER_REPORT_INVALID', 'no transactions array');
  return rows.map((r: unknown, i) => {
    const o = r as Record<string, unknown> | null;
    const reference = o?.['reference'];
    const status = o?.['status'];
    const amount = o?.['amount'];
    const currency = o?.['currency'];
    if (
      typeof reference !== 'string' ||
      typeof status !== 'string' ||
      typeof amount !== 'number' ||
      !Number.isSafeInteger(amount) ||
      typeof currency !== 'string'
    )
      throw new FixpayError('PROVIDER_REPORT_INVALID', `transaction ${i}: reference, status, amount, currency`);
    return { reference, status, amount, currency };
  });
}

/** One spelling per currency (alphabetic), so `156` and `CNY` compare equal. */
function cur(c: string): string {
  const p = parseCurrency(c);
  return p.ok ? p.value.code : c;
}

/** An aggregator's report says `COMPLETED` for a transaction whose money it kept. */
export const aggregatorCompleted = (status: string): boolean => status === 'COMPLETED';

/** Whether a report row's status means the provider kept the money, for this provider's connector kind. */
export function completedFor(p: ProviderProfile): (status: string) => boolean {
  if (p.connector !== 'ticketing') return aggregatorCompleted;
  return (status) => {
    const s = payStatusOf(canonicalStatus(p, status));
    return s === 'PAID' || s === 'ISSUED';
  };
}

export function reconcile(
  provider: string,
  day: string,
  report: readonly ReportRow[],
  journal: readonly JournalEntry[],
  completed: (status: string) => boolean = aggregatorCompleted,
): Reconciliation {
  const theirs = new Map(report.filter((r) => completed(r.status)).map((r) => [r.reference, r]));
  const all = new Map(report.map((r) => [r.reference, r]));
  const ours = new Map<string, JournalEntry>();
  for (const e of journal) {
    if (e.status === 'COMPLETED') ours.set(e.reference, e);
    else ours.delete(e.reference); // refunded: no longer ours
  }
  const exceptions: ReconciliationException[] = [];
  let matched = 0;
  for (const [ref, o] of ours) {
    const t = theirs.get(ref);
    if (t === undefined) {
      const seen = all.get(ref);
      exceptions.push({
        kind: 'short',
        reference: ref,
        ours: { amount: o.amount, currency: o.currency },
        ...(seen === undefined
          ? {}
          : { theirs: { amount: seen.amount, currency: seen.currency, status: seen.status } }),
      });
    } else if (t.amount !== o.amount || cur(t.currency) !== cur(o.currency)) {
      exceptions.push({
        kind: 'amount',
        reference: ref,
        ours: { amount: o.amount, currency: o.currency },
        theirs: { amount: t.amount, currency: t.currency, status: t.status },
      });
    } else matched += 1;
  }
  for (const [ref, t] of theirs)
    if (!ours.has(ref))
      exceptions.push({
        kind: 'long',
        reference: ref,
        theirs: { amount: t.amount, currency: t.currency, status: t.status },
      });
  const sum = (xs: Iterable<{ amount: number }>): number => [...xs].reduce((a, x) => a + x.amount, 0);
  return { provider, day, matched, exceptions, totals: { ours: sum(ours.values()), theirs: sum(theirs.values()) } };
}

/** The provider's report of a day (`GET report?date=YYYY-MM-DD`, signed like every request). */
export async function fetchProviderReport(p: ProviderProfile, day: string): Promise<ReportRow[]> {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new FixpayError('PROVIDER_REPORT_INVALID', 'day must be YYYY-MM-DD');
  const got = await providerRequest(p, 'GET', `report?date=${day}`, undefined);
  if (got.kind !== 'ok' || got.status !== 200)
    throw new FixpayError(
      'PROVIDER_UNAVAILABLE',
      `${p.id} report: ${got.kind === 'ok' ? `HTTP ${got.status}` : got.detail}`,
    );
  return parseReport(got.body);
}

/** Fetches the report and reconciles it against the journal. */
export async function reconcileProvider(
  p: ProviderProfile,
  day: string,
  journal: ProviderJournal,
): Promise<Reconciliation> {
  const [report, ours] = await Promise.all([fetchProviderReport(p, day), journal.entries(p.id, day)]);
  return reconcile(p.id, day, report, ours, completedFor(p));
}
