/**
 * Card services from the phone end to end (ADR 0024, issue #13), over real FSK audio (TCP PCM):
 * the simulated phone picks "Cards → Transfer" or "Cards → Repay credit card" from its downloaded
 * menu, reads the card and its PIN, keys the target card number and the amount, and sends the
 * generic service request; the run verifies it, asks the phone to confirm the amount and the
 * masked target, and only on YES asks the bank simulator (the real card network gateway) to move
 * the money. A decline, a NO and bad inputs move nothing; no card number or PIN block is in clear
 * in the logs, the database or the Temporal history.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { accountIdFor } from '../../demo/seed';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import type { ServiceResult } from '../../services/runtime/plan';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { PosTerminal } from '../../simulator/terminal/terminal';
import type { E2e } from './harness';
import { CARD_POOR, CARD_RICH, cardNeedles, databaseText, ledgerBalanced, rawHistoryText, startE2e } from './harness';

const DEFINITIONS = join(__dirname, '..', '..', 'definitions');
/** The bank simulator's credit card (simulator/bank/accounts.ts). */
const CREDIT_CARD = '6225880000000027';
const MERCHANT = accountIdFor('merchant:M0001');

async function deploy(e2e: E2e, names: readonly string[]): Promise<void> {
  for (const d of compileFiles(
    names.map((n) => join(DEFINITIONS, n)),
    defaultCatalogue(),
  )) {
    if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
    await e2e.registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
    await e2e.registry.promote(d.plan.serviceId, d.plan.version);
  }
}

let nextStart = 7_000;
/** The demo merchant's phone (T0000001) with `card` in its reader, on fresh STANs. */
function phone(e2e: E2e, card: { track2: string; pin: string } = CARD_RICH): PosTerminal {
  nextStart += 100;
  return new PosTerminal(e2e.terminal({ card }), {
    stateStore: new MemoryStateStore({ stan: nextStart, batch: '000001', psamCounter: nextStart }),
  });
}

async function resultOf(e2e: E2e, code: string, stan: string | undefined): Promise<ServiceResult> {
  const id = e2e.workflowIds.find((w) => w.startsWith(`${code}:T0000001:${stan ?? '?'}:`)) ?? '';
  expect(id).not.toBe('');
  return e2e.env.client.workflow.getHandle(id).result() as Promise<ServiceResult>;
}

async function merchant(e2e: E2e): Promise<{ posted: bigint; pending: bigint }> {
  const [a] = await e2e.ledger.lookupAccounts([MERCHANT]);
  return { posted: a?.creditsPosted ?? -1n, pending: a?.creditsPending ?? -1n };
}

const balance = (e2e: E2e, pan: string): number => e2e.bank.account(pan)?.balanceMinor ?? Number.NaN;
/** Financial requests (0200) and reversals (0400/0401) the bank received since `from`. */
const bankSince = (e2e: E2e, from: number): string[] => e2e.bankMtis.slice(from).filter((m) => m !== '0800');

