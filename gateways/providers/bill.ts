/**
 * The bill-aggregator connector kind (BBPS-like): biller master data from the provider directory,
 * fetch → pay → status by our reference, cancel. Every biller of every bill aggregator goes through
 * this one module; a new biller is a `kind: Biller` file (docs/providers.md).
 *
 * Endpoints (relative to the profile's endpoint, names through the profile's mappings):
 * `POST bills/fetch`, `POST bills/pay`, `GET bills/status/<reference>`, `POST bills/cancel/<reference>`.
 */
import { FixpayError } from '../../domain/errors';
import { answerField, canonicalStatus, mapRequest, providerRequest } from './http';
import { answerOf, int, readAnswer, str } from './connector';
import type { Biller, Channel, ProviderDirectory } from './profile';
import { feesFor, withinLimits } from './profile';

export type BillStatus = 'DUE' | 'PAID' | 'NOT_FOUND';
export type PaymentStatus = 'PAID' | 'PENDING' | 'DECLINED';

export interface BillQuote {
  readonly status: BillStatus;
  readonly billId: string;
  readonly amount: number;
  readonly currency: string;
}

export interface PaymentState {
  readonly status: PaymentStatus;
  readonly receipt: string;
  /** Our reference at the provider (the pay call's idempotency key). */
  readonly reference: string;
  /** One entry per status query the run makes while the outcome is open (the profile's schedule). */
  readonly checks: number[];
}

/** Checks a customer reference against the biller's first parameter. */
export function checkCustomerRef(b: Biller, customerRef: string): void {
  const p = b.customerParams[0];
  const bad = (why: string): never => {
    throw new FixpayError('PROVIDER_FIELD_INVALID', `${b.id}: ${p?.name ?? 'customer reference'} ${why}`);
  };
  if (p === undefined) return;
  if (customerRef.length < (p.minLength ?? 1) || customerRef.length > (p.maxLength ?? 64)) bad('has the wrong length');
  if (p.type === 'numeric' ? !/^[0-9]+$/.test(customerRef) : !/^[A-Za-z0-9-]+$/.test(customerRef))
    bad(`must be ${p.type}`);
  if (p.regex !== undefined && !new RegExp(`^(?:${p.regex})$`, 'u').test(customerRef)) bad('does not match');
}

function paymentStatus(raw: string | undefined): PaymentStatus | 'NOT_FOUND' {
  switch (raw) {
    case 'PAID':
    case 'COMPLETED':
    case 'SUCCESS':
      return 'PAID';
    case 'DECLINED':
    case 'REJECTED':
    case 'FAILED':
    case 'CANCELLED':
    case 'REVERSED':
      return 'DECLINED';
    case 'NOT_FOUND':
      return 'NOT_FOUND';
    default:
      return 'PENDING';
  }
}

export interface BillConnectorDeps {
  readonly directory: ProviderDirectory;
  readonly channel?: Channel;
  readonly now?: () => number;
}

export interface BillConnector {
  fetchBill(q: { billerId: string; customerRef: string }): Promise<BillQuote & { fee: number; billerId: string }>;
  payBill(
    q: { billerId: string; billId: string; customerRef: string; amount: number; currency: string } & {
      idempotencyKey: string;
    },
  ): Promise<PaymentState>;
  billPaymentStatus(q: { billerId: string; reference: string; attempt: number }): Promise<PaymentState>;
  cancelBillPayment(q: { billerId: string; reference: string }): Promise<{ cancelled: boolean }>;
}

