/**
 * The ledger on PostgreSQL (or PGlite) through Prisma. Each batch runs in one database transaction:
 * lock the accounts it touches (SELECT … FOR UPDATE, in id order so two batches never deadlock),
 * read the transfers it names, decide with the pure rules of ledger/post.ts, write the changes.
 * Every writer of an account's balances or of a pending transfer's status holds the accounts' row
 * locks, so what the rules read cannot change before the commit. The SQL constraints
 * (balance limits, resolve-once index, immutability trigger) are a second line of defence.
 *
 * PGlite runs one transaction at a time: nothing here awaits other database work inside a
 * transaction.
 */
import { FixpayError } from '../domain/errors';
import { ledgerIdToUuid, uuidToLedgerId as parseUuid } from '../domain/ids';
import { parseCurrency, type CurrencyCode } from '../domain/money';
import type { Prisma, PrismaClient } from '../generated/prisma/client';
import {
  BATCH_EVENTS_MAX,
  type Account,
  type AccountEvent,
  type CreateAccountResult,
  type CreateTransferResult,
  type LedgerPort,
  type PendingStatus,
  type Transfer,
  type TransferEvent,
} from './model';
import { createAccounts, createTransfers, expirePendingTransfers, type LedgerChanges, type LedgerReader } from './post';

export interface LedgerStoreOptions {
  /** Milliseconds since the epoch; stamps transfers and decides expiry. */
  readonly clock: () => number;
  /** Most events per call. */
  readonly batchEventsMax: number;
  /** Longest a batch's database transaction may run. */
  readonly transactionTimeoutMs: number;
  /** Longest a batch waits for a connection to start its transaction. */
  readonly transactionMaxWaitMs: number;
  /** How often a batch is retried after a serialisation failure, deadlock or duplicate-key race. */
  readonly conflictRetriesMax: number;
  /** Most pending transfers one expiry sweep releases. */
  readonly expiryBatchMax: number;
}

export const LEDGER_STORE_DEFAULTS: LedgerStoreOptions = {
  clock: () => Date.now(),
  batchEventsMax: BATCH_EVENTS_MAX,
  transactionTimeoutMs: 15_000,
  transactionMaxWaitMs: 15_000,
  conflictRetriesMax: 5,
  expiryBatchMax: 1_000,
};

type Tx = Prisma.TransactionClient;

/** How the driver may hand back a BIGINT. */
type Int8 = bigint | number | string;
const big = (v: Int8): bigint => (typeof v === 'bigint' ? v : BigInt(v));
const uuidToLedgerId = (s: string): bigint => parseUuid(s);

interface AccountRow {
  id: string;
  reference: string | null;
  ledger: number;
  code: number;
  currency: string;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
  debits_pending: Int8;
  debits_posted: Int8;
  credits_pending: Int8;
  credits_posted: Int8;
  user_data_128: string | null;
  user_data_64: Int8 | null;
  user_data_32: number | null;
  created_at: Date;
}

interface TransferRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: Int8;
  pending_id: string | null;
  user_data_128: string | null;
  user_data_64: Int8 | null;
  user_data_32: number | null;
  timeout_seconds: number;
  ledger: number;
  code: number;
  linked: boolean;
  pending: boolean;
  post_pending_transfer: boolean;
  void_pending_transfer: boolean;
  pending_status: PendingStatus | null;
  expires_at: Date | null;
  created_at: Date;
}

const ACCOUNT_COLUMNS = `id::text, reference, ledger, code, currency, debits_must_not_exceed_credits,
  credits_must_not_exceed_debits, debits_pending, debits_posted, credits_pending, credits_posted,
  user_data_128::text, user_data_64, user_data_32, created_at`;
const TRANSFER_COLUMNS = `id::text, debit_account_id::text, credit_account_id::text, amount, pending_id::text,
  user_data_128::text, user_data_64, user_data_32, timeout_seconds, ledger, code, linked, pending,
  post_pending_transfer, void_pending_transfer, pending_status::text, expires_at, created_at`;

/** Rows come from our own tables: a malformed one is a broken invariant, so this throws. */
function toCurrency(code: string): CurrencyCode {
  const r = parseCurrency(code);
  if (!r.ok) throw new Error(`ledger_account row with unknown currency ${code}`);
  return r.value.code;
}

