/**
 * The business core's lifecycle end to end (ADR 0020): every step is a Temporal run
 * (terminalLifecycleWorkflow) against the real worker, database and software HSM; the phone is the
 * terminal simulator over real FSK audio. Nothing of the new merchant is seeded: it is onboarded,
 * its phone ordered, personalised (TMK out of the HSM under the key-loading transport key), bound,
 * activated, signed on and used; then suspended, resumed, given a new PSAM, moved to another line
 * and retired — each with the refusals a wrong state must give.
 */
import { randomUUID } from 'node:crypto';
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
});
