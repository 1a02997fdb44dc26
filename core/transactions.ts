/**
 * Terminal transaction status machine and PAN handling. Statuses: pending (recorded, nothing
 * answered yet) → authorized (the network approved) → completed (money posted, terminal answered);
 * declined and failed end a pending transaction; reversed undoes a pending or authorized one.
 * Repeating the current status is accepted (an activity retry), anything else not in the table
 * is refused.
 */
import { maskPan } from '../domain/masking';
import type { CoreResult, TransactionStatus } from './model';
import { refuse } from './model';

export const TRANSACTION_TRANSITIONS: Readonly<Record<TransactionStatus, readonly TransactionStatus[]>> = {
  pending: ['authorized', 'declined', 'failed', 'reversed'],
  authorized: ['completed', 'reversed'],
  completed: [],
  declined: [],
  reversed: [],
  failed: [],
};

/** `same` means the status is already `to` (a retried update): nothing to write. */
export function nextTransactionStatus(
  from: TransactionStatus,
  to: TransactionStatus,
): CoreResult<{ status: TransactionStatus; same: boolean }> {
  if (from === to) return { ok: true, value: { status: to, same: true } };
  return TRANSACTION_TRANSITIONS[from].includes(to)
    ? { ok: true, value: { status: to, same: false } }
    : refuse('TRANSACTION_TRANSITION_INVALID', `${from} → ${to}`);
}

const MASKED = /^\d{6}\*{2,9}\d{4}$/;

/**
 * The form a PAN may be stored in: already masked (`622588******1234`) passes; a clear PAN is
 * masked here so it never reaches the database; anything else is TRANSACTION_PAN_NOT_MASKED.
 */
export function storablePan(pan: string): CoreResult<string> {
  const s = pan.replace(/\s/g, '');
  if (MASKED.test(s)) return { ok: true, value: s };
  const masked = maskPan(s);
  return MASKED.test(masked) ? { ok: true, value: masked } : refuse('TRANSACTION_PAN_NOT_MASKED', 'not a PAN');
}