function toAccount(r: AccountRow): Account {
  return {
    id: uuidToLedgerId(r.id),
    reference: r.reference ?? undefined,
    ledger: r.ledger,
    code: r.code,
    currency: toCurrency(r.currency),
    flags: {
      debitsMustNotExceedCredits: r.debits_must_not_exceed_credits,
      creditsMustNotExceedDebits: r.credits_must_not_exceed_debits,
    },
    debitsPending: big(r.debits_pending),
    debitsPosted: big(r.debits_posted),
    creditsPending: big(r.credits_pending),
    creditsPosted: big(r.credits_posted),
    userData128: r.user_data_128 === null ? undefined : uuidToLedgerId(r.user_data_128),
    userData64: r.user_data_64 === null ? undefined : big(r.user_data_64),
    userData32: r.user_data_32 ?? undefined,
    timestampMs: r.created_at.getTime(),
  };
}

function toTransfer(r: TransferRow): Transfer {
  return {
    id: uuidToLedgerId(r.id),
    debitAccountId: uuidToLedgerId(r.debit_account_id),
    creditAccountId: uuidToLedgerId(r.credit_account_id),
    amount: big(r.amount),
    pendingId: r.pending_id === null ? undefined : uuidToLedgerId(r.pending_id),
    userData128: r.user_data_128 === null ? undefined : uuidToLedgerId(r.user_data_128),
    userData64: r.user_data_64 === null ? undefined : big(r.user_data_64),
    userData32: r.user_data_32 ?? undefined,
    timeoutSeconds: r.timeout_seconds,
    ledger: r.ledger,
    code: r.code,
    flags: {
      linked: r.linked,
      pending: r.pending,
      postPendingTransfer: r.post_pending_transfer,
      voidPendingTransfer: r.void_pending_transfer,
    },
    pendingStatus: r.pending_status ?? undefined,
    expiresAtMs: r.expires_at?.getTime(),
    timestampMs: r.created_at.getTime(),
  };
}

