/** What every connector kind shares: turning an HTTP outcome into an answer or a catalogue failure. */
import { FixpayError } from '../../domain/errors';
import type { HttpOutcome } from './http';

export type Answer = { kind: 'answer'; status: number; body: Record<string, unknown> } | { kind: 'ambiguous' };

/**
 * `ok` → the answer; `ambiguous` → ambiguous (the kind settles it by status queries);
 * `retryable` → PROVIDER_UNAVAILABLE (retryable: Temporal tries again under the same reference);
 * `rejected` → PROVIDER_REJECTED (not retryable).
 */
export function answerOf(o: HttpOutcome, what: string): Answer {
  switch (o.kind) {
    case 'ok':
      if (o.status === 409 && o.body['error'] === 'DUPLICATE_REFERENCE')
        throw new FixpayError('PROVIDER_DUPLICATE_REFERENCE', `${what}: the reference holds another request`);
      return { kind: 'answer', status: o.status, body: o.body };
    case 'ambiguous':
      return { kind: 'ambiguous' };
    case 'retryable':
      throw new FixpayError('PROVIDER_UNAVAILABLE', `${what}: ${o.detail}`);
    case 'rejected':
      throw new FixpayError('PROVIDER_REJECTED', `${what}: ${o.detail}`);
  }
}

/** Like answerOf, for calls with no effect (fetch, lookup, status): ambiguous is simply retryable. */
export function readAnswer(o: HttpOutcome, what: string): { status: number; body: Record<string, unknown> } {
  const a = answerOf(o, what);
  if (a.kind === 'ambiguous') throw new FixpayError('PROVIDER_UNAVAILABLE', `${what}: no clear answer`);
  return a;
}

export const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
export const int = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
