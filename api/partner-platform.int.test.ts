/**
 * The partner platform as `fixpay dev --no-demo` serves it, driven by Chromium (playwright-core):
 * the API reference at /docs renders from /openapi.yaml with no CSP violation; the developer page
 * signs in with the demo partner's sandbox key printed on the console, finds the demo bills, pays
 * one, and its Standard Webhooks confirmation reaches a local receiver through the real central
 * worker's durable run. Ctrl-C then stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { Webhook } from 'standardwebhooks';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

describe('fixpay dev serves the partner platform', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-partner-dev-'));
  let child: ChildProcess | undefined;
  let browser: Browser | undefined;
  let receiver: Server | undefined;
  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (receiver === undefined ? r() : receiver.close(() => r())));
    if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows /docs, and the demo partner pays a bill and gets its signed confirmation', async () => {
    const ports = await Promise.all(Array.from({ length: 7 }, () => freePort()));
    const [temporalPort, uiPort, dbPort, apiPort, codecPort, tcpPcmPort, sipPort] = ports.map(String);
    const proc = spawn(process.execPath, [join(__dirname, '..', 'bin', 'fixpay.js'), 'dev', '--no-demo'], {
      env: {
        ...process.env,
        FIXPAY_DATA_DIR: dataDir,
        FIXPAY_TEMPORAL_PORT: temporalPort,
        FIXPAY_TEMPORAL_UI_PORT: uiPort,
        FIXPAY_DB_PORT: dbPort,
        FIXPAY_API_PORT: apiPort,
        FIXPAY_CODEC_PORT: codecPort,
        FIXPAY_TCP_PCM_PORT: tcpPcmPort,
        FIXPAY_SIP_PORT: sipPort,
        DATABASE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child = proc;
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not up in 150 s:\n${out}`)), 150_000);
      const poll = setInterval(() => {
        if (out.includes('Press Ctrl-C to stop.') || proc.exitCode !== null) {
          clearTimeout(timer);
          clearInterval(poll);
          if (proc.exitCode !== null) reject(new Error(`fixpay dev exited:\n${out}`));
          else resolve();
        }
      }, 200);
    });
    const base = `http://127.0.0.1:${apiPort}`;
    expect(out).toContain(`${base}/developers`);
    const demoKey = /demo sandbox key (fp_test_[A-Za-z0-9_-]{43})/.exec(out)?.[1] ?? '';
    expect(demoKey).not.toBe('');

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
    const page = await browser.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });

    // The API reference, rendered in the browser from the spec.
    const docs = await page.goto(`${base}/docs`);
    expect(docs?.status()).toBe(200);
    // Scalar renders the document's title and the operations' summaries (groups start folded).
    await page.getByText('Liveness of the API and its dependencies').first().waitFor({ timeout: 60_000 });
    // The introduction (the document's title) renders after the navigation: wait for it too.
    await page.getByText('fixpay partner API').first().waitFor({ timeout: 60_000 });
    expect(await page.innerText('body')).toContain('fixpay partner API');
    expect(cspViolations).toEqual([]);

    // The partner's endpoint.
    let secret = '';
    const got: { valid: boolean; type: string }[] = [];
    receiver = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        try {
          const msg = new Webhook(secret).verify(body, req.headers as Record<string, string>) as { type: string };
          got.push({ valid: true, type: msg.type });
        } catch {
          got.push({ valid: false, type: '' });
        }
        res.statusCode = 200;
        res.end();
      });
    });
    await new Promise<void>((r) => receiver?.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

    await page.goto(`${base}/developers`);
    await page.fill('input[name=key]', demoKey);
    await page.locator('button', { hasText: 'Sign in' }).click();
    expect(await page.textContent('body')).toContain('Demo Water Co');
    expect(await page.locator('#bills tr').count()).toBe(3);
    await page.fill('input[name=url]', hookUrl);
    await page.locator('button', { hasText: 'Save' }).click();
    secret = (await page.textContent('#webhook-secret')) ?? '';
    await page.locator('button', { hasText: 'Pay (sandbox)' }).first().click();
    const deadline = Date.now() + 60_000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(got).toEqual([{ valid: true, type: 'bill.paid' }]);
    await page.reload();
    expect(await page.textContent('#deliveries .status')).toBe('delivered');
    expect(cspViolations).toEqual([]);

    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    if (proc.pid !== undefined) process.kill(-proc.pid, 'SIGINT');
    expect(await exited).toBe(0);
  }, 300_000);
});
