import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp } from './app';

const SECURITY = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

function expectSecurityHeaders(res: Response): void {
  for (const [name, value] of Object.entries(SECURITY)) expect([name, res.headers.get(name)]).toEqual([name, value]);
}

describe('api app over a real socket', () => {
  let server: Server;
  let base: string;
  let dbUp = true;
  beforeAll(async () => {
    const app = createApp({
      version: 'test',
      checks: [
        {
          name: 'database',
          check: () => Promise.resolve(dbUp),
        },
      ],
      // Every call checks again here: the test flips the dependency between calls.
      healthCacheMs: 0,
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('reports health and degrades when a dependency is down', async () => {
    const up = await fetch(`${base}/health`);
    expect(up.status).toBe(200);
    expect(await up.json()).toEqual({ status: 'ok', version: 'test', checks: { database: true } });
    expectSecurityHeaders(up);
    dbUp = false;
    const down = await fetch(`${base}/health`);
    expect(down.status).toBe(503);
    dbUp = true;
  });

  it('checks each dependency once for 50 concurrent calls (issue #10, defect 9)', async () => {
    let runs = 0;
    const app = createApp({
      version: 'test',
      checks: [
        {
          name: 'temporal',
          check: async () => {
            runs++;
            await new Promise((r) => setTimeout(r, 20));
            return true;
          },
        },
      ],
      // A window no test run outlasts, so the count does not depend on the machine's speed.
      healthCacheMs: 60_000,
    });
    const other = app.listen(0, '127.0.0.1');
    await new Promise((r) => other.once('listening', r));
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}/health`;
      const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(url)));
      expect(answers.map((r) => r.status)).toEqual(Array.from({ length: 50 }, () => 200));
      expect(runs).toBe(1);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it('answers unknown routes and bad JSON with problem+json', async () => {
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect(await missing.json()).toMatchObject({ code: 'FP1004', status: 404 });
    expectSecurityHeaders(missing);
    const bad = await fetch(`${base}/health`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'FP1003' });
  });

  it('answers a wrong method with 405 problem+json and Allow', async () => {
    const res = await fetch(`${base}/health`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(await res.json()).toMatchObject({ code: 'FP1044', status: 405 });
  });

  it('answers a 10 MB body with 413 and a foreign charset or content type with 415 (issue #10, defect 11)', async () => {
    const big = await fetch(`${base}/health`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `"${'x'.repeat(10 * 1024 * 1024)}"`,
    });
    expect(big.status).toBe(413);
    expect(big.headers.get('content-type')).toContain('application/problem+json');
    expect(await big.json()).toMatchObject({ code: 'FP1042', status: 413 });
    expectSecurityHeaders(big);
    for (const contentType of ['application/json; charset=latin1', 'application/json; charset=utf-16', 'text/plain']) {
      const res = await fetch(`${base}/health`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: '{}',
      });
      expect([contentType, res.status]).toEqual([contentType, 415]);
      expect(await res.json()).toMatchObject({ code: 'FP1043' });
    }
    const gzip = await fetch(`${base}/health`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: '{}',
    });
    expect(gzip.status).toBe(415);
  });
});
