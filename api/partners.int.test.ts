/**
 * The partner API over a real socket and a real database (PGlite, or PostgreSQL with
 * DATABASE_URL): onboarding from sandbox to live, keys (bad, wrong mode, missing scope, rotated,
 * revoked), idempotency, rate limits, hostile bodies — each refused with the right problem+json and
 * nothing stored.
 */
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { call, startPartnerApi, type PartnerApi } from '../test/support/partner-api';

// Each test makes a few dozen requests against a real database: generous on a loaded machine.
jest.setTimeout(60_000);

let db: TestDatabase;
let api: PartnerApi;
const started: string[] = [];
let n = 0;
const idem = (): string => `idem-${++n}-${Date.now()}`;

async function signUp(name = 'Water Co'): Promise<{ key: string; partnerId: string }> {
  const r = await call(api.base, 'POST', '/v1/partners', { idem: idem(), body: { name, email: 'ops@water.example' } });
  expect(r.status).toBe(201);
  const key = r.body['key'] as { secret: string };
  const partner = r.body['partner'] as { id: string };
  return { key: key.secret, partnerId: partner.id };
}

async function counts(): Promise<Record<string, number>> {
  const p = db.prisma;
  return {
    partners: await p.partner.count(),
    keys: await p.partnerApiKey.count(),
    bills: await p.partnerBill.count(),
    deliveries: await p.webhookDelivery.count(),
  };
}

beforeAll(async () => {
  db = await startTestDatabase();
  api = await startPartnerApi({
    prisma: db.prisma,
    startDelivery: (id) => {
      started.push(id);
      return Promise.resolve();
    },
    rateLimit: { ratePerSecond: 1000, burst: 1000 },
  });
}, 60_000);

afterAll(async () => {
  await api.close();
  await db.close();
});

const BILL = { customerRef: 'cust-42', amount: { minor: 12_345, currency: 'CNY' }, description: 'Water, November' };

