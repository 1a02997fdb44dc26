/**
 * A campaign's Temporal Schedule (docs/protocols/push.md, ADR 0021): `push:<campaignId>` starts
 * `pushCampaignWorkflow` on the campaign's cron or interval, with its overlap policy and a
 * catch-up window of minutes (the SDK's default is a year: a platform down for a weekend would
 * otherwise send every missed reminder when it comes back).
 */
import type { Client, ScheduleHandle } from '@temporalio/client';
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { CampaignSpec, OverlapName } from '../services/campaigns/campaign';
import type { PushCampaignInput } from '../workflows/push-campaign';
import { PUSH_CAMPAIGN_WORKFLOW } from '../workflows/push-campaign';

const OVERLAP: Record<OverlapName, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

export function campaignScheduleId(campaignId: string): string {
  return `push:${campaignId}`;
}

export function campaignInput(c: CampaignSpec, pushTaskQueue: string): PushCampaignInput {
  return {
    campaign: {
      id: c.id,
      audience: c.audience,
      text: c.text,
      ...(c.sender === undefined ? {} : { sender: c.sender }),
      ...(c.quietHours === undefined ? {} : { quietHours: c.quietHours }),
      retry: c.retry,
      lineBudget: c.lineBudget,
    },
    pushTaskQueue,
  };
}

/** Creates the campaign's schedule, or updates it to the file when it exists. */
export async function scheduleCampaign(
  client: Client,
  c: CampaignSpec,
  o: { taskQueue: string; pushTaskQueue: string },
): Promise<ScheduleHandle> {
  const scheduleId = campaignScheduleId(c.id);
  const spec = {
    ...(c.schedule.cron === undefined ? {} : { cronExpressions: [...c.schedule.cron] }),
    ...(c.schedule.everyMinutes === undefined ? {} : { intervals: [{ every: c.schedule.everyMinutes * 60_000 }] }),
    ...(c.schedule.timezone === undefined ? {} : { timezone: c.schedule.timezone }),
  };
  const policies = {
    overlap: OVERLAP[c.schedule.overlap],
    catchupWindow: c.schedule.catchupWindowMinutes * 60_000,
    pauseOnFailure: false,
  };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: PUSH_CAMPAIGN_WORKFLOW,
    workflowId: scheduleId,
    taskQueue: o.taskQueue,
    args: [campaignInput(c, o.pushTaskQueue)],
  };
  const handle = client.schedule.getHandle(scheduleId);
  try {
    await handle.describe();
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
    return client.schedule.create({
      scheduleId,
      spec,
      policies,
      action,
      state: { paused: c.schedule.paused, note: c.description.slice(0, 200) },
    });
  }
  await handle.update((prev) => ({ ...prev, spec, policies, action }));
  if (c.schedule.paused) await handle.pause('paused in the campaign file');
  else await handle.unpause('running per the campaign file');
  return handle;
}
