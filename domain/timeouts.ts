/**
 * Every timeout whose order matters for a terminal transaction, and the relations between them,
 * in one place (STYLE item 11). The access node and the central worker each assert them at start
 * with the figures they run with; a wrong order is a configuration error, not a race found later.
 *
 *   verification  <  answer wait  <  engine handler timeout        (access node, one request)
 *   card network request  <  answer wait                           (a 98 reaches the terminal)
 *   card network request  <  timeout of the step calling it        (the gateway answers first)
 *   repeat grace  <  timeout of the approval's delivery step       (the hand-over outlives the grace)
 *   terminal verdict window  <  reversal store expiry               (a reversal at the deadline lands)
 *
 * The terminal verdict window (ADR 0012) is how long an approved purchase waits for the phone's
 * verdict (its next call) before it posts (answer ACKed) or reverses (never ACKed); the purchase
 * definition's `listen` on the verdict signal carries it, `TERMINAL_VERDICT_WINDOW_MS_DEFAULT`.
 */
import { FixpayError } from './errors';

/** terminalVerdictWindowMs: the purchase definition's verdict wait (docs/adr/0012). */
export const TERMINAL_VERDICT_WINDOW_MS_DEFAULT = 24 * 3_600_000;

export interface TimeoutFigures {
  /** The access node's verification of a request at the centre, retries included. */
  readonly verifyMs: number;
  /** How long the access node waits for a run's answer before the terminal must repeat. */
  readonly answerWaitMs: number;
  /** The channel engine's limit on one request handler call. */
  readonly handlerTimeoutMs: number;
  /** The card network gateway's wait for an issuer response. */
  readonly cardNetworkMs: number;
  /** How long an undelivered answer waits for the terminal to call again. */
  readonly repeatGraceMs: number;
  /** Shortest timeout of a live definition step that calls the card network (when known). */
  readonly cardNetworkStepMs?: number;
  /** Shortest timeout of a live definition's required delivery step (when known). */
  readonly deliverStepMs?: number;
  /** terminalVerdictWindowMs: the longest verdict wait of a live definition (when known). */
  readonly terminalVerdictWindowMs?: number;
  /** How long the card network gateway keeps trying a stored reversal (when known). */
  readonly reversalExpiryMs?: number;
}

interface Relation {
  readonly name: string;
  readonly holds: (t: TimeoutFigures) => boolean;
}

const lt = (a: number | undefined, b: number | undefined): boolean => a === undefined || b === undefined || a < b;

export const TIMEOUT_RELATIONS: readonly Relation[] = [
  { name: 'verification < answer wait', holds: (t) => lt(t.verifyMs, t.answerWaitMs) },
  { name: 'answer wait < engine handler timeout', holds: (t) => lt(t.answerWaitMs, t.handlerTimeoutMs) },
  { name: 'card network request < answer wait', holds: (t) => lt(t.cardNetworkMs, t.answerWaitMs) },
  { name: 'card network request < its step timeout', holds: (t) => lt(t.cardNetworkMs, t.cardNetworkStepMs) },
  { name: 'repeat grace < delivery step timeout', holds: (t) => lt(t.repeatGraceMs, t.deliverStepMs) },
  {
    name: 'terminal verdict window < reversal store expiry',
    holds: (t) => lt(t.terminalVerdictWindowMs, t.reversalExpiryMs),
  },
];

/** The relations the figures break (empty when in order). */
export function timeoutOrderViolations(t: TimeoutFigures): string[] {
  return TIMEOUT_RELATIONS.filter((r) => !r.holds(t)).map((r) => r.name);
}

/** Throws CONFIG_INVALID naming every broken relation and the figures. */
export function assertTimeoutOrder(t: TimeoutFigures): void {
  const broken = timeoutOrderViolations(t);
  if (broken.length > 0)
    throw new FixpayError('CONFIG_INVALID', `timeouts out of order: ${broken.join('; ')} (${JSON.stringify(t)})`);
}