describe('card services from the phone end to end over FSK audio', () => {
  jest.setTimeout(240_000);
  let e2e: E2e;

  beforeAll(async () => {
    e2e = await startE2e();
    await deploy(e2e, ['terminal-menu.yaml', 'transfer.yaml', 'credit-card-repayment.yaml']);
  }, 240_000);
  afterAll(async () => {
    await e2e.stop();
  });
  afterEach(async () => {
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
    const needles = [...cardNeedles(), CREDIT_CARD];
    const db = await databaseText(e2e.db);
    for (const n of needles) expect(db).not.toContain(n);
    const logs = e2e.logText();
    for (const n of needles) expect(logs).not.toContain(n);
    for (const id of new Set(e2e.workflowIds)) {
      const history = await rawHistoryText(e2e.env, id);
      for (const n of needles) expect(history).not.toContain(n);
      expect(id).not.toMatch(/\d{12,19}/);
    }
  });

  it('the menu offers both as card services with a Luhn-checked target', async () => {
    const t = phone(e2e);
    expect((await t.signOn()).outcome).toBe('approved');
    expect((await t.downloadMenu()).outcome).toBe('approved');
    const entries = t.menu?.entries.filter((e) => e.path[0] === 'Cards') ?? [];
    expect(entries.map((e) => [e.code, e.card])).toEqual([
      ['credit-card-repayment', true],
      ['transfer', true],
    ]);
    for (const e of entries)
      expect(e.inputs.map((i) => [i.name, i.kind, i.luhn])).toEqual([
        ['target', 'digits', true],
        ['amount', 'amount', undefined],
      ]);
    await t.hangUp();
  });

  it('transfer, YES: the card is debited and the target credited once; the merchant posted; receipt masked', async () => {
    const rich = balance(e2e, CARD_RICH.pan);
    const poor = balance(e2e, CARD_POOR.pan);
    const before = await merchant(e2e);
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const r = await t.service('transfer', { target: CARD_POOR.pan, amount: '2500' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens).toHaveLength(1);
    const screen = r.screens[0]?.lines.join(' ') ?? '';
    expect(screen).toMatch(/SEND 25\.00 TO/);
    expect(screen).toContain('0019');
    expect(screen).not.toContain(CARD_POOR.pan);
    expect(r.receipt.join('\n')).toMatch(/CARD TRANSFER[\s\S]*0019[\s\S]*AMOUNT 25\.00/);
    expect(r.receipt.join('\n')).not.toContain(CARD_POOR.pan);
    await t.hangUp();
    expect(balance(e2e, CARD_RICH.pan)).toBe(rich - 2500);
    expect(balance(e2e, CARD_POOR.pan)).toBe(poor + 2500);
    const after = await merchant(e2e);
    expect(after.posted - before.posted).toBe(2500n);
    expect(after.pending).toBe(before.pending);
    expect(await resultOf(e2e, 'transfer', r.stan)).toMatchObject({ outcome: 'COMPLETED' });
  });

  it('credit-card repayment, YES: the credit card owes less by the amount, the paying card is debited', async () => {
    const rich = balance(e2e, CARD_RICH.pan);
    const credit = balance(e2e, CREDIT_CARD);
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const r = await t.service('credit-card-repayment', { target: CREDIT_CARD, amount: '3000' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens[0]?.lines.join(' ')).toMatch(/REPAY 30\.00 TO/);
    await t.hangUp();
    expect(balance(e2e, CARD_RICH.pan)).toBe(rich - 3000);
    expect(balance(e2e, CREDIT_CARD)).toBe(credit + 3000);
    expect(await resultOf(e2e, 'credit-card-repayment', r.stan)).toMatchObject({ outcome: 'COMPLETED' });
  });

  it('transfer declined for insufficient funds: answered 51, nothing moved, the merchant reservation voided', async () => {
    const rich = balance(e2e, CARD_RICH.pan);
    const poor = balance(e2e, CARD_POOR.pan);
    const before = await merchant(e2e);
    const t = phone(e2e, CARD_POOR);
    await t.signOn();
    await t.downloadMenu();
    const r = await t.service('transfer', { target: CARD_RICH.pan, amount: String(poor + 10_000) }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '51' });
    expect(r.receipt).toEqual([]);
    await t.hangUp();
    expect(balance(e2e, CARD_RICH.pan)).toBe(rich);
    expect(balance(e2e, CARD_POOR.pan)).toBe(poor);
    expect(await resultOf(e2e, 'transfer', r.stan)).toMatchObject({ outcome: 'COMPENSATED', code: 'DECLINED' });
    expect(await merchant(e2e)).toEqual(before);
  });

  it('NO at the prompt: answered 17, the network never asked, nothing moved', async () => {
    const rich = balance(e2e, CARD_RICH.pan);
    const before = await merchant(e2e);
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const sent = e2e.bankMtis.length;
    const r = await t.service('transfer', { target: CARD_POOR.pan, amount: '1500' }, [{ key: '2' }]);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '17' });
    await t.hangUp();
    expect(bankSince(e2e, sent)).toEqual([]);
    expect(balance(e2e, CARD_RICH.pan)).toBe(rich);
    expect(await resultOf(e2e, 'transfer', r.stan)).toMatchObject({ outcome: 'FAILED', code: 'NOT_CONFIRMED' });
    expect(await merchant(e2e)).toEqual(before);
  });

  it('a transfer to the paying card itself: refused before the network after YES, the reservation voided (96)', async () => {
    const rich = balance(e2e, CARD_RICH.pan);
    const before = await merchant(e2e);
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const sent = e2e.bankMtis.length;
    const r = await t.service('transfer', { target: CARD_RICH.pan, amount: '1100' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '96' });
    await t.hangUp();
    expect(await resultOf(e2e, 'transfer', r.stan)).toMatchObject({ outcome: 'COMPENSATED', code: 'SVC_STEP_FAILED' });
    expect(bankSince(e2e, sent)).toEqual([]);
    expect(balance(e2e, CARD_RICH.pan)).toBe(rich);
    expect(await merchant(e2e)).toEqual(before);
  });

  it('hang-up at the prompt: the run is told, nothing reaches the network, nothing moves', async () => {
    const rich = balance(e2e, CARD_RICH.pan);
    const before = await merchant(e2e);
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const sent = e2e.bankMtis.length;
    const r = await t.service('credit-card-repayment', { target: CREDIT_CARD, amount: '1200' }, ['hang-up']);
    expect(r.outcome).toBe('dropped');
    expect(await resultOf(e2e, 'credit-card-repayment', r.stan)).toMatchObject({ code: 'TERMINAL_HUNG_UP' });
    expect(bankSince(e2e, sent)).toEqual([]);
    expect(balance(e2e, CARD_RICH.pan)).toBe(rich);
    expect(await merchant(e2e)).toEqual(before);
  });

  it('refuses a target failing its check digit, a card service without the card, and a card sent to a service without one (30), starting nothing', async () => {
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const started = e2e.workflowIds.length;
    const sent = e2e.bankMtis.length;
    const badLuhn = await t.service('transfer', { target: '6225880000000018', amount: '1000' }, []);
    expect(badLuhn).toMatchObject({ outcome: 'declined', responseCode: '30' });
    const letters = await t.service('transfer', { target: '62258800000000AB', amount: '1000' }, []);
    expect(letters).toMatchObject({ outcome: 'declined', responseCode: '30' });
    const noCard = await t.service('transfer', { target: CARD_POOR.pan, amount: '1000' }, [], { card: false });
    expect(noCard).toMatchObject({ outcome: 'declined', responseCode: '30' });
    const cardToMenu = await t.service('terminal-menu', {}, [], { card: true });
    expect(cardToMenu.outcome).toBe('declined');
    await t.hangUp();
    expect(e2e.workflowIds.length).toBe(started);
    expect(bankSince(e2e, sent)).toEqual([]);
  });
});
