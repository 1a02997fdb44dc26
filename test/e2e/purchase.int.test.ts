/**
 * End to end (issue 7): the terminal simulator dials the access node over real FSK audio (TCP
 * PCM), the access handler starts the service workflow on a real Temporal dev server, the
 * interpreter runs the purchase definition with the real activities (database, ledger, software
 * HSM, card network gateway to the bank simulator) and the signed answer goes back on the line.
 */
import { accountIdFor } from '../../demo/seed';
import { waitFor } from '../../simulator/bank/harness';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { buildFinancialRequest, parseResponse, parseTrack2 } from '../../simulator/terminal/messages';
import { runTerminalScript } from '../../simulator/terminal/script';
import type { E2e } from './harness';
import { CARD_POOR, CARD_RICH, cardNeedles, databaseText, ledgerBalanced, rawHistoryText, startE2e } from './harness';

/** After every test: the ledger balances, and no card data is in the database, logs, history or ids. */
async function expectBalancedAndNoCardData(e2e: E2e): Promise<void> {
  expect(await ledgerBalanced(e2e.ledger)).toBe(true);
  const needles = cardNeedles();
  const db = await databaseText(e2e.db);
  for (const n of needles) expect(db).not.toContain(n);
  const logs = e2e.logText();
  expect(logs.length).toBeGreaterThan(0);
  for (const n of needles) expect(logs).not.toContain(n);
  for (const id of new Set(e2e.workflowIds)) {
    const history = await rawHistoryText(e2e.env, id);
    for (const n of needles) expect(history).not.toContain(n);
    expect(id).not.toMatch(/\d{12,19}/);
  }
}

describe('purchase end to end over FSK audio', () => {
  jest.setTimeout(180_000);
  let e2e: E2e;

  beforeAll(async () => {
    e2e = await startE2e();
  }, 180_000);
  afterAll(async () => {
    await e2e.stop();
  });
  afterEach(async () => {
    await expectBalancedAndNoCardData(e2e);
  });

  it('TCP PCM: sign-on then an approved purchase; the bank is debited once, the merchant credited', async () => {
    const before = e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
    const r = await runTerminalScript(
      { config: e2e.terminal(), stateStore: new MemoryStateStore({ stan: 100, batch: '000001', psamCounter: 100 }) },
      [{ step: 'sign-on' }, { step: 'purchase', amountMinor: 1250 }, { step: 'hang-up' }],
    );
    const [signOn, purchase] = r.transactions;
    expect(signOn).toMatchObject({ kind: 'sign-on', outcome: 'approved' });
    expect(purchase).toMatchObject({ kind: 'purchase', outcome: 'approved', responseCode: '00' });
    expect(purchase?.authorizationCode).toMatch(/\S/);
    expect(e2e.bank.account(CARD_RICH.pan)?.balanceMinor).toBe(before - 1250);
    expect(e2e.workflowIds.some((id) => id.startsWith('purchase:T0000001:000102:'))).toBe(true);
    console.log(
      `e2e TCP PCM purchase: line time ${purchase?.lineTimeMs} ms, wall ${purchase?.wallTimeMs} ms; sign-on wall ${signOn?.wallTimeMs} ms`,
    );
  });
});

/** Each test starts the terminal on fresh STANs and a PSAM counter above everything used before. */
let nextStart = 1_000;
function freshState(): MemoryStateStore {
  nextStart += 100;
  return new MemoryStateStore({ stan: nextStart, batch: '000001', psamCounter: nextStart });
}

