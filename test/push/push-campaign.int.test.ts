/**
 * Issue #12 item 5, end to end over real parts: PostgreSQL/PGlite, the Temporal dev server with a
 * real Schedule, the push workflow, the access node's push dialer over TCP PCM sockets, and 50
 * simulated on-hook phones that demodulate the FSK they hear. 5 phones are offline: 45 get the push
 * at once, the 5 at their next call to the access node (a TCP PCM call into a real channel engine),
 * and the report says so. Busy lines are retried after the backoff; quiet hours hold a run back.
 */
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ChannelEngine } from '../../channel-engine/engine';
import { TcpPcmLineDriver } from '../../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../../channel-engine/profiles';
import { PushDialer } from '../../channel-engine/push/dialer';
import { startPushWorker } from '../../channel-engine/push/line-activities';
import { NextCallDelivery, withCallEndHook } from '../../channel-engine/push/next-call';
import { createPushCentralActivities } from '../../activities/push';
import { PrismaPushStore } from '../../core/push-store';
import { parseCampaign } from '../../services/campaigns/campaign';
import { campaignInput, scheduleCampaign } from '../../worker/push-schedules';
import { PUSH_CAMPAIGN_WORKFLOW, type PushCampaignOutput } from '../../workflows/push-campaign';
import {
  callAccessNode,
  PushPhoneGateway,
  simulatedPhone,
  type SimulatedPushPhone,
} from '../../simulator/terminal/push-phones';
import { startTestDatabase, type TestDatabase } from '../support/database';
import { startTestServer, testDataConverter } from '../support/temporal';

jest.setTimeout(600_000);

const TASK_QUEUE = 'services';
const NODE = 'push-node';
const TEXT = 'Bills due 30 Nov. Pay on this phone: menu 3.';
const PHONES = 50;
const OFFLINE = new Set([3, 11, 24, 37, 49]);
const BUSY_ONCE = new Set([5, 6]);
const BACKOFF_MS = 1_000;

const tid = (i: number): string => `P${String(i).padStart(7, '0')}`;
const ani = (i: number): string => `8621700${String(i).padStart(5, '0')}`;
/** Odd phones are Bell 202 family, even ones V.23. */
const profileOf = (i: number): string => (i % 2 === 1 ? 'bell202-crc16' : 'es201912-v23');

const CAMPAIGN = `
kind: campaign
id: bill-reminder-test
description: The bill reminder, to the north region's bill-paying terminals.
audience: { regions: [north], entitlements: [bill-payment] }
text: '${TEXT}'
sender: '95566'
schedule: { cron: ['0 10 25 12 *'], overlap: skip }
retry: { maxAttempts: 2, initialSeconds: ${BACKOFF_MS / 1000}, backoffCoefficient: 2, maximumSeconds: 10 }
lineBudget: 8
`;

let db: TestDatabase;
let env: TestWorkflowEnvironment;
const stops: (() => Promise<void>)[] = [];

async function seed(): Promise<void> {
  const p = db.prisma;
  await p.customer.create({ data: { id: 'C-PUSH', kind: 'merchant', name: 'push test shops' } });
  const add = async (i: number, region: string, entitlements: string[], profile = profileOf(i)): Promise<void> => {
    await p.terminal.create({
      data: { id: tid(i), customerId: 'C-PUSH', deviceProfileId: profile, state: 'in_service' },
    });
    await p.psam.create({ data: { psamNo: `A1B2C3${String(i).padStart(10, '0')}`, status: 'active' } });
    await p.phoneBinding.create({
      data: { terminalId: tid(i), psamNo: `A1B2C3${String(i).padStart(10, '0')}`, ani: ani(i), active: true },
    });
    await p.terminalPushAttributes.create({
      data: { terminalId: tid(i), region, merchantType: 'grocery', entitlements, utcOffsetMinutes: 480 },
    });
  };
  for (let i = 1; i <= PHONES; i++) await add(i, 'north', ['bill-payment', 'top-up']);
  // Outside the audience: another region, and a terminal without the entitlement.
  await add(60, 'south', ['bill-payment']);
  await add(61, 'north', ['top-up']);
  // In the audience, but its 2×16 display cannot hold the text: failed, never dialled.
  await add(62, 'north', ['bill-payment'], 'v23-compact-crc16');
  // The quiet-hours run's terminals (by id).
  for (const i of [70, 71, 72]) await add(i, 'east', ['bill-payment']);
}

let phones: SimulatedPushPhone[] = [];
let gateway: PushPhoneGateway;
let store: PrismaPushStore;
let nextCall: NextCallDelivery;
let enginePort = 0;

