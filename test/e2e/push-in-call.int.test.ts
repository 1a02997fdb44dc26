/**
 * In-call push (ADR 0021, docs/protocols/push.md "Inside a call") end to end over real FSK audio
 * (TCP PCM): a campaign calls a demo phone that is in a call of its own — the line is busy, the
 * push stays pending. Before it releases that same call, the phone sends its notice request
 * (0800/940000); the `terminal-notices` run answers with the pending notice (MACed), and records it
 * delivered in-call only once the phone's link ACKed the answer. The next-call hook around the
 * line drivers then finds nothing to dial: no second, on-hook delivery; the report counts it once.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { loadProfiles } from '../../channel-engine/profiles';
import { PushDialer } from '../../channel-engine/push/dialer';
import { startPushWorker } from '../../channel-engine/push/line-activities';
import { NextCallDelivery, withCallEndHook } from '../../channel-engine/push/next-call';
import { PrismaPushStore, pushStoreAsPending } from '../../core/push-store';
import { DEMO } from '../../demo/seed';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { parseCampaign } from '../../services/campaigns/campaign';
import { compileFiles } from '../../services/compiler/load';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { PushReceiver } from '../../simulator/terminal/push-receiver';
import { PosTerminal } from '../../simulator/terminal/terminal';
import { campaignInput } from '../../worker/push-schedules';
import { PUSH_CAMPAIGN_WORKFLOW, type PushCampaignOutput } from '../../workflows/push-campaign';
import type { E2e } from './harness';
import { startE2e } from './harness';
import { testDataConverter } from '../support/temporal';

const TEXT = 'Bills due 30 Nov. Pay on this phone: menu 3.';
const NODE = 'push-in-call';
// T0000002: the demo household phone, Bell 202, 4 x 20 display.
const DEMO_T = 1;

describe('a push for a phone that is in a call is delivered inside that call (FSK over TCP PCM)', () => {
  jest.setTimeout(300_000);
  let e2e: E2e;
  let nextCall: NextCallDelivery | undefined;
  let dialer: PushDialer;
  let receiver: PushReceiver;
  let phone: PosTerminal;
  let pushWorker: { shutdown(): Promise<void> } | undefined;
  const profiles = loadProfiles();
  const demo = DEMO.terminals[DEMO_T];
  if (demo === undefined) throw new Error('no demo terminal');

  beforeAll(async () => {
    // The next-call hook wraps the line drivers as the access node's does; its store and dialer are
    // set once the database and the phone's push line exist (below).
    e2e = await startE2e({
      lines: {
        wrapDriver: (d) =>
          withCallEndHook(d, (offer) => {
            nextCall?.callEnded(offer);
          }),
      },
    });
    for (const d of compileFiles(
      [join(__dirname, '..', '..', 'definitions', 'terminal-notices.yaml')],
      defaultCatalogue(),
    )) {
      if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
      await e2e.registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
      await e2e.registry.promote(d.plan.serviceId, d.plan.version);
    }
    await e2e.db.prisma.terminalPushAttributes.create({
      data: { terminalId: demo.terminalId, region: 'north', entitlements: ['bill-payment'] },
    });
    phone = new PosTerminal(e2e.terminal({ demoTerminal: DEMO_T }), {
      stateStore: new MemoryStateStore({ stan: 9_000, batch: '000001', psamCounter: 9_000 }),
      noticesInCall: true,
    });
    // The phone's own line: push calls ring it when it is idle, and find it busy while it is in a call.
    receiver = new PushReceiver(
      demo.ani,
      phone.profile,
      { transport: 'tcp-pcm', host: '127.0.0.1', port: 0 },
      { show: (lines) => phone.show(...lines), busy: () => phone.connected },
    );
    const port = await receiver.start();
    dialer = new PushDialer({ gatewayHost: '127.0.0.1', gatewayPort: port, maxLines: 4, pace: false });
    nextCall = new NextCallDelivery(pushStoreAsPending(new PrismaPushStore(e2e.db.prisma)), dialer, {
      afterCallDelayMs: 200,
      profiles,
      defaultProfileId: 'es201912-v23',
    });
    pushWorker = await startPushWorker({
      connection: e2e.env.nativeConnection,
      namespace: 'default',
      nodeId: NODE,
      dataConverter: testDataConverter(),
      dialer,
      profiles,
      defaultProfileId: 'es201912-v23',
    });
  }, 300_000);

  afterAll(async () => {
    await nextCall?.idle();
    await pushWorker?.shutdown();
    dialer.close();
    await receiver.stop();
    await e2e.stop();
  });

  it('busy on-hook call → pending; the notice answer before the release shows it; recorded once, in-call; nothing dialled after', async () => {
    const store = new PrismaPushStore(e2e.db.prisma);
    expect((await phone.signOn()).outcome).toBe('approved');
    expect(phone.connected).toBe(true);

    // The campaign runs while the phone is in its call: its line is busy, one attempt, pending.
    const spec = parseCampaign(`
kind: campaign
id: in-call-test
description: a reminder to a phone that is in a call
audience: { regions: [north], entitlements: [bill-payment] }
text: '${TEXT}'
sender: '95566'
schedule: { cron: ['0 10 25 12 *'] }
retry: { maxAttempts: 1, initialSeconds: 1 }
`);
    const run = (await e2e.env.client.workflow.execute(PUSH_CAMPAIGN_WORKFLOW, {
      taskQueue: 'services',
      workflowId: `push:in-call-test:${randomUUID()}`,
      args: [campaignInput(spec, `push.${NODE}`)],
    })) as PushCampaignOutput;
    expect(run).toMatchObject({ delivered: 0, pending: 1, failed: 0, calls: 1 });
    expect(receiver.received).toEqual([]);

    // The phone's own transaction, then the release: the notice request goes first, in the same call.
    expect((await phone.balance()).outcome).toBe('approved');
    await phone.hangUp();
    expect(phone.notices.map((n) => [n.sender, n.text])).toEqual([['95566', TEXT]]);
    expect(phone.notices[0]?.display).toEqual(['Bills due 30 Nov.', 'Pay on this phone:', 'menu 3.', '']);

    const report = await store.report('in-call-test');
    expect(report).toEqual({
      campaignId: 'in-call-test',
      delivered: 1,
      failed: 0,
      pending: 0,
      deliveredAtNextCall: 0,
      deliveredInCall: 1,
    });
    // The call's end triggered the next-call hook: it found nothing pending and dialled nothing.
    await nextCall?.idle();
    expect(nextCall?.metrics()).toMatchObject({ nextCallDelivered: 0, nextCallFailed: 0 });
    expect(dialer.metrics()).toMatchObject({ pushCalls: 1, pushBusy: 1, pushDelivered: 0 });
    expect(receiver.received).toEqual([]);
    const notices = e2e.workflowIds.filter((id) => id.startsWith(`terminal-notices:${demo.terminalId}:`));
    expect(notices).toHaveLength(1);
    expect(await e2e.env.client.workflow.getHandle(notices[0] ?? '').result()).toMatchObject({
      outcome: 'COMPLETED',
      output: { notices: 1, delivered: 1 },
    });

    // The next call: the notice is not sent again (delivered once), the notice answer is empty.
    expect((await phone.balance()).outcome).toBe('approved');
    await phone.hangUp();
    expect(phone.notices).toHaveLength(1);
    expect((await store.report('in-call-test')).delivered).toBe(1);
    await nextCall?.idle();
    expect(receiver.received).toEqual([]);
  });

  it('a repeated notice request (same bytes) gets the same answer; the push is counted once', async () => {
    const store = new PrismaPushStore(e2e.db.prisma);
    // A second pending push, and a phone that asks for its notices, then repeats the request.
    await store.createRun({
      campaignId: 'in-call-repeat',
      runKey: 'in-call-repeat-1',
      text: 'Second notice',
      candidates: [
        { terminalId: demo.terminalId, calledNumber: demo.ani, profileId: phone.profile.id, utcOffsetMinutes: 0 },
      ],
      refusals: new Map(),
    });
    const first = await phone.fetchNotices();
    expect(first.notices.map((n) => n.text)).toEqual(['Second notice']);
    const again = await phone.repeatLast();
    expect(again).toMatchObject({ outcome: 'approved', stan: first.stan });
    await phone.hangUp();
    expect(phone.notices.map((n) => n.text)).toEqual([TEXT, 'Second notice', 'Second notice']);
    expect(await store.report('in-call-repeat')).toMatchObject({ delivered: 1, pending: 0, deliveredInCall: 1 });
    expect(
      e2e.workflowIds.filter((id) => id.startsWith(`terminal-notices:${demo.terminalId}:${first.stan ?? '?'}:`)),
    ).toHaveLength(2);
  });
});
