/**
 * Push through the platform as `fixpay dev` composes it (startPlatform): the central worker runs
 * the campaign workflow with its push activities, the access node (with `access.pushLine: sip`)
 * serves `push.<nodeId>` and calls the demo terminals through a simulated SIP trunk whose phones
 * demodulate the RTP; one phone is offline and gets its push after its next call — a real sign-on
 * by the terminal simulator over TCP PCM — through the node's next-call hook.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startPlatform } from '../../cli/platform';
import type { Platform } from '../../cli/platform';
import { loadProfiles } from '../../channel-engine/profiles';
import { createDataConverter } from '../../codec/data-converter';
import { codecKeysFromText } from '../../codec/payload-codec';
import { loadConfig, type Config } from '../../config';
import { PrismaPushStore } from '../../core/push-store';
import { DEMO } from '../../demo/seed';
import { createLogger } from '../../infra/logging';
import { loadSecrets } from '../../infra/secrets';
import { parseCampaign } from '../../services/campaigns/campaign';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import { simulatedPhone, type SimulatedPushPhone } from '../../simulator/terminal/push-phones';
import { runTerminalScript } from '../../simulator/terminal/script';
import { SipPushPhoneGateway } from '../../simulator/terminal/sip-push-phones';
import { scheduleCampaign } from '../../worker/push-schedules';
import type { PushCampaignOutput } from '../../workflows/push-campaign';
import { spawnEmbeddedDatabase } from '../support/database';
import { createDatabase, freePort } from '../support/roles';

const TEXT = 'Bills due 30 Nov. Menu 3 pays.';

describe('push through the platform (SIP trunk, next call over TCP PCM)', () => {
  jest.setTimeout(300_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-push-platform-'));
  let platform: Platform | undefined;
  let database: { url: string; stop(): Promise<void> } | undefined;
  let connection: Connection | undefined;
  let config: Config;
  const profiles = loadProfiles();
  const phones: SimulatedPushPhone[] = DEMO.terminals.map((t) =>
    simulatedPhone(t.ani, profiles.get(t.deviceProfileId)?.modem.modulation ?? 'v23'),
  );
  const gateway = new SipPushPhoneGateway(phones);

  beforeAll(async () => {
    await gateway.start();
    const [temporal, ui, api, codec, metrics] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
    const server = loadConfig().database.url;
    if (server === undefined) database = await spawnEmbeddedDatabase();
    else {
      const db = await createDatabase(server, 'fixpay_push');
      database = { url: db.url, stop: () => db.drop() };
    }
    config = loadConfig({
      FIXPAY_DATA_DIR: dataDir,
      FIXPAY_LOG_LEVEL: 'warn',
      FIXPAY_TEMPORAL_PORT: String(temporal),
      FIXPAY_TEMPORAL_UI_PORT: String(ui),
      DATABASE_URL: database.url,
      FIXPAY_API_PORT: String(api),
      FIXPAY_CODEC_PORT: String(codec),
      FIXPAY_METRICS_PORT: String(metrics),
      FIXPAY_TCP_PCM_PORT: '0',
      FIXPAY_SIP_PORT: '0',
      FIXPAY_PUSH_GATEWAY_HOST: '127.0.0.1',
      FIXPAY_PUSH_GATEWAY_PORT: String(gateway.port),
      FIXPAY_PUSH_LINE: 'sip',
    });
    platform = await startPlatform(config, createLogger('push-test', { level: 'error' }));
    connection = await Connection.connect({ address: platform.temporalAddress });
  }, 300_000);

  afterAll(async () => {
    await connection?.close();
    await platform?.stop();
    await database?.stop();
    await gateway.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers to the online demo terminals at once and to the offline one after its sign-on call', async () => {
    if (platform === undefined || connection === undefined) throw new Error('no platform');
    const prisma = platform.prisma;
    for (const t of DEMO.terminals)
      await prisma.terminalPushAttributes.create({
        data: { terminalId: t.terminalId, region: 'north', entitlements: ['bill-payment'] },
      });
    const offline = DEMO.terminals[0];
    const offlinePhone = phones[0];
    if (offline === undefined || offlinePhone === undefined) throw new Error('no demo terminal');
    offlinePhone.online = false;

    const secrets = loadSecrets(config.security, { generate: false });
    const client = new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter: createDataConverter(codecKeysFromText(secrets.codecKeys)),
    });
    const spec = parseCampaign(`
kind: campaign
id: platform-push
description: bill reminder through the platform
audience: { regions: [north], entitlements: [bill-payment] }
text: '${TEXT}'
sender: '95566'
schedule: { cron: ['0 10 25 12 *'] }
retry: { maxAttempts: 2, initialSeconds: 0.5 }
`);
    const schedule = await scheduleCampaign(client, spec, {
      taskQueue: config.temporal.taskQueue,
      pushTaskQueue: `push.${config.access.nodeId}`,
    });
    await schedule.trigger();
    let workflowId: string | undefined;
    for (let i = 0; i < 300 && workflowId === undefined; i++) {
      const a = (await schedule.describe()).info.recentActions[0]?.action;
      if (a?.type === 'startWorkflow') workflowId = a.workflow.workflowId;
      else await new Promise((r) => setTimeout(r, 200));
    }
    if (workflowId === undefined) throw new Error('the schedule started nothing');
    const out = (await client.workflow.getHandle(workflowId).result()) as PushCampaignOutput;
    const n = DEMO.terminals.length;
    expect(out).toMatchObject({ delivered: n - 1, pending: 1, failed: 0 });
    for (const p of phones.slice(1)) expect(p.received).toEqual([TEXT]);
    expect(offlinePhone.received).toEqual([]);
    expect(offlinePhone.calls).toBe(2);

    // The offline phone comes back and signs on: after that call, the node pushes what was pending.
    offlinePhone.online = true;
    const terminal = parseTerminalConfig(
      {
        ...EXAMPLE_CONFIG,
        terminalId: offline.terminalId,
        psam: { ...EXAMPLE_CONFIG.psam, serial: offline.psamNo },
        line: {
          ...EXAMPLE_CONFIG.line,
          transport: 'tcp-pcm',
          host: '127.0.0.1',
          port: platform.tcpPcmPort,
          pace: false,
          callerNumber: offline.ani,
        },
      },
      dataDir,
    );
    const r = await runTerminalScript(
      { config: terminal, stateStore: new MemoryStateStore({ stan: 700, batch: '000001', psamCounter: 700 }) },
      [{ step: 'sign-on' }, { step: 'hang-up' }],
    );
    expect(r.transactions.map((x) => x.outcome)).toEqual(['approved']);
    const store = new PrismaPushStore(prisma);
    const deadline = Date.now() + 60_000;
    let report = await store.report('platform-push');
    while (report.pending > 0 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 250));
      report = await store.report('platform-push');
    }
    expect(report).toEqual({
      campaignId: 'platform-push',
      delivered: n,
      failed: 0,
      pending: 0,
      deliveredAtNextCall: 1,
      deliveredInCall: 0,
    });
    expect(offlinePhone.received).toEqual([TEXT]);
  });
});