export function createBillConnector(deps: BillConnectorDeps): BillConnector {
  const channel = deps.channel ?? 'terminal';
  const now = deps.now ?? (() => Date.now());
  const checks = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

  async function status(billerId: string, reference: string, attempt: number): Promise<PaymentState> {
    const { biller, provider } = deps.directory.biller(billerId);
    const a = readAnswer(
      await providerRequest(provider, 'GET', `bills/status/${encodeURIComponent(reference)}`, undefined, now),
      `${billerId} status`,
    );
    const s = paymentStatus(canonicalStatus(provider, answerField(provider, a.body, 'status')));
    const receipt = str(answerField(provider, a.body, 'receipt'));
    // Deemed success (a biller rule): still open at the last scheduled query counts as paid.
    if (s === 'PENDING' && biller.deemedSuccess === true && attempt >= provider.statusQuery.queries)
      return { status: 'PAID', receipt: `DEEMED-${reference.slice(-12)}`, reference, checks: [] };
    // Never reached the provider: nothing was paid.
    if (s === 'NOT_FOUND') return { status: 'DECLINED', receipt: '', reference, checks: [] };
    return { status: s, receipt, reference, checks: [] };
  }

  return {
    async fetchBill(q: {
      billerId: string;
      customerRef: string;
    }): Promise<BillQuote & { fee: number; billerId: string }> {
      const { biller, provider } = deps.directory.biller(q.billerId);
      checkCustomerRef(biller, q.customerRef);
      const a = readAnswer(
        await providerRequest(
          provider,
          'POST',
          'bills/fetch',
          mapRequest(provider, { billerId: biller.providerBillerId ?? biller.id, customerRef: q.customerRef }),
          now,
        ),
        `${q.billerId} fetch`,
      );
      const raw = canonicalStatus(provider, answerField(provider, a.body, 'status'));
      const currency = str(answerField(provider, a.body, 'currency')) || (provider.currency ?? '');
      const amount = int(answerField(provider, a.body, 'amount')) ?? 0;
      if (a.status === 404 || raw === 'NOT_FOUND')
        return { status: 'NOT_FOUND', billId: '', amount: 0, currency, fee: 0, billerId: biller.id };
      const status: BillStatus = raw === 'PAID' ? 'PAID' : 'DUE';
      if (status === 'DUE' && (amount <= 0 || !/^[0-9]{3}$/.test(currency)))
        throw new FixpayError('PROVIDER_UNAVAILABLE', `${q.billerId} fetch: no amount or currency in the answer`);
      return {
        status,
        billId: str(answerField(provider, a.body, 'billId')).slice(0, 64),
        amount: status === 'DUE' ? amount : 0,
        currency,
        fee: feesFor(amount, biller.fees).fee,
        billerId: biller.id,
      };
    },

    async payBill(
      q: { billerId: string; billId: string; customerRef: string; amount: number; currency: string } & {
        idempotencyKey: string;
      },
    ): Promise<PaymentState> {
      const { biller, provider } = deps.directory.biller(q.billerId);
      checkCustomerRef(biller, q.customerRef);
      if (!Number.isSafeInteger(q.amount) || q.amount <= 0 || !withinLimits(q.amount, biller.limits, channel))
        throw new FixpayError('PROVIDER_AMOUNT_INVALID', `${q.billerId}: amount outside the ${channel} limits`);
      if (biller.fetch === 'required' && q.billId === '')
        throw new FixpayError('PROVIDER_FIELD_INVALID', `${q.billerId}: pay needs a fetched bill`);
      const reference = q.idempotencyKey;
      const a = answerOf(
        await providerRequest(
          provider,
          'POST',
          'bills/pay',
          mapRequest(provider, {
            reference,
            billerId: biller.providerBillerId ?? biller.id,
            billId: q.billId,
            customerRef: q.customerRef,
            amount: q.amount,
            currency: q.currency,
            amountRule: biller.amount,
          }),
          now,
        ),
        `${q.billerId} pay`,
      );
      const open = checks(provider.statusQuery.queries);
      if (a.kind === 'ambiguous') return { status: 'PENDING', receipt: '', reference, checks: open };
      if (a.status === 422) {
        const error = str(a.body['error']);
        if (error === 'AMOUNT')
          throw new FixpayError('PROVIDER_AMOUNT_INVALID', `${q.billerId}: the biller refused the amount`);
        return { status: 'DECLINED', receipt: '', reference, checks: [] };
      }
      const s = paymentStatus(canonicalStatus(provider, answerField(provider, a.body, 'status')));
      const st: PaymentStatus = s === 'NOT_FOUND' ? 'DECLINED' : s;
      return {
        status: st,
        receipt: str(answerField(provider, a.body, 'receipt')).slice(0, 64),
        reference,
        checks: st === 'PENDING' ? open : [],
      };
    },

    billPaymentStatus: (q: { billerId: string; reference: string; attempt: number }) =>
      status(q.billerId, q.reference, q.attempt),

    /** Cancels the payment made under `reference`; true when nothing stands (never made, declined, cancelled). */
    async cancelBillPayment(q: { billerId: string; reference: string }): Promise<{ cancelled: boolean }> {
      const { provider } = deps.directory.biller(q.billerId);
      const a = readAnswer(
        await providerRequest(provider, 'POST', `bills/cancel/${encodeURIComponent(q.reference)}`, {}, now),
        `${q.billerId} cancel`,
      );
      const s = paymentStatus(canonicalStatus(provider, answerField(provider, a.body, 'status')));
      if (s === 'DECLINED' || s === 'NOT_FOUND' || a.status === 404) return { cancelled: true };
      throw new FixpayError('PROVIDER_NOT_REVERSIBLE', `${q.billerId}: the payment stands (${s})`);
    },
  };
}
