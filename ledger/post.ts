/**
 * The ledger's posting rules, pure: given what the store read (accounts and transfers) and a batch
 * of events, decide each event's result in TigerBeetle's precedence order and compute the changes
 * to write. The store (ledger/store.ts) reads under row locks, calls these functions and writes
 * the changes in the same database transaction; tests call them on an in-memory ledger.
 *
 * Broken invariants (a negative balance, a limit exceeded after a check passed) throw: they are
 * bugs, not results.
 */
import { currency as currencyOf } from '../domain/money';
import {
  AMOUNT_MAX,
  ID_MAX,
  TIMESTAMP_MAX_MS,
  type Account,
  type AccountEvent,
  type CreateAccountResult,
  type CreateTransferResult,
  type PendingStatus,
  type Transfer,
  type TransferEvent,
  type TransferFlags,
} from './model';

/** What the posting rules may read: the store answers from rows it locked; tests from memory. */
export interface LedgerReader {
  account(id: bigint): Account | undefined;
  transfer(id: bigint): Transfer | undefined;
  accountIdByReference(reference: string): bigint | undefined;
}

/** The writes one batch produces. */
export interface LedgerChanges {
  /** Accounts created by the batch, in order. */
  readonly createdAccounts: readonly Account[];
  /** Existing accounts whose balances changed, with their new balances. */
  readonly updatedAccounts: ReadonlyMap<bigint, Account>;
  /** Transfers created by the batch, in order. */
  readonly createdTransfers: readonly Transfer[];
  /** Existing pending transfers that were posted, voided or expired. */
  readonly resolvedPending: ReadonlyMap<bigint, PendingStatus>;
}

/** Copy-on-write view over a reader: the batch sees its own earlier effects. */
class Overlay implements LedgerReader {
  private accounts = new Map<bigint, Account>();
  private createdAccountIds: bigint[] = [];
  private transfers = new Map<bigint, Transfer>();
  private createdTransferIds: bigint[] = [];
  private statuses = new Map<bigint, PendingStatus>();
  private references = new Map<string, bigint>();

  constructor(private readonly base: LedgerReader) {}

  account(id: bigint): Account | undefined {
    return this.accounts.get(id) ?? this.base.account(id);
  }
  transfer(id: bigint): Transfer | undefined {
    const t = this.transfers.get(id) ?? this.base.transfer(id);
    if (t === undefined) return undefined;
    const status = this.statuses.get(id);
    return status === undefined ? t : { ...t, pendingStatus: status };
  }
  accountIdByReference(reference: string): bigint | undefined {
    return this.references.get(reference) ?? this.base.accountIdByReference(reference);
  }

  putAccount(a: Account, created: boolean): void {
    this.accounts.set(a.id, a);
    if (created) {
      this.createdAccountIds.push(a.id);
      if (a.reference !== undefined) this.references.set(a.reference, a.id);
    }
  }
  putTransfer(t: Transfer): void {
    this.transfers.set(t.id, t);
    this.createdTransferIds.push(t.id);
  }
  setStatus(id: bigint, status: PendingStatus): void {
    this.statuses.set(id, status);
  }

  snapshot(): () => void {
    const saved = {
      accounts: new Map(this.accounts),
      createdAccountIds: [...this.createdAccountIds],
      transfers: new Map(this.transfers),
      createdTransferIds: [...this.createdTransferIds],
      statuses: new Map(this.statuses),
      references: new Map(this.references),
    };
    return () => {
      Object.assign(this, saved);
    };
  }

