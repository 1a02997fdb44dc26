/**
 * The developer page in a real browser (Chromium through playwright-core) over real HTTP, on a
 * real database: sign up and see the sandbox key once, set the webhook endpoint, send a test bill,
 * pay it, watch its signed confirmation arrive at a real receiver and replay it. Also: the page's
 * CSP, escaping of hostile values, and refusal of a form without the session's CSRF token.
 * Deliveries here are sent at once by the same sender the worker uses (one attempt, no Temporal);
 * the durable runs are tested in api/webhooks.wf.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { WebhookEgressPolicy } from '../partners/webhook-egress';
import { WebhookSender } from '../partners/webhook-sender';
import { webhookMasterKey } from '../partners/webhook-signing';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { LOOPBACK_NETWORKS, startPartnerApi, type PartnerApi } from '../test/support/partner-api';
import { DEVELOPER_CSP } from './developers';

const CHROMIUM = '/usr/bin/chromium';

let db: TestDatabase;
let api: PartnerApi;
let browser: Browser;
let receiver: Server;
let receiverUrl = '';
const received: { id: string; valid: boolean }[] = [];
let secret = '';

beforeAll(async () => {
  db = await startTestDatabase();
  const lmkHex = randomBytes(32).toString('hex');
  const sender = new WebhookSender({
    prisma: db.prisma,
    webhookMasterKey: webhookMasterKey(lmkHex),
    timeoutMs: 5_000,
    egress: new WebhookEgressPolicy(LOOPBACK_NETWORKS),
  });
  api = await startPartnerApi({
    prisma: db.prisma,
    lmkHex,
    startDelivery: async (id) => {
      await sender.attempt(id, 1);
    },
  });
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let valid = true;
      try {
        new Webhook(secret).verify(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>);
      } catch {
        valid = false;
      }
      received.push({ id: String(req.headers['webhook-id']), valid });
      res.statusCode = valid ? 204 : 400;
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
}, 60_000);

afterAll(async () => {
  await browser.close();
  await new Promise<void>((r) => receiver.close(() => r()));
  await api.close();
  await db.close();
});

/** Fails the test on any CSP violation or page error the browser reports. */
function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return problems;
}

describe('the developer page in Chromium', () => {
  it('signs up, shows the key once, sends and pays a test bill, shows the signed delivery and replays it', async () => {
    const page = await browser.newPage();
    const problems = watchConsole(page);
    try {
      const first = await page.goto(`${api.base}/developers`);
      expect(first?.status()).toBe(200);
      expect(first?.headers()['content-security-policy']).toBe(DEVELOPER_CSP);
      await page.fill('input[name=name]', 'Tap <b>Water</b> & "Co"');
      await page.fill('input[name=email]', 'dev@tap.example');
      await page.locator('button', { hasText: 'Sign up' }).first().click();
      const key = (await page.textContent('#new-key')) ?? '';
      expect(key).toMatch(/^fp_test_[A-Za-z0-9_-]{43}$/);
      // The name is shown as text, never as markup.
      expect(await page.locator('b').count()).toBe(0);
      expect(await page.textContent('body')).toContain('Tap <b>Water</b> & "Co"');
      // Shown once: a reload no longer has it.
      await page.reload();
      expect(await page.locator('#new-key').count()).toBe(0);
      expect(await page.textContent('#keys')).toContain(key.slice(0, 12));
      expect(await page.textContent('#keys')).not.toContain(key);

      await page.fill('input[name=url]', receiverUrl);
      await page.locator('button', { hasText: 'Save' }).first().click();
      secret = (await page.textContent('#webhook-secret')) ?? '';
      expect(secret).toMatch(/^whsec_/);

      await page.fill('input[name=customerRef]', 'household-9');
      await page.fill('input[name=amount]', '4250');
      await page.fill('input[name=description]', '<script>alert(1)</script>');
      await page.locator('button', { hasText: 'Send bill' }).first().click();
      expect(await page.textContent('[role=status]')).toMatch(/Bill bill_.* sent/);
      expect(await page.textContent('#bills')).toContain('<script>alert(1)</script>');
      expect(await page.textContent('#bills .status')).toBe('open');

      await page.locator('button', { hasText: 'Pay (sandbox)' }).first().click();
      expect(await page.textContent('#bills .status')).toBe('paid');
      expect(await page.textContent('#deliveries .status')).toBe('delivered');
      expect(received).toEqual([{ id: expect.stringMatching(/^msg_/) as string, valid: true }]);

      await page.locator('button', { hasText: 'Replay' }).first().click();
      expect(await page.textContent('[role=status]')).toMatch(/Replay dlv_.* queued/);
      const rows = await page.locator('#deliveries tr').count();
      expect(rows).toBe(3);
      expect(received.length).toBe(2);
      expect(received[1]).toEqual({ id: received[0]?.id, valid: true });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('refuses a form post without the session’s CSRF token and changes nothing', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${api.base}/developers`);
      const before = await db.prisma.partner.count();
      // A post from the page's own origin but without the token (as a forged cross-site form would be).
      const res = await page.request.post(`${api.base}/developers/signup`, {
        form: { name: 'Forged', email: 'f@f.example', _csrf: 'not-the-token' },
      });
      expect(res.status()).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe('FP8408');
      const noCookie = await fetch(`${api.base}/developers/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=Forged&email=f%40f.example&_csrf=x',
      });
      expect(noCookie.status).toBe(403);
      expect(await db.prisma.partner.count()).toBe(before);
    } finally {
      await page.close();
    }
  }, 60_000);
});
