/**
 * Bill and top-up services end to end: the shipped definitions on a real Temporal dev server, the
 * real connector kinds over HTTP against the real simulators (signed requests), the real ledger on
 * PostgreSQL/PGlite and the terminal binding from the demo data. After every test the ledger
 * balances, nothing stays held, and no top-up PIN is in clear in history, logs or the database.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createTerminalActivities } from '../../activities/terminals';
import { createProviderActivities } from '../../activities/providers';
import { createProviderMoneyActivities } from '../../activities/provider-money';
import { CoreRepository } from '../../core/repository';
import { seedDemo } from '../../demo/seed';
import { PrismaLedgerStore } from '../../ledger/store';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileDefinition } from '../../services/compiler/compile';
import { planHash } from '../../services/plan/hash';
import { createPlanAdmissionActivities } from '../../services/registry/admission';
import { MemoryDefinitionStore, Registry } from '../../services/registry/registry';
import { startPlan } from '../../services/registry/start';
import type { Plan } from '../../services/runtime/plan';
import { startTestDatabase, type TestDatabase } from '../../test/support/database';
import { onTemporalSdkLog, startTestServer, testDataConverter } from '../../test/support/temporal';
import { ProviderSimulator } from '../../simulator/providers/server';
import { createBillConnector } from './bill';
import { startCallbackReceiver, type CallbackReceiver } from './callbacks';
import { MemoryProviderJournal } from './journal';
import { ProviderDirectory } from './profile';
import { fetchProviderReport, reconcile, reconcileProvider } from './reconcile';
import { createTopupConnector } from './topup';
import { openVoucher, type VoucherKey } from './voucher';

const DEFS = join(__dirname, '..', '..', 'definitions');
const DEMO_PROVIDERS = join(__dirname, '..', '..', 'providers');
const BILL_SECRET = 'sandbox-bills-secret-0001';
const TOPUP_SECRET = 'sandbox-topup-secret-0001';
const MERCHANT = { terminalId: 'T0000001', ani: '862150000001', account: 'merchant:M0001' };

jest.setTimeout(180_000);

describe('bill and top-up services with real simulators, Temporal and ledger', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let ledger: PrismaLedgerStore;
  let worker: Worker;
  let running: Promise<void>;
  let bills: ProviderSimulator;
  let topups: ProviderSimulator;
  let receiver: CallbackReceiver;
  let dir: string;
  const journal = new MemoryProviderJournal();
  const voucherKey: VoucherKey = { id: 'test', key: randomBytes(32) };
  const plans = new Map<string, { plan: Plan; planHash: string }>();
  const logLines: string[] = [];
  const taskQueue = 'providers-test';
  let stan = 100;

  beforeAll(async () => {
    env = await startTestServer();
    onTemporalSdkLog((l) => logLines.push(l));
    db = await startTestDatabase();
    ledger = new PrismaLedgerStore(db.prisma);
    const core = new CoreRepository(db.prisma);
    await seedDemo({ core, ledger });

    // Runs are woken early by signed callbacks (the schedule still settles them without one).
    receiver = await startCallbackReceiver({
      secretFor: (k) => (k === 'fixpay-demo' ? TOPUP_SECRET : undefined),
      wake: async (c) => {
        await env.client.workflow.getHandle(c.workflowId).signal('deliver', {
          name: 'providerUpdate',
          value: { reference: c.reference },
        });
      },
    });
    const common = { pendingMs: 4_000, timeoutMs: 6_000, lateCallbackMs: 1_000 };
    bills = new ProviderSimulator({
      kind: 'biller',
      keys: { 'fixpay-demo': { scheme: 'hmac-sha256', secret: BILL_SECRET } },
      ...common,
    });
    topups = new ProviderSimulator({
      kind: 'topup',
      keys: { 'fixpay-demo': { scheme: 'hmac-sha256', secret: TOPUP_SECRET } },
      pinProducts: ['game-100', 'qcoin-10'],
      operatorPrefixes: { '138': 'mobile-a' },
      callbackUrl: receiver.url,
      callbackKeyId: 'fixpay-demo',
      ...common,
    });
    const b = await bills.start();
    const t = await topups.start();
    // The demo providers, pointed at this test's simulators, with a short request timeout.
    dir = mkdtempSync(join(tmpdir(), 'fixpay-providers-'));
    cpSync(DEMO_PROVIDERS, dir, { recursive: true });
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

    const catalogue = defaultCatalogue();
    const store = new MemoryDefinitionStore();
    for (const f of readdirSync(DEFS).filter((n) => /^(bill-payment|mobile-topup|voucher-topup)\.yaml$/.test(n))) {
      const r = compileDefinition(readFileSync(join(DEFS, f), 'utf8'), f, { catalogue });
      if (!r.ok) throw new Error(r.diagnostics.map((d) => `${f}:${d.line} ${d.code} ${d.message}`).join('\n'));
      const hash = planHash(r.plan);
      plans.set(r.plan.serviceId, { plan: r.plan, planHash: hash });
      await store.insert({
        id: `${r.plan.serviceId}@${r.plan.version}`,
        serviceId: r.plan.serviceId,
        version: r.plan.version,
        planHash: hash,
        plan: r.plan,
        status: 'active',
        author: 'test',
        createdAt: new Date(0),
      });
    }
    const terminals = createTerminalActivities({ core });
    const money = createProviderMoneyActivities({ ledger, directory, journal });
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('../../workflows/interpreter'),
      dataConverter: testDataConverter(),
      activities: {
        ...createPlanAdmissionActivities(new Registry(store)),
        checkBinding: terminals.checkBinding.bind(terminals),
        ...createProviderActivities({
          billers: createBillConnector({ directory }),
          topup: createTopupConnector({ directory, voucherKey }),
        }),
        holdFunds: money.holdFunds.bind(money),
        captureFunds: money.captureFunds.bind(money),
        releaseFunds: money.releaseFunds.bind(money),
        // No access node in this test: the terminal hand-over says the call is gone.
        sendToTerminal: () => Promise.resolve({ acknowledged: false }),
        emitEvent: () => Promise.resolve({ delivered: true }),
        raiseAlert: () => Promise.resolve({ raised: true }),
      },
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker.shutdown();
    await running;
    await bills.stop();
    await topups.stop();
    await receiver.stop();
    await db.close();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    const totals = await ledger.totals();
    for (const t of totals) {
      expect(t.debitsPosted).toBe(t.creditsPosted);
      expect(t.debitsPending).toBe(t.creditsPending);
    }
    const m = await ledger.accountByReference(MERCHANT.account);
    expect(m?.debitsPending).toBe(0n);
    const pins = topups
      .transactions()
      .map((t) => t.pin)
      .filter((p) => p !== '');
    if (pins.length > 0) {
      for (const pin of pins) expect(logLines.join('\n')).not.toContain(pin);
      const dump = await databaseText(db);
      for (const pin of pins) expect(dump).not.toContain(pin);
    }
  });

  async function run(serviceId: string, fields: Record<string, unknown>) {
    const p = plans.get(serviceId);
    if (p === undefined) throw new Error(`no plan ${serviceId}`);
    stan += 1;
    const input = {
      terminalId: MERCHANT.terminalId,
      ani: MERCHANT.ani,
      stan: String(stan).padStart(6, '0'),
      localDate: '1203',
      ...fields,
    };
    const handle = await startPlan(env.client, { ...p, input, taskQueue });
    const result = (await handle.result()) as { outcome: string; code?: string; output?: Record<string, unknown> };
    return { handle, result, input };
  }

  const merchant = async () => {
    const a = await ledger.accountByReference(MERCHANT.account);
    if (a === undefined) throw new Error('no merchant account');
    return a.creditsPosted - a.debitsPosted;
  };
  const chargesFor = (sim: ProviderSimulator, workflowId: string) =>
    sim.transactions().filter((t) => t.reference.startsWith(`${workflowId}/`));

  it('mobile, fixed-line and PHS top-ups complete; fee and commission are posted as the product data says', async () => {
    const before = await merchant();
    const mobile = await run('mobile-topup', {
      operator: 'mobile-a',
      productId: 'mobile-50',
      msisdn: '13800138000',
      amount: 5000,
      currency: '156',
    });
    expect(mobile.result).toMatchObject({ outcome: 'COMPLETED', output: { fee: 100 } });
    // 5 000 + 100 fee held and captured; 1 % commission (50) back to the merchant.
    expect(await merchant()).toBe(before - 5100n + 50n);
    expect(chargesFor(topups, mobile.handle.workflowId).map((t) => [t.state, t.charged])).toEqual([['COMPLETED', 1]]);
    const fixed = await run('mobile-topup', {
      operator: 'fixed-a',
      productId: 'fixed-any',
      msisdn: '02155501231',
      amount: 2000,
      currency: '156',
    });
    expect(fixed.result.outcome).toBe('COMPLETED');
    const phs = await run('mobile-topup', {
      operator: 'phs-a',
      productId: 'phs-30',
      msisdn: '02155501232',
      amount: 3000,
      currency: '156',
    });
    expect(phs.result.outcome).toBe('COMPLETED');
    const fees = await ledger.accountByReference('fees:CNY');
    expect(fees === undefined ? undefined : fees.creditsPosted - fees.debitsPosted).toBe(100n - 50n + 50n + 50n - 20n);
  });

  it('game-card and Q-coin PINs reach the run sealed only, and open to the PIN the aggregator issued', async () => {
    const game = await run('voucher-topup', {
      operator: 'game-a',
      productId: 'game-100',
      msisdn: '900000000003',
      amount: 10000,
      currency: '156',
    });
    expect(game.result.outcome).toBe('COMPLETED');
    const sealed = String(game.result.output?.['voucher']);
    expect(sealed).toMatch(/^v1\.test\./);
    const [tx] = chargesFor(topups, game.handle.workflowId);
    expect(tx?.pin).toMatch(/^\d{12}$/);
    expect(openVoucher(sealed, [voucherKey])).toBe(tx?.pin);
    expect(JSON.stringify(game.result)).not.toContain(tx?.pin);
    const history = JSON.stringify(await game.handle.fetchHistory());
    expect(history).not.toContain(tx?.pin ?? 'x');
    const q = await run('voucher-topup', {
      operator: 'qcoin-a',
      productId: 'qcoin-10',
      msisdn: '123451',
      amount: 1000,
      currency: '156',
    });
    expect(q.result.outcome).toBe('COMPLETED');
    expect(openVoucher(String(q.result.output?.['voucher']), [voucherKey])).toMatch(/^\d{12}$/);
  });

  it('water, electricity, gas and cable-TV bills: fetch, pay, receipt', async () => {
    for (const [billerId, ref] of [
      ['water-co', '1234567890'],
      ['power-co', '2234567891'],
      ['gas-co', '3234567892'],
      ['cable-co', '4234567893'],
    ] as const) {
      const before = await merchant();
      const r = await run('bill-payment', { billerId, customerRef: ref });
      expect(r.result).toMatchObject({ outcome: 'COMPLETED', output: { fee: 100 } });
      const amount = BigInt(Number(r.result.output?.['amount']));
      expect(await merchant()).toBe(before - amount - 100n + 30n);
      expect(chargesFor(bills, r.handle.workflowId).map((t) => t.charged)).toEqual([1]);
    }
  });

  it('a biller that times out, then reports pending, then paid: settled by status queries, charged once', async () => {
    const r = await run('bill-payment', { billerId: 'water-co', customerRef: '5234567897' });
    expect(r.result.outcome).toBe('COMPLETED');
    const txs = chargesFor(bills, r.handle.workflowId);
    expect(txs.map((t) => [t.case, t.state, t.charged])).toEqual([['timeout', 'COMPLETED', 1]]);
    const history = await r.handle.fetchHistory();
    const timers = history.events?.filter((e) => e.timerStartedEventAttributes) ?? [];
    expect(timers.length).toBeGreaterThan(0);
  });

  it('a top-up the operator declines releases the hold', async () => {
    const before = await merchant();
    const r = await run('mobile-topup', {
      operator: 'mobile-a',
      productId: 'mobile-50',
      msisdn: '13800138004',
      amount: 5000,
      currency: '156',
    });
    expect(r.result).toMatchObject({ outcome: 'COMPENSATED', code: 'TOPUP_DECLINED' });
    expect(await merchant()).toBe(before);
    expect(chargesFor(topups, r.handle.workflowId).map((t) => [t.state, t.charged])).toEqual([['DECLINED', 0]]);
  });

  it('an ambiguous top-up is resolved by status queries: pending then success captures, pending then failure releases', async () => {
    const before = await merchant();
    const ok = await run('mobile-topup', {
      operator: 'mobile-a',
      productId: 'mobile-any',
      msisdn: '13800138005',
      amount: 2000,
      currency: '156',
    });
    expect(ok.result.outcome).toBe('COMPLETED');
    expect(await merchant()).toBe(before - 2000n + 30n);
    const bad = await run('mobile-topup', {
      operator: 'mobile-a',
      productId: 'mobile-any',
      msisdn: '13800138006',
      amount: 2000,
      currency: '156',
    });
    expect(bad.result).toMatchObject({ outcome: 'COMPENSATED', code: 'TOPUP_DECLINED' });
    expect(await merchant()).toBe(before - 2000n + 30n);
    expect(chargesFor(topups, bad.handle.workflowId).map((t) => t.charged)).toEqual([0]);
  });

  it('a duplicate request attaches to the same run: one charge at the aggregator and in the ledger', async () => {
    const p = plans.get('mobile-topup');
    if (p === undefined) throw new Error('no plan');
    const before = await merchant();
    stan += 1;
    const input = {
      terminalId: MERCHANT.terminalId,
      ani: MERCHANT.ani,
      stan: String(stan).padStart(6, '0'),
      localDate: '1203',
      operator: 'mobile-a',
      productId: 'mobile-50',
      msisdn: '13800138001',
      amount: 5000,
      currency: '156',
    };
    const [a, b] = await Promise.all([
      startPlan(env.client, { ...p, input, taskQueue }),
      startPlan(env.client, { ...p, input, taskQueue }),
    ]);
    expect(b.firstExecutionRunId).toBe(a.firstExecutionRunId);
    expect(((await a.result()) as { outcome: string }).outcome).toBe('COMPLETED');
    await expect(startPlan(env.client, { ...p, input, taskQueue })).rejects.toThrow();
    expect(chargesFor(topups, a.workflowId).map((t) => t.charged)).toEqual([1]);
    expect(await merchant()).toBe(before - 5100n + 50n);
  });

  it('a new biller added as data is paid without restarting the worker', async () => {
    writeFileSync(
      join(dir, 'billers', 'newtown-water.yaml'),
      readFileSync(join(dir, 'billers', 'water-co.yaml'), 'utf8')
        .replace('id: water-co', 'id: newtown-water')
        .replace('customerFee: { fixed: 100 }', 'customerFee: { fixed: 70 }'),
    );
    const r = await run('bill-payment', { billerId: 'newtown-water', customerRef: '7234567890' });
    expect(r.result).toMatchObject({ outcome: 'COMPLETED', output: { fee: 70 } });
  });

  it('the daily reconciliation matches the aggregator’s report against the journal, and finds long and short', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const profile = new ProviderDirectory(dir, 0).provider('topup-sandbox', 'topup-aggregator');
    const whole = await reconcileProvider(profile, day, journal);
    expect(whole.exceptions).toEqual([]);
    const report = await fetchProviderReport(profile, day);
    const ours = await journal.entries('topup-sandbox', day);
    const clean = reconcile('topup-sandbox', day, report, ours);
    expect(clean.exceptions).toEqual([]);
    expect(clean.matched).toBeGreaterThan(0);
    const [first, ...rest] = ours;
    const broken = reconcile('topup-sandbox', day, report, rest);
    expect(broken.exceptions.map((e) => [e.kind, e.reference])).toEqual([['long', first?.reference]]);
    const captured = report.find((r) => r.status === 'COMPLETED');
    const short = reconcile(
      'topup-sandbox',
      day,
      report.filter((r) => r !== captured),
      ours,
    );
    expect(short.exceptions.map((e) => [e.kind, e.reference])).toEqual([['short', captured?.reference]]);
    const amount = reconcile(
      'topup-sandbox',
      day,
      report.map((r) => (r === captured ? { ...r, amount: r.amount + 1 } : r)),
      ours,
    );
    expect(amount.exceptions.map((e) => e.kind)).toEqual(['amount']);
  });
});

/** Every row of every table of the test schema, as text. */
async function databaseText(db: TestDatabase): Promise<string> {
  const tables = await db.prisma.$queryRawUnsafe<{ t: string }[]>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  );
  const parts: string[] = [];
  for (const { t } of tables) {
    const rows = await db.prisma.$queryRawUnsafe<{ r: string }[]>(`SELECT x::text AS r FROM "${t}" x`);
    parts.push(...rows.map((r) => r.r));
  }
  return parts.join('\n');
}