  changes(): LedgerChanges {
    const created = new Set(this.createdAccountIds);
    const createdAccounts = this.createdAccountIds.map((id) => must(this.accounts.get(id)));
    const updatedAccounts = new Map([...this.accounts].filter(([id]) => !created.has(id)));
    const createdTransfers = this.createdTransferIds.map((id) => {
      const t = must(this.transfers.get(id));
      const status = this.statuses.get(id);
      return status === undefined ? t : { ...t, pendingStatus: status };
    });
    const fresh = new Set(this.createdTransferIds);
    const resolvedPending = new Map([...this.statuses].filter(([id]) => !fresh.has(id)));
    for (const a of [...createdAccounts, ...updatedAccounts.values()]) assertAccountInvariants(a);
    return { createdAccounts, updatedAccounts, createdTransfers, resolvedPending };
  }
}

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('ledger invariant: missing object in overlay');
  return v;
}

/** Balances stay within 0..AMOUNT_MAX and inside the account's limit flags. Throws when broken. */
export function assertAccountInvariants(a: Account): void {
  for (const v of [a.debitsPending, a.debitsPosted, a.creditsPending, a.creditsPosted]) {
    if (v < 0n || v > AMOUNT_MAX) throw new Error(`ledger invariant: account ${a.id} balance out of range`);
  }
  if (a.flags.debitsMustNotExceedCredits && a.debitsPending + a.debitsPosted > a.creditsPosted)
    throw new Error(`ledger invariant: account ${a.id} debits exceed credits`);
  if (a.flags.creditsMustNotExceedDebits && a.creditsPending + a.creditsPosted > a.debitsPosted)
    throw new Error(`ledger invariant: account ${a.id} credits exceed debits`);
}

const flagsOf = (f: Partial<TransferFlags> | undefined): TransferFlags => ({
  linked: f?.linked === true,
  pending: f?.pending === true,
  postPendingTransfer: f?.postPendingTransfer === true,
  voidPendingTransfer: f?.voidPendingTransfer === true,
});

/** Zero means "none", as in TigerBeetle. */
const none0n = (v: bigint | undefined): bigint | undefined => (v === undefined || v === 0n ? undefined : v);
const none0 = (v: number | undefined): number | undefined => (v === undefined || v === 0 ? undefined : v);
const given = <T extends bigint | number>(v: T | undefined): v is T => v !== undefined && v !== 0 && v !== 0n;

function assertEventShape(e: TransferEvent): void {
  const bigs = [e.id, e.debitAccountId, e.creditAccountId, e.amount, e.pendingId, e.userData128, e.userData64];
  if (bigs.some((v) => v !== undefined && v < 0n)) throw new RangeError('transfer event: negative value');
  if (bigs.some((v) => v !== undefined && v > ID_MAX)) throw new RangeError('transfer event: value above 2^128 - 1');
  for (const v of [e.timeoutSeconds, e.ledger, e.code, e.userData32]) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0))
      throw new RangeError('transfer event: integer field out of range');
  }
}

function existsResult(e: TransferEvent, t: Transfer): CreateTransferResult {
  const f = flagsOf(e.flags);
  if (
    f.pending !== t.flags.pending ||
    f.postPendingTransfer !== t.flags.postPendingTransfer ||
    f.voidPendingTransfer !== t.flags.voidPendingTransfer
  )
    return 'exists_with_different_flags';
  if ((none0n(e.pendingId) ?? 0n) !== (t.pendingId ?? 0n)) return 'exists_with_different_pending_id';
  if ((e.timeoutSeconds ?? 0) !== t.timeoutSeconds) return 'exists_with_different_timeout';
  const resolving = f.postPendingTransfer || f.voidPendingTransfer;
  // A post or void may omit the fields it inherits from the pending transfer.
  if (
    resolving
      ? given(e.debitAccountId) && e.debitAccountId !== t.debitAccountId
      : (e.debitAccountId ?? 0n) !== t.debitAccountId
  )
    return 'exists_with_different_debit_account_id';
  if (
    resolving
      ? given(e.creditAccountId) && e.creditAccountId !== t.creditAccountId
      : (e.creditAccountId ?? 0n) !== t.creditAccountId
  )
    return 'exists_with_different_credit_account_id';
  if (resolving ? e.amount !== undefined && e.amount !== t.amount : (e.amount ?? 0n) !== t.amount)
    return 'exists_with_different_amount';
  if (none0n(e.userData128) !== t.userData128) return 'exists_with_different_user_data_128';
  if (none0n(e.userData64) !== t.userData64) return 'exists_with_different_user_data_64';
  if (none0(e.userData32) !== t.userData32) return 'exists_with_different_user_data_32';
  if (resolving ? given(e.ledger) && e.ledger !== t.ledger : (e.ledger ?? 0) !== t.ledger)
    return 'exists_with_different_ledger';
  if (resolving ? given(e.code) && e.code !== t.code : (e.code ?? 0) !== t.code) return 'exists_with_different_code';
  return 'exists';
}

