/**
 * The figures the timeout relations (domain/timeouts.ts) are checked on: the access node's own
 * limits, the configured answer wait and card network timeout, and, when the live plans are known,
 * their card network and delivery step timeouts.
 */
import type { Config } from '../../config';
import type { TimeoutFigures } from '../../domain/timeouts';
import { longestListenTimeoutMs, shortestStepTimeoutMs } from '../../services/catalogue/plan-activities';
import { TERMINAL_VERDICT_SIGNAL } from '../../services/runtime/plan';
import type { Plan } from '../../services/runtime/plan';
import { VERIFY_RUNS_MAX, VERIFY_TIMEOUT_MS } from '../../terminal-protocol/verification';
import { DEFAULT_ENGINE_OPTIONS } from '../engine';
import { REPEAT_GRACE_MS_DEFAULT } from './handler';

/** Steps that wait for the card network's answer (the gateway's request timeout must be shorter). */
export const CARD_NETWORK_ACTIVITIES = ['authorizeCard', 'inquireCardBalance', 'authorize', 'balanceInquiry'];

/**
 * `reversalExpiryMs`: how long the card network gateway keeps trying a stored reversal (the central
 * worker, which composes the gateway, passes it; the verdict window must end before it).
 */
export function timeoutFigures(
  config: Config,
  plans: readonly Plan[] = [],
  gateway: { readonly reversalExpiryMs?: number } = {},
): TimeoutFigures {
  const cardNetworkStepMs = shortestStepTimeoutMs(plans, CARD_NETWORK_ACTIVITIES);
  // Refusal deliveries are optional (the run fails anyway); the approval's delivery is required.
  const deliverStepMs = shortestStepTimeoutMs(plans, ['deliverTerminalResponse'], true);
  const terminalVerdictWindowMs = longestListenTimeoutMs(plans, TERMINAL_VERDICT_SIGNAL);
  return {
    // A second verification run when the first gave no verdict (ADR 0032).
    verifyMs: VERIFY_TIMEOUT_MS * VERIFY_RUNS_MAX,
    answerWaitMs: config.access.answerTimeoutMs,
    handlerTimeoutMs: DEFAULT_ENGINE_OPTIONS.handlerTimeoutMs,
    cardNetworkMs: config.cardNetwork.requestTimeoutMs,
    repeatGraceMs: REPEAT_GRACE_MS_DEFAULT,
    ...(cardNetworkStepMs === undefined ? {} : { cardNetworkStepMs }),
    ...(deliverStepMs === undefined ? {} : { deliverStepMs }),
    ...(terminalVerdictWindowMs === undefined ? {} : { terminalVerdictWindowMs }),
    ...(gateway.reversalExpiryMs === undefined ? {} : { reversalExpiryMs: gateway.reversalExpiryMs }),
  };
}
