/**
 * Information push, the pure rules (docs/protocols/push.md, ADR 0021): what text may be pushed to
 * a phone, quiet hours, and the retry backoff. Used by the campaign loader, the campaign workflow
 * (deterministic: no clock here, the caller passes the time) and the access node.
 */
import { FixpayError } from './errors';
import { looksLikePan } from './masking';

/** The display a push must fit (a device profile's `terminal.display`). */
export interface PushDisplay {
  readonly lines: number;
  readonly columns: number;
}

/** A terminal without a display description gets this size (the smallest phone family's). */
export const DEFAULT_PUSH_DISPLAY: PushDisplay = { lines: 2, columns: 16 };

/** An on-hook message body holds at most 255 bytes; the text shares it with date and number. */
export const PUSH_TEXT_MAX_CHARS = 200;

/** Why a text may not be pushed, or undefined when it may. Only printable ASCII (0x20–0x7E) passes. */
export function pushTextProblem(text: string): string | undefined {
  if (text.length === 0) return 'the text is empty';
  if (text.length > PUSH_TEXT_MAX_CHARS) return `the text is longer than ${PUSH_TEXT_MAX_CHARS} characters`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return `character ${i} is a control character`;
    if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0x200e || c === 0x200f || c === 0x061c)
      return `character ${i} is a bidirectional control`;
    if (c > 0x7e) return `character ${i} is not printable ASCII`;
  }
  if (holdsCardData(text)) return 'the text holds what looks like card data';
  return undefined;
}

/**
 * Card numbers (13–19 digits, spaces or dashes allowed between them, Luhn-valid, in a scheme's
 * range) and magnetic-stripe track layouts (`%B<digits>^`, `;<digits>=`).
 */
export function holdsCardData(text: string): boolean {
  if (/%B\d{6,}/.test(text) || /;\d{12,19}=/.test(text)) return true;
  const runs = text.match(/\d[\d -]{11,30}\d/g) ?? [];
  for (const run of runs) {
    const digits = run.replace(/[ -]/g, '');
    if (digits.length <= 19) {
      if (looksLikePan(digits)) return true;
      continue;
    }
    // A run longer than a card number may hide one: any 13–19 digit window of it (refusing a long
    // reference number by mistake is the safe side).
    for (let len = 13; len <= 19; len++)
      for (let at = 0; at + len <= digits.length; at++) if (looksLikePan(digits.slice(at, at + len))) return true;
  }
  return false;
}

/** Throws PUSH_TEXT_UNSAFE or PUSH_TEXT_TOO_LONG. */
export function checkPushText(text: string, display: PushDisplay = DEFAULT_PUSH_DISPLAY): void {
  const problem = pushTextProblem(text);
  if (problem !== undefined) throw new FixpayError('PUSH_TEXT_UNSAFE', problem);
  const room = display.lines * display.columns;
  if (text.length > room)
    throw new FixpayError(
      'PUSH_TEXT_TOO_LONG',
      `${text.length} characters, the display holds ${room} (${display.lines}×${display.columns})`,
    );
}

/** Quiet hours in local time of the audience: `HH:MM` to `HH:MM` (may wrap past midnight). */
export interface QuietHours {
  readonly start: string;
  readonly end: string;
  /** The audience's offset from UTC in minutes (e.g. 480 for UTC+8). */
  readonly utcOffsetMinutes: number;
}

const DAY_MS = 86_400_000;

function minuteOfDay(hhmm: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  if (m === null) throw new FixpayError('PUSH_CAMPAIGN_INVALID', `'${hhmm}' is not HH:MM`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/**
 * Milliseconds from `nowMs` (UTC epoch) until the quiet hours end; 0 when outside them. Start equal
 * to end means no quiet hours.
 */
export function quietHoursRemainingMs(nowMs: number, q: QuietHours | undefined): number {
  if (q === undefined) return 0;
  const start = minuteOfDay(q.start);
  const end = minuteOfDay(q.end);
  if (start === end) return 0;
  const localMs = (((nowMs + q.utcOffsetMinutes * 60_000) % DAY_MS) + DAY_MS) % DAY_MS;
  const startMs = start * 60_000;
  const endMs = end * 60_000;
  const inside = start < end ? localMs >= startMs && localMs < endMs : localMs >= startMs || localMs < endMs;
  if (!inside) return 0;
  return (endMs - localMs + DAY_MS) % DAY_MS;
}

/** Retry policy of push calls on a busy or unanswered line. */
export interface PushRetry {
  /** Calls per terminal, the first included. */
  readonly maxAttempts: number;
  readonly initialIntervalMs: number;
  readonly backoffCoefficient: number;
  readonly maximumIntervalMs: number;
}

export const DEFAULT_PUSH_RETRY: PushRetry = {
  maxAttempts: 4,
  initialIntervalMs: 60_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 30 * 60_000,
};

/** The wait before attempt `attempt + 1` after `attempt` failed (1-based): initial × coefficient^(attempt−1), capped. */
export function pushBackoffMs(attempt: number, r: PushRetry = DEFAULT_PUSH_RETRY): number {
  const raw = r.initialIntervalMs * r.backoffCoefficient ** Math.max(0, attempt - 1);
  return Math.min(r.maximumIntervalMs, Math.round(raw));
}

/** How one push call ended. `busy`, `no-answer`, `budget` and `no-receipt` are retried. */
export type PushCallOutcome = 'delivered' | 'busy' | 'no-answer' | 'budget' | 'no-receipt' | 'refused' | 'failed';

export function isRetriedOutcome(o: PushCallOutcome): boolean {
  return o === 'busy' || o === 'no-answer' || o === 'budget' || o === 'no-receipt';
}

/** Where a push stands: `pending` waits for a retry or for the terminal's next call. */
export type PushStatus = 'pending' | 'delivered' | 'failed';

export interface PushReport {
  readonly campaignId: string;
  readonly delivered: number;
  readonly failed: number;
  readonly pending: number;
  /** Of the delivered, how many at the terminal's next call. */
  readonly deliveredAtNextCall: number;
  /** Of the delivered, how many inside a call of the terminal (a notice answer). */
  readonly deliveredInCall: number;
}
