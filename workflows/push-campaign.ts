/**
 * One run of a push campaign (docs/protocols/push.md, ADR 0021), started by the campaign's Temporal
 * Schedule (or by hand): store the run's pushes, then call each terminal through the access node's
 * push queue, at most `lineBudget` calls at once, never in quiet hours, retrying a busy or
 * unanswered line with exponential backoff. A push still undelivered after its attempts stays
 * pending: the access node delivers it at the terminal's next call. Only ids, numbers and the
 * checked text travel in history.
 */
import { proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { PushCentralActivities, PushLineActivities, PushTarget } from '../activities/push';
import type { PushReport, PushRetry, QuietHours } from '../domain/push';
import { isRetriedOutcome, pushBackoffMs, quietHoursRemainingMs } from '../domain/push';

export const PUSH_CAMPAIGN_WORKFLOW = 'pushCampaignWorkflow';

export interface PushCampaignInput {
  readonly campaign: {
    readonly id: string;
    readonly audience: {
      readonly regions?: readonly string[];
      readonly merchantTypes?: readonly string[];
      readonly entitlements?: readonly string[];
      readonly terminals?: readonly string[];
    };
    readonly text: string;
    readonly sender?: string;
    readonly quietHours?: QuietHours;
    readonly retry: PushRetry;
    readonly lineBudget: number;
  };
  /** The access node's push queue (`push.<nodeId>`). */
  readonly pushTaskQueue: string;
}

export interface PushCampaignOutput {
  readonly runKey: string;
  /** This run's pushes: delivered by its calls, still pending (for the next call), failed. */
  readonly delivered: number;
  readonly pending: number;
  readonly failed: number;
  readonly calls: number;
  /** The campaign over all its runs, at the end of this one. */
  readonly report: PushReport;
}

const central = proxyActivities<PushCentralActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** The longest a run sleeps in one go for quiet hours (a day: quiet hours are shorter). */
const QUIET_SLEEP_MAX_MS = 86_400_000;

export async function pushCampaignWorkflow(input: PushCampaignInput): Promise<PushCampaignOutput> {
  const { campaign } = input;
  const line = proxyActivities<PushLineActivities>({
    taskQueue: input.pushTaskQueue,
    // Answer wait + audio (≈ 1.5 s) + receipt: well under this.
    startToCloseTimeout: '2 minutes',
    // A node that dies mid-call: the call is tried again (a push shown twice is harmless).
    retry: { maximumAttempts: 3, initialInterval: '5 seconds' },
  });
  const runKey = workflowInfo().workflowId;
  const targets = await central.preparePushRun({
    campaignId: campaign.id,
    runKey,
    audience: campaign.audience,
    text: campaign.text,
    ...(campaign.sender === undefined ? {} : { sender: campaign.sender }),
  });
  const quiet = async (): Promise<void> => {
    for (;;) {
      const ms = quietHoursRemainingMs(Date.now(), campaign.quietHours);
      if (ms <= 0) return;
      await sleep(Math.min(ms, QUIET_SLEEP_MAX_MS));
    }
  };
  let delivered = 0;
  let failed = 0;
  let calls = 0;
  const deliverOne = async (target: PushTarget): Promise<void> => {
    for (let attempt = 1; attempt <= campaign.retry.maxAttempts; attempt++) {
      await quiet();
      calls++;
      const outcome = await line.dialPush({ target, atMs: Date.now() });
      const status = await central.recordPushOutcome({ id: target.id, outcome, via: 'call' });
      if (status === 'delivered') delivered++;
      if (status === 'failed') failed++;
      if (status !== 'pending' || !isRetriedOutcome(outcome)) return;
      if (attempt < campaign.retry.maxAttempts) await sleep(pushBackoffMs(attempt, campaign.retry));
    }
  };
  const queue = [...targets];
  const lanes = Array.from({ length: Math.min(campaign.lineBudget, queue.length) }, async () => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) await deliverOne(t);
  });
  await Promise.all(lanes);
  const report = await central.pushCampaignReport(campaign.id);
  return { runKey, delivered, failed, pending: targets.length - delivered - failed, calls, report };
}
