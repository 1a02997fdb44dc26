/**
 * The top-up-aggregator connector kind (DT One-like): operators and products from the provider
 * directory, operator lookup by number, one transaction per our reference (the idempotency key),
 * provider states CREATED → CONFIRMED → SUBMITTED → COMPLETED / DECLINED / REJECTED / CANCELLED /
 * REVERSED folded into COMPLETED / PENDING / DECLINED for the run. A PIN product's PIN is sealed
 * at once (voucher.ts); it never leaves this module in clear.
 *
 * Endpoints: `GET lookup?number=`, `POST transactions` (create and confirm), `GET transactions/<ref>`,
 * `POST transactions/<ref>/cancel`.
 */
import { FixpayError } from '../../domain/errors';
import { answerField, canonicalStatus, mapRequest, providerRequest } from './http';
import { answerOf, readAnswer, str } from './connector';
import type { ProviderDirectory, TopupOperator, TopupProduct } from './profile';
import type { VoucherKey } from './voucher';
import { sealVoucher } from './voucher';

export type TopupStatus = 'COMPLETED' | 'PENDING' | 'DECLINED';

export interface TopupState {
  readonly status: TopupStatus;
  readonly providerRef: string;
  readonly reference: string;
  /** The sealed PIN for PIN products once completed; '' otherwise. */
  readonly voucher: string;
  readonly checks: number[];
}

export function topupStatusOf(raw: string | undefined): TopupStatus | 'NOT_FOUND' {
  switch (raw) {
    case 'COMPLETED':
      return 'COMPLETED';
    case 'DECLINED':
    case 'REJECTED':
    case 'CANCELLED':
    case 'REVERSED':
      return 'DECLINED';
    case 'NOT_FOUND':
      return 'NOT_FOUND';
    default:
      // CREATED, CONFIRMED, SUBMITTED and anything unknown: not settled yet.
      return 'PENDING';
  }
}

/** The product, after checking the number and the amount against the operator's data. */
export function productFor(o: TopupOperator, productId: string, number: string, amount: number): TopupProduct {
  // No product named: the first one offering this amount (fixed face value or range).
  const fits = (x: TopupProduct): boolean =>
    x.amount !== undefined
      ? x.amount === amount
      : x.range !== undefined && amount >= x.range.min && amount <= x.range.max;
  const p = productId === '' ? o.products.find(fits) : o.products.find((x) => x.id === productId);
  if (p === undefined) throw new FixpayError('PROVIDER_UNKNOWN', `${o.id}: no product ${productId.slice(0, 64)}`);
  if (!/^[0-9]{3,20}$/.test(number))
    throw new FixpayError('PROVIDER_FIELD_INVALID', `${o.id}: the number must be digits`);
  const len = o.numberLength;
  if ((len?.min !== undefined && number.length < len.min) || (len?.max !== undefined && number.length > len.max))
    throw new FixpayError('PROVIDER_FIELD_INVALID', `${o.id}: the number has the wrong length`);
  if (o.prefixes.length > 0 && !o.prefixes.some((x) => number.startsWith(x)))
    throw new FixpayError('PROVIDER_FIELD_INVALID', `${o.id}: the number is not on this operator`);
  const ok =
    Number.isSafeInteger(amount) &&
    (p.amount !== undefined
      ? amount === p.amount
      : p.range !== undefined && amount >= p.range.min && amount <= p.range.max);
  if (!ok) throw new FixpayError('PROVIDER_AMOUNT_INVALID', `${o.id}/${p.id}: the amount is not offered`);
  return p;
}

export interface TopupConnectorDeps {
  readonly directory: ProviderDirectory;
  readonly voucherKey: VoucherKey;
  readonly now?: () => number;
}

export interface TopupConnector {
  lookupOperator(q: { msisdn: string; service?: string }): Promise<{ found: boolean; operator: string }>;
  topup(
    q: { operator: string; productId?: string; msisdn: string; amount: number; currency: string } & {
      idempotencyKey: string;
    },
  ): Promise<TopupState>;
  status(q: { operator: string; productId?: string; reference: string }): Promise<TopupState>;
  cancel(q: { operator: string; reference: string }): Promise<{ reversed: boolean }>;
}

