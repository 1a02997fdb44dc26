/**
 * Definitions by API over a real socket and a real database: validate, run the definition's own
 * tests, deploy, canary to named terminals (only they resolve the new version, as the access
 * handler resolves a phone's request), promote to all, roll back to the previous version; a
 * money-moving definition's release waits for a second supervisor (the requester cannot approve
 * it); every step is in the service's audit trail; writes are idempotent.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApp } from './app';
import { newOperatorToken } from './operator';
import { CoreRepository } from '../core/repository';
import { IdempotencyStore } from '../partners/idempotency';
import { defaultCatalogue } from '../services/catalogue/entries';
import { PrismaDefinitionStore } from '../services/registry/prisma-store';
import { Registry } from '../services/registry/registry';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { call } from '../test/support/partner-api';

jest.setTimeout(120_000);

const DEFS = join(__dirname, '..', 'definitions');
const BALANCE = readFileSync(join(DEFS, 'balance-inquiry.yaml'), 'utf8');
const PAYMENT = readFileSync(join(DEFS, 'payment.yaml'), 'utf8');
const withVersion = (text: string, v: string): string => text.replace(/^( {2}version: ).*$/m, `$1${v}`);

const alice = newOperatorToken(); // operator
const sam = newOperatorToken(); // supervisor
const sue = newOperatorToken(); // supervisor
let db: TestDatabase;
let registry: Registry;
let server: Server;
let base = '';
let n = 0;

const op = (token: { token: string }, method: string, path: string, body?: unknown, idem?: string) =>
  call(base, method, `/operator/v1${path}`, {
    headers: { authorization: `Bearer ${token.token}` },
    ...(body === undefined ? {} : { body }),
    ...(method === 'GET' || path.endsWith('/validate') || path.endsWith('/test') ? {} : { idem: idem ?? `i-${++n}` }),
  });

/** The version a phone's request resolves to: as the access handler asks (business key, terminal). */
const runs = async (serviceId: string, terminalId: string, stan = '000001'): Promise<string> =>
  (await registry.resolveWith(serviceId, () => `${terminalId}:${stan}:20261203`, terminalId)).version;

beforeAll(async () => {
  db = await startTestDatabase();
  registry = new Registry(new PrismaDefinitionStore(db.prisma));
  const app = createApp({
    version: 'test',
    checks: [],
    operator: {
      operators: [
        { id: 'alice', role: 'operator', tokenSha256: alice.tokenSha256 },
        { id: 'sam', role: 'supervisor', tokenSha256: sam.tokenSha256 },
        { id: 'sue', role: 'supervisor', tokenSha256: sue.tokenSha256 },
      ],
      core: new CoreRepository(db.prisma),
      prisma: db.prisma,
      runLifecycle: () => Promise.reject(new Error('not in this test')),
      idempotency: new IdempotencyStore(db.prisma),
      definitions: { registry, catalogue: defaultCatalogue() },
    },
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
  await db.close();
});

describe('validate and test', () => {
  it('answers the compiler verdict: id, version, hash, whether it moves money; refusals with their codes', async () => {
    const ok = await op(alice, 'POST', '/definitions/validate', { source: BALANCE });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ ok: true, serviceId: 'balance-inquiry', version: '2.1.1', movesMoney: false });
    expect(String(ok.body['planHash'])).toMatch(/^sha256:[0-9a-f]{64}$/);
    const money = await op(alice, 'POST', '/definitions/validate', { source: PAYMENT });
    expect(money.body).toMatchObject({ ok: true, serviceId: 'payment', movesMoney: true });
    const bad = await op(alice, 'POST', '/definitions/validate', { source: BALANCE.replace('steps:', 'stepz:') });
    expect(bad.status).toBe(200);
    expect(bad.body['ok']).toBe(false);
    expect((bad.body['diagnostics'] as { code: string }[]).length).toBeGreaterThan(0);
    expect((bad.body['diagnostics'] as { code: string }[])[0]?.code).toMatch(/^FP20\d\d$/);
    const hostile = await op(alice, 'POST', '/definitions/validate', { source: 'a: &x [*x, *x]\n' + BALANCE });
    expect(hostile.status).toBe(200);
    expect(hostile.body['ok']).toBe(false);
    expect((await op(alice, 'POST', '/definitions/validate', { source: 5 })).status).toBe(400);
    expect((await op(alice, 'POST', '/definitions/validate', { source: 'x', extra: 1 })).status).toBe(400);
  });

  it("runs the definition's own tests; a definition whose tests fail is not deployed", async () => {
    const t = await op(alice, 'POST', '/definitions/test', { source: BALANCE });
    expect(t.status).toBe(200);
    expect(t.body['tests']).toMatchObject({ failed: 0 });
    expect((t.body['tests'] as { passed: number }).passed).toBeGreaterThan(1);
    const broken = withVersion(BALANCE, '9.9.9').replace('output: { balance: 98765 }', 'output: { balance: 1 }');
    const failing = await op(alice, 'POST', '/definitions/test', { source: broken });
    expect(failing.body['tests']).toMatchObject({ failed: 1 });
    const refused = await op(alice, 'POST', '/definitions', { source: broken });
    expect({ status: refused.status, code: refused.body['code'] }).toEqual({ status: 422, code: 'FP2104' });
    expect(await registry.versionsOf('balance-inquiry')).toEqual([]);
    const noCompile = await op(alice, 'POST', '/definitions', { source: BALANCE.replace('steps:', 'stepz:') });
    expect({ status: noCompile.status, code: noCompile.body['code'] }).toEqual({ status: 422, code: 'FP2103' });
  });
});

