/**
 * One operator action as a Temporal run (ADR 0033): drain or undrain an access node, replay a
 * stuck reversal. The run's id names the action, its subject and the operator's operation id
 * (`ops:<kind>:<subject>:<operationId>`), so the CLI started again with the same operation id
 * attaches to this run; the run goes on if the CLI dies. Visible in the UI (ServiceId `ops.<kind>`,
 * Outcome `ok` or the refusal's code name). Deterministic; imports activity types only.
 */
import { proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type {
  OperatorActionActivities,
  OperatorActionInput,
  OperatorActionOutcome,
} from '../activities/operator-actions';

/** Time for one attempt besides a drain's wait for live calls, ms. */
export const OPERATOR_ACTION_ATTEMPT_MS = 60_000;

export async function operatorActionWorkflow(input: OperatorActionInput): Promise<OperatorActionOutcome> {
  upsertSearchAttributes({ ServiceId: [`ops.${input.action.kind}`], Outcome: ['started'] });
  const waitMs = input.action.kind === 'node.drain' ? (input.action.waitMs ?? 0) : 0;
  const { performOperatorAction } = proxyActivities<OperatorActionActivities>({
    startToCloseTimeout: waitMs + OPERATOR_ACTION_ATTEMPT_MS,
    retry: { maximumAttempts: 3, initialInterval: 1_000, maximumInterval: 10_000 },
  });
  const outcome = await performOperatorAction({ ...input, workflowId: workflowInfo().workflowId });
  upsertSearchAttributes({ Outcome: [outcome.ok ? 'ok' : outcome.codeName] });
  return outcome;
}
