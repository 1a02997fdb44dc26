/**
 * The ledger's data model, in TigerBeetle's vocabulary (docs/ledger.md): accounts hold
 * debits/credits × pending/posted; transfers are immutable, carry a 128-bit id that makes them
 * idempotent, and move an amount from one account to another on the same ledger (currency).
 * Two-phase transfers reserve with `pending`, then resolve with `postPendingTransfer` or
 * `voidPendingTransfer` referencing `pendingId`, or time out.
 *
 * Departures from TigerBeetle's wire encoding (not its semantics): optional fields of a post/void
 * are `undefined` instead of zero, and an omitted `amount` on a post means "the full pending
 * amount" (TigerBeetle uses AMOUNT_MAX). Amounts and balances are at most 2^63 - 1 because the
 * database column is a signed BIGINT.
 */
import type { ResultCodeName } from '../domain/errors';
import type { CurrencyCode } from '../domain/money';

/** Largest amount or balance (PostgreSQL BIGINT). */
export const AMOUNT_MAX = 2n ** 63n - 1n;
/** Largest 128-bit id; reserved, like zero. */
export const ID_MAX = 2n ** 128n - 1n;
/** Largest user_data_64 (BIGINT column) and user_data_32 (INTEGER column) values. */
export const USER_DATA_64_MAX = 2n ** 63n - 1n;
export const USER_DATA_32_MAX = 2 ** 31 - 1;
/** Largest `code` (TigerBeetle's u16). */
export const CODE_MAX = 65_535;
/** Latest instant a pending transfer may expire at (the largest ECMAScript Date, in ms). */
export const TIMESTAMP_MAX_MS = 8_640_000_000_000_000;
/** Most events one createTransfers / createAccounts call accepts (TigerBeetle: 8,190 per request). */
export const BATCH_EVENTS_MAX = 8_190;

export interface AccountFlags {
  /** The account may never be debited beyond its posted credits (e.g. customer funds: no overdraft). */
  readonly debitsMustNotExceedCredits: boolean;
  /** The account may never be credited beyond its posted debits. */
  readonly creditsMustNotExceedDebits: boolean;
}

export interface Account {
  readonly id: bigint;
  /** Stable human reference such as `merchant:M0001`; unique when present. */
  readonly reference: string | undefined;
  /** The currency's ISO 4217 numeric code: one ledger per currency. */
  readonly ledger: number;
  readonly code: number;
  readonly currency: CurrencyCode;
  readonly flags: AccountFlags;
  readonly debitsPending: bigint;
  readonly debitsPosted: bigint;
  readonly creditsPending: bigint;
  readonly creditsPosted: bigint;
  readonly userData128: bigint | undefined;
  readonly userData64: bigint | undefined;
  readonly userData32: number | undefined;
  readonly timestampMs: number;
}

/** What a caller submits to create an account; balances start at zero. */
export interface AccountEvent {
  readonly id: bigint;
  readonly reference?: string;
  readonly ledger: number;
  readonly code: number;
  readonly currency: CurrencyCode;
  readonly flags?: Partial<AccountFlags>;
  readonly userData128?: bigint;
  readonly userData64?: bigint;
  readonly userData32?: number;
}

export interface TransferFlags {
  /** Succeeds or fails together with the next event in the batch. */
  readonly linked: boolean;
  /** Reserves the amount in the *_pending balances (phase one). */
  readonly pending: boolean;
  /** Posts (all or part of) the pending transfer named by `pendingId`. */
  readonly postPendingTransfer: boolean;
  /** Voids the pending transfer named by `pendingId`, releasing its amount. */
  readonly voidPendingTransfer: boolean;
}

export const PENDING_STATUSES = ['pending', 'posted', 'voided', 'expired'] as const;
/** Where a pending transfer stands; undefined for every other kind of transfer. */
export type PendingStatus = (typeof PENDING_STATUSES)[number];

/** A stored transfer: immutable except for a pending transfer's `pendingStatus`. */
export interface Transfer {
  readonly id: bigint;
  readonly debitAccountId: bigint;
  readonly creditAccountId: bigint;
  readonly amount: bigint;
  readonly pendingId: bigint | undefined;
  readonly userData128: bigint | undefined;
  readonly userData64: bigint | undefined;
  readonly userData32: number | undefined;
  readonly timeoutSeconds: number;
  readonly ledger: number;
  readonly code: number;
  readonly flags: TransferFlags;
  readonly pendingStatus: PendingStatus | undefined;
  /** When a pending transfer with a timeout expires; undefined otherwise. */
  readonly expiresAtMs: number | undefined;
  readonly timestampMs: number;
}

