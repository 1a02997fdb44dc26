/**
 * The short workflow an access node runs, under a random id, to have a terminal request verified
 * at the centre (binding and PSAM MAC, docs/adr/0011-verify-before-identity.md) before the request
 * may claim its transaction's workflow id or a stored answer. One local activity: no activity task
 * round trip, one marker in the history. Deterministic; imports activity types only.
 */
import { proxyLocalActivities } from '@temporalio/workflow';
import type { RequestVerificationActivities } from '../activities/terminal-verification';
import { VERIFY_ACTIVITY_TIMEOUT_MS, VERIFY_ATTEMPTS_MAX } from '../terminal-protocol/verification';
import type { TerminalRequestVerdict, VerifyTerminalRequestInput } from '../terminal-protocol/verification';

const { verifyTerminalRequest } = proxyLocalActivities<RequestVerificationActivities>({
  startToCloseTimeout: VERIFY_ACTIVITY_TIMEOUT_MS,
  retry: { maximumAttempts: VERIFY_ATTEMPTS_MAX, initialInterval: 100, maximumInterval: 500 },
});

export async function verifyTerminalRequestWorkflow(
  input: VerifyTerminalRequestInput,
): Promise<TerminalRequestVerdict> {
  return verifyTerminalRequest(input);
}
