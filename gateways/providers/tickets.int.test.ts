/**
 * Ticketing (ADR 0023) end to end: the shipped air, movie and lottery definitions on a real
 * Temporal dev server, the ticketing connector kind over signed HTTP against the real ticketing
 * simulator, the real ledger on PostgreSQL/PGlite and the terminal binding from the demo data.
 * After every test the ledger balances and nothing stays held.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { findResultCode } from '../../domain/errors';
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
import { startTestServer, testDataConverter } from '../../test/support/temporal';
import { TicketSimulator } from '../../simulator/providers/tickets';
import { startCallbackReceiver, type CallbackReceiver } from './callbacks';
import { MemoryProviderJournal } from './journal';
import { ProviderDirectory } from './profile';
import { signedHeaders } from './http';
import { reconcileProvider } from './reconcile';
import { createTicketingConnector } from './ticketing';

const DEFS = join(__dirname, '..', '..', 'definitions');
const DEMO_PROVIDERS = join(__dirname, '..', '..', 'providers');
const SECRET = 'sandbox-tickets-secret-0001';
const MERCHANT = { terminalId: 'T0000001', ani: '862150000001', account: 'merchant:M0001' };
const HOUR = 3_600_000;

jest.setTimeout(180_000);

describe('air, cinema and lottery tickets with the real simulator, Temporal and ledger', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let ledger: PrismaLedgerStore;
  let worker: Worker;
  let running: Promise<void>;
  let sim: TicketSimulator;
  let receiver: CallbackReceiver;
  let dir: string;
  let directory: ProviderDirectory;
  let simUrl: string;
  const journal = new MemoryProviderJournal();
  const plans = new Map<string, { plan: Plan; planHash: string }>();
  const taskQueue = 'tickets-test';
  let stan = 100;

  beforeAll(async () => {
    env = await startTestServer();
    db = await startTestDatabase();
    ledger = new PrismaLedgerStore(db.prisma);
    const core = new CoreRepository(db.prisma);
    await seedDemo({ core, ledger });
    receiver = await startCallbackReceiver({
      secretFor: (k) => (k === 'fixpay-demo' ? SECRET : undefined),
      wake: async (c) => {
        await env.client.workflow.getHandle(c.workflowId).signal('deliver', {
          name: 'providerUpdate',
          value: { reference: c.reference },
        });
      },
    });
    const now = Date.now();
    sim = new TicketSimulator({
      keys: { 'fixpay-demo': { scheme: 'hmac-sha256', secret: SECRET } },
      airlines: { SK: { prefix: '123' } },
      shows: { 'dune-1930': { price: 4500, taken: ['A1'] }, 'heat-2100': { price: 4000 } },
      games: { 'lotto-6-49': { pricePerBoard: 200, pick: { count: 6, min: 1, max: 49 } } },
      pendingMs: 3_000,
      timeoutMs: 5_000,
      callbackUrl: receiver.url,
      callbackKeyId: 'fixpay-demo',
    });
    sim.addDraw('lotto-6-49', 'D-OPEN', { opensAt: now - HOUR, cutoffAt: now + 2 * HOUR, drawAt: now + 3 * HOUR });
    sim.addDraw('lotto-6-49', 'D-CLOSED', { opensAt: now - 3 * HOUR, cutoffAt: now - HOUR, drawAt: now + HOUR });
    sim.addDraw('lotto-6-49', 'D-LATER', { opensAt: now + HOUR, cutoffAt: now + 2 * HOUR, drawAt: now + 3 * HOUR });
    const s = await sim.start();
    simUrl = s.url;
    dir = mkdtempSync(join(tmpdir(), 'fixpay-tickets-'));
    cpSync(DEMO_PROVIDERS, dir, { recursive: true });
    const profile = join(dir, 'tickets-sandbox.yaml');
    writeFileSync(
      profile,
      readFileSync(profile, 'utf8')
        .replace(/endpoint: .*/, `endpoint: ${s.url}`)
        .replace(/requestMs: \d+/, 'requestMs: 2000'),
    );
    directory = new ProviderDirectory(dir, 0);
    expect(directory.current().problems).toEqual([]);

    const catalogue = defaultCatalogue();
    const store = new MemoryDefinitionStore();
    for (const f of ['air-ticket.yaml', 'movie-ticket.yaml', 'lottery-ticket.yaml']) {
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
        ...createProviderActivities({ ticketing: createTicketingConnector({ directory }) }),
        holdFunds: money.holdFunds.bind(money),
        captureFunds: money.captureFunds.bind(money),
        releaseFunds: money.releaseFunds.bind(money),
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
    await sim.stop();
    await receiver.stop();
    await db.close();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const t of await ledger.totals()) {
      expect(t.debitsPosted).toBe(t.creditsPosted);
      expect(t.debitsPending).toBe(t.creditsPending);
    }
    const m = await ledger.accountByReference(MERCHANT.account);
    expect(m?.debitsPending).toBe(0n);
    // The provider never keeps money for an order it did not issue.
    for (const o of sim.transactions()) {
      expect(o.charged).toBeLessThanOrEqual(1);
      if (o.state !== 'ISSUED') expect(o.charged).toBe(0);
    }
  });

  function inputFor(fields: Record<string, unknown>): Record<string, unknown> {
    stan += 1;
    return {
      terminalId: MERCHANT.terminalId,
      ani: MERCHANT.ani,
      stan: String(stan).padStart(6, '0'),
      localDate: '1203',
      ...fields,
    };
  }
  async function run(serviceId: string, fields: Record<string, unknown>) {
    const p = plans.get(serviceId);
    if (p === undefined) throw new Error(`no plan ${serviceId}`);
    const handle = await startPlan(env.client, { ...p, input: inputFor(fields), taskQueue });
    const result = (await handle.result()) as {
      outcome: string;
      code?: string;
      message?: string;
      output?: Record<string, unknown>;
    };
    return { handle, result };
  }
  const merchant = async (): Promise<bigint> => {
    const a = await ledger.accountByReference(MERCHANT.account);
    if (a === undefined) throw new Error('no merchant account');
    return a.creditsPosted - a.debitsPosted;
  };
  const ordersOf = (workflowId: string) => sim.transactions().filter((t) => t.reference.startsWith(`${workflowId}/`));

  it('air: a held booking is paid by its reference and ticketed; amount + fee charged, commission back', async () => {
    const before = await merchant();
    const r = await run('air-ticket', { offer: 'sky-air', booking: 'ABC120' });
    expect(r.result.outcome).toBe('COMPLETED');
    const amount = BigInt(Number(r.result.output?.['amount']));
    expect(amount).toBeGreaterThanOrEqual(50_000n);
    expect(r.result.output?.['fee']).toBe(500);
    expect(r.result.output?.['tickets']).toEqual([expect.stringMatching(/^123\d{10}$/)]);
    expect(await merchant()).toBe(before - amount - 500n + (amount * 50n) / 10_000n);
    expect(ordersOf(r.handle.workflowId).map((o) => [o.state, o.charged])).toEqual([['ISSUED', 1]]);
    // A booking is ticketed once: paying it again is refused, nothing charged.
    const again = await run('air-ticket', { offer: 'sky-air', booking: 'ABC120' });
    expect(again.result).toMatchObject({ outcome: 'FAILED', code: 'TICKET_UNAVAILABLE' });
    expect(await merchant()).toBe(before - amount - 500n + (amount * 50n) / 10_000n);
  });

  it('cinema: two seats of a show are held, paid and issued; a taken seat is refused before any money moves', async () => {
    const before = await merchant();
    const r = await run('movie-ticket', { offer: 'star-cinema', show: 'dune-1930', seats: ['F1', 'F2'] });
    expect(r.result).toMatchObject({ outcome: 'COMPLETED', output: { amount: 9000, fee: 200 } });
    expect(r.result.output?.['tickets']).toHaveLength(2);
    expect(await merchant()).toBe(before - 9000n - 200n + 100n);
    const taken = await run('movie-ticket', { offer: 'star-cinema', show: 'dune-1930', seats: ['F2', 'F3'] });
    // The seat hold step is undone (releaseTicketHold) even though the seats were refused.
    expect(taken.result).toMatchObject({ outcome: 'COMPENSATED', code: 'TICKET_UNAVAILABLE' });
    expect(ordersOf(taken.handle.workflowId)).toEqual([]);
    expect(await merchant()).toBe(before - 9000n - 200n + 100n);
  });

  it('lottery: a wager on an open draw gets its serial; a pending answer is settled by status queries', async () => {
    const before = await merchant();
    const r = await run('lottery-ticket', {
      offer: 'lotto-6-49',
      draw: 'D-OPEN',
      boards: [
        [1, 7, 13, 22, 35, 40],
        [3, 8, 19, 27, 31, 41],
      ],
    });
    expect(r.result).toMatchObject({ outcome: 'COMPLETED', output: { amount: 400, fee: 0 } });
    expect(r.result.output?.['tickets']).toEqual([expect.stringMatching(/^LT\d{10}$/)]);
    expect(await merchant()).toBe(before - 400n);
    // Last number ending in 5: the lottery answers PENDING, then PAID.
    const pending = await run('lottery-ticket', {
      offer: 'lotto-6-49',
      draw: 'D-OPEN',
      boards: [[2, 4, 6, 8, 10, 45]],
    });
    expect(pending.result.outcome).toBe('COMPLETED');
    expect(ordersOf(pending.handle.workflowId).map((o) => [o.case, o.state, o.charged])).toEqual([
      ['pending-success', 'ISSUED', 1],
    ]);
    expect(await merchant()).toBe(before - 600n);
    const history = await pending.handle.fetchHistory();
    expect(
      history.events?.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'ticketStatus'),
    ).toBe(true);
  });

  it('a decline releases the hold; an order whose answer times out is settled by status queries, charged once', async () => {
    const before = await merchant();
    const declined = await run('movie-ticket', { offer: 'star-cinema', show: 'heat-2100', seats: ['D4'] });
    expect(declined.result).toMatchObject({ outcome: 'COMPENSATED', code: 'TICKET_DECLINED' });
    expect(await merchant()).toBe(before);
    const slow = await run('air-ticket', { offer: 'sky-air', booking: 'TMO007' });
    expect(slow.result.outcome).toBe('COMPLETED');
    expect(ordersOf(slow.handle.workflowId).map((o) => [o.case, o.state, o.charged])).toEqual([
      ['timeout', 'ISSUED', 1],
    ]);
    const amount = BigInt(Number(slow.result.output?.['amount']));
    expect(await merchant()).toBe(before - amount - 500n + (amount * 50n) / 10_000n);
  });

  it('a seat hold that expires before payment: nothing charged, the ledger hold released', async () => {
    const before = await merchant();
    const r = await run('movie-ticket', { offer: 'star-cinema', show: 'heat-2100', seats: ['G8'] });
    expect(r.result).toMatchObject({ outcome: 'COMPENSATED', code: 'TICKET_HOLD_EXPIRED' });
    expect(ordersOf(r.handle.workflowId).map((o) => [o.state, o.charged])).toEqual([['EXPIRED', 0]]);
    expect(await merchant()).toBe(before);
    // An airline booking past its ticketing deadline likewise.
    const air = await run('air-ticket', { offer: 'sky-air', booking: 'XYZ008' });
    expect(air.result).toMatchObject({ outcome: 'COMPENSATED', code: 'TICKET_HOLD_EXPIRED' });
    expect(await merchant()).toBe(before);
  });

  it('a lottery sale after the cut-off, or before the draw opens, is refused before any money moves', async () => {
    const before = await merchant();
    const transfersBefore = (await ledger.totals()).map((t) => t.debitsPosted + t.debitsPending);
    for (const draw of ['D-CLOSED', 'D-LATER']) {
      const r = await run('lottery-ticket', { offer: 'lotto-6-49', draw, boards: [[1, 2, 3, 4, 5, 6]] });
      expect(r.result).toMatchObject({ outcome: 'FAILED', code: 'TICKET_SALES_CLOSED' });
      expect(ordersOf(r.handle.workflowId)).toEqual([]);
      const history = JSON.stringify(await r.handle.fetchHistory());
      expect(history).not.toContain('holdFunds');
    }
    expect(await merchant()).toBe(before);
    expect((await ledger.totals()).map((t) => t.debitsPosted + t.debitsPending)).toEqual(transfersBefore);
  });

  it('a ticket the provider cannot issue is refunded there and the hold released: never paid but not issued', async () => {
    const before = await merchant();
    const r = await run('air-ticket', { offer: 'sky-air', booking: 'QRS006' });
    expect(r.result).toMatchObject({ outcome: 'COMPENSATED', code: 'TICKET_ISSUE_FAILED' });
    expect(ordersOf(r.handle.workflowId).map((o) => [o.state, o.charged])).toEqual([['REFUNDED', 0]]);
    expect(await merchant()).toBe(before);
  });

  it('a duplicate request attaches to the same run: one order, one charge', async () => {
    const p = plans.get('movie-ticket');
    if (p === undefined) throw new Error('no plan');
    const before = await merchant();
    const input = inputFor({ offer: 'star-cinema', show: 'heat-2100', seats: ['H1'] });
    const [a, b] = await Promise.all([
      startPlan(env.client, { ...p, input, taskQueue }),
      startPlan(env.client, { ...p, input, taskQueue }),
    ]);
    expect(b.firstExecutionRunId).toBe(a.firstExecutionRunId);
    expect(((await a.result()) as { outcome: string }).outcome).toBe('COMPLETED');
    await expect(startPlan(env.client, { ...p, input, taskQueue })).rejects.toThrow();
    expect(ordersOf(a.workflowId).map((o) => o.charged)).toEqual([1]);
    expect(await merchant()).toBe(before - 4000n - 200n + 100n);
    // The same reference with other content is refused by the provider, and charges nothing.
    const connector = createTicketingConnector({ directory });
    const [order] = ordersOf(a.workflowId);
    await expect(
      connector.pay({
        offer: 'lotto-6-49',
        draw: 'D-OPEN',
        boards: [[1, 2, 3, 4, 5, 6]],
        holdToken: 'lotto-6-49/D-OPEN',
        amount: 200,
        currency: '156',
        idempotencyKey: order?.reference ?? '',
      }),
    ).rejects.toMatchObject({ code: 'FP8506' });
    expect(ordersOf(a.workflowId).map((o) => o.charged)).toEqual([1]);
  });

  it('a new lottery game and a new show added as data are sold without restarting the worker', async () => {
    const now = Date.now();
    sim.addGame('pick-3', { pricePerBoard: 100, pick: { count: 3, min: 0, max: 9 } });
    sim.addDraw('pick-3', 'P-1', { opensAt: now - HOUR, cutoffAt: now + HOUR, drawAt: now + 2 * HOUR });
    writeFileSync(
      join(dir, 'ticketing', 'pick-3.yaml'),
      [
        'apiVersion: fixpay/v1',
        'kind: LotteryGame',
        'metadata: { id: pick-3, title: Pick 3 }',
        'spec:',
        '  provider: tickets-sandbox',
        '  pick: { count: 3, min: 0, max: 9 }',
        '  pricePerBoard: 100',
        '  fees: { customerFee: { fixed: 10 } }',
        '',
      ].join('\n'),
    );
    const before = await merchant();
    const r = await run('lottery-ticket', { offer: 'pick-3', draw: 'P-1', boards: [[1, 2, 3]] });
    expect(r.result).toMatchObject({ outcome: 'COMPLETED', output: { amount: 100, fee: 10 } });
    expect(await merchant()).toBe(before - 110n);

    sim.addShow('late-2330', { price: 3000 });
    const cinema = join(dir, 'ticketing', 'star-cinema.yaml');
    writeFileSync(
      cinema,
      readFileSync(cinema, 'utf8').replace(
        '  fees:',
        "    - { id: late-2330, title: 'Late show', startsAt: '2026-12-24T23:30:00+08:00', price: 3000 }\n  fees:",
      ),
    );
    expect(directory.current().problems).toEqual([]);
    const show = await run('movie-ticket', { offer: 'star-cinema', show: 'late-2330', seats: ['B2'] });
    expect(show.result).toMatchObject({ outcome: 'COMPLETED', output: { amount: 3000 } });
  });

  it('hostile selections are refused before any money moves, with clear codes', async () => {
    const before = await merchant();
    const cases: [string, Record<string, unknown>, string][] = [
      ['lottery-ticket', { offer: 'lotto-6-49', draw: 'D-OPEN', boards: [[1, 1, 2, 3, 4, 5]] }, 'FP8601'],
      ['lottery-ticket', { offer: 'lotto-6-49', draw: 'D-OPEN', boards: [[0, 1, 2, 3, 4, 50]] }, 'FP8601'],
      ['lottery-ticket', { offer: 'lotto-6-49', draw: '../x', boards: [[1, 2, 3, 4, 5, 6]] }, 'FP8601'],
      ['movie-ticket', { offer: 'star-cinema', show: 'no-such-show', seats: ['A2'] }, 'FP8600'],
      ['movie-ticket', { offer: 'star-cinema', show: 'dune-1930', seats: ['A2', 'A2'] }, 'FP8601'],
      ['air-ticket', { offer: 'sky-air', booking: 'abc' }, 'FP8601'],
      ['air-ticket', { offer: 'no-airline', booking: 'ABC123' }, 'FP8600'],
    ];
    for (const [service, fields, code] of cases) {
      const r = await run(service, fields);
      // The step's failure carries the catalogue entry's message (the run's code is SVC_STEP_FAILED).
      // A movie's seat hold step is undone even when it failed (releaseTicketHold: a no-op, then fenced).
      expect(r.result).toMatchObject({
        outcome: service === 'movie-ticket' ? 'COMPENSATED' : 'FAILED',
        code: 'SVC_STEP_FAILED',
      });
      expect(r.result.message ?? '').toContain(findResultCode(code)?.message ?? code);
      expect(ordersOf(r.handle.workflowId)).toEqual([]);
    }
    expect(await merchant()).toBe(before);
  });

  it('the daily reconciliation covers tickets: our captures match the report; a planted long, short and amount difference are found', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const profile = directory.provider('tickets-sandbox', 'ticketing');
    // Everything the tests above sold (issued and captured) matches; refunds and refusals are on neither side.
    const clean = await reconcileProvider(profile, day, journal);
    expect(clean.exceptions).toEqual([]);
    expect(clean.matched).toBeGreaterThan(0);
    expect(clean.totals.ours).toBe(clean.totals.theirs);

    // Orders placed and issued at the provider behind our back (signed, as any client of it).
    const post = async (path: string, payload: unknown): Promise<number> => {
      const body = JSON.stringify(payload);
      const headers = signedHeaders(
        { scheme: 'hmac-sha256', keyId: 'fixpay-demo', secret: SECRET },
        'POST',
        path,
        body,
        Date.now(),
      );
      const res = await fetch(new URL(path, simUrl), {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
      });
      await res.arrayBuffer();
      return res.status;
    };
    const wager = (reference: string) => ({
      reference,
      type: 'lottery',
      game: 'lotto-6-49',
      draw: 'D-OPEN',
      boards: [[3, 9, 17, 25, 33, 41]],
      amount: 200,
      currency: '156',
    });
    for (const ref of ['planted-long-1', 'planted-amount-1']) {
      expect(await post('orders', wager(ref))).toBe(200);
      expect(await post(`orders/${ref}/issue`, {})).toBe(200);
    }
    // Long: the provider kept money for an order we never captured.
    // Short: we captured an order the provider never saw.
    await journal.record({
      provider: 'tickets-sandbox',
      reference: 'planted-short-1',
      amount: 4500,
      fee: 200,
      currency: 'CNY',
      status: 'COMPLETED',
      at: new Date().toISOString(),
    });
    // Amount: both sides have it, we captured less than the provider charged.
    await journal.record({
      provider: 'tickets-sandbox',
      reference: 'planted-amount-1',
      amount: 100,
      fee: 0,
      currency: 'CNY',
      status: 'COMPLETED',
      at: new Date().toISOString(),
    });
    // A duplicate line of the journal (a retried capture) is one capture, not a second short.
    await journal.record({
      provider: 'tickets-sandbox',
      reference: 'planted-short-1',
      amount: 4500,
      fee: 200,
      currency: 'CNY',
      status: 'COMPLETED',
      at: new Date().toISOString(),
    });
    const r = await reconcileProvider(profile, day, journal);
    expect(r.matched).toBe(clean.matched);
    expect(
      r.exceptions.map((e) => [e.kind, e.reference, e.ours?.amount, e.theirs?.amount, e.theirs?.status]).sort(),
    ).toEqual([
      ['amount', 'planted-amount-1', 100, 200, 'ISSUED'],
      ['long', 'planted-long-1', undefined, 200, 'ISSUED'],
      ['short', 'planted-short-1', 4500, undefined, undefined],
    ]);
    // Refunded at the provider: the long is gone (the money went back), the others stay.
    expect(await post('orders/planted-long-1/cancel', {})).toBe(200);
    const after = await reconcileProvider(profile, day, journal);
    expect(after.exceptions.map((e) => e.kind).sort()).toEqual(['amount', 'short']);
  });
});
