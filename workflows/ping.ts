/**
 * The smallest platform workflow: proves a worker, the server and the payload path work end to
 * end (`fixpay doctor` and the foundation tests run it). Deterministic; imports activity types only.
 */
import { proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PingActivities } from '../activities/ping';

const { ping } = proxyActivities<PingActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3, initialInterval: '200 milliseconds', maximumInterval: '2 seconds' },
});

export interface PingInput {
  readonly message: string;
}

export interface PingOutput {
  readonly reply: string;
  readonly workflowId: string;
}

export async function pingWorkflow(input: PingInput): Promise<PingOutput> {
  upsertSearchAttributes({ ServiceId: ['ping'], Outcome: ['started'] });
  const reply = await ping(input.message);
  upsertSearchAttributes({ Outcome: ['ok'] });
  return { reply, workflowId: workflowInfo().workflowId };
}
