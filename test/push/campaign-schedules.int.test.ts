/**
 * The central worker keeps the campaigns' Temporal Schedules in step with the campaign files at
 * every start (ADR 0021; `scheduleCampaignsAtStart`, called by `startWorkerRole`), on the Temporal
 * dev server: created once, a restart duplicates nothing and changes nothing, an edited file
 * updates its schedule, a removed file pauses its schedule (never deleted), a file that comes back
 * unpauses it, and a refused file pauses nothing.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../../config';
import { CAMPAIGNS_DIR, REMOVED_CAMPAIGN_NOTE, scheduleCampaignsAtStart } from '../../worker/push-schedules';
import { startTestServer } from '../support/temporal';

jest.setTimeout(300_000);

const WATER = `
kind: campaign
id: water-reminder
description: Water bills are due.
audience: { regions: [south] }
text: 'Water bill due. Menu 3.'
schedule: { cron: ['0 9 1 * *'], catchupWindowMinutes: 20 }
`;

describe('campaign schedules at worker start', () => {
  let env: TestWorkflowEnvironment;
  let dir: string;
  const logged: { level: string; msg: string; obj: object }[] = [];
  const log = {
    info: (obj: object, msg?: string) => logged.push({ level: 'info', msg: msg ?? '', obj }),
    error: (obj: object, msg?: string) => logged.push({ level: 'error', msg: msg ?? '', obj }),
  };

  beforeAll(async () => {
    env = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), 'fixpay-campaigns-'));
    copyFileSync(join(CAMPAIGNS_DIR, 'bill-reminder.yaml'), join(dir, 'bill-reminder.yaml'));
    writeFileSync(join(dir, 'water.yaml'), WATER);
  });
  afterAll(async () => {
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (): ReturnType<typeof loadConfig> =>
    loadConfig({ FIXPAY_CAMPAIGNS_DIR: dir, FIXPAY_NODE_ID: 'node-7', FIXPAY_TEMPORAL_TASK_QUEUE: 'services' });
  const start = (): ReturnType<typeof scheduleCampaignsAtStart> => scheduleCampaignsAtStart(env.client, config(), log);
  const pushSchedules = async (): Promise<string[]> => {
    const ids: string[] = [];
    for await (const s of env.client.schedule.list()) if (s.scheduleId.startsWith('push:')) ids.push(s.scheduleId);
    return ids.sort();
  };
  /** Schedules appear in the list (visibility) a little after they are created. */
  const listed = async (want: string[]): Promise<void> => {
    for (let i = 0; i < 300; i++) {
      if (JSON.stringify(await pushSchedules()) === JSON.stringify(want)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`schedules listed: ${JSON.stringify(await pushSchedules())}, wanted ${JSON.stringify(want)}`);
  };
  const describeOf = (id: string) => env.client.schedule.getHandle(id).describe();
  /**
   * The schedule's paused state once the scheduler has taken the last pause/unpause: a describe
   * right after them may still answer from before (the change is a signal to the scheduler run).
   */
  const pausedOf = async (id: string, want: boolean): Promise<boolean> => {
    const until = Date.now() + 30_000;
    for (;;) {
      const paused = (await describeOf(id)).state.paused;
      if (paused === want || Date.now() > until) return paused;
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  it('creates one schedule per campaign file, with the file’s catch-up window and the node’s push queue', async () => {
    expect(await start()).toEqual({ scheduled: ['push:bill-reminder', 'push:water-reminder'], paused: [] });
    await listed(['push:bill-reminder', 'push:water-reminder']);
    const bill = await describeOf('push:bill-reminder');
    expect(bill.policies.catchupWindow).toBe(30 * 60_000);
    expect(bill.spec.timezone).toBe('Asia/Shanghai');
    expect(bill.state.paused).toBe(false);
    const action = bill.action as { type: string; taskQueue: string; args?: unknown[] };
    expect(action.taskQueue).toBe('services');
    expect(JSON.stringify(action.args)).toContain('"pushTaskQueue":"push.node-7"');
    expect((await describeOf('push:water-reminder')).policies.catchupWindow).toBe(20 * 60_000);
  });

  it('a restart creates nothing twice and changes nothing', async () => {
    const before = await describeOf('push:water-reminder');
    expect(await start()).toEqual({ scheduled: ['push:bill-reminder', 'push:water-reminder'], paused: [] });
    expect(await start()).toEqual({ scheduled: ['push:bill-reminder', 'push:water-reminder'], paused: [] });
    await listed(['push:bill-reminder', 'push:water-reminder']);
    const after = await describeOf('push:water-reminder');
    expect(after.spec).toEqual(before.spec);
    expect(after.policies).toEqual(before.policies);
    expect(after.state.paused).toBe(false);
  });

  it('an edited file updates its schedule at the next start', async () => {
    writeFileSync(join(dir, 'water.yaml'), WATER.replace("cron: ['0 9 1 * *']", "cron: ['30 8 2 * *']"));
    await start();
    const d = await describeOf('push:water-reminder');
    expect(JSON.stringify(d.spec)).toContain('"minute":[{"start":30');
    expect(JSON.stringify(d.spec)).toContain('"dayOfMonth":[{"start":2');
  });

  it('a removed file pauses its schedule (kept, with a note); the file back unpauses it', async () => {
    const text = readFileSync(join(dir, 'water.yaml'), 'utf8');
    unlinkSync(join(dir, 'water.yaml'));
    expect(await start()).toEqual({ scheduled: ['push:bill-reminder'], paused: ['push:water-reminder'] });
    expect(await pausedOf('push:water-reminder', true)).toBe(true);
    expect((await describeOf('push:water-reminder')).state).toMatchObject({
      paused: true,
      note: REMOVED_CAMPAIGN_NOTE,
    });
    // Paused already: a further restart leaves it as it is.
    expect(await start()).toEqual({ scheduled: ['push:bill-reminder'], paused: [] });
    await listed(['push:bill-reminder', 'push:water-reminder']);
    writeFileSync(join(dir, 'water.yaml'), text);
    await start();
    expect(await pausedOf('push:water-reminder', false)).toBe(false);
  });

  it('a refused file is logged with its code and pauses nothing (its id may only be unreadable)', async () => {
    writeFileSync(join(dir, 'water.yaml'), WATER.replace("'Water bill due. Menu 3.'", "'Pay \u202Enow'"));
    logged.length = 0;
    expect(await start()).toEqual({ scheduled: ['push:bill-reminder'], paused: [] });
    expect(await pausedOf('push:water-reminder', false)).toBe(false);
    expect(logged.some((l) => l.level === 'error' && JSON.stringify(l.obj).includes('FP3701'))).toBe(true);
  });

  it('is off with temporal.campaignSchedules false', async () => {
    expect(
      await scheduleCampaignsAtStart(
        env.client,
        loadConfig({ FIXPAY_CAMPAIGNS_DIR: dir, FIXPAY_CAMPAIGN_SCHEDULES: 'false' }),
        log,
      ),
    ).toBeUndefined();
  });
});
