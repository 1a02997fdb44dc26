/**
 * Terminal conversations end to end (ADR 0018), over real FSK audio (TCP PCM): the simulated phone
 * downloads its menu at sign-on and again after a new definition is deployed, then runs a menu
 * service through the generic service request; the run reserves the amount on the household's
 * funds and asks the phone to confirm it. YES posts it and prints a receipt; NO, no answer (and a
 * key pressed too late) and a hang-up at the prompt leave nothing charged.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { ledgerReferenceFor } from '../../core/model';
import { accountIdFor } from '../../demo/seed';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import type { ServiceResult } from '../../services/runtime/plan';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { runInteractive } from '../../simulator/terminal/interactive';
import { PosTerminal } from '../../simulator/terminal/terminal';
import type { E2e } from './harness';
import { cardNeedles, databaseText, ledgerBalanced, rawHistoryText, startE2e } from './harness';

const FIXTURE = join(__dirname, '__fixtures__', 'household-bill.yaml');
const HOUSEHOLD = ledgerReferenceFor({ id: 'H0001', kind: 'household' });

async function deploy(e2e: E2e, files: readonly string[]): Promise<void> {
  for (const d of compileFiles(files, defaultCatalogue())) {
    if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
    await e2e.registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
    await e2e.registry.promote(d.plan.serviceId, d.plan.version);
  }
}

async function household(e2e: E2e): Promise<{ posted: bigint; pending: bigint }> {
  const [a] = await e2e.ledger.lookupAccounts([accountIdFor(HOUSEHOLD)]);
  return { posted: a?.debitsPosted ?? -1n, pending: a?.debitsPending ?? -1n };
}

let nextStart = 5_000;
function phone(e2e: E2e, transport: 'tcp-pcm' | 'sip' = 'tcp-pcm'): PosTerminal {
  nextStart += 100;
  // T0000002: the demo household, a Bell 202 phone with a 4 x 20 display and a 32-column printer.
  return new PosTerminal(e2e.terminal({ demoTerminal: 1, transport }), {
    stateStore: new MemoryStateStore({ stan: nextStart, batch: '000001', psamCounter: nextStart }),
  });
}

async function resultOf(e2e: E2e, code: string, stan: string | undefined): Promise<ServiceResult> {
  const id = e2e.workflowIds.find((w) => w.startsWith(`${code}:T0000002:${stan ?? '?'}:`)) ?? '';
  expect(id).not.toBe('');
  return e2e.env.client.workflow.getHandle(id).result() as Promise<ServiceResult>;
}

describe('terminal conversations end to end over FSK audio', () => {
  jest.setTimeout(240_000);
  let e2e: E2e;

  beforeAll(async () => {
    e2e = await startE2e();
    await deploy(e2e, [join(__dirname, '..', '..', 'definitions', 'terminal-menu.yaml'), FIXTURE]);
  }, 240_000);
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
    }
  });

  it('downloads the menu at sign-on, keeps it while unchanged, and gets a newly deployed service at the next call', async () => {
    const t = phone(e2e);
    expect((await t.signOn()).outcome).toBe('approved');
    const first = await t.downloadMenu();
    expect(first).toMatchObject({ outcome: 'approved', changed: true });
    expect(t.menu?.entries.map((e) => e.code)).toEqual(['household-bill']);
    expect(t.menu?.entries[0]).toMatchObject({ path: ['Bills', 'Demo bill'], title: 'Demo bill' });
    expect(t.menu?.entries[0]?.inputs.map((i) => [i.name, i.kind, i.min, i.max])).toEqual([
      ['customer', 'digits', 6, 12],
      ['amount', 'amount', 100, 100000],
    ]);
    const again = await t.downloadMenu();
    expect(again).toMatchObject({ outcome: 'approved', changed: false });
    await t.hangUp();

    // A new YAML service, deployed while the phone is idle: no code change, on the menu at the next call.
    const dir = mkdtempSync(join(tmpdir(), 'fixpay-conv-'));
    const text = readFileSync(FIXTURE, 'utf8')
      .replace('id: household-bill', 'id: household-water')
      .replace('title: Demo bill payment', 'title: Demo water bill')
      .replace('menu: [Bills, Demo bill]', 'menu: [Bills, Water]')
      .replace('title: Demo bill\n', 'title: Water\n');
    writeFileSync(join(dir, 'household-water.yaml'), text);
    await deploy(e2e, [join(dir, 'household-water.yaml')]);
    const later = await t.downloadMenu();
    expect(later).toMatchObject({ outcome: 'approved', changed: true });
    expect(t.menu?.entries.map((e) => e.code)).toEqual(['household-bill', 'household-water']);
    await t.hangUp();
  });

  it('YES at the prompt: the amount is debited once and the receipt is printed within the printer width', async () => {
    const before = await household(e2e);
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const r = await t.service('household-bill', { customer: '12345678', amount: '4550' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens).toHaveLength(1);
    expect(r.screens[0]?.lines.join(' ')).toMatch(/PAY 4550 FOR 12345678\? 1=YES 2=NO/);
    for (const l of r.screens[0]?.lines ?? []) expect(l.length).toBeLessThanOrEqual(20);
    expect(r.screens[0]?.lines.length).toBeLessThanOrEqual(3);
    expect(r.receipt).toEqual(expect.arrayContaining(['DEMO BILL PAYMENT', 'CUSTOMER 12345678', 'AMOUNT 4550']));
    for (const l of r.receipt) expect(l.length).toBeLessThanOrEqual(32);
    expect(t.printed.at(-1)).toEqual(r.receipt);
    await t.hangUp();
    const after = await household(e2e);
    expect(after.posted - before.posted).toBe(4550n);
    expect(after.pending).toBe(0n);
    expect(await resultOf(e2e, 'household-bill', r.stan)).toMatchObject({ outcome: 'COMPLETED' });
  });

  it('over SIP/RTP too: menu at sign-on, YES at the prompt, debited once, receipt printed', async () => {
    const before = await household(e2e);
    const t = phone(e2e, 'sip');
    expect((await t.signOn()).outcome).toBe('approved');
    expect(await t.downloadMenu()).toMatchObject({ outcome: 'approved' });
    expect(t.menu?.entries.map((e) => e.code)).toContain('household-bill');
    const r = await t.service('household-bill', { customer: '87654321', amount: '1234' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens[0]?.lines.join(' ')).toMatch(/PAY 1234 FOR 87654321\? 1=YES 2=NO/);
    expect(r.receipt).toEqual(expect.arrayContaining(['CUSTOMER 87654321', 'AMOUNT 1234']));
    await t.hangUp();
    const after = await household(e2e);
    expect(after.posted - before.posted).toBe(1234n);
    expect(after.pending).toBe(0n);
  });

  it('a person at the interactive simulator: signs on, picks the service from the downloaded menu, keys the inputs, presses 1, sees the receipt', async () => {
    const before = await household(e2e);
    nextStart += 100;
    let printed = '';
    const output = new Writable({
      write(chunk: Buffer, _enc, done) {
        printed += chunk.toString();
        done();
      },
    });
    // 3 = sign on, 6 = services, 1 = the first entry, its customer and amount, 1 = YES, 0 = exit.
    const input = Readable.from(['3\n6\n1\n55667788\n12.34\n1\n0\n']);
    await runInteractive(
      e2e.terminal({ demoTerminal: 1 }),
      { stateStore: new MemoryStateStore({ stan: nextStart, batch: '000001', psamCounter: nextStart }) },
      { input, output },
    );
    expect(printed).toContain('[1] Bills > Demo bill');
    // The screen as the phone's 20-column display shows it, and the keys the person was offered.
    expect(printed).toMatch(/\| PAY 1234 FOR/);
    expect(printed).toContain('1=YES 2=NO (empty: cancel, h: hang up)');
    expect(printed).toContain('CUSTOMER 55667788');
    expect(printed).toMatch(/Demo bill: approved \| 39=00/);
    const after = await household(e2e);
    expect(after.posted - before.posted).toBe(1234n);
    expect(after.pending).toBe(0n);
  });

  it('NO at the prompt: declined, the reservation voided, nothing charged', async () => {
    const before = await household(e2e);
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('household-bill', { customer: '12345678', amount: '700' }, [{ key: '2' }]);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '17' });
    expect(r.receipt).toEqual([]);
    await t.hangUp();
    expect(await resultOf(e2e, 'household-bill', r.stan)).toMatchObject({
      outcome: 'COMPENSATED',
      code: 'NOT_CONFIRMED',
    });
    expect(await household(e2e)).toEqual(before);
  });

  it('no answer: the prompt times out, nothing charged; a key pressed after the timeout is refused (68)', async () => {
    const before = await household(e2e);
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('household-bill', { customer: '12345678', amount: '800' }, [
      { noAnswer: true, lateKey: '1' },
    ]);
    expect(r.outcome).toBe('declined');
    expect(r.lateResponseCode).toBe('68');
    await t.hangUp();
    expect(await resultOf(e2e, 'household-bill', r.stan)).toMatchObject({
      outcome: 'COMPENSATED',
      code: 'CONFIRMATION_TIMEOUT',
    });
    expect(await household(e2e)).toEqual(before);
  });

  it('hang-up at the prompt: the run sees it and compensates, nothing charged', async () => {
    const before = await household(e2e);
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('household-bill', { customer: '12345678', amount: '900' }, ['hang-up']);
    expect(r.outcome).toBe('dropped');
    expect(await resultOf(e2e, 'household-bill', r.stan)).toMatchObject({
      outcome: 'COMPENSATED',
      code: 'TERMINAL_HUNG_UP',
    });
    expect(await household(e2e)).toEqual(before);
  });

  it('a replayed prompt reply (an earlier YES, its PSAM counter already spent) is refused (A0): the new run is not confirmed, nothing more charged', async () => {
    const before = await household(e2e);
    const t = phone(e2e);
    await t.signOn();
    // An honest YES for 1.00: its reply's PSAM counter is spent.
    const first = await t.service('household-bill', { customer: '12345678', amount: '100' }, [{ key: '1' }]);
    expect(first).toMatchObject({ outcome: 'approved', responseCode: '00' });
    // The same prompt id for 45.50, answered with the old YES bytes (valid MAC, old counter).
    const r = await t.service('household-bill', { customer: '12345678', amount: '4550' }, [{ replayLastReply: true }]);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: 'A0' });
    await t.hangUp();
    expect(await resultOf(e2e, 'household-bill', r.stan)).toMatchObject({ outcome: 'COMPENSATED' });
    const after = await household(e2e);
    expect(after.posted - before.posted).toBe(100n);
    expect(after.pending).toBe(0n);
  });

  it('refuses a service that is not on the menu (57) and inputs outside their spec (30), starting nothing', async () => {
    const t = phone(e2e);
    await t.signOn();
    const started = e2e.workflowIds.length;
    const notOnMenu = await t.service('purchase', {}, []);
    expect(notOnMenu).toMatchObject({ outcome: 'declined', responseCode: '57' });
    const unknown = await t.service('no-such-service', {}, []);
    expect(unknown).toMatchObject({ outcome: 'declined', responseCode: '57' });
    const short = await t.service('household-bill', { customer: '123', amount: '4550' }, []);
    expect(short).toMatchObject({ outcome: 'declined', responseCode: '30' });
    const missing = await t.service('household-bill', { customer: '12345678' }, []);
    expect(missing).toMatchObject({ outcome: 'declined', responseCode: '30' });
    const extra = await t.service('household-bill', { customer: '12345678', amount: '100', x: '1' }, []);
    expect(extra).toMatchObject({ outcome: 'declined', responseCode: '30' });
    const tooMuch = await t.service('household-bill', { customer: '12345678', amount: '100001' }, []);
    expect(tooMuch).toMatchObject({ outcome: 'declined', responseCode: '30' });
    await t.hangUp();
    expect(e2e.workflowIds.length).toBe(started);
  });
});
