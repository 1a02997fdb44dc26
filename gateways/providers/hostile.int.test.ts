/**
 * Hostile input on the provider sockets and files: the simulators refuse unsigned, forged and
 * malformed requests; the callback receiver refuses forged callbacks and never wakes a run for
 * them; the connectors turn bad answers into catalogue codes; the watched directory skips bad
 * files, keeps the good ones and picks up new ones.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isFixpayError } from '../../domain/errors';
import { ProviderSimulator } from '../../simulator/providers/server';
import { createBillConnector } from './bill';
import { startCallbackReceiver } from './callbacks';
import { signedHeaders } from './http';
import { ProviderDirectory } from './profile';
import { createTopupConnector } from './topup';

const SECRET = 'hostile-test-secret-01';

function provider(id: string, connector: string, endpoint: string, secret = SECRET): string {
  return `apiVersion: fixpay/v1
kind: Provider
metadata: { id: ${id} }
spec:
  connector: ${connector}
  endpoint: ${endpoint}
  currency: '156'
  auth: { scheme: hmac-sha256, keyId: k1, secret: ${secret} }
  timeouts: { requestMs: 3000 }
  statusQuery: { queries: 2 }
`;
}
const BILLER = `apiVersion: fixpay/v1
kind: Biller
metadata: { id: water }
spec:
  provider: bills
  category: water
  customerParams: [{ name: acct, type: numeric, minLength: 6, maxLength: 12 }]
  fetch: required
  amount: exact
`;
const OPERATOR = `apiVersion: fixpay/v1
kind: TopupOperator
metadata: { id: mob }
spec:
  provider: tops
  service: mobile
  prefixes: ['138']
  products: [{ id: p50, delivery: recharge, amount: 5000 }]
`;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return isFixpayError(e) ? e.codeName : String(e);
  }
}

describe('provider sockets and files under hostile input', () => {
  let bills: ProviderSimulator;
  let tops: ProviderSimulator;
  let billUrl: string;
  let topUrl: string;
  let dir: string;

  beforeAll(async () => {
    bills = new ProviderSimulator({ kind: 'biller', keys: { k1: { scheme: 'hmac-sha256', secret: SECRET } } });
    tops = new ProviderSimulator({ kind: 'topup', keys: { k1: { scheme: 'hmac-sha256', secret: SECRET } } });
    billUrl = (await bills.start()).url;
    topUrl = (await tops.start()).url;
    dir = mkdtempSync(join(tmpdir(), 'fixpay-prov-hostile-'));
  });
  afterAll(async () => {
    await bills.stop();
    await tops.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the simulator refuses unsigned, forged, stale and malformed requests, and creates nothing', async () => {
    const body = JSON.stringify({ reference: 'r1', customerRef: '1234560', amount: 100, currency: '156' });
    const send = (headers: Record<string, string>, b = body) =>
      fetch(new URL('bills/pay', billUrl), { method: 'POST', headers, body: b });
    expect((await send({})).status).toBe(401);
    const good = signedHeaders(
      { scheme: 'hmac-sha256', keyId: 'k1', secret: SECRET },
      'POST',
      'bills/pay',
      body,
      Date.now(),
    );
    expect((await send({ ...good, 'x-fixpay-signature': `v1=${'0'.repeat(64)}` })).status).toBe(401);
    expect((await send(good, body.replace('100', '1'))).status).toBe(401);
    const stale = signedHeaders(
      { scheme: 'hmac-sha256', keyId: 'k1', secret: SECRET },
      'POST',
      'bills/pay',
      body,
      Date.now() - 3_600_000,
    );
    expect((await send(stale)).status).toBe(401);
    expect((await send({ ...good, 'x-fixpay-key-id': 'other' })).status).toBe(401);
    for (const bad of ['{', '[]', 'null', '"x"']) {
      const h = signedHeaders(
        { scheme: 'hmac-sha256', keyId: 'k1', secret: SECRET },
        'POST',
        'bills/pay',
        bad,
        Date.now(),
      );
      expect((await send(h, bad)).status).toBe(400);
    }
    const big = 'x'.repeat(64 * 1024);
    const h = signedHeaders(
      { scheme: 'hmac-sha256', keyId: 'k1', secret: SECRET },
      'POST',
      'bills/pay',
      big,
      Date.now(),
    );
    expect((await send(h, big)).status).toBe(413);
    expect(bills.transactions()).toEqual([]);
    expect(bills.rejected).toBeGreaterThanOrEqual(5);
  });

  it('the directory skips bad files, keeps good ones, and sees new ones without a restart', () => {
    writeFileSync(join(dir, 'bills.yaml'), provider('bills', 'bill-aggregator', billUrl));
    writeFileSync(join(dir, 'tops.yaml'), provider('tops', 'topup-aggregator', topUrl));
    writeFileSync(join(dir, 'broken.yaml'), 'kind: [');
    writeFileSync(
      join(dir, 'orphan.yaml'),
      BILLER.replace('id: water', 'id: orphan').replace('provider: bills', 'provider: nobody'),
    );
    writeFileSync(join(dir, 'dupe.yaml'), provider('bills', 'bill-aggregator', billUrl));
    const d = new ProviderDirectory(dir, 0);
    const first = d.current();
    expect([...first.providers.keys()].sort()).toEqual(['bills', 'tops']);
    expect(first.problems.map((p) => p.message).join('\n')).toMatch(
      /broken\.yaml[\s\S]*duplicate Provider bills[\s\S]*orphan/,
    );
    expect(first.billers.size).toBe(0);
    writeFileSync(join(dir, 'water.yaml'), BILLER);
    writeFileSync(join(dir, 'mob.yaml'), OPERATOR);
    expect([...d.current().billers.keys()]).toEqual(['water']);
    expect(d.operator('mob').provider.id).toBe('tops');
  });

  it('connectors turn refusals and bad answers into catalogue codes', async () => {
    const d = new ProviderDirectory(dir, 0);
    const billc = createBillConnector({ directory: d });
    const top = createTopupConnector({ directory: d, voucherKey: { id: 'k', key: Buffer.alloc(32, 1) } });
    expect(await codeOf(billc.fetchBill({ billerId: 'nope', customerRef: '1234567' }))).toBe('PROVIDER_UNKNOWN');
    expect(await codeOf(billc.fetchBill({ billerId: 'water', customerRef: '12;rm' }))).toBe('PROVIDER_FIELD_INVALID');
    expect((await billc.fetchBill({ billerId: 'water', customerRef: '4041234' })).status).toBe('NOT_FOUND');
    const ok = { billerId: 'water', billId: 'B', customerRef: '1234560', currency: '156' };
    expect(await codeOf(billc.payBill({ ...ok, amount: 1, idempotencyKey: 'w/pay#0' }))).toBe(
      'PROVIDER_AMOUNT_INVALID',
    );
    expect(await codeOf(billc.payBill({ ...ok, amount: -5, idempotencyKey: 'w/pay#0' }))).toBe(
      'PROVIDER_AMOUNT_INVALID',
    );
    // The same reference with another customer: the aggregator refuses a second request under it.
    const due = (await billc.fetchBill({ billerId: 'water', customerRef: '1234560' })).amount;
    expect((await billc.payBill({ ...ok, amount: due, idempotencyKey: 'w2/pay#0' })).status).toBe('PAID');
    expect((await billc.payBill({ ...ok, amount: due, idempotencyKey: 'w2/pay#0' })).status).toBe('PAID');
    const other = (await billc.fetchBill({ billerId: 'water', customerRef: '7654320' })).amount;
    expect(
      await codeOf(billc.payBill({ ...ok, customerRef: '7654320', amount: other, idempotencyKey: 'w2/pay#0' })),
    ).toBe('PROVIDER_DUPLICATE_REFERENCE');
    expect(
      bills
        .transactions()
        .filter((t) => t.reference === 'w2/pay#0')
        .map((t) => t.charged),
    ).toEqual([1]);
    // A paid bill cannot be cancelled by our side's say-so: the compensation keeps failing (and alerts).
    expect((await billc.cancelBillPayment({ billerId: 'water', reference: 'w3/pay#0' })).cancelled).toBe(true);
    expect(await codeOf(billc.payBill({ ...ok, amount: due, idempotencyKey: 'w3/pay#0' }))).toBe(
      'PROVIDER_DUPLICATE_REFERENCE',
    );
    // A wrong secret: the aggregator refuses the request; not retryable.
    writeFileSync(join(dir, 'tops.yaml'), provider('tops', 'topup-aggregator', topUrl, 'a-wrong-secret-0001'));
    expect(
      await codeOf(
        top.topup({
          operator: 'mob',
          productId: 'p50',
          msisdn: '13800138000',
          amount: 5000,
          currency: '156',
          idempotencyKey: 'x/t#0',
        }),
      ),
    ).toBe('PROVIDER_REJECTED');
    // Nobody listening: surely no effect, retryable.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    writeFileSync(join(dir, 'tops.yaml'), provider('tops', 'topup-aggregator', `http://127.0.0.1:${port}/`));
    expect(
      await codeOf(
        top.topup({
          operator: 'mob',
          productId: 'p50',
          msisdn: '13800138000',
          amount: 5000,
          currency: '156',
          idempotencyKey: 'x/t#0',
        }),
      ),
    ).toBe('PROVIDER_UNAVAILABLE');
    expect(tops.transactions()).toEqual([]);
  });

  it('a provider answering with a redirect is not followed: the request is refused and nothing is sent on', async () => {
    // The "internal" service the redirect points at counts every request it sees.
    let internalHits = 0;
    const internal = createHttpServer((_req, res) => {
      internalHits += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"SUCCESS"}');
    });
    const listen = async (s: Server): Promise<string> => {
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    };
    const internalUrl = await listen(internal);
    const redirects: string[] = [];
    const redirecting = createHttpServer((req, res) => {
      redirects.push(`${req.method} ${req.url}`);
      const status = req.method === 'POST' ? 307 : 302;
      res.writeHead(status, { location: `${internalUrl}/latest/meta-data/` }).end();
    });
    const redirectingUrl = await listen(redirecting);
    const rdir = mkdtempSync(join(tmpdir(), 'fixpay-prov-redirect-'));
    try {
      writeFileSync(join(rdir, 'tops.yaml'), provider('tops', 'topup-aggregator', `${redirectingUrl}/`));
      writeFileSync(join(rdir, 'mob.yaml'), OPERATOR);
      const d = new ProviderDirectory(rdir, 0);
      const top = createTopupConnector({ directory: d, voucherKey: { id: 'k', key: Buffer.alloc(32, 1) } });
      const req = {
        operator: 'mob',
        productId: 'p50',
        msisdn: '13800138000',
        amount: 5000,
        currency: '156',
        idempotencyKey: 'redirect/t#0',
      };
      expect(await codeOf(top.topup(req))).toBe('PROVIDER_REJECTED');
      // Twice: a repeat is refused the same way and still reaches nothing behind the redirect.
      expect(await codeOf(top.topup(req))).toBe('PROVIDER_REJECTED');
      expect(redirects.length).toBeGreaterThanOrEqual(2);
      expect(redirects.every((r) => r.startsWith('POST '))).toBe(true);
      expect(internalHits).toBe(0);
    } finally {
      rmSync(rdir, { recursive: true, force: true });
      await new Promise<void>((r) => redirecting.close(() => r()));
      await new Promise<void>((r) => internal.close(() => r()));
    }
  });

  it('the callback receiver refuses forged and malformed callbacks and wakes nothing for them', async () => {
    const woken: string[] = [];
    const rx = await startCallbackReceiver({
      secretFor: (k) => (k === 'k1' ? SECRET : undefined),
      wake: (c) => {
        woken.push(c.workflowId);
        return Promise.resolve();
      },
    });
    try {
      const path = new URL(rx.url).pathname;
      const post = (headers: Record<string, string>, body: string) => fetch(rx.url, { method: 'POST', headers, body });
      const body = JSON.stringify({ reference: 'mobile-topup:T1:000001:1203/topup#0', status: 'COMPLETED' });
      const sign = (b: string, secret = SECRET) =>
        signedHeaders({ scheme: 'hmac-sha256', keyId: 'k1', secret }, 'POST', path, b, Date.now());
      expect((await post({}, body)).status).toBe(401);
      expect((await post(sign(body, 'forged-secret-00001'), body)).status).toBe(401);
      expect((await post(sign(body), body.replace('COMPLETED', 'DECLINED'))).status).toBe(401);
      for (const bad of ['{', '{"reference":1,"status":"x"}', '{"reference":"no-slash","status":"x"}'])
        expect((await post(sign(bad), bad)).status).toBe(400);
      expect(woken).toEqual([]);
      expect((await post(sign(body), body)).status).toBe(202);
      expect(woken).toEqual(['mobile-topup:T1:000001:1203']);
      expect(rx.refused()).toBe(6);
    } finally {
      await rx.stop();
    }
  });
});