/** What a caller submits. For post/void, accounts, amount, ledger and code may be omitted (inherited). */
export interface TransferEvent {
  readonly id: bigint;
  readonly debitAccountId?: bigint;
  readonly creditAccountId?: bigint;
  readonly amount?: bigint;
  readonly pendingId?: bigint;
  readonly userData128?: bigint;
  readonly userData64?: bigint;
  readonly userData32?: number;
  /** Pending transfers only: seconds until the reservation is released on its own; 0 = never. */
  readonly timeoutSeconds?: number;
  readonly ledger?: number;
  readonly code?: number;
  readonly flags?: Partial<TransferFlags>;
}

/**
 * TigerBeetle's CreateTransferResult, in descending precedence: when several apply, the first
 * listed is returned. `exists` is a success for an idempotent retry.
 */
export const CREATE_TRANSFER_RESULTS = [
  'ok',
  'linked_event_failed',
  'linked_event_chain_open',
  'id_must_not_be_zero',
  'id_must_not_be_int_max',
  'exists_with_different_flags',
  'exists_with_different_pending_id',
  'exists_with_different_timeout',
  'exists_with_different_debit_account_id',
  'exists_with_different_credit_account_id',
  'exists_with_different_amount',
  'exists_with_different_user_data_128',
  'exists_with_different_user_data_64',
  'exists_with_different_user_data_32',
  'exists_with_different_ledger',
  'exists_with_different_code',
  'exists',
  'flags_are_mutually_exclusive',
  'debit_account_id_must_not_be_zero',
  'debit_account_id_must_not_be_int_max',
  'credit_account_id_must_not_be_zero',
  'credit_account_id_must_not_be_int_max',
  'accounts_must_be_different',
  'pending_id_must_be_zero',
  'pending_id_must_not_be_zero',
  'pending_id_must_not_be_int_max',
  'pending_id_must_be_different',
  'timeout_reserved_for_pending_transfer',
  'ledger_must_not_be_zero',
  'code_must_not_be_zero',
  'debit_account_not_found',
  'credit_account_not_found',
  'accounts_must_have_the_same_ledger',
  'transfer_must_have_the_same_ledger_as_accounts',
  'pending_transfer_not_found',
  'pending_transfer_not_pending',
  'pending_transfer_has_different_debit_account_id',
  'pending_transfer_has_different_credit_account_id',
  'pending_transfer_has_different_ledger',
  'pending_transfer_has_different_code',
  'exceeds_pending_transfer_amount',
  'pending_transfer_has_different_amount',
  'pending_transfer_already_posted',
  'pending_transfer_already_voided',
  'pending_transfer_expired',
  'overflows_debits_pending',
  'overflows_credits_pending',
  'overflows_debits_posted',
  'overflows_credits_posted',
  'overflows_debits',
  'overflows_credits',
  'overflows_timeout',
  'exceeds_credits',
  'exceeds_debits',
] as const;
export type CreateTransferResult = (typeof CREATE_TRANSFER_RESULTS)[number];

/** TigerBeetle's CreateAccountResult, the subset fixpay uses, plus currency checks. */
export const CREATE_ACCOUNT_RESULTS = [
  'ok',
  'id_must_not_be_zero',
  'id_must_not_be_int_max',
  'exists_with_different_flags',
  'exists_with_different_user_data_128',
  'exists_with_different_user_data_64',
  'exists_with_different_user_data_32',
  'exists_with_different_ledger',
  'exists_with_different_code',
  'exists_with_different_currency',
  'exists_with_different_reference',
  'exists',
  'flags_are_mutually_exclusive',
  'ledger_must_not_be_zero',
  'code_must_not_be_zero',
  'ledger_must_match_currency',
  'reference_in_use',
] as const;
export type CreateAccountResult = (typeof CREATE_ACCOUNT_RESULTS)[number];

