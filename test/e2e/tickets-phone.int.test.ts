/**
 * Tickets from the phone over real FSK audio (TCP PCM): chosen from the menu the phone downloads,
 * run by the shipped ticket definitions against the real ticketing simulator over signed HTTP. The
 * customer confirms the amount on the phone before any money moves; the signed receipt carries the
 * provider's order reference. After each test the ledger balances and nothing stays held.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ledgerReferenceFor } from '../../core/model';
import { accountIdFor, DEMO } from '../../demo/seed';
import { findResultCode } from '../../domain/errors';
import { ProviderDirectory } from '../../gateways/providers/profile';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import type { ServiceResult } from '../../services/runtime/plan';
import { TicketSimulator } from '../../simulator/providers/tickets';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { PosTerminal } from '../../simulator/terminal/terminal';
import { PROVIDERS_DIR } from '../../worker/platform-activities';
import type { E2e } from './harness';
import { cardNeedles, databaseText, ledgerBalanced, rawHistoryText, startE2e } from './harness';

const DEFS = join(__dirname, '..', '..', 'definitions');
const HOUSEHOLD = ledgerReferenceFor({ id: 'H0001', kind: 'household' });
const SECRET = 'sandbox-tickets-secret-0001';
const HOUR = 3_600_000;

async function deploy(e2e: E2e, files: readonly string[]): Promise<void> {
  for (const d of compileFiles(files, defaultCatalogue())) {
    if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
    await e2e.registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
    await e2e.registry.promote(d.plan.serviceId, d.plan.version);
  }
}

let nextStart = 9_000;
function phone(e2e: E2e): PosTerminal {
  nextStart += 100;
  // T0000002: the demo household, a Bell 202 phone with a 4 x 20 display and a 32-column printer.
  return new PosTerminal(e2e.terminal({ demoTerminal: 1 }), {
    stateStore: new MemoryStateStore({ stan: nextStart, batch: '000001', psamCounter: nextStart }),
  });
}

describe('tickets from the phone over FSK audio', () => {
  jest.setTimeout(300_000);
  let e2e: E2e;
  let sim: TicketSimulator;
  let dir: string;

  async function household(): Promise<{ posted: bigint; pending: bigint }> {
    const [a] = await e2e.ledger.lookupAccounts([accountIdFor(HOUSEHOLD)]);
    return { posted: a?.debitsPosted ?? -1n, pending: a?.debitsPending ?? -1n };
  }
  const runId = (code: string, stan: string | undefined): string =>
    e2e.workflowIds.find((w) => w.startsWith(`${code}:T0000002:${stan ?? '?'}:`)) ?? '';
  async function resultOf(code: string, stan: string | undefined): Promise<ServiceResult> {
    const id = runId(code, stan);
    expect(id).not.toBe('');
    return e2e.env.client.workflow.getHandle(id).result() as Promise<ServiceResult>;
  }
  const ordersFor = (workflowId: string) => sim.transactions().filter((o) => o.reference.startsWith(`${workflowId}/`));

  beforeAll(async () => {
    sim = new TicketSimulator({
      keys: { 'fixpay-demo': { scheme: 'hmac-sha256', secret: SECRET } },
      airlines: { SK: { prefix: '123' } },
      shows: { 'dune-1930': { price: 4500, taken: ['A1'] }, 'heat-2100': { price: 4000 } },
      games: { 'lotto-6-49': { pricePerBoard: 200, pick: { count: 6, min: 1, max: 49 } } },
      pendingMs: 3_000,
      timeoutMs: 5_000,
    });
    const now = Date.now();
    sim.addDraw('lotto-6-49', '20261205', { opensAt: now - HOUR, cutoffAt: now + 2 * HOUR, drawAt: now + 3 * HOUR });
    sim.addDraw('lotto-6-49', '20261128', { opensAt: now - 3 * HOUR, cutoffAt: now - HOUR, drawAt: now + HOUR });
    const s = await sim.start();
    // The shipped providers, pointed at this test's simulator.
    dir = mkdtempSync(join(tmpdir(), 'fixpay-tickets-phone-'));
    cpSync(PROVIDERS_DIR, dir, { recursive: true });
    const profile = join(dir, 'tickets-sandbox.yaml');
    writeFileSync(
      profile,
      readFileSync(profile, 'utf8')
        .replace(/endpoint: .*/, `endpoint: ${s.url}`)
        .replace(/requestMs: \d+/, 'requestMs: 2000'),
    );
    const directory = new ProviderDirectory(dir, 0);
    expect(directory.current().problems).toEqual([]);
    e2e = await startE2e({
      // The demo household is funded for a few top-ups; air bookings cost up to 2000.00 each.
      demo: { ...DEMO, householdFundsMinor: 100_000_000n },
      providers: { directory, voucherKey: { id: 'e2e', key: randomBytes(32) } },
    });
    await deploy(
      e2e,
      ['terminal-menu', 'air-ticket', 'movie-ticket', 'lottery-ticket'].map((f) => join(DEFS, `${f}.yaml`)),
    );
  }, 300_000);
  afterAll(async () => {
    await e2e.stop();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
    expect((await household()).pending).toBe(0n);
    // No card data in clear in the database, the logs or the raw workflow histories.
    const db = await databaseText(e2e.db);
    const logs = e2e.logText();
    for (const n of cardNeedles()) {
      expect(db).not.toContain(n);
      expect(logs).not.toContain(n);
    }
    for (const id of new Set(e2e.workflowIds)) {
      const history = await rawHistoryText(e2e.env, id);
      for (const n of cardNeedles()) expect(history).not.toContain(n);
    }
  });

  it('the ticket services are on the menu the phone downloads', async () => {
    const t = phone(e2e);
    expect((await t.signOn()).outcome).toBe('approved');
    expect(await t.downloadMenu()).toMatchObject({ outcome: 'approved', changed: true });
    expect(t.menu?.entries.map((e) => [e.code, e.path.join('/')])).toEqual(
      expect.arrayContaining([
        ['air-ticket', 'Tickets/Air'],
        ['movie-ticket', 'Tickets/Movie'],
        ['lottery-ticket', 'Tickets/Lottery'],
      ]),
    );
    await t.hangUp();
  });

  it('air: booking confirmed on the phone, paid once, receipt carries the order reference', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const r = await t.service('air-ticket', { offer: '1', booking: '123450' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens).toHaveLength(1);
    expect(r.screens[0]?.lines.join(' ')).toMatch(/PAY \d+\.\d\d\? 1=YES 2=NO/);
    await t.hangUp();
    const result = await resultOf('air-ticket', r.stan);
    expect(result).toMatchObject({ outcome: 'COMPLETED', output: { fee: 500 } });
    const out = result.output as { orderId: string; amount: number };
    expect(out.orderId).not.toBe('');
    expect(r.receipt).toEqual(
      expect.arrayContaining([
        'AIR TICKET',
        'BOOKING 123450',
        `AMOUNT ${(out.amount / 100).toFixed(2)}`,
        `REF ${out.orderId}`,
      ]),
    );
    expect((await household()).posted - before.posted).toBe(BigInt(out.amount) + 500n);
    expect(ordersFor(runId('air-ticket', r.stan)).map((o) => [o.state, o.charged])).toEqual([['ISSUED', 1]]);
  });

  it('air: NO at the prompt, nothing held, nothing charged', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('air-ticket', { offer: '1', booking: '223451' }, [{ key: '2' }]);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '17' });
    expect(r.receipt).toEqual([]);
    await t.hangUp();
    expect(await resultOf('air-ticket', r.stan)).toMatchObject({ outcome: 'FAILED', code: 'NOT_CONFIRMED' });
    expect(await household()).toEqual(before);
    expect(ordersFor(runId('air-ticket', r.stan))).toEqual([]);
  });

  it('movie: show and seats keyed on the pad, confirmed, paid once, receipt carries the order reference', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const r = await t.service('movie-ticket', { offer: '1', show: '1', seatKeys: '06010602' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens[0]?.lines.join(' ')).toMatch(/PAY 90\.00\? 1=YES 2=NO/);
    await t.hangUp();
    const result = await resultOf('movie-ticket', r.stan);
    expect(result).toMatchObject({ outcome: 'COMPLETED', output: { amount: 9000, fee: 200 } });
    const out = result.output as { orderId: string; tickets: string[] };
    expect(out.tickets).toHaveLength(2);
    expect(out.tickets.map((x) => x.slice(-3))).toEqual(['-F1', '-F2']);
    expect(r.receipt).toEqual(
      expect.arrayContaining(['MOVIE TICKET', 'SHOW dune-1930', 'AMOUNT 90.00', `REF ${out.orderId}`]),
    );
    expect((await household()).posted - before.posted).toBe(9200n);
    expect(ordersFor(runId('movie-ticket', r.stan)).map((o) => [o.state, o.charged])).toEqual([['ISSUED', 1]]);
  });

  it('lottery: one board keyed two digits a number, confirmed, paid once, receipt carries the order reference', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('lottery-ticket', { offer: '1', draw: '20261205', numbers: '010713223540' }, [
      { key: '1' },
    ]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens[0]?.lines.join(' ')).toMatch(/PAY 2\.00\? 1=YES 2=NO/);
    await t.hangUp();
    const result = await resultOf('lottery-ticket', r.stan);
    expect(result).toMatchObject({ outcome: 'COMPLETED', output: { amount: 200 } });
    const out = result.output as { orderId: string; fee: number };
    expect(r.receipt).toEqual(
      expect.arrayContaining(['LOTTERY', 'DRAW 20261205', 'NUMBERS 010713223540', `REF ${out.orderId}`]),
    );
    expect((await household()).posted - before.posted).toBe(200n + BigInt(out.fee));
    expect(ordersFor(runId('lottery-ticket', r.stan)).map((o) => [o.state, o.charged])).toEqual([['ISSUED', 1]]);
  });

  it('lottery after the sales cut-off: refused before any prompt or money moves', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('lottery-ticket', { offer: '1', draw: '20261128', numbers: '010713223540' }, []);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '12', signed: true });
    expect(r.screens).toEqual([]);
    await t.hangUp();
    expect(await resultOf('lottery-ticket', r.stan)).toMatchObject({ outcome: 'FAILED', code: 'TICKET_SALES_CLOSED' });
    expect(await household()).toEqual(before);
    expect(ordersFor(runId('lottery-ticket', r.stan))).toEqual([]);
  });

  it('movie: NO at the prompt releases the seat hold at once, nothing charged; the same seat is bought right after', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('movie-ticket', { offer: '1', show: '2', seatKeys: '0303' }, [{ key: '2' }]);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '17' });
    await t.hangUp();
    // The run undid its seat hold (releaseTicketHold) before it ended: not at the hold's expiry.
    expect(await resultOf('movie-ticket', r.stan)).toMatchObject({ outcome: 'COMPENSATED', code: 'NOT_CONFIRMED' });
    expect(await household()).toEqual(before);
    expect(ordersFor(runId('movie-ticket', r.stan))).toEqual([]);
    // Another customer (another phone call) buys the very seat at once.
    const u = phone(e2e);
    await u.signOn();
    const again = await u.service('movie-ticket', { offer: '1', show: '2', seatKeys: '0303' }, [{ key: '1' }]);
    expect(again).toMatchObject({ outcome: 'approved', responseCode: '00' });
    await u.hangUp();
    const result = await resultOf('movie-ticket', again.stan);
    expect(result).toMatchObject({ outcome: 'COMPLETED', output: { amount: 4000, fee: 200 } });
    expect((result.output as { tickets: string[] }).tickets.map((x) => x.slice(-3))).toEqual(['-C3']);
    expect((await household()).posted - before.posted).toBe(4200n);
    // And the seat is now sold: a third buyer is refused before any money moves.
    const w = phone(e2e);
    await w.signOn();
    const sold = await w.service('movie-ticket', { offer: '1', show: '2', seatKeys: '0303' }, []);
    expect(sold.outcome).toBe('declined');
    await w.hangUp();
    expect(await resultOf('movie-ticket', sold.stan)).toMatchObject({ code: 'TICKET_UNAVAILABLE' });
  });

  it('a decline after the hold and the YES reaches the phone signed with its code; nothing charged, the seats free', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    // Seat A4: the sandbox cinema declines the payment (last digit 4).
    const r = await t.service('movie-ticket', { offer: '1', show: '1', seatKeys: '0104' }, [{ key: '1' }]);
    expect(r.screens).toHaveLength(1);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '05', signed: true });
    expect(r.receipt).toEqual([]);
    await t.hangUp();
    expect(await resultOf('movie-ticket', r.stan)).toMatchObject({ outcome: 'COMPENSATED', code: 'TICKET_DECLINED' });
    expect(await household()).toEqual(before);
    expect(ordersFor(runId('movie-ticket', r.stan)).map((o) => [o.state, o.charged])).toEqual([['DECLINED', 0]]);
    // A pending payment that ends declined is told the same way, signed: the last number ending 9.
    const u = phone(e2e);
    await u.signOn();
    const p = await u.service('lottery-ticket', { offer: '1', draw: '20261205', numbers: '010713223549' }, [
      { key: '1' },
    ]);
    expect(p).toMatchObject({ outcome: 'declined', responseCode: '05', signed: true });
    await u.hangUp();
    expect(await resultOf('lottery-ticket', p.stan)).toMatchObject({ outcome: 'COMPENSATED', code: 'TICKET_DECLINED' });
    expect(await household()).toEqual(before);
  });

  it('a new lottery game added as a file while running is on the phone menu at the next download and sold', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    await t.downloadMenu();
    const games = (): unknown =>
      t.menu?.entries.find((e) => e.code === 'lottery-ticket')?.inputs.find((i) => i.name === 'offer')?.choices;
    // The choice lists are the provider data's (terminal codes and titles), not the definition's.
    expect(games()).toEqual([{ key: '1', label: 'Lotto 6/49' }]);
    expect(
      t.menu?.entries.find((e) => e.code === 'movie-ticket')?.inputs.find((i) => i.name === 'show')?.choices,
    ).toEqual([
      { key: '1', label: 'Dune, 19:30' },
      { key: '2', label: 'Heat, 21:00' },
    ]);
    // The provider starts selling a game; we add its file. No definition change, no restart.
    const now = Date.now();
    sim.addGame('lotto-5-35', { pricePerBoard: 300, pick: { count: 5, min: 1, max: 35 } });
    sim.addDraw('lotto-5-35', '20261206', { opensAt: now - HOUR, cutoffAt: now + 2 * HOUR, drawAt: now + 3 * HOUR });
    writeFileSync(
      join(dir, 'ticketing', 'lotto-5-35.yaml'),
      [
        'apiVersion: fixpay/v1',
        'kind: LotteryGame',
        "metadata: { id: lotto-5-35, title: 'Lotto 5/35' }",
        'spec:',
        '  provider: tickets-sandbox',
        "  terminalCode: '2'",
        '  pick: { count: 5, min: 1, max: 35 }',
        '  pricePerBoard: 300',
        '',
      ].join('\n'),
    );
    expect(await t.downloadMenu()).toMatchObject({ outcome: 'approved', changed: true });
    expect(games()).toEqual([
      { key: '1', label: 'Lotto 6/49' },
      { key: '2', label: 'Lotto 5/35' },
    ]);
    const r = await t.service('lottery-ticket', { offer: '2', draw: '20261206', numbers: '0309172531' }, [
      { key: '1' },
    ]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens[0]?.lines.join(' ')).toMatch(/PAY 3\.00\? 1=YES 2=NO/);
    // A key no game has: refused before any money moves.
    const unknown = await t.service('lottery-ticket', { offer: '7', draw: '20261206', numbers: '0309172531' }, []);
    expect(unknown.outcome).toBe('declined');
    await t.hangUp();
    const result = await resultOf('lottery-ticket', r.stan);
    expect(result).toMatchObject({ outcome: 'COMPLETED', output: { amount: 300 } });
    const fee = (result.output as { fee: number }).fee;
    expect((await household()).posted - before.posted).toBe(300n + BigInt(fee));
    expect(ordersFor(runId('lottery-ticket', r.stan)).map((o) => [o.hold, o.state, o.charged])).toEqual([
      ['lotto-5-35/20261206', 'ISSUED', 1],
    ]);
    // The hold step's failure carries the catalogue's message (the run's code is SVC_STEP_FAILED).
    const refused = await resultOf('lottery-ticket', unknown.stan);
    expect(refused).toMatchObject({ outcome: 'FAILED', code: 'SVC_STEP_FAILED' });
    expect(refused.message ?? '').toContain(findResultCode('FP8600')?.message ?? 'FP8600');
    expect(ordersFor(runId('lottery-ticket', unknown.stan))).toEqual([]);
  });

  it('hostile keys are refused before any money moves: no such row, an odd number of digits, a taken seat', async () => {
    const before = await household();
    const t = phone(e2e);
    await t.signOn();
    const noRow = await t.service('movie-ticket', { offer: '1', show: '1', seatKeys: '0001' }, []);
    expect(noRow.outcome).toBe('declined');
    const odd = await t.service('lottery-ticket', { offer: '1', draw: '20261205', numbers: '0107132235' + '4' }, []);
    expect(odd.outcome).toBe('declined');
    const taken = await t.service('movie-ticket', { offer: '1', show: '1', seatKeys: '0101' }, []);
    expect(taken.outcome).toBe('declined');
    await t.hangUp();
    expect(await resultOf('movie-ticket', noRow.stan)).toMatchObject({
      outcome: 'FAILED',
      code: 'SVC_EXPRESSION_FAILED',
    });
    expect(await resultOf('lottery-ticket', odd.stan)).toMatchObject({
      outcome: 'FAILED',
      code: 'SVC_EXPRESSION_FAILED',
    });
    // The seat hold step is undone (releaseTicketHold) even when the seats were refused: nothing was held.
    expect(await resultOf('movie-ticket', taken.stan)).toMatchObject({
      outcome: 'COMPENSATED',
      code: 'TICKET_UNAVAILABLE',
    });
    expect(await household()).toEqual(before);
    for (const r of [noRow, odd, taken])
      expect(ordersFor(runId(r === odd ? 'lottery-ticket' : 'movie-ticket', r.stan))).toEqual([]);
  });
});
