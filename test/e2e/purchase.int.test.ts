/**
 * End to end (issue 7): the terminal simulator dials the access node over real FSK audio (TCP
 * PCM), the access handler starts the service workflow on a real Temporal dev server, the
 * interpreter runs the purchase definition with the real activities (database, ledger, software
 * HSM, card network gateway to the bank simulator) and the signed answer goes back on the line.
 */
import { MemoryStateStore } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import type { E2e } from './harness';
import { CARD_RICH, cardNeedles, databaseText, ledgerBalanced, rawHistoryText, startE2e } from './harness';

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
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
    const needles = cardNeedles();
    const db = await databaseText(e2e.db);
    for (const n of needles) expect(db).not.toContain(n);
    for (const id of new Set(e2e.workflowIds)) {
      const history = await rawHistoryText(e2e.env, id);
      for (const n of needles) expect(history).not.toContain(n);
      expect(id).not.toMatch(/\d{12,19}/);
    }
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
