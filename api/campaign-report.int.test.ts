/**
 * The campaign report on the operator API (`GET /operator/v1/campaigns/{campaignId}/report`,
 * api/openapi.yaml), over real HTTP against the database the push store writes: the figures
 * `fixpay push report` prints, per campaign over all its runs; the operator token required; an
 * unknown campaign is FP3703 (404); an id outside the document's pattern is refused by the
 * document's validation before any query.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrismaPushStore } from '../core/push-store';
import { CoreRepository } from '../core/repository';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { createApp } from './app';
import { newOperatorToken } from './operator';

jest.setTimeout(120_000);

describe('GET /operator/v1/campaigns/{campaignId}/report', () => {
  let db: TestDatabase;
  let server: Server;
  let base = '';
  const alice = newOperatorToken();

  beforeAll(async () => {
    db = await startTestDatabase();
    const store = new PrismaPushStore(db.prisma);
    const candidates = ['R0000001', 'R0000002', 'R0000003', 'R0000004', 'R0000005'].map((terminalId, i) => ({
      terminalId,
      calledNumber: `86215000100${i}`,
      profileId: 'es201912-v23',
      utcOffsetMinutes: 480,
    }));
    // Two runs of one campaign: the first run's terminal 5 refused (display), one delivered by the
    // call, one at the next call, one inside a call; the second run's pushes still pending.
    await store.createRun({
      campaignId: 'report-test',
      runKey: 'run-1',
      text: 'Hello',
      candidates,
      refusals: new Map([['R0000005', 'FP3702']]),
    });
    await store.record('run-1/R0000001', 'delivered', 'call');
    await store.record('run-1/R0000002', 'delivered', 'next-call');
    await store.record('run-1/R0000003', 'delivered', 'in-call');
    // A late second receipt counts nothing twice.
    await store.record('run-1/R0000003', 'delivered', 'call');
    await store.record('run-1/R0000004', 'busy', 'call');
    await store.createRun({
      campaignId: 'report-test',
      runKey: 'run-2',
      text: 'Hello again',
      candidates: candidates.slice(0, 2),
      refusals: new Map(),
    });
    // Another campaign's pushes are not counted.
    await store.createRun({ campaignId: 'other', runKey: 'o-1', text: 'x', candidates, refusals: new Map() });
    const app = createApp({
      version: 'test',
      checks: [],
      operator: {
        operators: [{ id: 'alice', role: 'operator', tokenSha256: alice.tokenSha256 }],
        core: new CoreRepository(db.prisma),
        prisma: db.prisma,
        runLifecycle: () => Promise.reject(new Error('no lifecycle run here')),
      },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await db.close();
  });

  const get = async (path: string, token?: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${base}${path}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('reports delivered (by how), failed and pending over all the runs of the campaign', async () => {
    const r = await get('/operator/v1/campaigns/report-test/report', alice.token);
    expect(r).toEqual({
      status: 200,
      body: {
        campaignId: 'report-test',
        delivered: 3,
        failed: 1,
        pending: 3,
        deliveredAtNextCall: 1,
        deliveredInCall: 1,
      },
    });
  });

  it('needs the operator token', async () => {
    expect((await get('/operator/v1/campaigns/report-test/report')).status).toBe(401);
    expect((await get('/operator/v1/campaigns/report-test/report', 'fpop_not_a_real_token_at_all')).status).toBe(401);
  });

  it('answers FP3703 (404) for a campaign without pushes, and refuses ids outside the pattern', async () => {
    const unknown = await get('/operator/v1/campaigns/no-such-campaign/report', alice.token);
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.body)).toContain('FP3703');
    for (const bad of ['A', 'UPPER-CASE', 'x'.repeat(49), "x'%20OR%201=1", '..%2F..%2Fetc'])
      expect((await get(`/operator/v1/campaigns/${bad}/report`, alice.token)).status).toBe(400);
  });
});