/** Each transfer result as a catalogue code (docs/errors.md, FP6001-FP6099). */
export const TRANSFER_RESULT_CODES: Readonly<Record<CreateTransferResult, ResultCodeName>> = {
  ok: 'OK',
  linked_event_failed: 'LEDGER_LINKED_EVENT_FAILED',
  linked_event_chain_open: 'LEDGER_LINKED_EVENT_CHAIN_OPEN',
  id_must_not_be_zero: 'LEDGER_ID_MUST_NOT_BE_ZERO',
  id_must_not_be_int_max: 'LEDGER_ID_MUST_NOT_BE_INT_MAX',
  exists_with_different_flags: 'LEDGER_EXISTS_WITH_DIFFERENT_FLAGS',
  exists_with_different_pending_id: 'LEDGER_EXISTS_WITH_DIFFERENT_PENDING_ID',
  exists_with_different_timeout: 'LEDGER_EXISTS_WITH_DIFFERENT_TIMEOUT',
  exists_with_different_debit_account_id: 'LEDGER_EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID',
  exists_with_different_credit_account_id: 'LEDGER_EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID',
  exists_with_different_amount: 'LEDGER_EXISTS_WITH_DIFFERENT_AMOUNT',
  exists_with_different_user_data_128: 'LEDGER_EXISTS_WITH_DIFFERENT_USER_DATA_128',
  exists_with_different_user_data_64: 'LEDGER_EXISTS_WITH_DIFFERENT_USER_DATA_64',
  exists_with_different_user_data_32: 'LEDGER_EXISTS_WITH_DIFFERENT_USER_DATA_32',
  exists_with_different_ledger: 'LEDGER_EXISTS_WITH_DIFFERENT_LEDGER',
  exists_with_different_code: 'LEDGER_EXISTS_WITH_DIFFERENT_CODE',
  exists: 'LEDGER_TRANSFER_EXISTS',
  flags_are_mutually_exclusive: 'LEDGER_FLAGS_ARE_MUTUALLY_EXCLUSIVE',
  debit_account_id_must_not_be_zero: 'LEDGER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO',
  debit_account_id_must_not_be_int_max: 'LEDGER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX',
  credit_account_id_must_not_be_zero: 'LEDGER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO',
  credit_account_id_must_not_be_int_max: 'LEDGER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX',
  accounts_must_be_different: 'LEDGER_ACCOUNTS_MUST_BE_DIFFERENT',
  pending_id_must_be_zero: 'LEDGER_PENDING_ID_MUST_BE_ZERO',
  pending_id_must_not_be_zero: 'LEDGER_PENDING_ID_MUST_NOT_BE_ZERO',
  pending_id_must_not_be_int_max: 'LEDGER_PENDING_ID_MUST_NOT_BE_INT_MAX',
  pending_id_must_be_different: 'LEDGER_PENDING_ID_MUST_BE_DIFFERENT',
  timeout_reserved_for_pending_transfer: 'LEDGER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER',
  ledger_must_not_be_zero: 'LEDGER_LEDGER_MUST_NOT_BE_ZERO',
  code_must_not_be_zero: 'LEDGER_CODE_MUST_NOT_BE_ZERO',
  debit_account_not_found: 'LEDGER_DEBIT_ACCOUNT_NOT_FOUND',
  credit_account_not_found: 'LEDGER_CREDIT_ACCOUNT_NOT_FOUND',
  accounts_must_have_the_same_ledger: 'LEDGER_ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER',
  transfer_must_have_the_same_ledger_as_accounts: 'LEDGER_TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS',
  pending_transfer_not_found: 'LEDGER_PENDING_TRANSFER_NOT_FOUND',
  pending_transfer_not_pending: 'LEDGER_PENDING_TRANSFER_NOT_PENDING',
  pending_transfer_has_different_debit_account_id: 'LEDGER_PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID',
  pending_transfer_has_different_credit_account_id: 'LEDGER_PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID',
  pending_transfer_has_different_ledger: 'LEDGER_PENDING_TRANSFER_HAS_DIFFERENT_LEDGER',
  pending_transfer_has_different_code: 'LEDGER_PENDING_TRANSFER_HAS_DIFFERENT_CODE',
  exceeds_pending_transfer_amount: 'LEDGER_EXCEEDS_PENDING_TRANSFER_AMOUNT',
  pending_transfer_has_different_amount: 'LEDGER_PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT',
  pending_transfer_already_posted: 'LEDGER_PENDING_TRANSFER_ALREADY_POSTED',
  pending_transfer_already_voided: 'LEDGER_PENDING_TRANSFER_ALREADY_VOIDED',
  pending_transfer_expired: 'LEDGER_PENDING_TRANSFER_EXPIRED',
  overflows_debits_pending: 'LEDGER_OVERFLOWS_DEBITS_PENDING',
  overflows_credits_pending: 'LEDGER_OVERFLOWS_CREDITS_PENDING',
  overflows_debits_posted: 'LEDGER_OVERFLOWS_DEBITS_POSTED',
  overflows_credits_posted: 'LEDGER_OVERFLOWS_CREDITS_POSTED',
  overflows_debits: 'LEDGER_OVERFLOWS_DEBITS',
  overflows_credits: 'LEDGER_OVERFLOWS_CREDITS',
  overflows_timeout: 'LEDGER_OVERFLOWS_TIMEOUT',
  exceeds_credits: 'LEDGER_EXCEEDS_CREDITS',
  exceeds_debits: 'LEDGER_EXCEEDS_DEBITS',
};

