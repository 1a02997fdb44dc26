/**
 * The ticketing simulator over real HTTP: signatures, hostile bodies and paths, one order per
 * reference, draws by the clock, seat holds, the refund path, and signed callbacks.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signedHeaders, verifySignature } from '../../gateways/providers/http';
import { TicketSimulator } from './tickets';

const SECRET = 'ticket-sim-secret-0001';
const auth = { scheme: 'hmac-sha256' as const, keyId: 'k', secret: SECRET };
const HOUR = 3_600_000;

jest.setTimeout(60_000);

describe('ticketing simulator', () => {
  let sim: TicketSimulator;
  let base: string;
  let hook: Server;
  const callbacks: { status: string; verified: boolean }[] = [];

  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        let verified = true;
        try {
          verifySignature(SECRET, req.headers, 'POST', req.url ?? '/', body, Date.now());
        } catch {
          verified = false;
        }
        callbacks.push({ status: (JSON.parse(body) as { status: string }).status, verified });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const now = Date.now();
    sim = new TicketSimulator({
      keys: { k: { scheme: 'hmac-sha256', secret: SECRET } },
      airlines: { SK: { prefix: '123' } },
      shows: { s1: { price: 1000 } },
      games: { g: { pricePerBoard: 100, pick: { count: 2, min: 1, max: 9 } } },
      pendingMs: 300,
      callbackUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/cb`,
      callbackKeyId: 'k',
    });
    sim.addDraw('g', 'open', { opensAt: now - HOUR, cutoffAt: now + HOUR, drawAt: now + 2 * HOUR });
    sim.addDraw('g', 'drawn', { opensAt: now - 3 * HOUR, cutoffAt: now - 2 * HOUR, drawAt: now - HOUR });
    base = (await sim.start()).url;
  });
  afterAll(async () => {
    await sim.stop();
    hook.closeAllConnections();
    await new Promise<void>((r) => hook.close(() => r()));
  });

  async function call(method: 'GET' | 'POST', path: string, payload?: unknown, signed = true) {
    const body = payload === undefined ? '' : typeof payload === 'string' ? payload : JSON.stringify(payload);
    const headers = signed ? signedHeaders(auth, method, path, body, Date.now()) : {};
    const res = await fetch(new URL(path, base), {
      method,
      headers: { ...headers, 'content-type': 'application/json' },
      ...(method === 'POST' ? { body } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('refuses unsigned, wrongly signed, oversized and malformed requests', async () => {
    expect((await call('GET', 'draws/g/open', undefined, false)).status).toBe(401);
    const h = signedHeaders({ ...auth, secret: 'wrong-secret-000000' }, 'GET', 'draws/g/open', '', Date.now());
    expect((await fetch(new URL('draws/g/open', base), { headers: h })).status).toBe(401);
    expect((await call('POST', 'orders', '{not json')).status).toBe(400);
    expect((await call('POST', 'orders', '[1,2]')).status).toBe(400);
    expect((await call('POST', 'orders', 'x'.repeat(20_000))).status).toBe(413);
    expect((await call('GET', 'draws/g/%E0%A4%A')).status).toBe(400);
    expect((await call('POST', 'orders', { reference: 'r', type: 'bus', amount: 1 })).status).toBe(422);
    expect((await call('POST', 'orders', { reference: 'r', type: 'lottery', amount: -5 })).status).toBe(422);
    const bad = { reference: 'r-bad', type: 'lottery', game: 'g', draw: 'open', amount: 100, currency: '156' };
    expect((await call('POST', 'orders', { ...bad, boards: [[1, 1]] })).status).toBe(422);
    expect((await call('POST', 'orders', { ...bad, boards: [[1, 99]] })).status).toBe(422);
    expect((await call('POST', 'orders', { ...bad, amount: 999, boards: [[1, 2]] })).status).toBe(422);
    expect(sim.transactions()).toEqual([]);
  });

  it('draws: OPEN before the cut-off, CLOSED after it with results once drawn', async () => {
    expect((await call('GET', 'draws/g/open')).body).toMatchObject({ status: 'OPEN', results: [] });
    const drawn = await call('GET', 'draws/g/drawn');
    expect(drawn.body['status']).toBe('CLOSED');
    expect(drawn.body['results']).toHaveLength(2);
    expect((await call('GET', 'draws/g/none')).status).toBe(404);
    const late = { reference: 'late', type: 'lottery', game: 'g', draw: 'drawn', boards: [[1, 2]], amount: 100 };
    expect(await call('POST', 'orders', late)).toMatchObject({ status: 422, body: { status: 'CLOSED' } });
  });

  it('one order per reference; pending settles with a signed callback; a refund takes the money back', async () => {
    const order = { reference: 'o1', type: 'lottery', game: 'g', draw: 'open', boards: [[1, 5]], amount: 100 };
    expect((await call('POST', 'orders', order)).body['status']).toBe('PENDING');
    expect((await call('POST', 'orders', order)).status).toBe(200);
    expect(await call('POST', 'orders', { ...order, boards: [[1, 2]] })).toMatchObject({
      status: 409,
      body: { error: 'DUPLICATE_REFERENCE' },
    });
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await call('GET', 'orders/o1')).body['status']).toBe('PAID');
    expect(callbacks).toContainEqual({ status: 'PAID', verified: true });
    const issued = await call('POST', 'orders/o1/issue', {});
    expect(issued.body['tickets']).toEqual([expect.stringMatching(/^LT\d{10}$/)]);
    expect((await call('POST', 'orders/o1/issue', {})).body['tickets']).toEqual(issued.body['tickets']);
    expect((await call('POST', 'orders/o1/cancel', {})).body['status']).toBe('REFUNDED');
    expect(sim.transactions().find((t) => t.reference === 'o1')?.charged).toBe(0);
    // A cancel for a reference never seen fences it: a late order under it is refused.
    expect((await call('POST', 'orders/ghost/cancel', {})).body['status']).toBe('CANCELLED');
    expect((await call('POST', 'orders', { ...order, reference: 'ghost' })).status).toBe(409);
  });

  it('seat holds: taken seats refused, a used hold cannot be paid twice, an unpaid order cannot be issued', async () => {
    const h = await call('POST', 'holds', { reference: 'h1', show: 's1', seats: ['A1', 'A2'] });
    expect(h.body).toMatchObject({ status: 'HELD', amount: 2000 });
    expect((await call('POST', 'holds', { reference: 'h2', show: 's1', seats: ['A2'] })).status).toBe(409);
    expect((await call('POST', 'holds', { reference: 'h3', show: 's1', seats: ['../A'] })).status).toBe(422);
    expect((await call('POST', 'holds', { reference: 'h4', show: 'nope', seats: ['A9'] })).status).toBe(404);
    const pay = { type: 'cinema', holdToken: h.body['holdToken'], amount: 2000, currency: '156' };
    expect((await call('POST', 'orders', { ...pay, reference: 'c1' })).body['status']).toBe('PAID');
    expect((await call('POST', 'orders', { ...pay, reference: 'c2' })).body['status']).toBe('UNAVAILABLE');
    expect((await call('POST', 'orders/c2/issue', {})).status).toBe(422);
    expect((await call('POST', 'orders/nobody/issue', {})).status).toBe(404);
  });

  it('a released seat hold frees its seats at once; a late hold under its reference is refused; a used hold stays', async () => {
    expect((await call('POST', 'holds', { reference: 'r1', show: 's1', seats: ['B1', 'B2'] })).status).toBe(200);
    expect((await call('POST', 'holds', { reference: 'r2', show: 's1', seats: ['B2'] })).status).toBe(409);
    expect(await call('POST', 'holds/r1/cancel', {})).toMatchObject({ status: 200, body: { status: 'RELEASED' } });
    // Released twice: the same (nothing held any more).
    expect((await call('POST', 'holds/r1/cancel', {})).status).toBe(404);
    // The seats are free at once, for another customer.
    const again = await call('POST', 'holds', { reference: 'r3', show: 's1', seats: ['B2'] });
    expect(again.body).toMatchObject({ status: 'HELD', amount: 1000 });
    // A copy of the released hold arriving late is refused, as is one released before it arrived.
    expect((await call('POST', 'holds', { reference: 'r1', show: 's1', seats: ['B1', 'B2'] })).status).toBe(409);
    expect((await call('POST', 'holds/r4/cancel', {})).status).toBe(404);
    expect((await call('POST', 'holds', { reference: 'r4', show: 's1', seats: ['B5'] })).status).toBe(409);
    // A hold a paid order uses is not released (the order's refund frees it).
    const pay = { type: 'cinema', holdToken: again.body['holdToken'], amount: 1000, currency: '156', reference: 'c9' };
    expect((await call('POST', 'orders', pay)).body['status']).toBe('PAID');
    expect(await call('POST', 'holds/r3/cancel', {})).toMatchObject({ status: 409, body: { status: 'USED' } });
    expect((await call('POST', 'holds/r3/cancel', undefined, false)).status).toBe(401);
  });
});