function createOne(view: Overlay, e: TransferEvent, timestampMs: number): CreateTransferResult {
  assertEventShape(e);
  if (e.id === 0n) return 'id_must_not_be_zero';
  if (e.id === ID_MAX) return 'id_must_not_be_int_max';
  const existing = view.transfer(e.id);
  if (existing !== undefined) return existsResult(e, existing);
  const f = flagsOf(e.flags);
  if (Number(f.pending) + Number(f.postPendingTransfer) + Number(f.voidPendingTransfer) > 1)
    return 'flags_are_mutually_exclusive';
  if (f.postPendingTransfer || f.voidPendingTransfer) return resolvePending(view, e, f, timestampMs);

  const debitId = e.debitAccountId ?? 0n;
  const creditId = e.creditAccountId ?? 0n;
  const amount = e.amount ?? 0n;
  const timeoutSeconds = e.timeoutSeconds ?? 0;
  if (debitId === 0n) return 'debit_account_id_must_not_be_zero';
  if (debitId === ID_MAX) return 'debit_account_id_must_not_be_int_max';
  if (creditId === 0n) return 'credit_account_id_must_not_be_zero';
  if (creditId === ID_MAX) return 'credit_account_id_must_not_be_int_max';
  if (debitId === creditId) return 'accounts_must_be_different';
  if (given(e.pendingId)) return 'pending_id_must_be_zero';
  if (!f.pending && timeoutSeconds > 0) return 'timeout_reserved_for_pending_transfer';
  if (!given(e.ledger)) return 'ledger_must_not_be_zero';
  if (!given(e.code)) return 'code_must_not_be_zero';
  const dr = view.account(debitId);
  if (dr === undefined) return 'debit_account_not_found';
  const cr = view.account(creditId);
  if (cr === undefined) return 'credit_account_not_found';
  if (dr.ledger !== cr.ledger) return 'accounts_must_have_the_same_ledger';
  if (e.ledger !== dr.ledger) return 'transfer_must_have_the_same_ledger_as_accounts';
  if (f.pending) {
    if (dr.debitsPending + amount > AMOUNT_MAX) return 'overflows_debits_pending';
    if (cr.creditsPending + amount > AMOUNT_MAX) return 'overflows_credits_pending';
  }
  if (dr.debitsPosted + amount > AMOUNT_MAX) return 'overflows_debits_posted';
  if (cr.creditsPosted + amount > AMOUNT_MAX) return 'overflows_credits_posted';
  if (dr.debitsPending + dr.debitsPosted + amount > AMOUNT_MAX) return 'overflows_debits';
  if (cr.creditsPending + cr.creditsPosted + amount > AMOUNT_MAX) return 'overflows_credits';
  const expiresAtMs = f.pending && timeoutSeconds > 0 ? timestampMs + timeoutSeconds * 1000 : undefined;
  if (expiresAtMs !== undefined && expiresAtMs > TIMESTAMP_MAX_MS) return 'overflows_timeout';
  if (dr.flags.debitsMustNotExceedCredits && dr.debitsPending + dr.debitsPosted + amount > dr.creditsPosted)
    return 'exceeds_credits';
  if (cr.flags.creditsMustNotExceedDebits && cr.creditsPending + cr.creditsPosted + amount > cr.debitsPosted)
    return 'exceeds_debits';

  if (f.pending) {
    view.putAccount({ ...dr, debitsPending: dr.debitsPending + amount }, false);
    view.putAccount({ ...cr, creditsPending: cr.creditsPending + amount }, false);
  } else {
    view.putAccount({ ...dr, debitsPosted: dr.debitsPosted + amount }, false);
    view.putAccount({ ...cr, creditsPosted: cr.creditsPosted + amount }, false);
  }
  view.putTransfer({
    id: e.id,
    debitAccountId: debitId,
    creditAccountId: creditId,
    amount,
    pendingId: undefined,
    userData128: none0n(e.userData128),
    userData64: none0n(e.userData64),
    userData32: none0(e.userData32),
    timeoutSeconds,
    ledger: e.ledger,
    code: e.code,
    flags: f,
    pendingStatus: f.pending ? 'pending' : undefined,
    expiresAtMs,
    timestampMs,
  });
  return 'ok';
}

