/**
 * Ledger activities for the interpreter's catalogue (services/catalogue/entries.ts): reserve funds
 * as a pending transfer, post it, or void it. Each is idempotent under its idempotency key: the
 * transfer id is the first 128 bits of SHA-256 over the key, so a retry (or a replayed workflow)
 * names the same transfer and the ledger answers `exists`.
 *
 * Expected refusals (insufficient funds, unknown account, expired reservation) are non-retryable
 * ApplicationFailures whose `type` is the catalogue code name; store conflicts stay retryable.
 */
import type { ApplicationFailure } from '@temporalio/common';
import { FixpayError } from '../domain/errors';
import { ledgerIdToUuid } from '../domain/ids';
import { parseCurrency, parseMinorUnits } from '../domain/money';
import { ledgerIdFor } from '../ledger/ids';
import {
  ACCOUNT_CODES,
  TRANSFER_CODES,
  TRANSFER_RESULT_CODES,
  transferSucceeded,
  type Account,
  type CreateTransferResult,
  type LedgerPort,
  type TransferEvent,
} from '../ledger/model';
import { catalogueFailure } from './failure';

/** Default life of a reservation: a pending transfer nobody posts or voids is released after this. */
export const RESERVATION_TIMEOUT_SECONDS_DEFAULT = 900;

export interface LedgerActivityDeps {
  readonly ledger: LedgerPort;
  /** Seconds before an unresolved reservation expires by itself (it also bounds a late-landing reserve). */
  readonly reservationTimeoutSeconds?: number;
}

export interface ReserveFundsInput {
  /** The account whose money is reserved: a ledger reference (`customer-funds:H0001`) or UUID. */
  readonly accountId: string;
  readonly amount: number | string;
  /** ISO 4217, alphabetic or numeric. */
  readonly currency: string;
  readonly idempotencyKey: string;
  /**
   * The other side. Defaults by the account's code: a customer-funds account is debited and
   * `suspense:<CUR>` credited (held until the service provider confirms); a merchant account is
   * credited and `settlement:<CUR>` debited (the card network owes the platform).
   */
  readonly counterpartyAccountId?: string;
  /** Why the money moves (ledger/model.ts TRANSFER_CODES); default `purchase`. */
  readonly transferCode?: number;
}

export interface ReserveFundsOutput {
  /** The pending transfer's id (UUID). */
  readonly reservationId: string;
  readonly debitAccountId: string;
  readonly creditAccountId: string;
}

export interface PostReservationInput {
  readonly accountId: string;
  /** The idempotency key of the reserveFunds call whose reservation is posted. */
  readonly reservationKey: string;
  readonly idempotencyKey: string;
  /** Post less than reserved (the rest is released); default the whole reservation. */
  readonly amount?: number | string;
}

export interface VoidReservationInput {
  readonly accountId: string;
  readonly idempotencyKey: string;
  /** The idempotency key of the reserveFunds call this compensation undoes. */
  readonly originalIdempotencyKey: string;
}

export interface LedgerActivities {
  reserveFunds(input: ReserveFundsInput): Promise<ReserveFundsOutput>;
  postReservation(input: PostReservationInput): Promise<{ posted: boolean }>;
  voidReservation(input: VoidReservationInput): Promise<{ voided: boolean; outcome: VoidOutcome }>;
}

/** What a void found: it voided now (or on an earlier try), the reservation never landed, or it had expired. */
export type VoidOutcome = 'voided' | 'not_found' | 'expired';

/** The 128-bit transfer id for an idempotency key. */
export function transferIdForKey(idempotencyKey: string): bigint {
  return ledgerIdFor('transfer', idempotencyKey);
}

function fromResult(result: CreateTransferResult, detail: string): ApplicationFailure {
  return catalogueFailure(TRANSFER_RESULT_CODES[result], `${detail} (${result})`);
}

