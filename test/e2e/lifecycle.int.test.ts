/**
 * The business core's lifecycle end to end (ADR 0020): every step is a Temporal run
 * (terminalLifecycleWorkflow) against the real worker, database and software HSM; the phone is the
 * terminal simulator over real FSK audio. Nothing of the new merchant is seeded: it is onboarded,
 * its phone ordered, personalised (TMK out of the HSM under the key-loading transport key), bound,
 * activated, signed on and used; then suspended, resumed, given a new PSAM, moved to another line
 * and retired — each with the refusals a wrong state must give.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../api/app';
import { newOperatorToken, temporalLifecycleRunner } from '../../api/operator';
import { lifecycleWorkflowId } from '../../activities/terminal-lifecycle';
import type { LifecycleCommand, LifecycleOutcome } from '../../activities/terminal-lifecycle';
import { deriveKeyBlockKeys, unwrapKeyBlock } from '../../hsm/crypto/tr31';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import type { terminalLifecycleWorkflow } from '../../workflows/terminal-lifecycle';
import type { E2e } from './harness';
import { CARD_RICH, databaseText, ledgerBalanced, rawHistoryText, startE2e, TEST_KBPK_HEX } from './harness';

const TERMINAL = 'T0000100';
const PSAM_1 = 'B1B2C3D4E5F60100';
const PSAM_2 = 'B1B2C3D4E5F60101';
const LINE_1 = '862150000100';
const LINE_2 = '862150000199';
const KYC = {
  legalName: 'Corner Shop Ltd',
  idType: 'business-licence',
  idNumber: 'BL-2026-0100',
  address: '100 Demo Road, Shanghai',
  contactPhone: '+862150000100',
  registrationNo: '91310000-0100',
  mcc: '5411',
};

describe('terminal lifecycle end to end (runs + FSK)', () => {
  jest.setTimeout(600_000);
  let e2e: E2e;
  const runIds: string[] = [];
  let stan = 1;
  let counter = 1;
  let tmkHex = '';

  beforeAll(async () => {
    e2e = await startE2e();
  }, 180_000);
  afterAll(async () => {
    await e2e.stop();
  });

  async function run(command: LifecycleCommand, actor = 'operator:alice'): Promise<LifecycleOutcome> {
    const workflowId = lifecycleWorkflowId(command, randomUUID());
    runIds.push(workflowId);
    return e2e.env.client.workflow.execute<typeof terminalLifecycleWorkflow>('terminalLifecycleWorkflow', {
      taskQueue: 'services',
      workflowId,
      args: [{ command, actor }],
    });
  }

  /**
   * One call of the phone: its transactions' outcomes. The phone's memory (STAN, PSAM counter,
   * working keys from its last sign-on) is kept per PSAM across calls, as a real phone keeps it.
   */
  const memories = new Map<string, MemoryStateStore>();
  async function call(
    steps: ({ step: 'sign-on' } | { step: 'purchase'; amountMinor: number })[],
    o: { psamNo?: string; ani?: string } = {},
  ): Promise<{ kind: string; outcome: string; responseCode?: string | undefined }[]> {
    const psamNo = o.psamNo ?? PSAM_1;
    let memory = memories.get(psamNo);
    if (memory === undefined) {
      stan += 1000;
      counter += 1000;
      memory = new MemoryStateStore({ stan, batch: '000001', psamCounter: counter });
      memories.set(psamNo, memory);
    }
    const config = e2e.terminal({
      custom: { terminalId: TERMINAL, psamNo: o.psamNo ?? PSAM_1, ani: o.ani ?? LINE_1, tmkHex },
    });
    const r = await runTerminalScript({ config, stateStore: memory }, [...steps, { step: 'hang-up' }]);
    return r.transactions.map((t) => ({ kind: t.kind, outcome: t.outcome, responseCode: t.responseCode }));
  }

  const state = async (): Promise<string | undefined> => (await e2e.core.terminal(TERMINAL))?.state;

  it('onboards, orders, personalises, binds and activates through runs; the first sign-on puts it in service and it buys', async () => {
    expect(
      await run({
        kind: 'onboard',
        customerId: 'M0100',
        customerKind: 'merchant',
        name: 'Corner Shop',
        kyc: { ...KYC, mcc: 'x' },
      }),
    ).toMatchObject({ ok: false, reason: 'KYC_INVALID', resultCode: 'FP7020' });
    expect(
      await run({ kind: 'onboard', customerId: 'M0100', customerKind: 'merchant', name: 'Corner Shop', kyc: KYC }),
    ).toMatchObject({ ok: true, reason: 'OK' });
    // Out of order: a terminal that was never ordered cannot be activated.
    expect(await run({ kind: 'activate', terminalId: TERMINAL })).toMatchObject({
      ok: false,
      reason: 'TERMINAL_UNKNOWN',
    });
    expect(
      await run({ kind: 'order', terminalId: TERMINAL, customerId: 'M0100', deviceProfileId: 'es201912-v23' }),
    ).toMatchObject({ ok: true, state: 'registered' });
    // Activation before binding is an illegal transition.
    expect(await run({ kind: 'activate', terminalId: TERMINAL })).toMatchObject({
      ok: false,
      reason: 'TERMINAL_TRANSITION_INVALID',
      resultCode: 'FP7002',
    });
    const p = await run({ kind: 'personalise', terminalId: TERMINAL, psamNo: PSAM_1 });
    expect(p).toMatchObject({ ok: true, state: 'registered' });
    expect(p.tmkKcv).toMatch(/^[0-9A-F]{6}$/);
    // The key-loading device opens the TR-31 block with its transport key (the test plays that device).
    const { key } = unwrapKeyBlock(deriveKeyBlockKeys('B', Buffer.from(TEST_KBPK_HEX, 'hex')), p.tmkKeyBlock ?? '');
    tmkHex = key.toString('hex').toUpperCase();
    expect(JSON.stringify(p)).not.toContain(tmkHex);
    // A second personalisation with another PSAM is refused: the terminal keeps its master key.
    expect(await run({ kind: 'personalise', terminalId: TERMINAL, psamNo: PSAM_2 })).toMatchObject({
      ok: false,
      reason: 'PSAM_ALREADY_PERSONALISED',
    });
    expect(await run({ kind: 'bind', terminalId: TERMINAL, psamNo: PSAM_1, ani: LINE_1 })).toMatchObject({
      ok: true,
      state: 'bound',
    });
    expect(await run({ kind: 'personalise', terminalId: TERMINAL, psamNo: 'B1B2C3D4E5F60199' })).toMatchObject({
      ok: false,
      reason: 'PSAM_ALREADY_PERSONALISED',
    });
    // Bound but not activated: the phone cannot even sign on.
    expect((await call([{ step: 'sign-on' }]))[0]?.outcome).not.toBe('approved');
    expect(await run({ kind: 'activate', terminalId: TERMINAL }, 'supervisor:bob')).toMatchObject({
      ok: true,
      state: 'activated',
    });
    // Activated: a purchase before the first sign-on is refused; the sign-on puts it in service.
    const sent = e2e.bankMtis.length;
    const [signOn, purchase] = await call([{ step: 'sign-on' }, { step: 'purchase', amountMinor: 700 }]);
    expect(signOn).toMatchObject({ kind: 'sign-on', outcome: 'approved' });
    expect(purchase).toMatchObject({ kind: 'purchase', outcome: 'approved', responseCode: '00' });
    expect(await state()).toBe('in_service');
    expect(e2e.bankMtis.length).toBeGreaterThan(sent);
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
  });

  it('a suspended terminal is refused over FSK without reaching the card network; resumed, it signs on and buys again', async () => {
    expect(await run({ kind: 'suspend', terminalId: TERMINAL })).toMatchObject({ ok: true, state: 'suspended' });
    expect(await run({ kind: 'suspend', terminalId: TERMINAL })).toMatchObject({
      ok: false,
      reason: 'TERMINAL_TRANSITION_INVALID',
    });
    const sent = e2e.bankMtis.length;
    const [purchase] = await call([{ step: 'purchase', amountMinor: 300 }]);
    expect(purchase?.outcome).not.toBe('approved');
    const [signOn] = await call([{ step: 'sign-on' }]);
    expect(signOn?.outcome).not.toBe('approved');
    expect(e2e.bankMtis.length).toBe(sent);
    expect(await state()).toBe('suspended');

    expect(await run({ kind: 'resume', terminalId: TERMINAL })).toMatchObject({ ok: true, state: 'activated' });
    const [s, p] = await call([{ step: 'sign-on' }, { step: 'purchase', amountMinor: 300 }]);
    expect(s?.outcome).toBe('approved');
    expect(p?.outcome).toBe('approved');
    expect(await state()).toBe('in_service');
  });

  it('a PSAM replacement keeps the terminal and its history and refuses the old PSAM', async () => {
    expect(await run({ kind: 'replacePsam', terminalId: TERMINAL, psamNo: PSAM_1 })).toMatchObject({
      ok: false,
      reason: 'BINDING_CONFLICT',
    });
    expect(await run({ kind: 'replacePsam', terminalId: TERMINAL, psamNo: PSAM_2 })).toMatchObject({
      ok: true,
      state: 'activated',
    });
    const sent = e2e.bankMtis.length;
    const old = await call([{ step: 'sign-on' }, { step: 'purchase', amountMinor: 200 }], { psamNo: PSAM_1 });
    expect(old.every((t) => t.outcome !== 'approved')).toBe(true);
    expect(e2e.bankMtis.length).toBe(sent);
    const fresh = await call([{ step: 'sign-on' }, { step: 'purchase', amountMinor: 200 }], { psamNo: PSAM_2 });
    expect(fresh.map((t) => t.outcome)).toEqual(['approved', 'approved']);
    const history = (await e2e.core.terminalHistory(TERMINAL)).map((h) => h.event);
    expect(history).toEqual([
      'register',
      'bind',
      'activate',
      'downloadKeys',
      'suspend',
      'resume',
      'downloadKeys',
      'replacePsam',
      'downloadKeys',
    ]);
    // The old PSAM cannot be bound again anywhere.
    expect(await run({ kind: 'replacePsam', terminalId: TERMINAL, psamNo: PSAM_1 })).toMatchObject({
      ok: false,
      reason: 'PSAM_NOT_ACTIVE',
    });
  });

  it('a phone heard on a new line waits for approval; moved there, the old line is refused', async () => {
    const moved = await call([{ step: 'purchase', amountMinor: 100 }], { psamNo: PSAM_2, ani: LINE_2 });
    expect(moved[0]?.outcome).not.toBe('approved');
    const pending = await e2e.core.rebindingRequests({ terminalId: TERMINAL });
    expect(pending).toEqual([expect.objectContaining({ ani: LINE_2, psamNo: PSAM_2, status: 'pending' })]);
    // The demo merchant's line belongs to another terminal: a mismatch, not a pending move.
    await call([{ step: 'purchase', amountMinor: 100 }], { psamNo: PSAM_2, ani: '862150000001' });
    expect((await e2e.core.rebindingRequests({ terminalId: TERMINAL })).map((r) => r.ani)).toEqual([LINE_2]);

    expect(await run({ kind: 'moveLine', terminalId: TERMINAL, ani: '862150000001' })).toMatchObject({
      ok: false,
      reason: 'BINDING_CONFLICT',
    });
    expect(await run({ kind: 'moveLine', terminalId: TERMINAL, ani: LINE_2 })).toMatchObject({
      ok: true,
      state: 'in_service',
    });
    expect(await e2e.core.rebindingRequests({ terminalId: TERMINAL })).toEqual([]);
    const there = await call([{ step: 'purchase', amountMinor: 100 }], { psamNo: PSAM_2, ani: LINE_2 });
    expect(there[0]?.outcome).toBe('approved');
    const back = await call([{ step: 'purchase', amountMinor: 100 }], { psamNo: PSAM_2, ani: LINE_1 });
    expect(back[0]?.outcome).not.toBe('approved');
  });

  it('retirement ends the binding, retires the PSAM and destroys the keys; every change is audited with its run', async () => {
    expect(await run({ kind: 'retire', terminalId: TERMINAL }, 'supervisor:bob')).toMatchObject({
      ok: true,
      state: 'retired',
    });
    expect(await run({ kind: 'resume', terminalId: TERMINAL })).toMatchObject({
      ok: false,
      reason: 'TERMINAL_TRANSITION_INVALID',
    });
    const [signOn] = await call([{ step: 'sign-on' }], { psamNo: PSAM_2, ani: LINE_2 });
    expect(signOn?.outcome).not.toBe('approved');
    const keys = await e2e.db.prisma.terminalKey.findUnique({ where: { terminalId: TERMINAL } });
    expect(keys).toBeNull();

    const trail = await e2e.core.auditTrail(`terminal:${TERMINAL}`);
    const actions = trail.map((a) => `${a.action}:${a.outcome}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'order:OK',
        'personalise:OK',
        'activate:TERMINAL_TRANSITION_INVALID',
        'bind:OK',
        'activate:OK',
        'suspend:OK',
        'resume:OK',
        'replacePsam:OK',
        'moveLine:OK',
        'retire:OK',
        'destroyKeys:OK',
      ]),
    );
    expect(trail.find((a) => a.action === 'retire')).toMatchObject({ actor: 'supervisor:bob' });
    for (const a of trail) expect(runIds).toContain(a.workflowId);
    expect(await e2e.core.auditTrail('customer:M0100')).toEqual([
      expect.objectContaining({ action: 'onboard', outcome: 'KYC_INVALID' }),
      expect.objectContaining({ action: 'onboard', outcome: 'OK' }),
    ]);

    // No clear key and no card data anywhere: database, logs, run histories.
    const needles = [tmkHex, TEST_KBPK_HEX, CARD_RICH.pan, CARD_RICH.track2];
    const db = await databaseText(e2e.db);
    for (const n of needles) expect(db).not.toContain(n);
    for (const n of needles) expect(e2e.logText()).not.toContain(n);
    for (const id of runIds) {
      const h = await rawHistoryText(e2e.env, id);
      for (const n of needles) expect(h).not.toContain(n);
    }
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
  });

  describe('through the operator API (spec-validated, roles, four eyes)', () => {
    let server: Server;
    let base = '';
    const alice = newOperatorToken();
    const bob = newOperatorToken();
    const API_TERMINAL = 'T0000200';
    const API_PSAM = 'B1B2C3D4E5F60200';
    const API_LINE = '862150000200';
    // Set to lose the next answer on its way back from Temporal (the run itself is real and completes).
    let loseNextAnswer = false;

    beforeAll(async () => {
      const runner = temporalLifecycleRunner(e2e.env.client, 'services');
      const app = createApp({
        version: 'test',
        checks: [],
        operator: {
          operators: [
            { id: 'alice', role: 'operator', tokenSha256: alice.tokenSha256 },
            { id: 'bob', role: 'supervisor', tokenSha256: bob.tokenSha256 },
          ],
          core: e2e.core,
          prisma: e2e.db.prisma,
          runLifecycle: async (workflowId, command, actor) => {
            runIds.push(workflowId);
            const outcome = await runner(workflowId, command, actor);
            if (loseNextAnswer) {
              loseNextAnswer = false;
              throw new Error('the answer was lost on its way back');
            }
            return outcome;
          },
        },
      });
      server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((r) => server.close(r));
    });

    async function api(
      method: string,
      path: string,
      o: { token?: string; body?: unknown; key?: string } = {},
    ): Promise<{ status: number; body: Record<string, unknown> }> {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }),
          ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(method === 'GET' ? {} : { 'idempotency-key': o.key ?? randomUUID() }),
        },
        ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }

    it('refuses a missing or unknown token, a malformed body and an operator deciding approvals', async () => {
      expect((await api('GET', '/operator/v1/approvals')).status).toBe(401);
      expect((await api('GET', '/operator/v1/approvals', { token: 'fpop_not_a_real_token_at_all' })).status).toBe(401);
      const bad = await api('POST', '/operator/v1/terminals', {
        token: alice.token,
        body: { terminalId: 'T0000200; DROP', customerId: 'M0200', deviceProfileId: 'es201912-v23' },
      });
      expect(bad.status).toBe(400);
      expect(bad.body['code']).toBe('FP1003');
      const extra = await api('POST', '/operator/v1/terminals/T0000200/commands', {
        token: alice.token,
        body: { command: 'activate', key: '00112233445566778899AABBCCDDEEFF' },
      });
      expect(extra.status).toBe(400);
    });

    it('onboards, orders, personalises (four eyes), binds and activates; the phone signs on and its first purchase is approved', async () => {
      const onboard = await api('POST', '/operator/v1/customers', {
        token: alice.token,
        body: { customerId: 'M0200', kind: 'merchant', name: 'API Shop', kyc: { ...KYC, idNumber: 'BL-2026-0200' } },
        key: 'onboard-M0200',
      });
      expect(onboard).toMatchObject({ status: 201, body: { ok: true } });
      // The same Idempotency-Key attaches to the same run: the same answer, nothing done twice.
      const again = await api('POST', '/operator/v1/customers', {
        token: alice.token,
        body: { customerId: 'M0200', kind: 'merchant', name: 'API Shop', kyc: { ...KYC, idNumber: 'BL-2026-0200' } },
        key: 'onboard-M0200',
      });
      expect(again).toMatchObject({ status: 201, body: { ok: true } });
      expect((await e2e.core.auditTrail('customer:M0200')).length).toBe(1);

      expect(
        await api('POST', '/operator/v1/terminals', {
          token: alice.token,
          body: { terminalId: API_TERMINAL, customerId: 'M0200', deviceProfileId: 'es201912-v23' },
        }),
      ).toMatchObject({ status: 201, body: { ok: true, state: 'registered' } });
      const activateEarly = await api('POST', `/operator/v1/terminals/${API_TERMINAL}/commands`, {
        token: alice.token,
        body: { command: 'activate' },
      });
      expect(activateEarly).toMatchObject({ status: 409, body: { ok: false, resultCode: 'FP7002' } });

      const asked = await api('POST', `/operator/v1/terminals/${API_TERMINAL}/commands`, {
        token: alice.token,
        body: { command: 'personalise', psamNo: API_PSAM },
      });
      expect(asked).toMatchObject({ status: 202, body: { status: 'pending' } });
      const approvalId = String(asked.body['approvalId']);
      expect(await e2e.core.personalisedPsam(API_TERMINAL)).toBeUndefined();
      // Four eyes: the requester cannot approve, an operator cannot decide.
      const self = await api('POST', `/operator/v1/approvals/${approvalId}/decision`, {
        token: alice.token,
        body: { decision: 'approve' },
      });
      expect(self.status).toBe(403);
      const listed = await api('GET', '/operator/v1/approvals', { token: bob.token });
      expect((listed.body['data'] as { approvalId: string }[]).map((a) => a.approvalId)).toContain(approvalId);
      const approved = await api('POST', `/operator/v1/approvals/${approvalId}/decision`, {
        token: bob.token,
        body: { decision: 'approve' },
      });
      expect(approved).toMatchObject({ status: 200, body: { status: 'approved', decidedBy: 'supervisor:bob' } });
      const outcome = approved.body['outcome'] as { ok: boolean; tmkKeyBlock: string };
      expect(outcome.ok).toBe(true);
      const { key } = unwrapKeyBlock(deriveKeyBlockKeys('B', Buffer.from(TEST_KBPK_HEX, 'hex')), outcome.tmkKeyBlock);
      const apiTmk = key.toString('hex').toUpperCase();

      expect(
        await api('POST', `/operator/v1/terminals/${API_TERMINAL}/commands`, {
          token: alice.token,
          body: { command: 'bind', psamNo: API_PSAM, ani: API_LINE },
        }),
      ).toMatchObject({ status: 200, body: { ok: true, state: 'bound' } });
      expect(
        await api('POST', `/operator/v1/terminals/${API_TERMINAL}/commands`, {
          token: bob.token,
          body: { command: 'activate' },
        }),
      ).toMatchObject({ status: 200, body: { ok: true, state: 'activated' } });

      const config = e2e.terminal({
        custom: { terminalId: API_TERMINAL, psamNo: API_PSAM, ani: API_LINE, tmkHex: apiTmk },
      });
      const r = await runTerminalScript(
        { config, stateStore: new MemoryStateStore({ stan: 500, batch: '000001', psamCounter: 500 }) },
        [{ step: 'sign-on' }, { step: 'purchase', amountMinor: 990 }, { step: 'hang-up' }],
      );
      expect(r.transactions.map((t) => t.outcome)).toEqual(['approved', 'approved']);

      const view = await api('GET', `/operator/v1/terminals/${API_TERMINAL}`, { token: alice.token });
      expect(view.status).toBe(200);
      expect((view.body['terminal'] as { state: string }).state).toBe('in_service');
      expect((view.body['history'] as { event: string }[]).map((h) => h.event)).toEqual([
        'register',
        'bind',
        'activate',
        'downloadKeys',
      ]);
      const audit = view.body['audit'] as { action: string; actor: string; outcome: string }[];
      expect(audit).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ action: 'personalise', outcome: 'OK', actor: 'operator:alice+supervisor:bob' }),
          expect.objectContaining({
            action: 'activate',
            outcome: 'TERMINAL_TRANSITION_INVALID',
            actor: 'operator:alice',
          }),
        ]),
      );
      const db = await databaseText(e2e.db);
      for (const n of [apiTmk, alice.token, bob.token]) expect(db).not.toContain(n);
    });

    it('an approval whose run answer was lost is approved again: the same run is attached, carried out once, its outcome stored', async () => {
      const terminalId = 'T0000201';
      const psamNo = 'B1B2C3D4E5F60201';
      expect(
        await api('POST', '/operator/v1/terminals', {
          token: alice.token,
          body: { terminalId, customerId: 'M0200', deviceProfileId: 'es201912-v23' },
        }),
      ).toMatchObject({ status: 201, body: { ok: true, state: 'registered' } });
      const asked = await api('POST', `/operator/v1/terminals/${terminalId}/commands`, {
        token: alice.token,
        body: { command: 'personalise', psamNo },
      });
      const approvalId = String(asked.body['approvalId']);
      loseNextAnswer = true;
      const lost = await api('POST', `/operator/v1/approvals/${approvalId}/decision`, {
        token: bob.token,
        body: { decision: 'approve' },
      });
      expect(lost.status).toBe(500);
      const row = await e2e.db.prisma.operatorApproval.findUniqueOrThrow({ where: { id: approvalId } });
      expect({ status: row.status, outcome: row.outcome }).toEqual({ status: 'approved', outcome: null });
      const runsBefore = runIds.length;
      const again = await api('POST', `/operator/v1/approvals/${approvalId}/decision`, {
        token: bob.token,
        body: { decision: 'approve' },
      });
      expect(again).toMatchObject({ status: 200, body: { status: 'approved', outcome: { ok: true } } });
      // The same run id (the approval's), not a second personalisation.
      expect(runIds.slice(runsBefore)).toEqual([runIds[runsBefore - 1]]);
      expect(
        (await e2e.core.auditTrail(`terminal:${terminalId}`)).filter((a) => a.action === 'personalise'),
      ).toHaveLength(1);
      const stored = await e2e.db.prisma.operatorApproval.findUniqueOrThrow({ where: { id: approvalId } });
      expect(stored.outcome).toMatchObject({ ok: true });
      // A reject after that changes nothing.
      const late = await api('POST', `/operator/v1/approvals/${approvalId}/decision`, {
        token: bob.token,
        body: { decision: 'reject' },
      });
      expect(late.body).toMatchObject({ status: 'approved', outcome: { ok: true } });
      expect(runIds.length).toBe(runsBefore + 1);
    });

    it('the fixpay core CLI drives the same API: suspend, show, and a clear error for a bad command', async () => {
      const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
        try {
          const { stdout, stderr } = await promisify(execFile)(
            process.execPath,
            [join(__dirname, '..', '..', 'bin', 'fixpay.js'), 'core', ...args, '--api', base],
            { env: { ...process.env, FIXPAY_OPERATOR_BEARER: alice.token }, timeout: 120_000 },
          );
          return { code: 0, out: stdout, err: stderr };
        } catch (e) {
          const x = e as { code?: number; stdout?: string; stderr?: string };
          return { code: x.code ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' };
        }
      };
      const suspended = await cli('terminal', API_TERMINAL, 'suspend');
      expect(suspended.code).toBe(0);
      expect(JSON.parse(suspended.out)).toMatchObject({ ok: true, state: 'suspended' });
      const shown = await cli('show', API_TERMINAL);
      expect((JSON.parse(shown.out) as { terminal: { state: string } }).terminal.state).toBe('suspended');
      const bad = await cli('terminal', API_TERMINAL, 'explode');
      expect(bad.code).toBe(1);
      expect(JSON.parse(bad.out)).toMatchObject({ code: 'FP1003' });
      const again = await cli('terminal', API_TERMINAL, 'suspend');
      expect(again.code).toBe(1);
      expect(JSON.parse(again.out)).toMatchObject({ ok: false, resultCode: 'FP7002' });
    });
  });
});