function resolvePending(view: Overlay, e: TransferEvent, f: TransferFlags, timestampMs: number): CreateTransferResult {
  const pendingId = e.pendingId ?? 0n;
  if (pendingId === 0n) return 'pending_id_must_not_be_zero';
  if (pendingId === ID_MAX) return 'pending_id_must_not_be_int_max';
  if (pendingId === e.id) return 'pending_id_must_be_different';
  if ((e.timeoutSeconds ?? 0) > 0) return 'timeout_reserved_for_pending_transfer';
  const p = view.transfer(pendingId);
  if (p === undefined) return 'pending_transfer_not_found';
  if (!p.flags.pending) return 'pending_transfer_not_pending';
  if (given(e.debitAccountId) && e.debitAccountId !== p.debitAccountId)
    return 'pending_transfer_has_different_debit_account_id';
  if (given(e.creditAccountId) && e.creditAccountId !== p.creditAccountId)
    return 'pending_transfer_has_different_credit_account_id';
  if (given(e.ledger) && e.ledger !== p.ledger) return 'pending_transfer_has_different_ledger';
  if (given(e.code) && e.code !== p.code) return 'pending_transfer_has_different_code';
  const amount = f.postPendingTransfer ? (e.amount ?? p.amount) : p.amount;
  if (f.postPendingTransfer && amount > p.amount) return 'exceeds_pending_transfer_amount';
  if (f.voidPendingTransfer && e.amount !== undefined && e.amount !== p.amount)
    return 'pending_transfer_has_different_amount';
  if (p.pendingStatus === 'posted') return 'pending_transfer_already_posted';
  if (p.pendingStatus === 'voided') return 'pending_transfer_already_voided';
  if (p.pendingStatus === 'expired') return 'pending_transfer_expired';
  if (p.expiresAtMs !== undefined && p.expiresAtMs <= timestampMs) return 'pending_transfer_expired';
  const dr = view.account(p.debitAccountId);
  const cr = view.account(p.creditAccountId);
  if (dr === undefined || cr === undefined) throw new Error('ledger invariant: pending transfer without accounts');
  const posted = f.postPendingTransfer ? amount : 0n;
  if (dr.debitsPosted + posted > AMOUNT_MAX) return 'overflows_debits_posted';
  if (cr.creditsPosted + posted > AMOUNT_MAX) return 'overflows_credits_posted';

  view.putAccount({ ...dr, debitsPending: dr.debitsPending - p.amount, debitsPosted: dr.debitsPosted + posted }, false);
  view.putAccount(
    { ...cr, creditsPending: cr.creditsPending - p.amount, creditsPosted: cr.creditsPosted + posted },
    false,
  );
  view.setStatus(p.id, f.postPendingTransfer ? 'posted' : 'voided');
  view.putTransfer({
    id: e.id,
    debitAccountId: p.debitAccountId,
    creditAccountId: p.creditAccountId,
    amount,
    pendingId,
    userData128: none0n(e.userData128),
    userData64: none0n(e.userData64),
    userData32: none0(e.userData32),
    timeoutSeconds: 0,
    ledger: p.ledger,
    code: given(e.code) ? e.code : p.code,
    flags: f,
    pendingStatus: undefined,
    expiresAtMs: undefined,
    timestampMs,
  });
  return 'ok';
}

