/**
 * Terminal-side business activities for the interpreter's catalogue: the phone binding check,
 * recording a terminal transaction, and moving it through its statuses. Refusals of the binding
 * check come back as `bound: false` with the catalogue code (the definition decides what to tell
 * the terminal); invalid records or moves are non-retryable ApplicationFailures typed by code name.
 */
import { resultCode, type ResultCodeName } from '../domain/errors';
import { parseMinorUnits } from '../domain/money';
import { ledgerReferenceFor, TRANSACTION_STATUSES, type TransactionStatus } from '../core/model';
import type { CoreRepository } from '../core/repository';
import { catalogueFailure } from './failure';

export type TerminalsPort = Pick<
  CoreRepository,
  'checkBinding' | 'recordTransaction' | 'updateTransactionStatus' | 'keysDownloaded'
>;

export interface TerminalActivityDeps {
  readonly core: TerminalsPort;
}

export interface CheckBindingInput {
  readonly terminalId: string;
  /** Caller number from the line signalling (never from the terminal's message). */
  readonly ani?: string;
  /** PSAM number the terminal reported, when its message carries one. */
  readonly psamId?: string;
  /** `sign-on` admits an activated terminal (its first key download); anything else needs it in service. */
  readonly purpose?: string;
  readonly idempotencyKey?: string;
}

export interface CheckBindingOutput {
  readonly bound: boolean;
  /** The terminal's owner (merchant or household); empty when not bound. */
  readonly merchantId: string;
  /** The owner's ledger account reference; empty when not bound. */
  readonly accountId: string;
  /** `FP1000` when bound, else the refusal's catalogue code. */
  readonly resultCode: string;
  readonly reason: ResultCodeName;
}

export interface RecordTransactionActivityInput {
  readonly idempotencyKey: string;
  readonly terminalId: string;
  readonly serviceId: string;
  readonly stan: string;
  /** Masked PAN (BIN + last four). A clear one is masked before storage, but should never be sent here. */
  readonly maskedPan?: string;
  readonly amount: number | string;
  readonly currency: string;
  readonly workflowId?: string;
}

export interface UpdateTransactionStatusActivityInput {
  /** The idempotency key recordTransaction was called with. */
  readonly transactionKey: string;
  readonly status: string;
  readonly rrn?: string;
  readonly authCode?: string;
  readonly responseCode?: string;
  readonly resultCode?: string;
  readonly idempotencyKey?: string;
}

export interface TerminalActivities {
  checkBinding(input: CheckBindingInput): Promise<CheckBindingOutput>;
  recordTransaction(input: RecordTransactionActivityInput): Promise<{ transactionId: string; status: string }>;
  updateTransactionStatus(input: UpdateTransactionStatusActivityInput): Promise<{ status: string }>;
  /** After a sign-on's keys: the lifecycle step `downloadKeys` (an activated terminal goes in service). */
  terminalKeysLoaded(input: { terminalId: string; idempotencyKey?: string }): Promise<{ state: string }>;
}

const isStatus = (s: string): s is TransactionStatus => (TRANSACTION_STATUSES as readonly string[]).includes(s);

export function createTerminalActivities(deps: TerminalActivityDeps): TerminalActivities {
  return {
    async checkBinding(input) {
      const r = await deps.core.checkBinding({
        terminalId: input.terminalId,
        ani: input.ani,
        psamNo: input.psamId,
        purpose: input.purpose === 'sign-on' ? 'sign-on' : 'transact',
      });
      if (!r.ok) {
        return { bound: false, merchantId: '', accountId: '', resultCode: resultCode(r.code).code, reason: r.code };
      }
      return {
        bound: true,
        merchantId: r.value.customer.id,
        accountId: ledgerReferenceFor(r.value.customer),
        resultCode: resultCode('OK').code,
        reason: 'OK',
      };
    },

    async recordTransaction(input) {
      const amount = parseMinorUnits(input.amount);
      if (!amount.ok) throw catalogueFailure('BAD_REQUEST', amount.error.message);
      const r = await deps.core.recordTransaction({
        idempotencyKey: input.idempotencyKey,
        terminalId: input.terminalId,
        serviceId: input.serviceId,
        stan: input.stan,
        ...(input.maskedPan === undefined ? {} : { pan: input.maskedPan }),
        amount: amount.value,
        currency: input.currency,
        ...(input.workflowId === undefined ? {} : { workflowId: input.workflowId }),
      });
      if (!r.ok) throw catalogueFailure(r.code, r.detail);
      return { transactionId: r.value.id.toString(), status: r.value.status };
    },

    async terminalKeysLoaded(input) {
      const r = await deps.core.keysDownloaded(input.terminalId, 'sign-on');
      if (!r.ok) throw catalogueFailure(r.code, r.detail);
      return { state: r.value.state };
    },

    async updateTransactionStatus(input) {
      if (!isStatus(input.status)) throw catalogueFailure('BAD_REQUEST', `unknown status ${input.status.slice(0, 16)}`);
      const r = await deps.core.updateTransactionStatus({
        idempotencyKey: input.transactionKey,
        status: input.status,
        ...(input.rrn === undefined ? {} : { rrn: input.rrn }),
        ...(input.authCode === undefined ? {} : { authCode: input.authCode }),
        ...(input.responseCode === undefined ? {} : { responseCode: input.responseCode }),
        ...(input.resultCode === undefined ? {} : { resultCode: input.resultCode }),
      });
      if (!r.ok) throw catalogueFailure(r.code, r.detail);
      return { status: r.value.status };
    },
  };
}