describe('deploy, canary, promote, roll back', () => {
  it('a canary to named terminals runs only there; promote runs everywhere; rollback brings the previous back', async () => {
    const key = 'deploy-balance-1';
    const v1 = await op(alice, 'POST', '/definitions', { source: BALANCE }, key);
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({
      serviceId: 'balance-inquiry',
      version: '2.1.1',
      status: 'draft',
      movesMoney: false,
    });
    const replay = await op(alice, 'POST', '/definitions', { source: BALANCE }, key);
    expect(replay.status).toBe(201);
    expect((await op(alice, 'POST', '/definitions', { source: withVersion(BALANCE, '2.1.2') }, key)).status).toBe(409);
    await expect(runs('balance-inquiry', 'T0000001')).rejects.toThrow();

    const live1 = await op(alice, 'POST', '/definitions/balance-inquiry/releases', {
      action: 'promote',
      version: '2.1.1',
    });
    expect(live1.status).toBe(200);
    expect(live1.body).toMatchObject({ live: '2.1.1', canary: null });
    expect(await runs('balance-inquiry', 'T0000001')).toBe('2.1.1');

    const v2 = await op(alice, 'POST', '/definitions', { source: withVersion(BALANCE, '2.2.0') });
    expect(v2.status).toBe(201);
    // Deployed is not released: every terminal still runs 2.1.1.
    expect(await runs('balance-inquiry', 'T0000002')).toBe('2.1.1');
    const canary = await op(alice, 'POST', '/definitions/balance-inquiry/releases', {
      action: 'canary',
      version: '2.2.0',
      terminals: ['T0000002'],
    });
    expect(canary.status).toBe(200);
    expect(canary.body).toMatchObject({ live: '2.1.1', canary: '2.2.0' });
    for (let i = 0; i < 20; i++) {
      const stan = String(i).padStart(6, '0');
      expect(await runs('balance-inquiry', 'T0000002', stan)).toBe('2.2.0');
      expect(await runs('balance-inquiry', 'T0000001', stan)).toBe('2.1.1');
      expect(await runs('balance-inquiry', 'T0000003', stan)).toBe('2.1.1');
    }
    // The menu is built from the live versions: the canary is not on it.
    expect((await registry.liveVersions()).map((r) => `${r.serviceId}@${r.version}`)).toEqual([
      'balance-inquiry@2.1.1',
    ]);

    const promoted = await op(alice, 'POST', '/definitions/balance-inquiry/releases', {
      action: 'promote',
      version: '2.2.0',
    });
    expect(promoted.body).toMatchObject({ live: '2.2.0', canary: null });
    for (const t of ['T0000001', 'T0000002', 'T0000003']) expect(await runs('balance-inquiry', t)).toBe('2.2.0');

    const back = await op(alice, 'POST', '/definitions/balance-inquiry/releases', { action: 'rollback' });
    expect(back.body).toMatchObject({ live: '2.1.1', canary: null });
    for (const t of ['T0000001', 'T0000002', 'T0000003']) expect(await runs('balance-inquiry', t)).toBe('2.1.1');

    const unknown = await op(alice, 'POST', '/definitions/balance-inquiry/releases', {
      action: 'promote',
      version: '7.0.0',
    });
    expect({ status: unknown.status, code: unknown.body['code'] }).toEqual({ status: 404, code: 'FP2100' });
    const badTerminal = await op(alice, 'POST', '/definitions/balance-inquiry/releases', {
      action: 'canary',
      version: '2.2.0',
      terminals: ['../etc'],
    });
    expect(badTerminal.status).toBe(400);

    const trail = await op(alice, 'GET', '/definitions/balance-inquiry');
    expect((trail.body['audit'] as { action: string; actor: string }[]).map((e) => `${e.action} ${e.actor}`)).toEqual([
      'definition.deployed operator:alice',
      'definition.promote operator:alice',
      'definition.deployed operator:alice',
      'definition.canary operator:alice',
      'definition.promote operator:alice',
      'definition.rollback operator:alice',
    ]);
  });
});