/**
 * Decides a batch of transfers. Linked events (`flags.linked`) form a chain that ends at the first
 * event without the flag; if any event of a chain fails, none of the chain's effects stay, the
 * failing event keeps its own result and the others get `linked_event_failed` (an idempotent
 * `exists` also fails a chain, as in TigerBeetle). A chain still open at the end of the batch fails
 * with `linked_event_chain_open` on its last event.
 */
export function createTransfers(
  reader: LedgerReader,
  events: readonly TransferEvent[],
  timestampMs: number,
): { results: CreateTransferResult[]; changes: LedgerChanges } {
  const view = new Overlay(reader);
  const results: CreateTransferResult[] = [];
  let chainStart: number | undefined;
  let rollback: (() => void) | undefined;
  let chainFailed = false;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e === undefined) break;
    const linked = e.flags?.linked === true;
    if (chainStart === undefined && linked) {
      chainStart = i;
      rollback = view.snapshot();
      chainFailed = false;
    }
    let result: CreateTransferResult;
    if (chainFailed) result = 'linked_event_failed';
    else if (linked && i === events.length - 1) result = 'linked_event_chain_open';
    else result = createOne(view, e, timestampMs);
    results.push(result);
    if (chainStart !== undefined && result !== 'ok' && !chainFailed) {
      chainFailed = true;
      rollback?.();
      for (let j = chainStart; j < i; j++) results[j] = 'linked_event_failed';
    }
    if (!linked) {
      chainStart = undefined;
      rollback = undefined;
      chainFailed = false;
    }
  }
  return { results, changes: view.changes() };
}

/** Decides a batch of new accounts; balances start at zero. */
export function createAccounts(
  reader: LedgerReader,
  events: readonly AccountEvent[],
  timestampMs: number,
): { results: CreateAccountResult[]; changes: LedgerChanges } {
  const view = new Overlay(reader);
  const results = events.map((e): CreateAccountResult => {
    if (e.id === 0n) return 'id_must_not_be_zero';
    if (e.id === ID_MAX) return 'id_must_not_be_int_max';
    const debitsMustNotExceedCredits = e.flags?.debitsMustNotExceedCredits === true;
    const creditsMustNotExceedDebits = e.flags?.creditsMustNotExceedDebits === true;
    const existing = view.account(e.id);
    if (existing !== undefined) {
      if (
        existing.flags.debitsMustNotExceedCredits !== debitsMustNotExceedCredits ||
        existing.flags.creditsMustNotExceedDebits !== creditsMustNotExceedDebits
      )
        return 'exists_with_different_flags';
      if (existing.userData128 !== none0n(e.userData128)) return 'exists_with_different_user_data_128';
      if (existing.userData64 !== none0n(e.userData64)) return 'exists_with_different_user_data_64';
      if (existing.userData32 !== none0(e.userData32)) return 'exists_with_different_user_data_32';
      if (existing.ledger !== e.ledger) return 'exists_with_different_ledger';
      if (existing.code !== e.code) return 'exists_with_different_code';
      if (existing.currency !== e.currency) return 'exists_with_different_currency';
      if (existing.reference !== e.reference) return 'exists_with_different_reference';
      return 'exists';
    }
    if (debitsMustNotExceedCredits && creditsMustNotExceedDebits) return 'flags_are_mutually_exclusive';
    if (e.ledger === 0) return 'ledger_must_not_be_zero';
    if (e.code === 0) return 'code_must_not_be_zero';
    if (currencyOf(e.currency).numeric !== e.ledger) return 'ledger_must_match_currency';
    if (e.reference !== undefined && view.accountIdByReference(e.reference) !== undefined) return 'reference_in_use';
    view.putAccount(
      {
        id: e.id,
        reference: e.reference,
        ledger: e.ledger,
        code: e.code,
        currency: e.currency,
        flags: { debitsMustNotExceedCredits, creditsMustNotExceedDebits },
        debitsPending: 0n,
        debitsPosted: 0n,
        creditsPending: 0n,
        creditsPosted: 0n,
        userData128: none0n(e.userData128),
        userData64: none0n(e.userData64),
        userData32: none0(e.userData32),
        timestampMs,
      },
      true,
    );
    return 'ok';
  });
  return { results, changes: view.changes() };
}

