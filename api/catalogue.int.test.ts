/**
 * Catalogue management by API over a real socket and a real database (PGlite, or PostgreSQL with
 * DATABASE_URL): partners create and change their own provider profiles, billers, operators and
 * ticketing offers, validated by the provider loader's own schema; the loader (a ProviderDirectory
 * fed by a CatalogueMirror) sees them without a restart; another partner's entries, the platform's
 * providers, taken ids and terminal codes, hostile and invalid bodies are refused with the right
 * problem+json and nothing stored; operators manage any entry, idempotently; every change is audited.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../api/app';
import { newOperatorToken } from '../api/operator';
import type { OperatorApiDeps } from '../api/operator';
import { CatalogueMirror, CatalogueStore, catalogueSecretKey } from '../gateways/providers/catalogue-store';
import { loadProviderCatalog, ProviderDirectory } from '../gateways/providers/profile';
import { IdempotencyStore } from '../partners/idempotency';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { call, startPartnerApi, type PartnerApi } from '../test/support/partner-api';
import { PROVIDERS_DIR } from '../worker/platform-activities';

jest.setTimeout(60_000);

const LMK = randomBytes(32).toString('hex');
const SECRET = 'lake-bills-secret-0001-abcdef';
let db: TestDatabase;
let api: PartnerApi;
let operatorBase = '';
let closeOperator: () => Promise<void> = () => Promise.resolve();
const supervisor = newOperatorToken();
let n = 0;
const idem = (): string => `idem-${++n}-${Date.now()}`;

const provider = (id: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'fixpay/v1',
  kind: 'Provider',
  metadata: { id, title: 'Lake bills' },
  spec: {
    connector: 'bill-aggregator',
    endpoint: 'http://127.0.0.1:5999/',
    currency: '156',
    auth: { scheme: 'hmac-sha256', keyId: 'lake', secret: SECRET },
    timeouts: { requestMs: 2000 },
    statusQuery: { queries: 3 },
    ...extra,
  },
});
const biller = (id: string, providerId: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'fixpay/v1',
  kind: 'Biller',
  metadata: { id },
  spec: {
    provider: providerId,
    category: 'water',
    customerParams: [{ name: 'accountNumber', type: 'numeric', minLength: 6, maxLength: 16 }],
    fetch: 'required',
    amount: 'exact',
    ...extra,
  },
});

async function signUp(name: string): Promise<{ key: string; partnerId: string }> {
  const r = await call(api.base, 'POST', '/v1/partners', { idem: idem(), body: { name, email: 'ops@x.example' } });
  expect(r.status).toBe(201);
  return { key: (r.body['key'] as { secret: string }).secret, partnerId: (r.body['partner'] as { id: string }).id };
}

const put = (key: string, path: string, body: unknown, idemKey = idem()) =>
  call(api.base, 'PUT', `/v1/catalogue/${path}`, { key, idem: idemKey, body });

async function snapshot(): Promise<string> {
  const rows = await db.prisma.catalogueEntry.findMany({ orderBy: [{ kind: 'asc' }, { entryId: 'asc' }] });
  return JSON.stringify(rows.map((r) => [r.mode, r.kind, r.entryId, r.version, r.ownerPartnerId]));
}

function expectProblem(
  r: { status: number; headers: Headers; body: Record<string, unknown> },
  status: number,
  code: string,
) {
  expect({ status: r.status, code: r.body['code'] }).toEqual({ status, code });
  expect(r.headers.get('content-type')).toContain('application/problem+json');
  expect(JSON.stringify(r.body)).not.toMatch(/at .*\.ts:\d+/);
}

let a: { key: string; partnerId: string };
let b: { key: string; partnerId: string };

beforeAll(async () => {
  db = await startTestDatabase();
  const files = loadProviderCatalog(PROVIDERS_DIR);
  api = await startPartnerApi({
    prisma: db.prisma,
    lmkHex: LMK,
    rateLimit: { ratePerSecond: 1000, burst: 1000 },
    providerFiles: () => files,
  });
  const operatorApp = createApp({
    version: 'test',
    checks: [],
    operator: {
      operators: [{ id: 'sam', role: 'supervisor', tokenSha256: supervisor.tokenSha256 }],
      core: {} as OperatorApiDeps['core'],
      prisma: db.prisma,
      runLifecycle: () => Promise.reject(new Error('not in this test')),
      catalogue: new CatalogueStore({ prisma: db.prisma, sealKey: catalogueSecretKey(LMK), files: () => files }),
      idempotency: new IdempotencyStore(db.prisma),
    },
  });
  const server = operatorApp.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const address = server.address();
  operatorBase = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  closeOperator = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  a = await signUp('Lake Water');
  b = await signUp('River Water');
}, 60_000);

afterAll(async () => {
  await closeOperator();
  await api.close();
  await db.close();
});

describe('a partner manages its own catalogue entries', () => {
  it('creates a provider and a biller; the loader reads them without a restart, the secret sealed at rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-catalogue-'));
    cpSync(PROVIDERS_DIR, dir, { recursive: true });
    const mirror = new CatalogueMirror(db.prisma, 'test', catalogueSecretKey(LMK));
    const directory = new ProviderDirectory(dir, 0, undefined, mirror);
    try {
      await mirror.refresh();
      expect(directory.current().billers.has('lake-water')).toBe(false);

      const p = await put(a.key, 'providers/lake-bills', provider('lake-bills'));
      expect(p.status).toBe(201);
      expect(p.body).toMatchObject({
        kind: 'Provider',
        id: 'lake-bills',
        mode: 'test',
        owner: a.partnerId,
        version: 1,
      });
      expect((p.body['document'] as { spec: { auth: { secret: string } } }).spec.auth.secret).toBe('[sealed]');
      const bl = await put(a.key, 'billers/lake-water', biller('lake-water', 'lake-bills', { terminalCode: '77' }));
      expect(bl.status).toBe(201);

      // The secret is in no column in clear, nor in the stored answers of the idempotent writes.
      const stored = JSON.stringify(
        [
          await db.prisma.catalogueEntry.findMany(),
          await db.prisma.idempotencyRecord.findMany(),
          await db.prisma.auditEvent.findMany(),
        ],
        (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
      );
      expect(stored).not.toContain(SECRET);
      expect(stored).toContain('sealed:v1.');

      expect(await mirror.refresh()).toBe(true);
      expect(directory.current().problems).toEqual([]);
      const found = directory.biller('77');
      expect(found.biller).toMatchObject({ id: 'lake-water', provider: 'lake-bills', terminalCode: '77' });
      expect(found.provider.auth.secret).toBe(SECRET);
      // The shipped billers are still there, with their codes.
      expect(directory.biller('1').biller.id).toBe('water-co');

      // A change is read again; an unchanged one is no new version.
      const same = await put(a.key, 'billers/lake-water', biller('lake-water', 'lake-bills', { terminalCode: '77' }));
      expect(same.status).toBe(200);
      expect(same.body['version']).toBe(1);
      expect(await mirror.refresh()).toBe(false);
      const changed = await put(
        a.key,
        'billers/lake-water',
        biller('lake-water', 'lake-bills', { terminalCode: '78' }),
      );
      expect(changed.body['version']).toBe(2);
      expect(await mirror.refresh()).toBe(true);
      expect(directory.biller('78').biller.id).toBe('lake-water');
      expect(() => directory.biller('77')).toThrow();

      const audit = await call(api.base, 'GET', '/v1/audit-events', { key: a.key });
      const actions = (audit.body['data'] as { action: string; details: { id?: string } }[])
        .filter((e) => e.action.startsWith('catalogue.'))
        .map((e) => `${e.action} ${e.details.id ?? ''}`);
      expect(actions).toEqual([
        'catalogue.updated lake-water',
        'catalogue.created lake-water',
        'catalogue.created lake-bills',
      ]);
      const list = await call(api.base, 'GET', '/v1/catalogue?kind=billers', { key: a.key });
      expect((list.body['data'] as { id: string }[]).map((e) => e.id)).toEqual(['lake-water']);
    } finally {
      mirror.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers the same write with the same Idempotency-Key once, and refuses the key with another body', async () => {
    const key = idem();
    const first = await put(a.key, 'billers/lake-sewer', biller('lake-sewer', 'lake-bills'), key);
    expect(first.status).toBe(201);
    const again = await put(a.key, 'billers/lake-sewer', biller('lake-sewer', 'lake-bills'), key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await put(a.key, 'billers/lake-sewer', biller('lake-sewer', 'lake-bills', { amount: 'any' }), key);
    expectProblem(other, 409, 'FP8404');
    expect((await db.prisma.catalogueEntry.findFirst({ where: { entryId: 'lake-sewer' } }))?.version).toBe(1);
  });

  it('makes ticketing offers: a cinema with its shows and a lottery game, on its own ticketing provider', async () => {
    const tp = await put(a.key, 'providers/lake-tickets', {
      ...provider('lake-tickets'),
      spec: { ...provider('lake-tickets').spec, connector: 'ticketing' },
    });
    expect(tp.status).toBe(201);
    const cinema = await put(a.key, 'cinemas/lake-cinema', {
      apiVersion: 'fixpay/v1',
      kind: 'Cinema',
      metadata: { id: 'lake-cinema' },
      spec: {
        provider: 'lake-tickets',
        shows: [{ id: 'show-1', startsAt: '2026-12-24T19:30:00+08:00', price: 4500 }],
      },
    });
    expect(cinema.status).toBe(201);
    const lotto = await put(a.key, 'lottery-games/lake-lotto', {
      apiVersion: 'fixpay/v1',
      kind: 'LotteryGame',
      metadata: { id: 'lake-lotto' },
      spec: { provider: 'lake-tickets', pick: { count: 5, min: 1, max: 35 }, pricePerBoard: 200 },
    });
    expect(lotto.status).toBe(201);
    // One id space for ticketing offers: a cinema cannot take the lottery game's id.
    const clash = await put(a.key, 'cinemas/lake-lotto', {
      apiVersion: 'fixpay/v1',
      kind: 'Cinema',
      metadata: { id: 'lake-lotto' },
      spec: { provider: 'lake-tickets', shows: [{ id: 's', startsAt: '2026-12-24T19:30:00+08:00', price: 1 }] },
    });
    expectProblem(clash, 409, 'FP8413');
    // A biller cannot name a ticketing provider.
    expectProblem(await put(a.key, 'billers/lake-odd', biller('lake-odd', 'lake-tickets')), 422, 'FP8500');
  });
});

describe("another partner's entries and the platform's are out of reach", () => {
  it('refuses to change, read, delete or build on them (403 problem+json), changing nothing', async () => {
    const before = await snapshot();
    expectProblem(
      await put(b.key, 'billers/lake-water', biller('lake-water', 'lake-bills', { amount: 'any' })),
      403,
      'FP8412',
    );
    expectProblem(await put(b.key, 'providers/lake-bills', provider('lake-bills')), 403, 'FP8412');
    expectProblem(await put(b.key, 'billers/river-water', biller('river-water', 'lake-bills')), 403, 'FP8412');
    // The platform's own provider (a file) is the operators'.
    expectProblem(await put(b.key, 'billers/river-water', biller('river-water', 'bills-sandbox')), 403, 'FP8412');
    expectProblem(await call(api.base, 'GET', '/v1/catalogue/billers/lake-water', { key: b.key }), 403, 'FP8412');
    expectProblem(
      await call(api.base, 'DELETE', '/v1/catalogue/billers/lake-water', { key: b.key, idem: idem() }),
      403,
      'FP8412',
    );
    const list = await call(api.base, 'GET', '/v1/catalogue', { key: b.key });
    expect(list.body['data']).toEqual([]);
    // Ids and terminal codes the platform's files hold.
    await put(b.key, 'providers/river-bills', provider('river-bills'));
    expectProblem(await put(b.key, 'billers/water-co', biller('water-co', 'river-bills')), 409, 'FP8413');
    expectProblem(
      await put(b.key, 'billers/river-water', biller('river-water', 'river-bills', { terminalCode: '1' })),
      409,
      'FP8413',
    );
    // Another partner's terminal code.
    expectProblem(
      await put(b.key, 'billers/river-water', biller('river-water', 'river-bills', { terminalCode: '78' })),
      409,
      'FP8413',
    );
    const after = JSON.parse(await snapshot()) as unknown[];
    expect(after.filter((r) => !JSON.stringify(r).includes('river-bills'))).toEqual(JSON.parse(before));
  });

  it('refuses a secret file on our hosts and an endpoint in a private network for a partner', async () => {
    const before = await snapshot();
    const withFile = provider('river-file');
    withFile.spec.auth = { scheme: 'hmac-sha256', keyId: 'x', secretFile: '/etc/shadow' } as never;
    expectProblem(await put(b.key, 'providers/river-file', withFile), 403, 'FP1007');
    expectProblem(
      await put(b.key, 'providers/river-private', provider('river-private', { endpoint: 'http://10.1.2.3/' })),
      422,
      'FP8414',
    );
    expectProblem(
      await put(b.key, 'providers/river-meta', provider('river-meta', { endpoint: 'http://169.254.169.254/' })),
      422,
      'FP8414',
    );
    expect(await snapshot()).toBe(before);
  });

  it('needs the catalogue scopes', async () => {
    const k = await call(api.base, 'POST', '/v1/keys', {
      key: a.key,
      idem: idem(),
      body: { mode: 'test', scopes: ['catalogue:read'] },
    });
    expect(k.status).toBe(201);
    const readOnly = String(k.body['secret']);
    expect((await call(api.base, 'GET', '/v1/catalogue', { key: readOnly })).status).toBe(200);
    expectProblem(await put(readOnly, 'billers/lake-x', biller('lake-x', 'lake-bills')), 403, 'FP8401');
    expectProblem(
      await put('fp_test_' + 'A'.repeat(43), 'billers/lake-x', biller('lake-x', 'lake-bills')),
      401,
      'FP1006',
    );
  });
});

describe('invalid and hostile documents', () => {
  it('answers 422 with the schema error for invalid entries, nothing stored', async () => {
    const before = await snapshot();
    const unknownField = await put(a.key, 'billers/lake-bad', biller('lake-bad', 'lake-bills', { colour: 'blue' }));
    expectProblem(unknownField, 422, 'FP8500');
    expect(String(unknownField.body['detail'])).toMatch(/spec.*additional properties/i);
    const badEnum = await put(a.key, 'billers/lake-bad', biller('lake-bad', 'lake-bills', { amount: 'lots' }));
    expectProblem(badEnum, 422, 'FP8500');
    expect(String(badEnum.body['detail'])).toContain('/spec/amount');
    expectProblem(await put(a.key, 'billers/lake-bad', biller('lake-other', 'lake-bills')), 422, 'FP8500');
    expectProblem(await put(a.key, 'providers/lake-bad', biller('lake-bad', 'lake-bills')), 422, 'FP8500');
    expectProblem(
      await put(
        a.key,
        'billers/lake-bad',
        biller('lake-bad', 'lake-bills', {
          customerParams: [{ name: 'n', type: 'numeric', regex: '(' }],
        }),
      ),
      422,
      'FP8500',
    );
    expectProblem(await put(a.key, 'billers/lake-bad', biller('lake-bad', 'no-such-provider')), 422, 'FP8500');
    expectProblem(await put(a.key, 'billers/Bad_Id', biller('Bad_Id', 'lake-bills')), 400, 'FP1003');
    expect(await snapshot()).toBe(before);
  });

  it('refuses prototype-pollution keys, deep nesting, oversized and malformed bodies, nothing stored', async () => {
    const before = await snapshot();
    const good = JSON.stringify(biller('lake-evil', 'lake-bills'));
    const cases: { raw: string; status: number; code: string }[] = [
      { raw: `{"__proto__":{"polluted":true},${good.slice(1)}`, status: 400, code: 'FP1003' },
      { raw: good.replace('"spec":{', '"spec":{"__proto__":{"polluted":true},'), status: 400, code: 'FP1003' },
      {
        raw: good.replace('"spec":{', '"spec":{"constructor":{"prototype":{"polluted":true}},'),
        status: 400,
        code: 'FP1003',
      },
      {
        raw: good.replace('"metadata":{', '"metadata":{"x":' + '['.repeat(40) + ']'.repeat(40) + ','),
        status: 400,
        code: 'FP1003',
      },
      { raw: good.replace('"fetch"', `"pad":"${'x'.repeat(70_000)}","fetch"`), status: 413, code: 'FP1042' },
      { raw: '{"apiVersion": "fixpay/v1",', status: 400, code: 'FP1003' },
      { raw: '[1,2,3]', status: 400, code: 'FP1003' },
    ];
    for (const c of cases) {
      const r = await call(api.base, 'PUT', '/v1/catalogue/billers/lake-evil', {
        key: a.key,
        idem: idem(),
        raw: c.raw,
      });
      expectProblem(r, c.status, c.code);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(await snapshot()).toBe(before);
  });
});

describe('operators', () => {
  const op = (method: string, path: string, body?: unknown, idemKey?: string) =>
    call(operatorBase, method, `/operator/v1/catalogue${path}`, {
      headers: { authorization: `Bearer ${supervisor.token}` },
      ...(idemKey === undefined ? {} : { idem: idemKey }),
      ...(body === undefined ? {} : { body }),
    });

  it('manage any entry, give it an owner, idempotently, audited', async () => {
    const key = idem();
    const made = await op(
      'PUT',
      `/billers/lake-gas?mode=test&owner=${a.partnerId}`,
      biller('lake-gas', 'bills-sandbox'),
      key,
    );
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ owner: a.partnerId, mode: 'test', updatedBy: 'supervisor:sam' });
    const replay = await op(
      'PUT',
      `/billers/lake-gas?mode=test&owner=${a.partnerId}`,
      biller('lake-gas', 'bills-sandbox'),
      key,
    );
    expect(replay.status).toBe(201);
    const conflict = await op(
      'PUT',
      `/billers/lake-gas?mode=test&owner=${a.partnerId}`,
      biller('lake-gas', 'bills-sandbox', { amount: 'any' }),
      key,
    );
    expectProblem(conflict, 409, 'FP8404');
    // Without an Idempotency-Key the document's validation refuses the request.
    expectProblem(await op('PUT', '/billers/lake-gas?mode=test', biller('lake-gas', 'bills-sandbox')), 400, 'FP1003');
    // The owner reads it; a change by an operator of another partner's entry is allowed.
    expect((await call(api.base, 'GET', '/v1/catalogue/billers/lake-gas', { key: a.key })).status).toBe(200);
    const listed = await op('GET', '/?mode=test'.replace('/?', '?'));
    expect((listed.body['data'] as { id: string }[]).map((e) => e.id)).toEqual(
      expect.arrayContaining(['lake-gas', 'lake-water', 'lake-bills']),
    );
    expectProblem(
      await call(operatorBase, 'GET', '/operator/v1/catalogue', {
        headers: { authorization: 'Bearer nope-nope-nope-nope' },
      }),
      401,
      'FP1006',
    );
    const audit = await db.prisma.auditEvent.findMany({ where: { actor: 'supervisor:sam' } });
    expect(audit.map((e) => e.action)).toEqual(['catalogue.created']);
  });

  it('refuse to withdraw a provider an entry names; withdraw the entry, then the provider', async () => {
    expectProblem(
      await call(api.base, 'DELETE', '/v1/catalogue/providers/lake-bills', { key: a.key, idem: idem() }),
      409,
      'FP8413',
    );
    for (const id of ['lake-water', 'lake-sewer'])
      expect((await call(api.base, 'DELETE', `/v1/catalogue/billers/${id}`, { key: a.key, idem: idem() })).status).toBe(
        200,
      );
    const gone = await call(api.base, 'DELETE', '/v1/catalogue/providers/lake-bills', { key: a.key, idem: idem() });
    expect(gone.status).toBe(200);
    expectProblem(await call(api.base, 'GET', '/v1/catalogue/providers/lake-bills', { key: a.key }), 404, 'FP1004');
  });
});

describe("partners cannot take the phone keys or number prefixes of others' offers", () => {
  const ticketing = (id: string) => ({ ...provider(id), spec: { ...provider(id).spec, connector: 'ticketing' } });
  const topups = (id: string) => ({ ...provider(id), spec: { ...provider(id).spec, connector: 'topup-aggregator' } });
  const game = (id: string, providerId: string, terminalCode: string) => ({
    apiVersion: 'fixpay/v1',
    kind: 'LotteryGame',
    metadata: { id },
    spec: { provider: providerId, terminalCode, pick: { count: 5, min: 1, max: 35 }, pricePerBoard: 200 },
  });
  const airline = (id: string, providerId: string, terminalCode: string) => ({
    apiVersion: 'fixpay/v1',
    kind: 'Airline',
    metadata: { id },
    spec: { provider: providerId, terminalCode, carrier: 'PK' },
  });
  const cinema = (id: string, providerId: string, showCodes: string[]) => ({
    apiVersion: 'fixpay/v1',
    kind: 'Cinema',
    metadata: { id },
    spec: {
      provider: providerId,
      shows: showCodes.map((c, i) => ({
        id: `s${i}`,
        terminalCode: c,
        startsAt: '2026-12-24T19:30:00+08:00',
        price: 100,
      })),
    },
  });
  const operator = (id: string, providerId: string, service: string, prefixes: string[]) => ({
    apiVersion: 'fixpay/v1',
    kind: 'TopupOperator',
    metadata: { id },
    spec: { provider: providerId, service, prefixes, products: [{ id: 'p50', delivery: 'recharge', amount: 5000 }] },
  });

  it('refuses (409) an offer key of the same type or a show key that a file or another entry holds', async () => {
    const c = await signUp('Pine Tickets');
    const d = await signUp('Oak Tickets');
    expect((await put(c.key, 'providers/pine-tix', ticketing('pine-tix'))).status).toBe(201);
    expect((await put(d.key, 'providers/oak-tix', ticketing('oak-tix'))).status).toBe(201);
    const before = await snapshot();
    // Keys the platform's files hold: lotto-6-49 is '1', Star Cinema's shows are '1' and '2'.
    expectProblem(await put(c.key, 'lottery-games/pine-lotto', game('pine-lotto', 'pine-tix', '1')), 409, 'FP8413');
    expectProblem(await put(c.key, 'cinemas/pine-cine', cinema('pine-cine', 'pine-tix', ['9', '2'])), 409, 'FP8413');
    expect(await snapshot()).toBe(before);
    // Free keys are taken; the same key in another offer type is another key.
    expect((await put(c.key, 'lottery-games/pine-lotto', game('pine-lotto', 'pine-tix', '5'))).status).toBe(201);
    expect((await put(c.key, 'airlines/pine-air', airline('pine-air', 'pine-tix', '5'))).status).toBe(201);
    expect((await put(c.key, 'cinemas/pine-cine', cinema('pine-cine', 'pine-tix', ['7']))).status).toBe(201);
    // Rewriting one's own entry with its own key is no clash.
    const again = await put(c.key, 'lottery-games/pine-lotto', {
      ...game('pine-lotto', 'pine-tix', '5'),
      metadata: { id: 'pine-lotto', title: 'Pine lotto' },
    });
    expect(again.status).toBe(200);
    // Another partner, and the same partner's second offer, cannot take a stored key.
    const mid = await snapshot();
    expectProblem(await put(d.key, 'lottery-games/oak-lotto', game('oak-lotto', 'oak-tix', '5')), 409, 'FP8413');
    expectProblem(await put(c.key, 'lottery-games/pine-lotto-2', game('pine-lotto-2', 'pine-tix', '5')), 409, 'FP8413');
    expectProblem(await put(d.key, 'cinemas/oak-cine', cinema('oak-cine', 'oak-tix', ['7'])), 409, 'FP8413');
    expect(await snapshot()).toBe(mid);
    expect((await put(d.key, 'cinemas/oak-cine', cinema('oak-cine', 'oak-tix', ['8']))).status).toBe(201);
  });

  it("refuses (409) a recharge operator whose prefixes overlap another owner's operator of the same service", async () => {
    const c = await signUp('Pine Mobile');
    const d = await signUp('Oak Mobile');
    expect((await put(c.key, 'providers/pine-top', topups('pine-top'))).status).toBe(201);
    expect((await put(d.key, 'providers/oak-top', topups('oak-top'))).status).toBe(201);
    const before = await snapshot();
    // The platform's mobile-a answers for 138 and 139: longer, shorter and equal prefixes overlap it.
    for (const prefixes of [['1380'], ['13'], ['150', '139']])
      expectProblem(
        await put(c.key, 'topup-operators/pine-mob', operator('pine-mob', 'pine-top', 'mobile', prefixes)),
        409,
        'FP8413',
      );
    expect(await snapshot()).toBe(before);
    // Another service's numbers are another space.
    expect(
      (await put(c.key, 'topup-operators/pine-phs', operator('pine-phs', 'pine-top', 'phs', ['138']))).status,
    ).toBe(201);
    expect(
      (await put(c.key, 'topup-operators/pine-mob', operator('pine-mob', 'pine-top', 'mobile', ['150']))).status,
    ).toBe(201);
    // The same owner may split its own numbers; another partner may not reach into them.
    expect(
      (await put(c.key, 'topup-operators/pine-mob-2', operator('pine-mob-2', 'pine-top', 'mobile', ['1501']))).status,
    ).toBe(201);
    const mid = await snapshot();
    expectProblem(
      await put(d.key, 'topup-operators/oak-mob', operator('oak-mob', 'oak-top', 'mobile', ['15012'])),
      409,
      'FP8413',
    );
    expect(await snapshot()).toBe(mid);
    expect(
      (await put(d.key, 'topup-operators/oak-mob', operator('oak-mob', 'oak-top', 'mobile', ['151']))).status,
    ).toBe(201);
  });
});
