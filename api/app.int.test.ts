import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp } from './app';

describe('api app over a real socket', () => {
  let server: Server;
  let base: string;
  let dbUp = true;
  beforeAll(async () => {
    const app = createApp({ version: 'test', checks: [{ name: 'database', check: () => Promise.resolve(dbUp) }] });
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
    dbUp = false;
    const down = await fetch(`${base}/health`);
    expect(down.status).toBe(503);
    dbUp = true;
  });

  it('answers unknown routes and bad JSON with problem+json', async () => {
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    expect(await missing.json()).toMatchObject({ code: 'FP1004', status: 404 });
    const bad = await fetch(`${base}/health`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'FP1003' });
  });
});