describe('onboarding', () => {
  it('gives a sandbox key at once, refuses live keys until every requirement is met, then makes one', async () => {
    const { key } = await signUp();
    expect(key).toMatch(/^fp_test_[A-Za-z0-9_-]{43}$/);
    // The key is stored hashed: its text is in no column.
    const stored = JSON.stringify(await db.prisma.partnerApiKey.findMany(), (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
    expect(stored).not.toContain(key);
    expect(stored).not.toContain(key.slice(8));

    const account = await call(api.base, 'GET', '/v1/account', { key });
    expect(account.status).toBe(200);
    expect(account.body).toMatchObject({
      capabilities: { sandbox: 'active', live: 'pending_requirements' },
      requirements: ['business_profile', 'terms_accepted', 'webhook_endpoint'],
    });

    const early = await call(api.base, 'POST', '/v1/keys', {
      key,
      idem: idem(),
      body: { mode: 'live', scopes: ['bills:read'] },
    });
    expect(early.status).toBe(403);
    expect(early.headers.get('content-type')).toContain('application/problem+json');
    expect(early.body).toMatchObject({ code: 'FP8402', status: 403 });

    const updated = await call(api.base, 'PATCH', '/v1/account', {
      key,
      idem: idem(),
      body: {
        legalName: 'Water Company Ltd',
        country: 'CN',
        acceptTerms: true,
        webhookUrl: 'https://water.example/hooks',
      },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ requirements: [], capabilities: { live: 'active' } });

    const live = await call(api.base, 'POST', '/v1/keys', {
      key,
      idem: idem(),
      body: { mode: 'live', scopes: ['bills:read', 'bills:write'] },
    });
    expect(live.status).toBe(201);
    const liveKey = String(live.body['secret']);
    expect(liveKey).toMatch(/^fp_live_/);
    expect(live.body['scopes']).toEqual(['bills:read', 'bills:write']);

    // The live key works on live resources and is refused on the sandbox route (wrong mode).
    const bill = await call(api.base, 'POST', '/v1/bills', { key: liveKey, idem: idem(), body: BILL });
    expect(bill.status).toBe(201);
    expect(bill.body).toMatchObject({ mode: 'live', status: 'open', amount: BILL.amount });
    const before = await counts();
    const pay = await call(api.base, 'POST', `/v1/test/bills/${String(bill.body['id'])}/pay`, {
      key: liveKey,
      idem: idem(),
    });
    expect(pay.status).toBe(403);
    expect(pay.body).toMatchObject({ code: 'FP8400' });
    // A key sees only its own mode's bills.
    const testBills = await call(api.base, 'GET', '/v1/bills', { key });
    expect(testBills.body['data']).toEqual([]);
    // Missing scope: the live key has no keys:read.
    const keys = await call(api.base, 'GET', '/v1/keys', { key: liveKey });
    expect(keys.status).toBe(403);
    expect(keys.body).toMatchObject({ code: 'FP8401' });
    expect(await counts()).toEqual(before);

    // The audit log says who did what.
    const audit = await call(api.base, 'GET', '/v1/audit-events', { key });
    const actions = (audit.body['data'] as { action: string; actor: string }[]).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['partner.created', 'account.updated', 'key.created', 'bill.created']),
    );
  });

  it('refuses a missing, malformed, unknown or revoked key with 401, and a rotated key after its overlap', async () => {
    const { key } = await signUp();
    for (const auth of [undefined, 'Basic abc', 'Bearer fp_test_short', `Bearer fp_test_${'A'.repeat(43)}`]) {
      const r = await call(
        api.base,
        'GET',
        '/v1/account',
        auth === undefined ? {} : { headers: { authorization: auth } },
      );
      expect([auth, r.status, r.body['code']]).toEqual([auth, 401, 'FP1006']);
      expect(r.headers.get('www-authenticate')).toContain('Bearer');
    }
    // Same secret, other mode prefix: unknown.
    const swapped = key.replace('fp_test_', 'fp_live_');
    expect((await call(api.base, 'GET', '/v1/account', { key: swapped })).status).toBe(401);

    const list = await call(api.base, 'GET', '/v1/keys', { key });
    const keyId = (list.body['data'] as { id: string }[])[0]?.id ?? '';
    const rotated = await call(api.base, 'POST', `/v1/keys/${keyId}/rotate`, {
      key,
      idem: idem(),
      body: { overlapSeconds: 0 },
    });
    expect(rotated.status).toBe(201);
    const newKey = String(rotated.body['secret']);
    expect((await call(api.base, 'GET', '/v1/account', { key })).status).toBe(401);
    expect((await call(api.base, 'GET', '/v1/account', { key: newKey })).status).toBe(200);

    // A rotation with overlap keeps the old key working; revocation stops it at once.
    const again = await call(api.base, 'POST', `/v1/keys/${String(rotated.body['id'])}/rotate`, {
      key: newKey,
      idem: idem(),
      body: { overlapSeconds: 3600 },
    });
    const third = String(again.body['secret']);
    expect((await call(api.base, 'GET', '/v1/account', { key: newKey })).status).toBe(200);
    const revoked = await call(api.base, 'POST', `/v1/keys/${String(rotated.body['id'])}/revoke`, {
      key: third,
      idem: idem(),
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body['revokedAt']).not.toBeNull();
    expect((await call(api.base, 'GET', '/v1/account', { key: newKey })).status).toBe(401);
    expect((await call(api.base, 'GET', '/v1/account', { key: third })).status).toBe(200);
  });

  it('does not let a key make a key with more scopes than it holds', async () => {
    const { key } = await signUp();
    const narrow = await call(api.base, 'POST', '/v1/keys', {
      key,
      idem: idem(),
      body: { mode: 'test', scopes: ['keys:write', 'bills:read'] },
    });
    const wider = await call(api.base, 'POST', '/v1/keys', {
      key: String(narrow.body['secret']),
      idem: idem(),
      body: { mode: 'test', scopes: ['bills:write'] },
    });
    expect(wider.status).toBe(403);
    expect(wider.body).toMatchObject({ code: 'FP8401' });
  });
});

describe('idempotency', () => {
  it('answers the same stored answer for the same key and body, 409 for another body, and stores one bill', async () => {
    const { key } = await signUp();
    const k = idem();
    const first = await call(api.base, 'POST', '/v1/bills', { key, idem: k, body: BILL });
    const second = await call(api.base, 'POST', '/v1/bills', { key, idem: k, body: { ...BILL } });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const other = await call(api.base, 'POST', '/v1/bills', {
      key,
      idem: k,
      body: { ...BILL, amount: { minor: 1, currency: 'CNY' } },
    });
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ code: 'FP8404' });
    const bills = await call(api.base, 'GET', '/v1/bills', { key });
    expect((bills.body['data'] as unknown[]).length).toBe(1);
  });

  it('refuses a write without Idempotency-Key and never stores a secret in the idempotency record', async () => {
    const none = await call(api.base, 'POST', '/v1/partners', { body: { name: 'x', email: 'a@b.example' } });
    expect(none.status).toBe(400);
    expect(none.body).toMatchObject({ code: 'FP8403' });
    const k = idem();
    const a = await call(api.base, 'POST', '/v1/partners', {
      idem: k,
      body: { name: 'Gas Co', email: 'g@gas.example' },
    });
    const b = await call(api.base, 'POST', '/v1/partners', {
      idem: k,
      body: { name: 'Gas Co', email: 'g@gas.example' },
    });
    const secret = (a.body['key'] as { secret: string }).secret;
    expect(secret).toMatch(/^fp_test_/);
    // The replay is the same account; the secret is not shown twice.
    expect((b.body['partner'] as { id: string }).id).toBe((a.body['partner'] as { id: string }).id);
    expect((b.body['key'] as { secret: unknown }).secret).toBeNull();
    const records = JSON.stringify(await db.prisma.idempotencyRecord.findMany());
    expect(records).not.toContain(secret);
  });
});