const uuids = (ids: Iterable<bigint>): string[] =>
  [...new Set(ids)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(ledgerIdToUuid);

/** Serialisation failures, deadlocks and duplicate-key races: the batch may simply run again. */
function isConflict(e: unknown): boolean {
  const text = e instanceof Error ? `${e.message} ${JSON.stringify(e)}` : String(e);
  return /P2002|P2034|40001|40P01|23505|deadlock|could not serialize|Unique constraint|UniqueConstraintViolation|TransactionWriteConflict/i.test(
    text,
  );
}

/** A reader over rows already fetched (and locked) in the current transaction. */
class RowsReader implements LedgerReader {
  constructor(
    private readonly accounts: ReadonlyMap<bigint, Account>,
    private readonly transfers: ReadonlyMap<bigint, Transfer>,
    private readonly references: ReadonlyMap<string, bigint> = new Map(),
  ) {}
  account(id: bigint): Account | undefined {
    return this.accounts.get(id);
  }
  transfer(id: bigint): Transfer | undefined {
    return this.transfers.get(id);
  }
  accountIdByReference(reference: string): bigint | undefined {
    return this.references.get(reference);
  }
}

export class PrismaLedgerStore implements LedgerPort {
  private readonly options: LedgerStoreOptions;
  /** Set when this store works inside a caller's open transaction (`within`). */
  private tx: Tx | undefined;

  constructor(
    private readonly prisma: PrismaClient,
    options: Partial<LedgerStoreOptions> = {},
  ) {
    this.options = { ...LEDGER_STORE_DEFAULTS, ...options };
  }

  /**
   * The ledger inside a caller's open transaction: its writes commit or roll back with the caller's
   * other writes (a card batch with its card accounts, ADR 0026). No conflict retries here: a
   * conflict fails the caller's transaction, which the caller may retry whole.
   */
  static within(tx: Tx, options: Partial<LedgerStoreOptions> = {}): PrismaLedgerStore {
    const store = new PrismaLedgerStore(tx as unknown as PrismaClient, options);
    store.tx = tx;
    return store;
  }

  /** Creates accounts (idempotent by id). Throws LEDGER_BATCH_TOO_LARGE or LEDGER_STORE_CONFLICT. */
  async createAccounts(events: readonly AccountEvent[]): Promise<CreateAccountResult[]> {
    if (events.length === 0) return [];
    this.checkBatch(events.length);
    return this.transaction(async (tx) => {
      const ids = uuids(events.map((e) => e.id));
      const refs = events.flatMap((e) => (e.reference === undefined ? [] : [e.reference]));
      const rows = await tx.$queryRawUnsafe<AccountRow[]>(
        `SELECT ${ACCOUNT_COLUMNS} FROM ledger_account WHERE id = ANY($1::uuid[]) OR reference = ANY($2::text[]) ORDER BY id FOR UPDATE`,
        ids,
        refs,
      );
      const accounts = rows.map(toAccount);
      const reader = new RowsReader(
        new Map(accounts.map((a) => [a.id, a])),
        new Map(),
        new Map(accounts.flatMap((a) => (a.reference === undefined ? [] : [[a.reference, a.id] as const]))),
      );
      const { results, changes } = createAccounts(reader, events, this.options.clock());
      await this.write(tx, changes);
      return results;
    });
  }

  /**
   * Creates transfers, atomically per batch: every event's result, in order. Linked chains are
   * all-or-nothing inside the batch. Throws LEDGER_BATCH_TOO_LARGE or LEDGER_STORE_CONFLICT (after
   * conflictRetriesMax retries); a negative amount or out-of-range id throws RangeError.
   */
  async createTransfers(events: readonly TransferEvent[]): Promise<CreateTransferResult[]> {
    if (events.length === 0) return [];
    this.checkBatch(events.length);
    return this.transaction(async (tx) => {
      const named = events.flatMap((e) => [
        e.id,
        ...(e.pendingId === undefined || e.pendingId === 0n ? [] : [e.pendingId]),
      ]);
      // The accounts a post or void touches are those of its pending transfer (immutable columns).
      const pendingIds = uuids(
        events.flatMap((e) => (e.pendingId === undefined || e.pendingId === 0n ? [] : [e.pendingId])),
      );
      const pendingAccounts =
        pendingIds.length === 0
          ? []
          : await tx.$queryRawUnsafe<{ debit_account_id: string; credit_account_id: string }[]>(
              'SELECT debit_account_id::text, credit_account_id::text FROM ledger_transfer WHERE id = ANY($1::uuid[])',
              pendingIds,
            );
      const accountIds = uuids(
        [
          ...events.flatMap((e) => [e.debitAccountId ?? 0n, e.creditAccountId ?? 0n]).filter((id) => id !== 0n),
          ...pendingAccounts.flatMap((r) => [uuidToLedgerId(r.debit_account_id), uuidToLedgerId(r.credit_account_id)]),
        ].filter((id) => id > 0n && id < 2n ** 128n - 1n),
      );
      const accountRows =
        accountIds.length === 0
          ? []
          : await tx.$queryRawUnsafe<AccountRow[]>(
              `SELECT ${ACCOUNT_COLUMNS} FROM ledger_account WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
              accountIds,
            );
      // Read after the locks: a concurrent post/void of the same pending transfer has committed by now.
      const transferRows = await tx.$queryRawUnsafe<TransferRow[]>(
        `SELECT ${TRANSFER_COLUMNS} FROM ledger_transfer WHERE id = ANY($1::uuid[]) FOR UPDATE`,
        uuids(named.filter((id) => id > 0n && id < 2n ** 128n - 1n)),
      );
      const reader = new RowsReader(
        new Map(accountRows.map((r) => [uuidToLedgerId(r.id), toAccount(r)])),
        new Map(transferRows.map((r) => [uuidToLedgerId(r.id), toTransfer(r)])),
      );
      const { results, changes } = createTransfers(reader, events, this.options.clock());
      await this.write(tx, changes);
      return results;
    });
  }

  /**
   * Releases pending transfers whose timeout has passed, at most expiryBatchMax per call; returns
   * their ids. Run it periodically (the worker's timer), as TigerBeetle does on its own clock.
   */
  async expirePendingTransfers(): Promise<bigint[]> {
    const now = this.options.clock();
    const due = await this.prisma.$queryRawUnsafe<
      { id: string; debit_account_id: string; credit_account_id: string }[]
    >(
      `SELECT id::text, debit_account_id::text, credit_account_id::text FROM ledger_transfer
        WHERE pending_status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2`,
      new Date(now),
      this.options.expiryBatchMax,
    );
    if (due.length === 0) return [];
    return this.transaction(async (tx) => {
      const accountIds = uuids(
        due.flatMap((r) => [uuidToLedgerId(r.debit_account_id), uuidToLedgerId(r.credit_account_id)]),
      );
      const accountRows = await tx.$queryRawUnsafe<AccountRow[]>(
        `SELECT ${ACCOUNT_COLUMNS} FROM ledger_account WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
        accountIds,
      );
      const transferRows = await tx.$queryRawUnsafe<TransferRow[]>(
        `SELECT ${TRANSFER_COLUMNS} FROM ledger_transfer WHERE id = ANY($1::uuid[]) FOR UPDATE`,
        due.map((r) => r.id),
      );
      const reader = new RowsReader(
        new Map(accountRows.map((r) => [uuidToLedgerId(r.id), toAccount(r)])),
        new Map(transferRows.map((r) => [uuidToLedgerId(r.id), toTransfer(r)])),
      );
      const { expired, changes } = expirePendingTransfers(
        reader,
        due.map((r) => uuidToLedgerId(r.id)),
        now,
      );
      await this.write(tx, changes);
      return expired;
    });
  }

  async lookupAccounts(ids: readonly bigint[]): Promise<Account[]> {
    if (ids.length === 0) return [];
    const rows = await this.prisma.$queryRawUnsafe<AccountRow[]>(
      `SELECT ${ACCOUNT_COLUMNS} FROM ledger_account WHERE id = ANY($1::uuid[])`,
      uuids(ids),
    );
    const byId = new Map(rows.map((r) => [uuidToLedgerId(r.id), toAccount(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async lookupTransfers(ids: readonly bigint[]): Promise<Transfer[]> {
    if (ids.length === 0) return [];
    const rows = await this.prisma.$queryRawUnsafe<TransferRow[]>(
      `SELECT ${TRANSFER_COLUMNS} FROM ledger_transfer WHERE id = ANY($1::uuid[])`,
      uuids(ids),
    );
    const byId = new Map(rows.map((r) => [uuidToLedgerId(r.id), toTransfer(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async accountByReference(reference: string): Promise<Account | undefined> {
    const rows = await this.prisma.$queryRawUnsafe<AccountRow[]>(
      `SELECT ${ACCOUNT_COLUMNS} FROM ledger_account WHERE reference = $1`,
      reference,
    );
    const row = rows[0];
    return row === undefined ? undefined : toAccount(row);
  }

  /** Sums over every account, per ledger: a sound ledger has debits == credits, pending and posted. */
  async totals(): Promise<
    { ledger: number; debitsPending: bigint; debitsPosted: bigint; creditsPending: bigint; creditsPosted: bigint }[]
  > {
    const rows = await this.prisma.$queryRawUnsafe<
      { ledger: number; dpe: Int8 | null; dpo: Int8 | null; cpe: Int8 | null; cpo: Int8 | null }[]
    >(
      `SELECT ledger, sum(debits_pending)::bigint AS dpe, sum(debits_posted)::bigint AS dpo,
              sum(credits_pending)::bigint AS cpe, sum(credits_posted)::bigint AS cpo
         FROM ledger_account GROUP BY ledger ORDER BY ledger`,
    );
    return rows.map((r) => ({
      ledger: r.ledger,
      debitsPending: big(r.dpe ?? 0n),
      debitsPosted: big(r.dpo ?? 0n),
      creditsPending: big(r.cpe ?? 0n),
      creditsPosted: big(r.cpo ?? 0n),
    }));
  }

  private checkBatch(size: number): void {
    if (size > this.options.batchEventsMax)
      throw new FixpayError('LEDGER_BATCH_TOO_LARGE', `${size} events, at most ${this.options.batchEventsMax}`);
  }

  private async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (this.tx !== undefined) return fn(this.tx);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.prisma.$transaction(fn, {
          isolationLevel: 'ReadCommitted',
          timeout: this.options.transactionTimeoutMs,
          maxWait: this.options.transactionMaxWaitMs,
        });
      } catch (e) {
        if (!isConflict(e)) throw e;
        if (attempt >= this.options.conflictRetriesMax)
          throw new FixpayError('LEDGER_STORE_CONFLICT', `gave up after ${attempt + 1} attempts`, { cause: e });
      }
    }
  }

  private async write(tx: Tx, changes: LedgerChanges): Promise<void> {
    if (changes.createdAccounts.length > 0) {
      await tx.ledgerAccount.createMany({
        data: changes.createdAccounts.map((a) => ({
          id: ledgerIdToUuid(a.id),
          reference: a.reference ?? null,
          ledger: a.ledger,
          code: a.code,
          currency: a.currency,
          debitsMustNotExceedCredits: a.flags.debitsMustNotExceedCredits,
          creditsMustNotExceedDebits: a.flags.creditsMustNotExceedDebits,
          debitsPending: a.debitsPending,
          debitsPosted: a.debitsPosted,
          creditsPending: a.creditsPending,
          creditsPosted: a.creditsPosted,
          userData128: a.userData128 === undefined ? null : ledgerIdToUuid(a.userData128),
          userData64: a.userData64 ?? null,
          userData32: a.userData32 ?? null,
          createdAt: new Date(a.timestampMs),
        })),
      });
    }
    if (changes.createdTransfers.length > 0) {
      await tx.ledgerTransfer.createMany({
        data: changes.createdTransfers.map((t) => ({
          id: ledgerIdToUuid(t.id),
          debitAccountId: ledgerIdToUuid(t.debitAccountId),
          creditAccountId: ledgerIdToUuid(t.creditAccountId),
          amount: t.amount,
          pendingId: t.pendingId === undefined ? null : ledgerIdToUuid(t.pendingId),
          userData128: t.userData128 === undefined ? null : ledgerIdToUuid(t.userData128),
          userData64: t.userData64 ?? null,
          userData32: t.userData32 ?? null,
          timeoutSeconds: t.timeoutSeconds,
          ledger: t.ledger,
          code: t.code,
          linked: t.flags.linked,
          pending: t.flags.pending,
          postPendingTransfer: t.flags.postPendingTransfer,
          voidPendingTransfer: t.flags.voidPendingTransfer,
          pendingStatus: t.pendingStatus ?? null,
          expiresAt: t.expiresAtMs === undefined ? null : new Date(t.expiresAtMs),
          createdAt: new Date(t.timestampMs),
        })),
      });
    }
    if (changes.updatedAccounts.size > 0) {
      const accounts = [...changes.updatedAccounts.values()];
      const count = await tx.$executeRawUnsafe(
        `UPDATE ledger_account AS a
            SET debits_pending = v.dpe, debits_posted = v.dpo, credits_pending = v.cpe, credits_posted = v.cpo
           FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS v(id, dpe, dpo, cpe, cpo)
          WHERE a.id = v.id`,
        accounts.map((a) => ledgerIdToUuid(a.id)),
        accounts.map((a) => a.debitsPending.toString()),
        accounts.map((a) => a.debitsPosted.toString()),
        accounts.map((a) => a.creditsPending.toString()),
        accounts.map((a) => a.creditsPosted.toString()),
      );
      if (count !== accounts.length)
        throw new Error(`ledger invariant: updated ${count} of ${accounts.length} accounts`);
    }
    if (changes.resolvedPending.size > 0) {
      const resolved = [...changes.resolvedPending];
      const count = await tx.$executeRawUnsafe(
        `UPDATE ledger_transfer AS t SET pending_status = v.status::ledger_pending_status
           FROM unnest($1::uuid[], $2::text[]) AS v(id, status)
          WHERE t.id = v.id AND t.pending_status = 'pending'`,
        resolved.map(([id]) => ledgerIdToUuid(id)),
        resolved.map(([, status]) => status),
      );
      if (count !== resolved.length)
        throw new Error(`ledger invariant: resolved ${count} of ${resolved.length} pending transfers`);
    }
  }
}