export function createTopupConnector(deps: TopupConnectorDeps): TopupConnector {
  const now = deps.now ?? (() => Date.now());

  function state(
    o: TopupOperator,
    body: Record<string, unknown>,
    reference: string,
    queries: number,
    product: TopupProduct | undefined,
  ): TopupState {
    const { provider } = deps.directory.operator(o.id);
    const s = topupStatusOf(canonicalStatus(provider, answerField(provider, body, 'status')));
    const status: TopupStatus = s === 'NOT_FOUND' ? 'DECLINED' : s;
    const pin = str(answerField(provider, body, 'pin'));
    let voucher = '';
    if (status === 'COMPLETED' && product?.delivery === 'pin') {
      if (pin === '') throw new FixpayError('PROVIDER_UNAVAILABLE', `${o.id}: completed without the PIN`);
      voucher = sealVoucher(pin, deps.voucherKey);
    }
    return {
      status,
      providerRef: str(answerField(provider, body, 'providerRef')).slice(0, 64),
      reference,
      voucher,
      checks: status === 'PENDING' ? Array.from({ length: queries }, (_, i) => i + 1) : [],
    };
  }

  return {
    /** The operator serving a number, by the operators' prefixes, confirmed by the provider's lookup. */
    async lookupOperator(q: { msisdn: string; service?: string }): Promise<{ found: boolean; operator: string }> {
      if (!/^[0-9]{3,20}$/.test(q.msisdn)) throw new FixpayError('PROVIDER_FIELD_INVALID', 'the number must be digits');
      const candidates = [...deps.directory.current().operators.values()].filter(
        (o) => (q.service === undefined || o.service === q.service) && o.prefixes.some((x) => q.msisdn.startsWith(x)),
      );
      for (const o of candidates) {
        const { provider } = deps.directory.operator(o.id);
        const a = readAnswer(
          await providerRequest(provider, 'GET', `lookup?number=${encodeURIComponent(q.msisdn)}`, undefined, now),
          `${o.id} lookup`,
        );
        const found = str(answerField(provider, a.body, 'operator'));
        if (found !== '' && candidates.some((c) => c.id === found)) return { found: true, operator: found };
      }
      return { found: false, operator: '' };
    },

    async topup(
      q: { operator: string; productId?: string; msisdn: string; amount: number; currency: string } & {
        idempotencyKey: string;
      },
    ): Promise<TopupState> {
      const { operator, provider } = deps.directory.operator(q.operator);
      const product = productFor(operator, q.productId ?? '', q.msisdn, q.amount);
      const reference = q.idempotencyKey;
      const a = answerOf(
        await providerRequest(
          provider,
          'POST',
          'transactions',
          mapRequest(provider, {
            reference,
            productId: product.providerProductId ?? product.id,
            number: q.msisdn,
            amount: q.amount,
            currency: q.currency,
            confirm: true,
          }),
          now,
        ),
        `${q.operator} top-up`,
      );
      const queries = provider.statusQuery.queries;
      if (a.kind === 'ambiguous')
        return {
          status: 'PENDING',
          providerRef: '',
          reference,
          voucher: '',
          checks: Array.from({ length: queries }, (_, i) => i + 1),
        };
      if (a.status === 422 || a.status === 404)
        return { status: 'DECLINED', providerRef: '', reference, voucher: '', checks: [] };
      return state(operator, a.body, reference, queries, product);
    },

    async status(q: { operator: string; productId?: string; reference: string }): Promise<TopupState> {
      const { operator, provider } = deps.directory.operator(q.operator);
      const a = readAnswer(
        await providerRequest(provider, 'GET', `transactions/${encodeURIComponent(q.reference)}`, undefined, now),
        `${q.operator} status`,
      );
      // 404: the request never reached the provider, so nothing was delivered.
      if (a.status === 404)
        return { status: 'DECLINED', providerRef: '', reference: q.reference, voucher: '', checks: [] };
      const product = operator.products.find((p) => p.id === q.productId);
      return { ...state(operator, a.body, q.reference, 0, product), checks: [] };
    },

    /** Cancels (or reverses) the top-up made under `reference`; true when nothing stands delivered. */
    async cancel(q: { operator: string; reference: string }): Promise<{ reversed: boolean }> {
      const { provider } = deps.directory.operator(q.operator);
      const a = readAnswer(
        await providerRequest(provider, 'POST', `transactions/${encodeURIComponent(q.reference)}/cancel`, {}, now),
        `${q.operator} cancel`,
      );
      if (a.status === 404) return { reversed: true };
      const s = topupStatusOf(canonicalStatus(provider, answerField(provider, a.body, 'status')));
      if (s === 'DECLINED' || s === 'NOT_FOUND') return { reversed: true };
      throw new FixpayError('PROVIDER_NOT_REVERSIBLE', `${q.operator}: the top-up stands (${s})`);
    },
  };
}