describe('hostile input', () => {
  it('answers malformed, oversized, unknown-field and prototype-pollution bodies with 4xx problem+json, storing nothing', async () => {
    const { key } = await signUp();
    const before = await counts();
    const cases: { raw: string; status: number; code: string }[] = [
      { raw: '{', status: 400, code: 'FP1003' },
      { raw: '[]', status: 400, code: 'FP1003' },
      { raw: `{"customerRef":"${'x'.repeat(70 * 1024)}"}`, status: 413, code: 'FP1042' },
      { raw: JSON.stringify({ ...BILL, extra: 1 }), status: 400, code: 'FP1003' },
      { raw: JSON.stringify({ ...BILL, amount: { minor: -5, currency: 'CNY' } }), status: 400, code: 'FP1003' },
      { raw: JSON.stringify({ ...BILL, amount: { minor: 1.5, currency: 'CNY' } }), status: 400, code: 'FP1003' },
      { raw: `{"__proto__":{"polluted":true},${JSON.stringify(BILL).slice(1)}`, status: 400, code: 'FP1003' },
      {
        raw: `{"constructor":{"prototype":{"polluted":true}},${JSON.stringify(BILL).slice(1)}`,
        status: 400,
        code: 'FP1003',
      },
      {
        raw: JSON.stringify({ ...BILL, amount: { minor: 5, currency: 'CNY', __proto__: { admin: true } } }).replace(
          '"minor"',
          '"__proto__":{"admin":true},"minor"',
        ),
        status: 400,
        code: 'FP1003',
      },
    ];
    for (const c of cases) {
      const r = await call(api.base, 'POST', '/v1/bills', { key, idem: idem(), raw: c.raw });
      expect([c.raw.slice(0, 60), r.status, r.body['code']]).toEqual([c.raw.slice(0, 60), c.status, c.code]);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+/);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
    expect(await counts()).toEqual(before);
    // Unknown /v1 route and a wrong method: problem+json too.
    expect((await call(api.base, 'GET', '/v1/nope', { key })).body).toMatchObject({ code: 'FP1004', status: 404 });
    const wrong = await call(api.base, 'DELETE', '/v1/bills', { key, idem: idem() });
    expect(wrong.status).toBe(405);
    expect(wrong.body).toMatchObject({ code: 'FP1044' });
  });

  it('limits each key: 429 with Retry-After once its burst is spent, other keys unaffected', async () => {
    const limited = await startPartnerApi({ prisma: db.prisma, rateLimit: { ratePerSecond: 1, burst: 3 } });
    try {
      const r = await call(limited.base, 'POST', '/v1/partners', {
        idem: idem(),
        body: { name: 'R', email: 'r@r.example' },
      });
      const key = (r.body['key'] as { secret: string }).secret;
      const answers: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 5; i++) {
        const a = await call(limited.base, 'GET', '/v1/account', { key });
        answers.push(a.status);
        if (a.status === 429) {
          retryAfter = a.headers.get('retry-after');
          expect(a.body).toMatchObject({ code: 'FP8406', status: 429 });
        }
      }
      expect(answers.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      // Another key of another partner has its own bucket.
      const o = await call(limited.base, 'POST', '/v1/partners', {
        idem: idem(),
        body: { name: 'S', email: 's@s.example' },
      });
      expect(o.status).toBe(201);
      const other = (o.body['key'] as { secret: string }).secret;
      expect((await call(limited.base, 'GET', '/v1/account', { key: other })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('webhook endpoints (server-side request forgery)', () => {
  it('refuses an endpoint on loopback, private, link-local or mapped addresses with FP8411, and keeps the old one', async () => {
    const { key } = await signUp();
    const strict = await startPartnerApi({ prisma: db.prisma, webhookAllowedNetworks: '' });
    try {
      const good = await call(strict.base, 'PATCH', '/v1/account', {
        key,
        idem: idem(),
        body: { webhookUrl: 'https://water.example/hooks' },
      });
      expect(good.status).toBe(200);
      for (const url of [
        'http://127.0.0.1:8080/hook',
        'http://localhost/hook',
        'http://169.254.169.254/latest/meta-data/',
        'http://[::ffff:10.0.0.1]/',
        'http://0x7f000001/',
      ]) {
        const r = await call(strict.base, 'PATCH', '/v1/account', { key, idem: idem(), body: { webhookUrl: url } });
        expect({ url, status: r.status, code: r.body['code'] }).toEqual({ url, status: 422, code: 'FP8411' });
      }
      const after = await call(strict.base, 'GET', '/v1/account', { key });
      expect(after.body).toMatchObject({ webhookUrl: 'https://water.example/hooks' });
    } finally {
      await strict.close();
    }
  });
});

describe('load shedding', () => {
  it('answers 503 with Retry-After past the in-flight limit, and frees a slot when a request ends', async () => {
    const { key } = await signUp();
    const none = await startPartnerApi({ prisma: db.prisma, extra: { partnerInFlightMax: 0 } });
    const one = await startPartnerApi({ prisma: db.prisma, extra: { partnerInFlightMax: 1 } });
    try {
      const shed = await call(none.base, 'GET', '/v1/account', { key });
      expect(shed.status).toBe(503);
      expect(shed.headers.get('retry-after')).toBe('1');
      expect(shed.body).toMatchObject({ code: 'FP8410' });
      // One at a time: each request ends before the next, so none is shed.
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(one.base, 'GET', '/v1/account', { key })).status);
      expect(statuses).toEqual([200, 200, 200]);
    } finally {
      await none.close();
      await one.close();
    }
  });
});

describe('bills and the sandbox payment', () => {
  it('stores, lists and pays a sandbox bill once, queueing one confirmation', async () => {
    const { key } = await signUp();
    await call(api.base, 'PATCH', '/v1/account', {
      key,
      idem: idem(),
      body: { webhookUrl: 'http://127.0.0.1:9/hook' },
    });
    const bill = await call(api.base, 'POST', '/v1/bills', {
      key,
      idem: idem(),
      body: { ...BILL, dueDate: '2026-12-31' },
    });
    const id = String(bill.body['id']);
    expect((await call(api.base, 'GET', `/v1/bills/${id}`, { key })).body).toMatchObject({ status: 'open' });
    const open = await call(api.base, 'GET', '/v1/bills?status=open', { key });
    expect((open.body['data'] as { id: string }[]).map((b) => b.id)).toEqual([id]);
    const paid = await call(api.base, 'POST', `/v1/test/bills/${id}/pay`, { key, idem: idem() });
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({
      bill: { status: 'paid' },
      delivery: { status: 'pending', eventType: 'bill.paid' },
    });
    const deliveryId = (paid.body['delivery'] as { id: string }).id;
    expect(started).toContain(deliveryId);
    const twice = await call(api.base, 'POST', `/v1/test/bills/${id}/pay`, { key, idem: idem() });
    expect(twice.status).toBe(409);
    expect(twice.body).toMatchObject({ code: 'FP8407' });
    expect(await db.prisma.webhookDelivery.count({ where: { payload: { path: ['bill', 'id'], equals: id } } })).toBe(1);
    // Another partner cannot see it.
    const other = await signUp('Other');
    expect((await call(api.base, 'GET', `/v1/bills/${id}`, { key: other.key })).status).toBe(404);
    expect((await call(api.base, 'GET', `/v1/webhook-deliveries/${deliveryId}`, { key: other.key })).status).toBe(404);
    const endpoint = await call(api.base, 'GET', '/v1/webhook-endpoint', { key });
    expect(endpoint.body['secret']).toMatch(/^whsec_/);
  });
});