describe('terminal services end to end: refusals, faults, noise, SIP', () => {
  jest.setTimeout(180_000);
  let e2e: E2e;

  beforeAll(async () => {
    e2e = await startE2e();
  }, 180_000);
  afterAll(async () => {
    await e2e.stop();
  });
  afterEach(async () => {
    await expectBalancedAndNoCardData(e2e);
  });

  it('balance inquiry shows the issuer balance; a wrong PIN is declined with 55', async () => {
    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'balance' },
      { step: 'balance', pin: '999999' },
      { step: 'purchase', amountMinor: 500, pin: '999999' },
      { step: 'hang-up' },
    ]);
    const [, balance, badPinBalance, badPinPurchase] = r.transactions;
    expect(balance).toMatchObject({ kind: 'balance', outcome: 'approved' });
    expect(balance?.balanceMinor).toBe(e2e.bank.account(CARD_RICH.pan)?.balanceMinor);
    expect(badPinBalance).toMatchObject({ outcome: 'declined', responseCode: '55' });
    expect(badPinPurchase).toMatchObject({ outcome: 'declined', responseCode: '55' });
  });

  it('a terminal registered as Bell 202 is answered in Bell 202 (its caller number picks the profile) and transacts', async () => {
    const before = e2e.engine.metrics().profilesResolved;
    const config = e2e.terminal({ demoTerminal: 1 });
    expect(config.profile).toBe('bell202-crc16');
    const r = await runTerminalScript({ config, stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'balance' },
      { step: 'hang-up' },
    ]);
    expect(r.transactions[0]).toMatchObject({ kind: 'sign-on', outcome: 'approved' });
    expect(r.transactions[1]).toMatchObject({ kind: 'balance', outcome: 'approved' });
    expect(e2e.engine.metrics().profilesResolved).toBeGreaterThan(before);
    expect(e2e.logText()).toMatch(
      /"profileId":"bell202-crc16"[^\n]*call answered|call answered[^\n]*"profileId":"bell202-crc16"/,
    );
  });

  it('insufficient funds: declined with 51, the reservation voided, the bank balance unchanged', async () => {
    const before = e2e.bank.account(CARD_POOR.pan)?.balanceMinor ?? 0;
    const sent = e2e.bankMtis.length;
    const r = await runTerminalScript({ config: e2e.terminal({ card: CARD_POOR }), stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: before + 100 },
      { step: 'hang-up' },
    ]);
    expect(r.transactions[1]).toMatchObject({ outcome: 'declined', responseCode: '51' });
    expect(e2e.bank.account(CARD_POOR.pan)?.balanceMinor).toBe(before);
    // The run (and its compensations) finished: a declined original is never reversed at the network.
    const stan = r.transactions[1]?.stan ?? '';
    const id = e2e.workflowIds.find((w) => w.startsWith(`purchase:T0000001:${stan}:`)) ?? '';
    expect(id).not.toBe('');
    await e2e.env.client.workflow
      .getHandle(id)
      .result()
      .catch(() => undefined);
    expect(e2e.bankMtis.slice(sent).filter((m) => m === '0400' || m === '0401')).toEqual([]);
    const [merchant] = await e2e.ledger.lookupAccounts([accountIdFor('merchant:M0001')]);
    expect(merchant?.creditsPending).toBe(0n);
  });

  it('a decline rewritten to 00 on the network link fails its MAC: no approval, the reversal lands, nothing posted', async () => {
    const before = e2e.bank.account(CARD_POOR.pan)?.balanceMinor ?? 0;
    const sent = e2e.bankMtis.length;
    const [merchantBefore] = await e2e.ledger.lookupAccounts([accountIdFor('merchant:M0001')]);
    e2e.bankServer.inject({ kind: 'tamper-approve', mti: '0200' });
    const r = await runTerminalScript({ config: e2e.terminal({ card: CARD_POOR }), stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: before + 90_000 },
      { step: 'hang-up' },
    ]);
    const purchase = r.transactions[1];
    expect(purchase).toMatchObject({ outcome: 'declined', responseCode: '98' });
    const stan = purchase?.stan ?? '';
    const id = e2e.workflowIds.find((w) => w.startsWith(`purchase:T0000001:${stan}:`)) ?? '';
    const result: unknown = await e2e.env.client.workflow.getHandle(id).result();
    expect(result).toMatchObject({ outcome: 'COMPENSATED' });
    await waitFor(() => e2e.bankMtis.slice(sent).some((m) => m === '0400' || m === '0401'), 20_000);
    expect(e2e.bank.account(CARD_POOR.pan)?.balanceMinor).toBe(before);
    const [merchant] = await e2e.ledger.lookupAccounts([accountIdFor('merchant:M0001')]);
    expect(merchant?.creditsPending).toBe(0n);
    expect(merchant?.creditsPosted).toBe(merchantBefore?.creditsPosted);
  });

  it('a run that fails outright (purchase before any host sign-on) still answers the terminal promptly: 96', async () => {
    // The terminal believes it is signed on (working keys from an earlier session under the same
    // TMK), but the host never signed this terminal on: it has no working keys to translate the PIN.
    const earlier = freshState();
    const signOn = await runTerminalScript({ config: e2e.terminal(), stateStore: earlier }, [
      { step: 'sign-on' },
      { step: 'hang-up' },
    ]);
    expect(signOn.transactions[0]?.outcome).toBe('approved');
    const state = new MemoryStateStore({ ...earlier.load(), stan: nextStart + 50, psamCounter: nextStart + 50 });
    const started = Date.now();
    const r = await runTerminalScript({ config: e2e.terminal({ demoTerminal: 1 }), stateStore: state }, [
      { step: 'purchase', amountMinor: 200 },
      { step: 'hang-up' },
    ]);
    const elapsedMs = Date.now() - started;
    expect(r.transactions[0]).toMatchObject({ kind: 'purchase', outcome: 'declined', responseCode: '96' });
    expect(r.transactions[0]?.display.join(' ')).toContain('DECLINED');
    // Well inside the access node's answer timeout (25 s): the failure is answered, not waited out.
    expect(elapsedMs).toBeLessThan(15_000);
  });

  it('a wrong caller number is refused and nothing reaches the card network', async () => {
    const sent = e2e.bankMtis.length;
    const r = await runTerminalScript(
      { config: e2e.terminal({ callerNumber: '862150009999' }), stateStore: freshState() },
      [{ step: 'sign-on' }, { step: 'hang-up' }],
    );
    expect(r.transactions[0]?.outcome).not.toBe('approved');
    expect(e2e.bankMtis.length).toBe(sent);
  });

  it('a forged MAC and a replayed PSAM counter are refused before the card network', async () => {
    const state = freshState();
    const ok = await runTerminalScript({ config: e2e.terminal(), stateStore: state }, [
      { step: 'sign-on' },
      { step: 'hang-up' },
    ]);
    expect(ok.transactions[0]?.outcome).toBe('approved');
    const sent = e2e.bankMtis.length;
    const config = e2e.terminal();
    const identity = {
      terminalId: config.terminalId,
      merchantId: config.merchantId,
      tpdu: { id: 0x60, destination: config.tpdu.destination, source: config.tpdu.source },
      applicationHeader: config.applicationHeader,
      currency: config.currency,
      operatorCode: config.operatorCode,
    };
    const forged = buildFinancialRequest(
      identity,
      {
        kind: 'purchase',
        stan: nextStart + 50,
        amountMinor: 100,
        track2: parseTrack2(CARD_RICH.track2),
        pinBlock: new Uint8Array(8),
        batch: '000001',
      },
      {
        psam: {
          serial: config.psam.serial,
          terminalNumber: config.psam.terminalNumber,
          random: '01020304',
          counter: 60_000,
        },
        mac: () => new Uint8Array(8).fill(0x41),
      },
    );
    const answer = await e2e.handler({
      nodeId: 'e2e',
      lineId: 'forged',
      callerNumber: config.line.callerNumber,
      calledNumber: undefined,
      profileId: 'es201912-v23',
      payload: forged.payload,
    });
    expect(parseResponse(answer, forged, identity).responseCode).toBe('A0');

    // The same terminal state rewound: a valid MAC under an old PSAM counter is a replay.
    const rewound = new MemoryStateStore({ ...state.load(), stan: nextStart + 60, psamCounter: nextStart - 50 });
    const replay = await runTerminalScript({ config: e2e.terminal(), stateStore: rewound }, [
      { step: 'balance' },
      { step: 'hang-up' },
    ]);
    expect(replay.transactions[0]).toMatchObject({ outcome: 'declined', responseCode: 'A0' });
    expect(e2e.bankMtis.length).toBe(sent);
  });

  it('a request repeated after the call dropped attaches to the same run and is charged once', async () => {
    const before = e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 700, dropAfterSend: true },
      { step: 'wait', ms: 500 },
      { step: 'repeat' },
      { step: 'hang-up' },
    ]);
    expect(r.transactions[2]).toMatchObject({ outcome: 'approved', repeated: true });
    expect(e2e.bank.account(CARD_RICH.pan)?.balanceMinor).toBe(before - 700);
  });

  it('a call dropped after authorisation: the phone cancels and reverses at its next call (ADR 0012), so the reversal lands and nothing is posted', async () => {
    const before = e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 800, dropAfterSend: true },
      { step: 'wait', ms: 500 },
      { step: 'settle' },
      { step: 'hang-up' },
    ]);
    const stan = r.transactions[1]?.stan ?? '';
    expect(r.transactions[1]).toMatchObject({ outcome: 'dropped' });
    expect(r.transactions[1]?.display.slice(0, 2)).toEqual(['TRANSACTION', 'CANCELLED']);
    expect(r.reversals).toHaveLength(1);
    expect(r.reversals[0]).toMatchObject({ kind: 'reversal', stan, outcome: 'approved', responseCode: '00' });
    const idOf = (): string | undefined => e2e.workflowIds.find((w) => w.startsWith(`purchase:T0000001:${stan}:`));
    await waitFor(() => idOf() !== undefined, 20_000);
    const result: unknown = await e2e.env.client.workflow.getHandle(idOf() ?? '').result();
    expect(result).toMatchObject({ outcome: 'COMPENSATED', code: 'REVERSED_BY_TERMINAL' });
    await waitFor(() => e2e.bank.reversalsOf('T0000001', stan) > 0, 20_000);
    await waitFor(() => (e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0) === before, 20_000);
    const [merchant] = await e2e.ledger.lookupAccounts([accountIdFor('merchant:M0001')]);
    expect(merchant?.creditsPending).toBe(0n);
  });

  it('issuer timeout: the terminal is told 98, the reversal lands at the bank, the reservation is voided', async () => {
    const before = e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
    e2e.bankServer.inject({ kind: 'drop', mti: '0200' });
    const state = freshState();
    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: state }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 900 },
      { step: 'hang-up' },
    ]);
    const purchase = r.transactions[1];
    expect(purchase).toMatchObject({ outcome: 'declined', responseCode: '98' });
    const stan = purchase?.stan ?? '';
    await waitFor(() => e2e.bank.reversalsOf('T0000001', stan) > 0, 20_000);
    await waitFor(() => (e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0) === before, 20_000);
    const id = e2e.workflowIds.find((w) => w.startsWith(`purchase:T0000001:${stan}:`)) ?? '';
    const result: unknown = await e2e.env.client.workflow.getHandle(id).result();
    expect(result).toMatchObject({ outcome: 'COMPENSATED', code: 'DECLINED' });
    const [merchant] = await e2e.ledger.lookupAccounts([accountIdFor('merchant:M0001')]);
    expect(merchant?.creditsPending).toBe(0n);
  });

  it('line noise at 15 dB SNR: sign-on and purchase succeed', async () => {
    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: freshState(), snrDb: 15, noiseSeed: 7 }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 300 },
      { step: 'hang-up' },
    ]);
    expect(r.transactions.map((t) => t.outcome)).toEqual(['approved', 'approved']);
  });

  it('SIP/RTP: sign-on and an approved purchase through the SIP driver', async () => {
    const r = await runTerminalScript({ config: e2e.terminal({ transport: 'sip' }), stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 400 },
      { step: 'hang-up' },
    ]);
    expect(r.transactions.map((t) => t.outcome)).toEqual(['approved', 'approved']);
    console.log(
      `e2e SIP/RTP purchase: line time ${r.transactions[1]?.lineTimeMs} ms, wall ${r.transactions[1]?.wallTimeMs} ms`,
    );
  });
});
