/**
 * Money around a provider call (ADR 0019): hold (a pending transfer of face value + customer fee
 * from the paying account to the provider's clearing account), then capture (post it, move the fee
 * to fee income and the merchant's commission out of it) or release (void). The fee and commission
 * are the product's data (biller or operator product, docs/providers.md §Fees); the hold records
 * them in the pending transfer (user_data_64 = fee, user_data_32 = commission) so the capture posts
 * exactly what was held, even if the data changed in between.
 *
 * Idempotent under the idempotency keys: the hold is the transfer id of its key, the capture's
 * transfers are `<key>#post`, `<key>#fee`, `<key>#commission`, the release voids by the original key.
 */
import type { ApplicationFailure } from '@temporalio/common';
import { FixpayError } from '../domain/errors';
import { ledgerIdToUuid, uuidToLedgerId } from '../domain/ids';
import { parseCurrency } from '../domain/money';
import { ledgerIdFor } from '../ledger/ids';
import type { Account, CreateTransferResult, LedgerPort, TransferEvent } from '../ledger/model';
import { ACCOUNT_CODES, TRANSFER_CODES, TRANSFER_RESULT_CODES, transferSucceeded } from '../ledger/model';
import type { ProviderDirectory, Fees } from '../gateways/providers/profile';
import { feesFor } from '../gateways/providers/profile';
import type { ProviderJournal } from '../gateways/providers/journal';
import { activityFailure, catalogueFailure } from './failure';
import { RESERVATION_TIMEOUT_SECONDS_DEFAULT, transferIdForKey, createLedgerActivities } from './ledger';

export interface ProviderMoneyDeps {
  readonly ledger: LedgerPort;
  readonly directory: ProviderDirectory;
  readonly journal: ProviderJournal;
  readonly reservationTimeoutSeconds?: number;
  readonly now?: () => number;
}

interface Product {
  readonly provider: string;
  readonly fees: Fees | undefined;
  readonly transferCode: number;
}

/**
 * `biller:<billerId>`, `topup:<operatorId>/<productId>` or `ticket:<offerId>` (ADR 0023). An empty product id (a phone keys only
 * the amount) is the operator's first product offering `amount`, as the top-up connector picks it;
 * without an amount (capture reads the held fee) only the operator's provider is needed.
 */
export function productOf(directory: ProviderDirectory, product: string, amount?: number): Product {
  const [kind, rest = ''] = product.split(':', 2);
  if (kind === 'biller') {
    const { biller } = directory.biller(rest);
    return { provider: biller.provider, fees: biller.fees, transferCode: TRANSFER_CODES.billPayment };
  }
  if (kind === 'topup') {
    const [op = '', id = ''] = rest.split('/', 2);
    const { operator } = directory.operator(op);
    if (id === '' && amount === undefined)
      return { provider: operator.provider, fees: undefined, transferCode: TRANSFER_CODES.topUp };
    const p =
      id === ''
        ? operator.products.find((x) =>
            x.amount !== undefined
              ? x.amount === amount
              : x.range !== undefined && (amount ?? 0) >= x.range.min && (amount ?? 0) <= x.range.max,
          )
        : operator.products.find((x) => x.id === id);
    if (p === undefined) throw new FixpayError('PROVIDER_UNKNOWN', `${op}: no product ${id.slice(0, 64)}`);
    return { provider: operator.provider, fees: p.fees, transferCode: TRANSFER_CODES.topUp };
  }
  if (kind === 'ticket') {
    const { offer } = directory.ticketOffer(rest);
    return { provider: offer.provider, fees: offer.fees, transferCode: TRANSFER_CODES.ticket };
  }
  throw new FixpayError(
    'PROVIDER_UNKNOWN',
    `product must be biller:<id>, topup:<operator>/<product> or ticket:<offer>`,
  );
}

export interface ProviderMoneyActivities {
  holdFunds(q: {
    accountId: string;
    amount: number;
    currency: string;
    product: string;
    idempotencyKey: string;
  }): Promise<{ reservationId: string; fee: number; total: number }>;
  captureFunds(q: {
    accountId: string;
    reservationId: string;
    product: string;
    reference: string;
    idempotencyKey: string;
  }): Promise<{ posted: boolean }>;
  releaseFunds(q: {
    accountId: string;
    idempotencyKey: string;
    originalIdempotencyKey: string;
  }): Promise<{ voided: boolean }>;
}