/**
 * Releases pending transfers whose timeout has passed (TigerBeetle expires them on its own
 * clock): their amounts leave the *_pending balances and their status becomes `expired`.
 * Ids that are not pending or not yet due are ignored.
 */
export function expirePendingTransfers(
  reader: LedgerReader,
  pendingIds: readonly bigint[],
  nowMs: number,
): { expired: bigint[]; changes: LedgerChanges } {
  const view = new Overlay(reader);
  const expired: bigint[] = [];
  for (const id of pendingIds) {
    const p = view.transfer(id);
    if (p?.pendingStatus !== 'pending' || p.expiresAtMs === undefined || p.expiresAtMs > nowMs) continue;
    const dr = view.account(p.debitAccountId);
    const cr = view.account(p.creditAccountId);
    if (dr === undefined || cr === undefined) throw new Error('ledger invariant: pending transfer without accounts');
    view.putAccount({ ...dr, debitsPending: dr.debitsPending - p.amount }, false);
    view.putAccount({ ...cr, creditsPending: cr.creditsPending - p.amount }, false);
    view.setStatus(id, 'expired');
    expired.push(id);
  }
  return { expired, changes: view.changes() };
}

/** An in-memory ledger over the same rules: tests and definition dry-runs. Not for production. */
export class MemoryLedger implements LedgerReader {
  readonly accounts = new Map<bigint, Account>();
  readonly transfers = new Map<bigint, Transfer>();
  private readonly references = new Map<string, bigint>();

  account(id: bigint): Account | undefined {
    return this.accounts.get(id);
  }
  transfer(id: bigint): Transfer | undefined {
    return this.transfers.get(id);
  }
  accountIdByReference(reference: string): bigint | undefined {
    return this.references.get(reference);
  }

  apply(changes: LedgerChanges): void {
    for (const a of changes.createdAccounts) {
      this.accounts.set(a.id, a);
      if (a.reference !== undefined) this.references.set(a.reference, a.id);
    }
    for (const [id, a] of changes.updatedAccounts) this.accounts.set(id, a);
    for (const t of changes.createdTransfers) this.transfers.set(t.id, t);
    for (const [id, status] of changes.resolvedPending) {
      const t = this.transfers.get(id);
      if (t !== undefined) this.transfers.set(id, { ...t, pendingStatus: status });
    }
  }

  createAccounts(events: readonly AccountEvent[], timestampMs: number): CreateAccountResult[] {
    const { results, changes } = createAccounts(this, events, timestampMs);
    this.apply(changes);
    return results;
  }
  createTransfers(events: readonly TransferEvent[], timestampMs: number): CreateTransferResult[] {
    const { results, changes } = createTransfers(this, events, timestampMs);
    this.apply(changes);
    return results;
  }
  expire(nowMs: number): bigint[] {
    const { expired, changes } = expirePendingTransfers(this, [...this.transfers.keys()], nowMs);
    this.apply(changes);
    return expired;
  }
}

/** Sums over all accounts: in a sound ledger debits equal credits, pending and posted alike. */
export function ledgerTotals(accounts: Iterable<Account>): {
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
} {
  const t = { debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n };
  for (const a of accounts) {
    t.debitsPending += a.debitsPending;
    t.debitsPosted += a.debitsPosted;
    t.creditsPending += a.creditsPending;
    t.creditsPosted += a.creditsPosted;
  }
  return t;
}
