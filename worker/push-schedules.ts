/**
 * A campaign's Temporal Schedule (docs/protocols/push.md, ADR 0021): `push:<campaignId>` starts
 * `pushCampaignWorkflow` on the campaign's cron or interval, with its overlap policy and a
 * catch-up window of minutes (the SDK's default is a year: a platform down for a weekend would
 * otherwise send every missed reminder when it comes back).
 */
import type { Client, ScheduleHandle } from '@temporalio/client';
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config';
import { PUSH_TASK_QUEUE_PREFIX } from '../channel-engine/push/line-activities';
import { scrubText } from '../domain/masking';
import type { Logger } from '../infra/logging';
import type { CampaignSpec, OverlapName } from '../services/campaigns/campaign';
import { loadCampaigns } from '../services/campaigns/load';
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
  // The update carries the file's paused state too: an update replaces the schedule's state with
  // what it is given, and the scheduler may apply the update after the pause/unpause that follows
  // it (two signals it takes in one batch), so an update that kept the previous state could undo
  // the unpause of a campaign whose file came back.
  const note = c.schedule.paused ? 'paused in the campaign file' : 'running per the campaign file';
  await handle.update((prev) => ({
    ...prev,
    spec,
    policies,
    action,
    state: { ...prev.state, paused: c.schedule.paused, note },
  }));
  if (c.schedule.paused) await handle.pause(note);
  else await handle.unpause(note);
  return handle;
}

/** The note a schedule gets when its campaign file is gone (an operator can tell it from a paused campaign). */
export const REMOVED_CAMPAIGN_NOTE = 'campaign file removed: paused by the worker at start';

export interface CampaignScheduleSync {
  /** `push:<id>` of every schedule created or updated to its file. */
  readonly scheduled: readonly string[];
  /** `push:<id>` of the schedules paused because their campaign file is gone. */
  readonly paused: readonly string[];
}

/**
 * Makes the Temporal Schedules match the campaign files (the central worker at start): each
 * campaign's schedule is created, or updated to its file (idempotent: a restart creates nothing
 * twice); a `push:*` schedule whose campaign has no file any more is paused, never deleted (its
 * runs and reports stay; a file that comes back unpauses it). With `complete: false` (some file
 * was refused, so an id may be missing only because its file did not check) nothing is paused.
 */
export async function syncCampaignSchedules(
  client: Client,
  specs: readonly CampaignSpec[],
  o: { taskQueue: string; pushTaskQueue: string; complete: boolean },
): Promise<CampaignScheduleSync> {
  const scheduled: string[] = [];
  for (const c of specs) {
    await scheduleCampaign(client, c, o);
    scheduled.push(campaignScheduleId(c.id));
  }
  const paused: string[] = [];
  if (!o.complete) return { scheduled, paused };
  const wanted = new Set(scheduled);
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith('push:') || wanted.has(s.scheduleId)) continue;
    const handle = client.schedule.getHandle(s.scheduleId);
    const d = await handle.describe().catch((e: unknown) => {
      if (e instanceof ScheduleNotFoundError) return undefined;
      throw e;
    });
    if (d === undefined || d.state.paused) continue;
    await handle.pause(REMOVED_CAMPAIGN_NOTE);
    paused.push(s.scheduleId);
  }
  return { scheduled, paused };
}

/** The campaign files shipped with the package. */
export const CAMPAIGNS_DIR = join(__dirname, '..', 'campaigns');

/**
 * The central worker at start (`temporal.campaignSchedules`): the campaign files of
 * `temporal.campaignsDir` become their schedules on `push.<access.nodeId>`, and the schedules of
 * files that are gone are paused. A refused file is logged (code and reason) and pauses nothing.
 * Never throws: a worker that cannot reach the schedules still serves its runs (logged as an error).
 */
export async function scheduleCampaignsAtStart(
  client: Client,
  config: Config,
  log: Pick<Logger, 'info' | 'error'>,
): Promise<CampaignScheduleSync | undefined> {
  if (!config.temporal.campaignSchedules) return undefined;
  const dir = config.temporal.campaignsDir ?? CAMPAIGNS_DIR;
  try {
    const loaded = existsSync(dir) ? loadCampaigns([dir]) : { specs: [], refused: [] };
    for (const r of loaded.refused)
      log.error({ refusal: scrubText(r) }, 'campaign file refused: its schedule is left as it was');
    const sync = await syncCampaignSchedules(
      client,
      loaded.specs.map((s) => s.spec),
      {
        taskQueue: config.temporal.taskQueue,
        pushTaskQueue: `${PUSH_TASK_QUEUE_PREFIX}${config.access.nodeId}`,
        complete: loaded.refused.length === 0,
      },
    );
    log.info({ scheduled: sync.scheduled, paused: sync.paused }, 'campaign schedules in step with the campaign files');
    return sync;
  } catch (e) {
    log.error({ err: e instanceof Error ? scrubText(e.message) : 'unknown' }, 'campaign schedules not updated');
    return undefined;
  }
}
