/**
 * The short workflow an access node runs, under a random id, to have a terminal request verified
 * at the centre (binding and PSAM MAC, docs/adr/0009-verify-before-identity.md) before the request
 * may claim its transaction's workflow id or a stored answer. One local activity: no activity task
 * round trip, one marker in the history. Deterministic; imports activity types only.
 */
import { proxyLocalActivities } from '@temporalio/workflow';
import type {
  RequestVerificationActivities,
  TerminalRequestVerdict,
  VerifyTerminalRequestInput,
} from '../activities/terminal-verification';

/** The workflow type the access node starts. */
export const VERIFY_REQUEST_WORKFLOW = 'verifyTerminalRequestWorkflow';
/** One attempt of the check (a database read and one HSM call). */
export const VERIFY_ACTIVITY_TIMEOUT_MS = 2_000;
/** Attempts of the check before the request is refused as failed (96). */
export const VERIFY_ATTEMPTS_MAX = 3;

const { verifyTerminalRequest } = proxyLocalActivities<RequestVerificationActivities>({
  startToCloseTimeout: VERIFY_ACTIVITY_TIMEOUT_MS,
  retry: { maximumAttempts: VERIFY_ATTEMPTS_MAX, initialInterval: 100, maximumInterval: 500 },
});

export async function verifyTerminalRequestWorkflow(
  input: VerifyTerminalRequestInput,
): Promise<TerminalRequestVerdict> {
  return verifyTerminalRequest(input);
}
