/**
 * Value-added services from the phone over real FSK audio (TCP PCM): mobile top-up, PIN top-up
 * (game card) and bill payment chosen from the menu the phone downloads, run by the shipped
 * definitions against the real bill and top-up simulators over signed HTTP. After each test the
 * ledger balances, nothing stays held, and no card data or top-up PIN is in clear in the logs,
 * the database or the raw workflow histories.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ledgerReferenceFor } from '../../core/model';
import { accountIdFor } from '../../demo/seed';
import { ProviderDirectory } from '../../gateways/providers/profile';
import type { VoucherKey } from '../../gateways/providers/voucher';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import type { ServiceResult } from '../../services/runtime/plan';
import { ProviderSimulator } from '../../simulator/providers/server';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { PosTerminal } from '../../simulator/terminal/terminal';
import { PROVIDERS_DIR } from '../../worker/platform-activities';
import type { E2e } from './harness';
import { cardNeedles, databaseText, decodedHistoryText, ledgerBalanced, rawHistoryText, startE2e } from './harness';

const DEFS = join(__dirname, '..', '..', 'definitions');
const HOUSEHOLD = ledgerReferenceFor({ id: 'H0001', kind: 'household' });
const BILL_SECRET = 'sandbox-bills-secret-0001';
const TOPUP_SECRET = 'sandbox-topup-secret-0001';

async function deploy(e2e: E2e, files: readonly string[]): Promise<void> {
  for (const d of compileFiles(files, defaultCatalogue())) {
    if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
    await e2e.registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
    await e2e.registry.promote(d.plan.serviceId, d.plan.version);
  }
}

let nextStart = 7_000;
function phone(e2e: E2e): PosTerminal {
  nextStart += 100;
  // T0000002: the demo household, a Bell 202 phone with a 4 x 20 display and a 32-column printer.
  return new PosTerminal(e2e.terminal({ demoTerminal: 1 }), {
    stateStore: new MemoryStateStore({ stan: nextStart, batch: '000001', psamCounter: nextStart }),
  });
}

describe('value-added services from the phone over FSK audio', () => {
  jest.setTimeout(300_000);
  let e2e: E2e;
  let bills: ProviderSimulator;
  let topups: ProviderSimulator;
  let dir: string;
  const voucherKey: VoucherKey = { id: 'e2e', key: randomBytes(32) };

  async function household(): Promise<{ posted: bigint; pending: bigint }> {
    const [a] = await e2e.ledger.lookupAccounts([accountIdFor(HOUSEHOLD)]);
    return { posted: a?.debitsPosted ?? -1n, pending: a?.debitsPending ?? -1n };
  }
  async function resultOf(code: string, stan: string | undefined): Promise<ServiceResult> {
    const id = e2e.workflowIds.find((w) => w.startsWith(`${code}:T0000002:${stan ?? '?'}:`)) ?? '';
    expect(id).not.toBe('');
    return e2e.env.client.workflow.getHandle(id).result() as Promise<ServiceResult>;
  }
  const runId = (code: string, stan: string | undefined): string =>
    e2e.workflowIds.find((w) => w.startsWith(`${code}:T0000002:${stan ?? '?'}:`)) ?? '';
  const amountOf = (r: ServiceResult): bigint => BigInt(Number((r.output as { amount?: unknown }).amount));
  const chargesFor = (sim: ProviderSimulator, workflowId: string) =>
    sim.transactions().filter((t) => t.reference.startsWith(`${workflowId}/`));

  beforeAll(async () => {
    const common = { pendingMs: 3_000, timeoutMs: 5_000, lateCallbackMs: 1_000 };
    bills = new ProviderSimulator({
      kind: 'biller',
      keys: { 'fixpay-demo': { scheme: 'hmac-sha256', secret: BILL_SECRET } },
      ...common,
    });
    topups = new ProviderSimulator({
      kind: 'topup',
      keys: { 'fixpay-demo': { scheme: 'hmac-sha256', secret: TOPUP_SECRET } },
      pinProducts: ['game-100', 'qcoin-10'],
      // The aggregator knows an operator B (150…) our data does not list yet (a test adds its file).
      operatorPrefixes: { '138': 'mobile-a', '150': 'mobile-b' },
      ...common,
    });
    const b = await bills.start();
    const t = await topups.start();
    // The shipped providers, pointed at this test's simulators; watched (new files are read at once).
    dir = mkdtempSync(join(tmpdir(), 'fixpay-vas-'));
    cpSync(PROVIDERS_DIR, dir, { recursive: true });
    for (const [file, url] of [
      ['bills-sandbox.yaml', b.url],
      ['topup-sandbox.yaml', t.url],
    ] as const) {
      const text = readFileSync(join(dir, file), 'utf8')
        .replace(/endpoint: .*/, `endpoint: ${url}`)
        .replace(/requestMs: \d+/, 'requestMs: 2000');
      writeFileSync(join(dir, file), text);
    }
    const directory = new ProviderDirectory(dir, 0);
    expect(directory.current().problems).toEqual([]);
    e2e = await startE2e({ providers: { directory, voucherKey } });
    await deploy(
      e2e,
      ['terminal-menu', 'mobile-topup', 'voucher-topup', 'bill-payment'].map((f) => join(DEFS, `${f}.yaml`)),
    );
  }, 300_000);
  afterAll(async () => {
    await e2e.stop();
    await bills.stop();
    await topups.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
    expect((await household()).pending).toBe(0n);
    const pins = topups
      .transactions()
      .map((t) => t.pin)
      .filter((p) => p !== '');
    const needles = [...cardNeedles(), ...pins];
    const db = await databaseText(e2e.db);
    const logs = e2e.logText();
    for (const n of needles) {
      expect(db).not.toContain(n);
      expect(logs).not.toContain(n);
    }
    for (const id of new Set(e2e.workflowIds)) {
      const history = await rawHistoryText(e2e.env, id);
      for (const n of needles) expect(history).not.toContain(n);
    }
  });

  it('the three services are on the menu the phone downloads', async () => {
    const t = phone(e2e);
    expect((await t.signOn()).outcome).toBe('approved');
    expect(await t.downloadMenu()).toMatchObject({ outcome: 'approved', changed: true });
    expect(t.menu?.entries.map((e) => [e.code, e.path.join('/')])).toEqual([
      ['bill-payment', 'Bills/Pay a bill'],
      ['voucher-topup', 'Top-up/Game card or Q coin'],
      ['mobile-topup', 'Top-up/Mobile'],
    ]);
    await t.hangUp();
  });

  it('mobile top-up: charged once (amount + fee), receipt printed', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const r = await t.service('mobile-topup', { operator: '1', msisdn: '13800138000', amount: '5000' }, []);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.receipt).toEqual(expect.arrayContaining(['MOBILE TOP-UP', 'NUMBER 13800138000', 'AMOUNT 50.00']));
    await t.hangUp();
    expect(await resultOf('mobile-topup', r.stan)).toMatchObject({ outcome: 'COMPLETED', output: { fee: 100 } });
    expect((await household()).posted - before.posted).toBe(5100n);
    expect(chargesFor(topups, runId('mobile-topup', r.stan)).map((x) => [x.state, x.charged])).toEqual([
      ['COMPLETED', 1],
    ]);
  });

  it('game card: the PIN is printed on the receipt and nowhere else in clear', async () => {
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const r = await t.service('voucher-topup', { operator: '1', msisdn: '900000000001', amount: '10000' }, []);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    await t.hangUp();
    const [tx] = chargesFor(topups, runId('voucher-topup', r.stan));
    expect(tx?.pin).toMatch(/^\d{12}$/);
    expect(r.receipt).toContain(`PIN ${tx?.pin ?? '?'}`);
    const result = await resultOf('voucher-topup', r.stan);
    expect(result.outcome).toBe('COMPLETED');
    expect(JSON.stringify(result)).not.toContain(tx?.pin ?? '?');
    // Even decrypted, the run's history holds the sealed voucher and the receipt only as encoded
    // bytes (hex), never the PIN as text.
    const decoded = await decodedHistoryText(e2e.env, runId('voucher-topup', r.stan));
    expect(decoded).toContain('v1.e2e.');
    expect(decoded).not.toContain(tx?.pin ?? '?');
  });

  it('bill: fetched, confirmed on the phone, paid once, receipt printed', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const r = await t.service('bill-payment', { billerId: '1', customerRef: '1234567890' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens).toHaveLength(1);
    expect(r.screens[0]?.lines.join(' ')).toMatch(/PAY \d+\.\d\d \+ FEE 1\.00\? 1=YES 2=NO/);
    expect(r.receipt).toEqual(expect.arrayContaining(['CUSTOMER 1234567890', 'FEE 1.00']));
    await t.hangUp();
    const result = await resultOf('bill-payment', r.stan);
    expect(result).toMatchObject({ outcome: 'COMPLETED', output: { fee: 100 } });
    const amount = amountOf(result);
    expect((await household()).posted - before.posted).toBe(amount + 100n);
    expect(chargesFor(bills, runId('bill-payment', r.stan)).map((x) => x.charged)).toEqual([1]);
  });

  it('bill: NO at the prompt, nothing held, nothing charged', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('bill-payment', { billerId: '2', customerRef: '1234567891' }, [{ key: '2' }]);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '17' });
    expect(r.receipt).toEqual([]);
    await t.hangUp();
    expect(await resultOf('bill-payment', r.stan)).toMatchObject({ outcome: 'FAILED', code: 'NOT_CONFIRMED' });
    expect(await household()).toEqual(before);
    expect(chargesFor(bills, runId('bill-payment', r.stan))).toEqual([]);
  });

  it('top-up declined by the operator: the hold is released and the phone is told', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('mobile-topup', { operator: '1', msisdn: '13800138004', amount: '5000' }, []);
    // The run's own decline, signed under the phone's session (not the access node's unsigned 96).
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '05', signed: true });
    await t.hangUp();
    expect(await resultOf('mobile-topup', r.stan)).toMatchObject({ outcome: 'COMPENSATED', code: 'TOPUP_DECLINED' });
    expect(await household()).toEqual(before);
  });

  it('biller times out, then pending, then paid: settled by status queries, charged once', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('bill-payment', { billerId: '1', customerRef: '5234567897' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    await t.hangUp();
    const result = await resultOf('bill-payment', r.stan);
    expect(result.outcome).toBe('COMPLETED');
    const txs = chargesFor(bills, runId('bill-payment', r.stan));
    expect(txs.map((x) => [x.case, x.state, x.charged])).toEqual([['timeout', 'COMPLETED', 1]]);
    const amount = amountOf(result);
    expect((await household()).posted - before.posted).toBe(amount + 100n);
  });

  it('the same request sent twice (a repeat) runs once and charges once', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('mobile-topup', { operator: '1', msisdn: '13800138001', amount: '5000' }, []);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    const again = await t.repeatLast();
    expect(again.repeated).toBe(true);
    await t.hangUp();
    const id = runId('mobile-topup', r.stan);
    expect(
      e2e.workflowIds.filter((w) => w.startsWith(`mobile-topup:T0000002:${r.stan ?? '?'}:`)).length,
    ).toBeGreaterThan(0);
    expect(new Set(e2e.workflowIds.filter((w) => w.startsWith(`mobile-topup:T0000002:${r.stan ?? '?'}:`))).size).toBe(
      1,
    );
    expect(chargesFor(topups, id).map((x) => x.charged)).toEqual([1]);
    expect((await household()).posted - before.posted).toBe(5100n);
  });

  it('a biller added as data while the platform runs is paid from the phone, no restart', async () => {
    writeFileSync(
      join(dir, 'billers', 'phone-co.yaml'),
      [
        'apiVersion: fixpay/v1',
        'kind: Biller',
        'metadata: { id: phone-co, title: Telephone company }',
        'spec:',
        '  provider: bills-sandbox',
        "  terminalCode: '5'",
        '  category: telephone',
        '  customerParams:',
        '    - { name: accountNumber, type: numeric, minLength: 6, maxLength: 16 }',
        '  fetch: required',
        '  amount: exact',
        '  fees:',
        '    customerFee: { fixed: 50 }',
        '',
      ].join('\n'),
    );
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('bill-payment', { billerId: '5', customerRef: '7712345670' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.receipt).toEqual(expect.arrayContaining(['BILL PAYMENT phone-co', 'FEE 0.50']));
    await t.hangUp();
    const result = await resultOf('bill-payment', r.stan);
    expect(result).toMatchObject({ outcome: 'COMPLETED', output: { fee: 50 } });
    const amount = amountOf(result);
    expect((await household()).posted - before.posted).toBe(amount + 50n);
    expect(chargesFor(bills, runId('bill-payment', r.stan)).map((x) => x.charged)).toEqual([1]);
  });

  it('an operator added as data while the platform runs is looked up by number and topped up, no restart', async () => {
    const t = phone(e2e);
    await t.signOn();
    // Before its file: no mobile operator of ours serves 150…, refused before any money moves.
    const before = await household();
    const early = await t.service('mobile-topup', { operator: '1', msisdn: '15000150000', amount: '2000' }, []);
    expect(early.outcome).toBe('declined');
    expect(await resultOf('mobile-topup', early.stan)).toMatchObject({
      outcome: 'FAILED',
      code: 'TOPUP_OPERATOR_UNKNOWN',
    });
    expect(await household()).toEqual(before);
    writeFileSync(
      join(dir, 'operators', 'mobile-b.yaml'),
      [
        'apiVersion: fixpay/v1',
        'kind: TopupOperator',
        'metadata: { id: mobile-b, title: Mobile operator B }',
        'spec:',
        '  provider: topup-sandbox',
        '  service: mobile',
        "  prefixes: ['150']",
        '  numberLength: { min: 11, max: 11 }',
        '  products:',
        '    - { id: mobile-b-any, delivery: recharge, range: { min: 1000, max: 50000 } }',
        '',
      ].join('\n'),
    );
    const r = await t.service('mobile-topup', { operator: '1', msisdn: '15000150000', amount: '2000' }, []);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    await t.hangUp();
    expect(await resultOf('mobile-topup', r.stan)).toMatchObject({ outcome: 'COMPLETED' });
    const [tx] = chargesFor(topups, runId('mobile-topup', r.stan));
    expect(tx).toMatchObject({ number: '15000150000', product: 'mobile-b-any', state: 'COMPLETED', charged: 1 });
    expect((await household()).posted - before.posted).toBe(2000n);
  });

  it('bad inputs are refused before anything starts: unknown biller code, short number', async () => {
    const t = phone(e2e);
    await t.signOn();
    const started = e2e.workflowIds.length;
    const short = await t.service('mobile-topup', { operator: '1', msisdn: '1380', amount: '5000' }, []);
    expect(short).toMatchObject({ outcome: 'declined', responseCode: '30' });
    const badChoice = await t.service('mobile-topup', { operator: '7', msisdn: '13800138000', amount: '5000' }, []);
    expect(badChoice).toMatchObject({ outcome: 'declined', responseCode: '30' });
    expect(e2e.workflowIds.length).toBe(started);
    // A biller code no provider file names: the run fails before anything is held.
    const before = await household();
    const unknown = await t.service('bill-payment', { billerId: '9999', customerRef: '1234567890' }, []);
    expect(unknown.outcome).toBe('declined');
    await t.hangUp();
    expect(await household()).toEqual(before);
  });
});