export function createLedgerActivities(deps: LedgerActivityDeps): LedgerActivities {
  const timeoutSeconds = deps.reservationTimeoutSeconds ?? RESERVATION_TIMEOUT_SECONDS_DEFAULT;

  async function account(ref: string): Promise<Account> {
    const found = await deps.ledger.accountByReference(ref);
    if (found !== undefined) return found;
    if (/^[0-9a-f-]{36}$/i.test(ref)) {
      const [byId] = await deps.ledger.lookupAccounts([BigInt(`0x${ref.replace(/-/g, '')}`)]);
      if (byId !== undefined) return byId;
    }
    throw catalogueFailure('LEDGER_ACCOUNT_UNKNOWN', ref.slice(0, 64));
  }

  async function create(event: TransferEvent): Promise<CreateTransferResult> {
    try {
      const [result] = await deps.ledger.createTransfers([event]);
      if (result === undefined) throw new Error('ledger returned no result');
      return result;
    } catch (e) {
      if (e instanceof FixpayError) throw catalogueFailure(e.codeName, e.message);
      throw e;
    }
  }

  return {
    async reserveFunds(input) {
      const amount = parseMinorUnits(input.amount);
      if (!amount.ok || amount.value === 0n)
        throw catalogueFailure('LEDGER_AMOUNT_INVALID', 'must be a positive whole number');
      const cur = parseCurrency(input.currency);
      if (!cur.ok) throw catalogueFailure('LEDGER_ACCOUNT_CURRENCY_MISMATCH', cur.error.message);
      const own = await account(input.accountId);
      if (own.currency !== cur.value.code)
        throw catalogueFailure('LEDGER_ACCOUNT_CURRENCY_MISMATCH', `${input.accountId} holds ${own.currency}`);
      let debitSide: boolean;
      let counterpartyRef: string;
      if (own.code === ACCOUNT_CODES.merchant) {
        debitSide = false;
        counterpartyRef = input.counterpartyAccountId ?? `settlement:${cur.value.code}`;
      } else {
        debitSide = true;
        counterpartyRef = input.counterpartyAccountId ?? `suspense:${cur.value.code}`;
      }
      const other = await account(counterpartyRef);
      const event: TransferEvent = {
        id: transferIdForKey(input.idempotencyKey),
        debitAccountId: debitSide ? own.id : other.id,
        creditAccountId: debitSide ? other.id : own.id,
        amount: amount.value,
        ledger: own.ledger,
        code: input.transferCode ?? TRANSFER_CODES.purchase,
        timeoutSeconds,
        flags: { pending: true },
      };
      const result = await create(event);
      if (!transferSucceeded(result)) throw fromResult(result, `reserve ${input.accountId}`);
      return {
        reservationId: ledgerIdToUuid(event.id),
        debitAccountId: ledgerIdToUuid(event.debitAccountId ?? 0n),
        creditAccountId: ledgerIdToUuid(event.creditAccountId ?? 0n),
      };
    },

    async postReservation(input) {
      let amount: bigint | undefined;
      if (input.amount !== undefined) {
        const a = parseMinorUnits(input.amount);
        if (!a.ok) throw catalogueFailure('LEDGER_AMOUNT_INVALID', a.error.message);
        amount = a.value;
      }
      const result = await create({
        id: transferIdForKey(input.idempotencyKey),
        pendingId: transferIdForKey(input.reservationKey),
        ...(amount === undefined ? {} : { amount }),
        flags: { postPendingTransfer: true },
      });
      if (!transferSucceeded(result)) throw fromResult(result, `post reservation of ${input.accountId}`);
      return { posted: true };
    },

    async voidReservation(input) {
      const result = await create({
        id: transferIdForKey(input.idempotencyKey),
        pendingId: transferIdForKey(input.originalIdempotencyKey),
        flags: { voidPendingTransfer: true },
      });
      if (transferSucceeded(result) || result === 'pending_transfer_already_voided')
        return { voided: true, outcome: 'voided' };
      // The reserve never landed: nothing to undo (and a late one expires on its own timeout).
      if (result === 'pending_transfer_not_found') return { voided: false, outcome: 'not_found' };
      if (result === 'pending_transfer_expired') return { voided: false, outcome: 'expired' };
      // Posted already: money moved for good; only a correcting transfer can undo it.
      throw fromResult(result, `void reservation of ${input.accountId}`);
    },
  };
}