export function createProviderMoneyActivities(deps: ProviderMoneyDeps): ProviderMoneyActivities {
  const now = deps.now ?? (() => Date.now());
  const ledgerActs = createLedgerActivities({ ledger: deps.ledger });

  async function account(ref: string): Promise<Account> {
    const a = await deps.ledger.accountByReference(ref);
    if (a !== undefined) return a;
    if (/^[0-9a-f-]{36}$/i.test(ref)) {
      const [byId] = await deps.ledger.lookupAccounts([uuidToLedgerId(ref)]);
      if (byId !== undefined) return byId;
    }
    throw catalogueFailure('LEDGER_ACCOUNT_UNKNOWN', ref.slice(0, 64));
  }

  /** The provider's clearing account or the fee income account, created on first use. */
  async function platformAccount(reference: string, code: number, like: Account): Promise<Account> {
    const found = await deps.ledger.accountByReference(reference);
    if (found !== undefined) return found;
    await deps.ledger.createAccounts([
      { id: ledgerIdFor('account', reference), reference, ledger: like.ledger, code, currency: like.currency },
    ]);
    return account(reference);
  }

  async function create(e: TransferEvent, what: string): Promise<CreateTransferResult> {
    const [r] = await deps.ledger.createTransfers([e]);
    if (r === undefined) throw new Error('ledger returned no result');
    if (!transferSucceeded(r)) throw fail(r, what);
    return r;
  }
  const fail = (r: CreateTransferResult, what: string): ApplicationFailure =>
    catalogueFailure(TRANSFER_RESULT_CODES[r], `${what} (${r})`);

  const guard =
    <I, O>(f: (i: I) => Promise<O>) =>
    async (i: I): Promise<O> => {
      try {
        return await f(i);
      } catch (e) {
        throw activityFailure(e);
      }
    };

  return {
    holdFunds: guard(async (q) => {
      if (!Number.isSafeInteger(q.amount) || q.amount <= 0)
        throw new FixpayError('LEDGER_AMOUNT_INVALID', 'must be a positive whole number');
      const cur = parseCurrency(q.currency);
      if (!cur.ok) throw new FixpayError('LEDGER_ACCOUNT_CURRENCY_MISMATCH', cur.error.message);
      const product = productOf(deps.directory, q.product, q.amount);
      const { fee, commission } = feesFor(q.amount, product.fees);
      const own = await account(q.accountId);
      if (own.currency !== cur.value.code)
        throw new FixpayError('LEDGER_ACCOUNT_CURRENCY_MISMATCH', `${q.accountId} holds ${own.currency}`);
      const clearing = await platformAccount(
        `provider:${product.provider}:${own.currency}`,
        ACCOUNT_CODES.provider,
        own,
      );
      const id = transferIdForKey(q.idempotencyKey);
      await create(
        {
          id,
          debitAccountId: own.id,
          creditAccountId: clearing.id,
          amount: BigInt(q.amount + fee),
          ledger: own.ledger,
          code: product.transferCode,
          timeoutSeconds: deps.reservationTimeoutSeconds ?? RESERVATION_TIMEOUT_SECONDS_DEFAULT,
          userData64: BigInt(fee),
          userData32: commission,
          flags: { pending: true },
        },
        `hold on ${q.accountId}`,
      );
      return { reservationId: ledgerIdToUuid(id), fee, total: q.amount + fee };
    }),

    captureFunds: guard(async (q) => {
      const pendingId = uuidToLedgerId(q.reservationId);
      const [held] = await deps.ledger.lookupTransfers([pendingId]);
      if (held === undefined) throw new FixpayError('LEDGER_PENDING_TRANSFER_NOT_FOUND', 'no such hold');
      const product = productOf(deps.directory, q.product);
      await create(
        { id: transferIdForKey(`${q.idempotencyKey}#post`), pendingId, flags: { postPendingTransfer: true } },
        `capture of ${q.accountId}`,
      );
      const fee = held.userData64 ?? 0n;
      const commission = BigInt(held.userData32 ?? 0);
      const [own] = await deps.ledger.lookupAccounts([held.debitAccountId]);
      if (own === undefined) throw new FixpayError('LEDGER_ACCOUNT_UNKNOWN', q.accountId.slice(0, 64));
      const income = await platformAccount(`fees:${own.currency}`, ACCOUNT_CODES.fees, own);
      if (fee > 0n)
        await create(
          {
            id: transferIdForKey(`${q.idempotencyKey}#fee`),
            debitAccountId: held.creditAccountId,
            creditAccountId: income.id,
            amount: fee,
            ledger: held.ledger,
            code: held.code,
          },
          'fee',
        );
      if (commission > 0n)
        await create(
          {
            id: transferIdForKey(`${q.idempotencyKey}#commission`),
            debitAccountId: income.id,
            creditAccountId: own.id,
            amount: commission,
            ledger: held.ledger,
            code: held.code,
          },
          'commission',
        );
      await deps.journal.record({
        provider: product.provider,
        reference: q.reference,
        amount: Number(held.amount - fee),
        fee: Number(fee),
        currency: own.currency,
        status: 'COMPLETED',
        at: new Date(now()).toISOString(),
      });
      return { posted: true };
    }),

    releaseFunds: guard(async (q) => {
      const r = await ledgerActs.voidReservation(q);
      return { voided: r.voided };
    }),
  };
}