beforeAll(async () => {
  db = await startTestDatabase();
  stops.push(() => db.close());
  env = await startTestServer();
  stops.push(() => env.teardown());
  await seed();
  store = new PrismaPushStore(db.prisma);
  const profiles = loadProfiles();

  const modulationOf = (i: number): 'v23' | 'bell202' => (i % 2 === 1 ? 'bell202' : 'v23');
  phones = [];
  for (let i = 1; i <= PHONES; i++) {
    const phone = simulatedPhone(ani(i), modulationOf(i), !OFFLINE.has(i));
    if (BUSY_ONCE.has(i)) phone.busyCalls = 1;
    phones.push(phone);
  }
  for (const i of [60, 61, 62, 70, 71, 72]) phones.push(simulatedPhone(ani(i), modulationOf(i)));
  gateway = new PushPhoneGateway(phones);
  await gateway.start();
  stops.push(() => gateway.stop());

  // Real time audio would take 1.5 s per push; unpaced it is the same samples, sooner.
  const dialer = new PushDialer({
    gatewayHost: '127.0.0.1',
    gatewayPort: gateway.port,
    maxLines: 8,
    pace: false,
    answerTimeoutMs: 30_000,
    receiptTimeoutMs: 30_000,
  });
  stops.push(() => {
    dialer.close();
    return Promise.resolve();
  });

  const central = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowsPath: require.resolve('../../workflows/push-campaign'),
    dataConverter: testDataConverter(),
    activities: createPushCentralActivities({ store, displayOf: (id) => profiles.get(id)?.terminal?.display }),
  });
  const centralRun = central.run();
  stops.push(async () => {
    central.shutdown();
    await centralRun;
  });
  const pushWorker = await startPushWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    nodeId: NODE,
    dataConverter: testDataConverter(),
    dialer,
    profiles,
    defaultProfileId: 'es201912-v23',
  });
  stops.push(() => pushWorker.shutdown());

  // The access node's line side with the next-call hook around its TCP PCM driver.
  nextCall = new NextCallDelivery(
    {
      pendingFor: (caller) => store.pendingFor(caller),
      settle: async (id, outcome) => {
        await store.record(id, outcome, 'next-call');
      },
    },
    dialer,
    { afterCallDelayMs: 200, profiles, defaultProfileId: 'es201912-v23' },
  );
  const tcp = new TcpPcmLineDriver({ port: 0, pace: false });
  const engine = new ChannelEngine({
    profiles,
    handler: () => Promise.reject(new Error('no request expected on a call-in')),
  }).addDriver(
    withCallEndHook(tcp, (offer) => {
      nextCall.callEnded(offer);
    }),
  );
  await engine.start();
  enginePort = tcp.port;
  stops.push(async () => {
    await nextCall.idle();
    await engine.stop();
  });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

