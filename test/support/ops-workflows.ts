/**
 * Small workflows for the `fixpay ops` tests: runs named and tagged like the platform's
 * (`<service>:<terminal>:<stan>:<date>`, ServiceId/TerminalId search attributes) that complete,
 * hang on a failing activity, or fail on a step and can be retried.
 */
import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';

export interface OpsTestActivities {
  /** A step that always succeeds; the test counts its executions. */
  step(name: string): Promise<string>;
  /** Fails while the test says so. */
  flaky(): Promise<string>;
  /** Always fails (a stuck step retried for ever). */
  hang(): Promise<string>;
}

const once = proxyActivities<OpsTestActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 1 },
});
const forever = proxyActivities<OpsTestActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '3s' },
});

export async function opsTestWorkflow(mode: 'complete' | 'hang' | 'flaky'): Promise<string> {
  const first = await once.step('first');
  if (mode === 'hang') return forever.hang();
  if (mode === 'flaky') {
    try {
      return `${first}+${await once.flaky()}`;
    } catch (e) {
      if (e instanceof ActivityFailure) throw ApplicationFailure.nonRetryable('the flaky step failed', 'OpsTest');
      throw e;
    }
  }
  return first;
}
