/**
 * The Temporal UI of `fixpay dev` shows runs decoded with no step by hand (issue #17): the
 * platform as `fixpay dev` composes it (startPlatform) starts the dev server's UI with its codec
 * endpoint set to the loopback codec proxy, which adds the operator token and forwards to the
 * platform's codec endpoint. A demo terminal pays over FSK audio; a real browser (Chromium driven
 * by Playwright) opens the completed purchase run in the UI and sees its input and result decoded:
 * field names and the masked card number, never the clear card number, in the page or in any
 * answer the browser received.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { PrismaPsamCounterStore } from '../activities/psam-counter-store';
import { createDataConverter } from '../codec/data-converter';
import { codecKeysFromText } from '../codec/payload-codec';
import { loadConfig, type Config } from '../config';
import { createLogger } from '../infra/logging';
import { loadSecrets } from '../infra/secrets';
import { demoCards } from '../simulator/terminal/demo';
import { spawnEmbeddedDatabase } from '../test/support/database';
import { createDatabase, freePort } from '../test/support/roles';
import { startDemo } from './demo';
import { startPlatform } from './platform';
import type { Platform } from './platform';

/** The payloads' data in a codec answer, as text. */
function payloadTexts(body: string): string[] {
  const parsed = JSON.parse(body) as { payloads?: { data?: string }[] };
  return (parsed.payloads ?? []).map((p) => Buffer.from(p.data ?? '', 'base64').toString('utf8'));
}

/** Debian's Chromium (apt-get install chromium). */
const CHROMIUM = '/usr/bin/chromium';

describe('fixpay dev: the Temporal UI decodes runs through the codec proxy it was started with', () => {
  jest.setTimeout(600_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-dev-ui-'));
  let platform: Platform | undefined;
  let database: { url: string; stop(): Promise<void> } | undefined;
  let connection: Connection | undefined;
  let browser: Browser | undefined;
  let config: Config;

  beforeAll(async () => {
    const [temporal, ui, api, codec, metrics] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
    const server = loadConfig().database.url;
    if (server === undefined) database = await spawnEmbeddedDatabase();
    else {
      const db = await createDatabase(server, 'fixpay_dev_ui');
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
    });
    platform = await startPlatform(config, createLogger('dev-ui-test', { level: 'error' }));
    connection = await Connection.connect({ address: platform.temporalAddress });
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await connection?.close();
    await platform?.stop();
    await database?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /**
   * Pays from the first demo terminal (TCP PCM, FSK audio) until a purchase run has completed (a
   * run waits for the terminal's next call to learn the outcome reached it: ADR 0012); its ids.
   */
  async function completedPurchase(p: Platform, client: Client): Promise<{ workflowId: string; runId: string }> {
    const purchases: string[] = [];
    const unsubscribe = p.onAnswered((a) => {
      if (a.workflowId.startsWith('purchase:')) purchases.push(a.workflowId);
    });
    const counters = new PrismaPsamCounterStore(p.prisma);
    const demo = await startDemo({
      host: '127.0.0.1',
      tcpPcmPort: p.tcpPcmPort,
      sipPort: p.sipPort,
      terminals: 1,
      pauseMs: 100,
      // Below the purchase share: every call after the sign-on is a purchase.
      random: () => 0.1,
      lastPsamCounter: async (serial) => (await counters.get(serial))?.counter,
    });
    try {
      for (let i = 0; i < 600; i++) {
        for (const workflowId of purchases) {
          const d = await client.workflow.getHandle(workflowId).describe();
          if (d.status.name === 'COMPLETED') return { workflowId, runId: d.runId };
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`no purchase run completed in 300 s (answered: ${purchases.join(', ')})`);
    } finally {
      unsubscribe();
      await demo.stop(30_000);
    }
  }

  it('opens a completed purchase run: input and result decoded, the card number masked, never in clear', async () => {
    if (platform === undefined || connection === undefined) throw new Error('no platform');
    const uiUrl = platform.temporalUiUrl;
    const proxyUrl = platform.uiCodecProxyUrl;
    if (uiUrl === undefined || proxyUrl === undefined) throw new Error('no UI or no codec proxy');

    // The UI was started with the proxy as its codec endpoint.
    const settings = (await (await fetch(`${uiUrl}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
    expect(settings.Codec?.Endpoint).toBe(proxyUrl);

    const secrets = loadSecrets(config.security, { generate: false });
    const client = new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter: createDataConverter(codecKeysFromText(secrets.codecKeys)),
    });
    const { workflowId, runId } = await completedPurchase(platform, client);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    const page = await browser.newPage();
    // Every answer the browser gets from the codec proxy, as the page received it.
    const decoded: { status: number; body: string }[] = [];
    page.on('response', (response) => {
      if (response.url().startsWith(proxyUrl) && response.request().method() === 'POST')
        void response
          .text()
          .then((body) => decoded.push({ status: response.status(), body }))
          .catch(() => undefined);
    });
    const ns = encodeURIComponent(config.temporal.namespace);
    await page.goto(`${uiUrl}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`, {
      waitUntil: 'networkidle',
      timeout: 120_000,
    });
    // The input and result blocks show decoded JSON: the run's fields (the purchase's input holds
    // the request frame, with the card number inside it starred, and no field of its own for it).
    let html = '';
    for (let i = 0; i < 300; i++) {
      html = await page.content();
      if (html.includes('terminalId') && html.includes('responseCode')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(decoded.some((d) => d.status === 200)).toBe(true);
    expect(html).toContain('terminalId');
    expect(html).toContain('"T0000001"');
    expect(html).toContain('responseCode');
    expect(html).toContain('******');
    // No clear card number of any demo card: not in the page, not in what the proxy answered.
    for (const card of demoCards()) {
      expect(html).not.toContain(card.pan);
      for (const d of decoded) for (const shown of payloadTexts(d.body)) expect(shown).not.toContain(card.pan);
    }
    // Nor in the text the page shows.
    const text = await page.locator('body').innerText();
    for (const card of demoCards()) expect(text).not.toContain(card.pan);
  });
});