/** Each account result as a catalogue code. */
export const ACCOUNT_RESULT_CODES: Readonly<Record<CreateAccountResult, ResultCodeName>> = {
  ok: 'OK',
  id_must_not_be_zero: 'LEDGER_ID_MUST_NOT_BE_ZERO',
  id_must_not_be_int_max: 'LEDGER_ID_MUST_NOT_BE_INT_MAX',
  exists_with_different_flags: 'LEDGER_EXISTS_WITH_DIFFERENT_FLAGS',
  exists_with_different_user_data_128: 'LEDGER_EXISTS_WITH_DIFFERENT_USER_DATA_128',
  exists_with_different_user_data_64: 'LEDGER_EXISTS_WITH_DIFFERENT_USER_DATA_64',
  exists_with_different_user_data_32: 'LEDGER_EXISTS_WITH_DIFFERENT_USER_DATA_32',
  exists_with_different_ledger: 'LEDGER_EXISTS_WITH_DIFFERENT_LEDGER',
  exists_with_different_code: 'LEDGER_EXISTS_WITH_DIFFERENT_CODE',
  exists_with_different_currency: 'LEDGER_EXISTS_WITH_DIFFERENT_CURRENCY',
  exists_with_different_reference: 'LEDGER_EXISTS_WITH_DIFFERENT_REFERENCE',
  exists: 'LEDGER_ACCOUNT_EXISTS',
  flags_are_mutually_exclusive: 'LEDGER_FLAGS_ARE_MUTUALLY_EXCLUSIVE',
  ledger_must_not_be_zero: 'LEDGER_LEDGER_MUST_NOT_BE_ZERO',
  code_must_not_be_zero: 'LEDGER_CODE_MUST_NOT_BE_ZERO',
  ledger_must_match_currency: 'LEDGER_LEDGER_MUST_MATCH_CURRENCY',
  reference_in_use: 'LEDGER_REFERENCE_IN_USE',
};

/** True for the results that mean "the transfer is in the ledger as asked". */
export function transferSucceeded(result: CreateTransferResult): boolean {
  return result === 'ok' || result === 'exists';
}

/** Account codes: what an account is for (TigerBeetle's `code`), shared by seed data and docs. */
export const ACCOUNT_CODES = {
  /** What the card network / acquiring bank owes the platform (asset side). */
  settlement: 1,
  /** What the platform owes a merchant. */
  merchant: 2,
  /** Prepaid money a household holds with the platform. */
  customerFunds: 3,
  /** Unmatched or in-doubt money awaiting reconciliation. */
  suspense: 4,
  /** Where prepaid money enters the platform (cash-in, bank top-up). */
  funding: 5,
  /** What the platform owes a bill or top-up provider for what it delivered (ADR 0019). */
  provider: 6,
  /** The platform's fee income from provider services, net of merchant commissions. */
  fees: 7,
} as const;

/** Transfer codes: why money moved (TigerBeetle's `code`). */
export const TRANSFER_CODES = {
  purchase: 1,
  billPayment: 2,
  topUp: 3,
  funding: 4,
  settlement: 5,
  correction: 6,
  /** A ticket paid at a ticketing provider: air, cinema, lottery (ADR 0023). */
  ticket: 7,
} as const;

/** What activities and seed code need from a ledger; PrismaLedgerStore and MemoryLedgerStore implement it. */
export interface LedgerPort {
  /** Creates accounts, idempotent by id; one result per event, in order. */
  createAccounts(events: readonly AccountEvent[]): Promise<CreateAccountResult[]>;
  /** Applies a batch of transfers atomically; one result per event, in order. */
  createTransfers(events: readonly TransferEvent[]): Promise<CreateTransferResult[]>;
  /** The accounts that exist among `ids`, in the order asked. */
  lookupAccounts(ids: readonly bigint[]): Promise<Account[]>;
  /** The transfers that exist among `ids`, in the order asked. */
  lookupTransfers(ids: readonly bigint[]): Promise<Transfer[]>;
  accountByReference(reference: string): Promise<Account | undefined>;
  /** Releases pending transfers whose timeout has passed; returns their ids. */
  expirePendingTransfers(): Promise<bigint[]>;
}