describe('four eyes for definitions that move money', () => {
  it('a release waits for a second supervisor; the requester cannot approve it; an operator cannot decide', async () => {
    expect((await op(sam, 'POST', '/definitions', { source: PAYMENT })).status).toBe(201);
    const asked = await op(sam, 'POST', '/definitions/payment/releases', { action: 'promote', version: '1.0.0' });
    expect(asked.status).toBe(202);
    expect(asked.body).toMatchObject({ status: 'pending' });
    const approvalId = String(asked.body['approvalId']);
    await expect(runs('payment', 'T0000001')).rejects.toThrow();

    const self = await op(sam, 'POST', `/approvals/${approvalId}/decision`, { decision: 'approve' });
    expect({ status: self.status, code: self.body['code'] }).toEqual({ status: 403, code: 'FP1007' });
    const byOperator = await op(alice, 'POST', `/approvals/${approvalId}/decision`, { decision: 'approve' });
    expect(byOperator.status).toBe(403);
    await expect(runs('payment', 'T0000001')).rejects.toThrow();

    const approved = await op(sue, 'POST', `/approvals/${approvalId}/decision`, { decision: 'approve' });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'approved', decidedBy: 'supervisor:sue' });
    expect(await runs('payment', 'T0000001')).toBe('1.0.0');
    // The decision is in the audit trail, with who asked and who decided.
    const audited = await db.prisma.coreAudit.findMany({ where: { subject: `approval:${approvalId}` } });
    expect(audited.map((a) => [a.actor, a.action, a.detail])).toEqual([
      [
        'supervisor:sue',
        'approve',
        { command: 'definitionRelease', requestedBy: expect.stringContaining('sam') as unknown },
      ],
    ]);
    // Deciding again changes nothing.
    expect((await op(sue, 'POST', `/approvals/${approvalId}/decision`, { decision: 'reject' })).body).toMatchObject({
      status: 'approved',
    });

    // A rejected canary never routes anything.
    expect((await op(sam, 'POST', '/definitions', { source: withVersion(PAYMENT, '1.1.0') })).status).toBe(201);
    const canary = await op(alice, 'POST', '/definitions/payment/releases', {
      action: 'canary',
      version: '1.1.0',
      terminals: ['T0000001'],
    });
    expect(canary.status).toBe(202);
    const rejected = await op(sam, 'POST', `/approvals/${String(canary.body['approvalId'])}/decision`, {
      decision: 'reject',
    });
    expect(rejected.body).toMatchObject({ status: 'rejected' });
    expect(await runs('payment', 'T0000001')).toBe('1.0.0');

    const trail = await op(sam, 'GET', '/definitions/payment');
    expect((trail.body['audit'] as { action: string; actor: string }[]).map((e) => `${e.action} ${e.actor}`)).toEqual([
      'definition.deployed supervisor:sam',
      'definition.release.requested supervisor:sam',
      'definition.promote supervisor:sam+supervisor:sue',
      'definition.deployed supervisor:sam',
      'definition.release.requested operator:alice',
    ]);
  });
});

