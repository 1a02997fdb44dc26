/**
 * The LedgerPort over the in-memory ledger: the same posting rules, no database. For unit tests
 * and `fixpay definitions test` dry-runs; never for money.
 */
import type {
  Account,
  AccountEvent,
  CreateAccountResult,
  CreateTransferResult,
  LedgerPort,
  Transfer,
  TransferEvent,
} from './model';
import { MemoryLedger } from './post';

export class MemoryLedgerStore implements LedgerPort {
  readonly ledger = new MemoryLedger();

  constructor(private readonly clock: () => number = () => Date.now()) {}

  createAccounts(events: readonly AccountEvent[]): Promise<CreateAccountResult[]> {
    return Promise.resolve(this.ledger.createAccounts(events, this.clock()));
  }
  createTransfers(events: readonly TransferEvent[]): Promise<CreateTransferResult[]> {
    return Promise.resolve(this.ledger.createTransfers(events, this.clock()));
  }
  lookupAccounts(ids: readonly bigint[]): Promise<Account[]> {
    return Promise.resolve(ids.flatMap((id) => this.ledger.account(id) ?? []));
  }
  lookupTransfers(ids: readonly bigint[]): Promise<Transfer[]> {
    return Promise.resolve(ids.flatMap((id) => this.ledger.transfer(id) ?? []));
  }
  accountByReference(reference: string): Promise<Account | undefined> {
    const id = this.ledger.accountIdByReference(reference);
    return Promise.resolve(id === undefined ? undefined : this.ledger.account(id));
  }
  expirePendingTransfers(): Promise<bigint[]> {
    return Promise.resolve(this.ledger.expire(this.clock()));
  }
}