const phone = (i: number): SimulatedPushPhone => {
  const p = gateway.phones.get(ani(i));
  if (p === undefined) throw new Error(`no phone ${i}`);
  return p;
};

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a push campaign to 50 phones, 5 of them offline', () => {
  let quietRun: Promise<PushCampaignOutput> | undefined;
  let quietEndsMs = 0;

  it('holds a run in quiet hours: nothing is dialled before they end', async () => {
    // Quiet from the current UTC minute for two minutes (60–120 s from now).
    const minute = Math.floor(Date.now() / 60_000);
    const hhmm = (m: number): string =>
      `${String(Math.floor((m % 1440) / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    quietEndsMs = (minute + 2) * 60_000;
    const spec = parseCampaign(
      `${CAMPAIGN.replace('id: bill-reminder-test', 'id: quiet-test').replace(
        'audience: { regions: [north], entitlements: [bill-payment] }',
        `audience: { terminals: [${[70, 71, 72].map(tid).join(', ')}] }`,
      )}quietHours: { start: '${hhmm(minute % 1440)}', end: '${hhmm((minute + 2) % 1440)}', utcOffsetMinutes: 0 }\n`,
    );
    const handle = await env.client.workflow.start(PUSH_CAMPAIGN_WORKFLOW, {
      taskQueue: TASK_QUEUE,
      workflowId: 'push:quiet-test:manual',
      args: [campaignInput(spec, `push.${NODE}`)],
    });
    quietRun = handle.result() as Promise<PushCampaignOutput>;
    // The run has stored its pushes and sleeps; nothing rang.
    await until('the quiet run to store its pushes', async () => {
      const r = await store.report('quiet-test');
      return r.pending === 3 ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(Date.now()).toBeLessThan(quietEndsMs);
    for (const i of [70, 71, 72]) expect(phone(i).calls).toBe(0);
    expect((await handle.describe()).status.name).toBe('RUNNING');
  });

  it('runs from its Temporal Schedule (catch-up window of minutes, overlap skip): 45 delivered at once, 5 pending', async () => {
    const spec = parseCampaign(CAMPAIGN);
    const schedule = await scheduleCampaign(env.client, spec, { taskQueue: TASK_QUEUE, pushTaskQueue: `push.${NODE}` });
    const described = await schedule.describe();
    expect(described.policies.catchupWindow).toBe(10 * 60_000);
    expect(described.policies.overlap).toBe('SKIP');
    await schedule.trigger();
    const workflowId = await until('the scheduled run', async () => {
      const d = await schedule.describe();
      const a = d.info.recentActions[0]?.action;
      return a?.type === 'startWorkflow' ? a.workflow.workflowId : undefined;
    });
    const out = (await env.client.workflow.getHandle(workflowId).result()) as PushCampaignOutput;
    expect(out).toMatchObject({ delivered: 45, pending: 5, failed: 0 });
    // 45 answered + 2 busy lines once more + 5 offline lines twice.
    expect(out.calls).toBe(45 + 2 + 5 * 2);
    expect(out.report).toEqual({
      campaignId: 'bill-reminder-test',
      delivered: 45,
      failed: 1,
      pending: 5,
      deliveredAtNextCall: 0,
      deliveredInCall: 0,
    });
    for (let i = 1; i <= PHONES; i++) {
      // Every online phone demodulated the text exactly once; no offline phone heard anything.
      expect(phone(i).received).toEqual(OFFLINE.has(i) ? [] : [TEXT]);
      expect(phone(i).garbled).toBe(0);
    }
    for (const i of [60, 61, 62]) expect(phone(i).calls).toBe(0);
    // The file changed (paused, hourly, buffer-one): the same schedule is updated, not duplicated.
    const changed = parseCampaign(
      CAMPAIGN.replace(
        "{ cron: ['0 10 25 12 *'], overlap: skip }",
        '{ everyMinutes: 60, overlap: buffer-one, paused: true }',
      ),
    );
    await scheduleCampaign(env.client, changed, { taskQueue: TASK_QUEUE, pushTaskQueue: `push.${NODE}` });
    const updated = await schedule.describe();
    expect(updated.state.paused).toBe(true);
    expect(updated.policies.overlap).toBe('BUFFER_ONE');
    expect(updated.spec.intervals?.[0]?.every).toBe(3_600_000);
    const failed = await db.prisma.pushMessage.findFirstOrThrow({ where: { terminalId: tid(62) } });
    expect(failed).toMatchObject({ status: 'failed', lastOutcome: 'FP3702', attempts: 0 });
  });

  it('retried busy and unanswered lines after the backoff, no more than maxAttempts times', () => {
    for (const i of [...BUSY_ONCE, ...OFFLINE]) {
      const times = phone(i).callTimes;
      expect(times).toHaveLength(2);
      expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(BACKOFF_MS - 50);
    }
    for (const i of BUSY_ONCE) expect(phone(i).received).toEqual([TEXT]);
  });

  it('delivers the 5 at their next call to the access node, once; the report says 50 delivered', async () => {
    for (const i of OFFLINE) phone(i).online = true;
    // A phone with nothing pending and an unknown number call too: nothing is dialled for them.
    const callsBefore = phone(1).calls;
    expect(await callAccessNode(enginePort, ani(1))).toBe('answered');
    expect(await callAccessNode(enginePort, '99999999')).toBe('answered');
    for (const i of OFFLINE) expect(await callAccessNode(enginePort, ani(i))).toBe('answered');
    const report = await until('the next-call deliveries', async () => {
      const r = await store.report('bill-reminder-test');
      return r.pending === 0 ? r : undefined;
    });
    await nextCall.idle();
    expect(report).toEqual({
      campaignId: 'bill-reminder-test',
      delivered: 50,
      failed: 1,
      pending: 0,
      deliveredAtNextCall: 5,
      deliveredInCall: 0,
    });
    for (const i of OFFLINE) expect(phone(i).received).toEqual([TEXT]);
    expect(phone(1).calls).toBe(callsBefore);
    // A second call-in finds nothing pending: no second copy.
    const i = [...OFFLINE][0] ?? 3;
    expect(await callAccessNode(enginePort, ani(i))).toBe('answered');
    await new Promise((r) => setTimeout(r, 1_000));
    await nextCall.idle();
    expect(phone(i).received).toEqual([TEXT]);
    expect(nextCall.metrics()).toMatchObject({ nextCallDelivered: 5, nextCallFailed: 0, nextCallErrors: 0 });
  });

  it('delivers the quiet-hours run only once the quiet hours have ended', async () => {
    if (quietRun === undefined) throw new Error('the quiet run did not start');
    const out = await quietRun;
    expect(out).toMatchObject({ delivered: 3, pending: 0, failed: 0 });
    for (const i of [70, 71, 72]) {
      expect(phone(i).received).toEqual([TEXT]);
      expect(phone(i).callTimes[0] ?? 0).toBeGreaterThanOrEqual(quietEndsMs);
    }
  });
});