describe('release approvals are tied to what was asked, and their ids never collide', () => {
  it('a rollback approved after another rollback is refused as stale (409 FP2105), stored as failed, and changes nothing', async () => {
    // payment: live 1.0.0, 1.1.0 deployed (the test above). Promote 1.1.0 through four eyes.
    const promote = await op(sam, 'POST', '/definitions/payment/releases', { action: 'promote', version: '1.1.0' });
    expect(promote.body).toMatchObject({
      status: 'pending',
      command: { action: 'promote', version: '1.1.0', seenLive: '1.0.0' },
    });
    // A second promotion of the same version asked meanwhile: it goes stale once the first is carried out.
    const promoteAgain = await op(alice, 'POST', '/definitions/payment/releases', {
      action: 'promote',
      version: '1.1.0',
    });
    expect(promoteAgain.status).toBe(202);
    const ok = await op(sue, 'POST', `/approvals/${String(promote.body['approvalId'])}/decision`, {
      decision: 'approve',
    });
    expect(ok.body).toMatchObject({ status: 'approved', outcome: { ok: true } });
    expect(await runs('payment', 'T0000001')).toBe('1.1.0');

    // The promotion asked while 1.0.0 was live is stale now: 1.1.0 is not promoted a second time.
    const stalePromote = await op(sue, 'POST', `/approvals/${String(promoteAgain.body['approvalId'])}/decision`, {
      decision: 'approve',
    });
    expect({ status: stalePromote.status, code: stalePromote.body['code'] }).toEqual({ status: 409, code: 'FP2105' });
    expect(await runs('payment', 'T0000001')).toBe('1.1.0');

    // Two rollbacks asked while 1.1.0 is live and 1.0.0 previous.
    const r1 = await op(sam, 'POST', '/definitions/payment/releases', { action: 'rollback' });
    const r2 = await op(sam, 'POST', '/definitions/payment/releases', { action: 'rollback' });
    expect(r1.body).toMatchObject({ status: 'pending', command: { seenLive: '1.1.0', seenPrevious: '1.0.0' } });
    expect(r2.status).toBe(202);
    expect(r2.body['approvalId']).not.toBe(r1.body['approvalId']);

    const first = await op(sue, 'POST', `/approvals/${String(r1.body['approvalId'])}/decision`, {
      decision: 'approve',
    });
    expect(first.body).toMatchObject({ status: 'approved', outcome: { ok: true } });
    expect(await runs('payment', 'T0000001')).toBe('1.0.0');
    const aliasesAfterFirst = await registry.aliases('payment');

    const second = await op(sue, 'POST', `/approvals/${String(r2.body['approvalId'])}/decision`, {
      decision: 'approve',
    });
    expect({ status: second.status, code: second.body['code'] }).toEqual({ status: 409, code: 'FP2105' });
    expect(await registry.aliases('payment')).toEqual(aliasesAfterFirst);
    expect(await runs('payment', 'T0000001')).toBe('1.0.0');
    const row = await db.prisma.operatorApproval.findUniqueOrThrow({ where: { id: String(r2.body['approvalId']) } });
    expect({ status: row.status, outcome: row.outcome }).toEqual({
      status: 'approved',
      outcome: expect.objectContaining({ ok: false, reason: 'DEF_RELEASE_STALE', resultCode: 'FP2105' }) as unknown,
    });
    // Deciding it again reads the failed outcome; nothing is rolled back.
    const again = await op(sue, 'POST', `/approvals/${String(r2.body['approvalId'])}/decision`, {
      decision: 'approve',
    });
    expect(again.body).toMatchObject({ status: 'approved', outcome: { ok: false, resultCode: 'FP2105' } });
    expect(await registry.aliases('payment')).toEqual(aliasesAfterFirst);

    // Asked again, seen afresh, it is carried out.
    const fresh = await op(sam, 'POST', '/definitions/payment/releases', { action: 'promote', version: '1.1.0' });
    const done = await op(sue, 'POST', `/approvals/${String(fresh.body['approvalId'])}/decision`, {
      decision: 'approve',
    });
    expect(done.body).toMatchObject({ status: 'approved', outcome: { ok: true } });
    expect(await runs('payment', 'T0000001')).toBe('1.1.0');
  });

  it('one Idempotency-Key used for a lifecycle approval and a release gives two approvals; a taken id is 409 FP7045', async () => {
    const key = 'shared-key-1';
    const lifecycle = await op(sam, 'POST', '/terminals/T0000009/commands', { command: 'retire' }, key);
    expect(lifecycle.status).toBe(202);
    const rel = await op(sam, 'POST', '/definitions/payment/releases', { action: 'rollback' }, key);
    expect(rel.status).toBe(202);
    expect(rel.body['approvalId']).not.toBe(lifecycle.body['approvalId']);
    const rows = await db.prisma.operatorApproval.findMany({
      where: { id: { in: [String(rel.body['approvalId']), String(lifecycle.body['approvalId'])] } },
    });
    expect(rows.map((r) => (r.command as { kind: string }).kind).sort()).toEqual(['definitionRelease', 'retire']);

    // An id already taken (here by a row written behind the API's back) is a clear 409, not a 500.
    const taken = 'taken-key-1';
    const id = `apr_${createHash('sha256').update(`definitionRelease\nsupervisor:sam\n${taken}`).digest('hex').slice(0, 32)}`;
    await db.prisma.operatorApproval.create({
      data: { id, command: { kind: 'retire', terminalId: 'T0000009' }, requestedBy: 'operator:x', status: 'pending' },
    });
    const clash = await op(sam, 'POST', '/definitions/payment/releases', { action: 'rollback' }, taken);
    expect({ status: clash.status, code: clash.body['code'] }).toEqual({ status: 409, code: 'FP7045' });
    expect(clash.headers.get('content-type')).toContain('application/problem+json');
    const stored = await db.prisma.operatorApproval.findUniqueOrThrow({ where: { id } });
    expect(stored.requestedBy).toBe('operator:x');
  });
});
