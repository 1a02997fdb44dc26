/**
 * `fixpay ops reversal replay <key>`: an operator re-queues a stuck reversal — one that expired
 * (the network never acknowledged it within its attempts or age) or one still pending. Audited
 * before it is made. The gateways' forwarder sends it again (a 0401 repeat once a copy went out),
 * with fresh attempt and age allowances counted from the replay. A reversal lands once however
 * often it is replayed: the queue only re-queues an open record, the issuer applies a reversal
 * once, and a done reversal is never replayed (FP1054).
 */
import { FixpayError } from '../../domain/errors';
import type { ReversalQueue, ReversalRecord } from '../../gateways/card-network/reversal-queue';
import { checkOperator, checkReason } from './runs';
import type { AuditSink } from './runs';

const KEY = /^[\x21-\x7e]{1,200}$/;

export function checkReversalKey(key: string | undefined): string {
  if (key === undefined || !KEY.test(key))
    throw new FixpayError('BAD_REQUEST', 'the reversal key is printable ASCII without spaces (up to 200)');
  return key;
}

/** What an operator sees of a reversal: no PAN beyond the masked one, no message bytes. */
export interface ReversalView {
  readonly key: string;
  readonly status: string;
  readonly terminalId: string;
  readonly stan: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly maskedPan?: string;
  readonly attempts: number;
  readonly replays: number;
  readonly lastResponseCode?: string;
  readonly lastError?: string;
}

export function reversalView(r: ReversalRecord): ReversalView {
  return {
    key: r.key,
    status: r.status,
    terminalId: r.message.terminalId,
    stan: r.message.stan,
    amountMinor: Number(r.message.amount),
    currency: r.message.currency,
    ...(r.maskedPan === undefined ? {} : { maskedPan: r.maskedPan }),
    attempts: r.attempts,
    replays: r.replays ?? 0,
    ...(r.lastResponseCode === undefined ? {} : { lastResponseCode: r.lastResponseCode }),
    ...(r.lastError === undefined ? {} : { lastError: r.lastError }),
  };
}

export async function replayReversal(
  queue: ReversalQueue,
  audit: AuditSink,
  o: { readonly key: string; readonly reason: string; readonly operator: string },
  now: () => Date = () => new Date(),
): Promise<ReversalView> {
  const key = checkReversalKey(o.key);
  const reason = checkReason(o.reason);
  const operator = checkOperator(o.operator);
  const before = await queue.get(key);
  if (before === undefined) throw new FixpayError('OPS_REVERSAL_NOT_FOUND', key);
  if (before.status !== 'expired' && before.status !== 'pending')
    throw new FixpayError('OPS_REVERSAL_NOT_REPLAYABLE', `${key} is ${before.status}`);
  await audit.record({
    actor: `operator:${operator}`,
    action: 'reversal.replay',
    subject: `reversal:${key}`,
    details: { reason, statusBefore: before.status, attemptsBefore: String(before.attempts) },
  });
  const outcome = await queue.replay(key, now());
  if (outcome !== 'replayed')
    throw new FixpayError('OPS_REVERSAL_NOT_REPLAYABLE', `${key} became ${outcome} meanwhile`);
  const after = await queue.get(key);
  if (after === undefined) throw new FixpayError('OPS_REVERSAL_NOT_FOUND', key);
  return reversalView(after);
}
