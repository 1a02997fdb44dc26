// The gateway against the bank simulator over real TCP on 127.0.0.1, with in-memory stores.
// The durable (Prisma) queue is exercised in reversal-durable.int.test.ts.
import { FixpayError } from '../../domain/errors';
import { encryptPinBlock } from '../../simulator/bank/pin';
import { connectGateway, purchase, startBank, waitFor, ZPK } from '../../simulator/bank/harness';
import { InMemoryRequestJournal } from './journal';
import { InMemoryReversalQueue } from './reversal-queue';
import { parseSettlementFile, reconcile } from './settlement';
import type { CardholderRequest, NetworkOutcome } from './transactions';

type Started = Awaited<ReturnType<typeof startBank>>;

describe('card network gateway ⇄ bank simulator', () => {
  let sim: Started;
  let reversals: InMemoryReversalQueue;
  let gateway: ReturnType<typeof connectGateway>;

  beforeEach(async () => {
    sim = await startBank();
    reversals = new InMemoryReversalQueue();
    gateway = connectGateway(sim.port, { reversals, journal: new InMemoryRequestJournal() });
    await waitFor(() => gateway.isSignedOn);
  });
  afterEach(async () => {
    await gateway.stop();
    await sim.server.close();
  });

  it('signs on and answers echo tests', async () => {
    expect(sim.bank.stats.signOns).toBe(1);
    await gateway.echo();
    expect(sim.bank.stats.echoes).toBe(1);
  });

  it('purchase: approved, the account is debited once even when the activity repeats', async () => {
    const req = purchase({ amountMinor: 2_500 });
    const before = sim.bank.account(req.pan)!.balanceMinor;
    const outcome = await gateway.authorize(req);
    expect(outcome).toMatchObject({ approved: true, responseCode: '00', resultCode: 'FP1000' });
    expect(outcome.rrn).toMatch(/^\d{12}$/);
    const again = await gateway.authorize(req);
    expect(again).toEqual(outcome);
    expect(sim.bank.account(req.pan)!.balanceMinor).toBe(before - 2_500);
    await expect(gateway.authorize({ ...req, amountMinor: 1 })).rejects.toMatchObject({
      codeName: 'IDEMPOTENCY_KEY_REUSED',
    });
    expect((await reversals.get(req.idempotencyKey))?.status).toBe('cancelled');
  });

  it('declines with catalogue codes: wrong PIN, insufficient funds, limit, unknown card', async () => {
    const wrongPin = purchase({ pinBlock: encryptPinBlock('000000', '6225880000000001', ZPK).toString('hex') });
    expect(await gateway.authorize(wrongPin)).toMatchObject({
      approved: false,
      responseCode: '55',
      resultName: 'PIN_INVALID',
    });
    expect(await gateway.authorize(purchase({ pan: '6225880000000019', amountMinor: 60_000 }))).toMatchObject({
      resultName: 'INSUFFICIENT_FUNDS',
    });
    expect(await gateway.authorize(purchase({ amountMinor: 600_000 }))).toMatchObject({ resultName: 'LIMIT_EXCEEDED' });
    const { pinBlock: _p, ...noPin } = purchase({ pan: '6225880000000035' });
    expect(await gateway.authorize(noPin)).toMatchObject({ resultName: 'CARD_INVALID' });
  });

  it('balance inquiry, transfer and credit-card repayment', async () => {
    const from = '6225880000000001';
    const credit = '6225880000000027';
    const { amountMinor: _a, ...inquiry } = purchase();
    const balance = await gateway.balanceInquiry(inquiry);
    expect(balance).toMatchObject({ approved: true });
    expect(balance.balanceMinor).toBe(sim.bank.account(from)!.balanceMinor);

    const to = '6225880000000019';
    const toBefore = sim.bank.account(to)!.balanceMinor;
    const fromBefore = sim.bank.account(from)!.balanceMinor;
    expect(await gateway.transfer(purchase({ amountMinor: 700, targetAccount: to }))).toMatchObject({ approved: true });
    expect(sim.bank.account(to)!.balanceMinor).toBe(toBefore + 700);
    expect(sim.bank.account(from)!.balanceMinor).toBe(fromBefore - 700);

    const owed = sim.bank.account(credit)!.balanceMinor;
    expect(await gateway.repayCreditCard(purchase({ amountMinor: 5_000, targetAccount: credit }))).toMatchObject({
      approved: true,
    });
    expect(sim.bank.account(credit)!.balanceMinor).toBe(owed + 5_000);
    // Repaying a debit card is refused by the issuer.
    expect(await gateway.repayCreditCard(purchase({ amountMinor: 5, targetAccount: to }))).toMatchObject({
      resultName: 'TRANSACTION_NOT_SUPPORTED',
    });
  });

  it('a dropped response becomes a reversal that lands exactly once, repeated as 0401', async () => {
    const req = purchase({ amountMinor: 3_000 });
    const before = sim.bank.account(req.pan)!.balanceMinor;
    sim.server.inject({ kind: 'drop', mti: '0200' });
    sim.server.inject({ kind: 'drop', mti: '0400' }); // the first reversal's answer is lost too
    await expect(gateway.authorize(req)).rejects.toMatchObject({ codeName: 'CARD_NETWORK_NO_RESPONSE' });
    await waitFor(async () => (await reversals.get(req.idempotencyKey))?.status === 'done');
    expect(sim.bank.stats.reversalMessages).toBe(2);
    expect(sim.bank.reversalsOf(req.terminalId, req.stan)).toBe(1);
    expect(sim.bank.account(req.pan)!.balanceMinor).toBe(before);
    // The activity retried with the same key gets the same answer and sends nothing.
    await expect(gateway.authorize(req)).rejects.toMatchObject({ codeName: 'CARD_NETWORK_NO_RESPONSE' });
    expect(sim.bank.sawOriginal(req.terminalId, req.stan)).toBe(true);
    expect(gateway.mux.unmatched.length).toBe(0);
  });

  it.each([
    ['wrong-length', 'CARD_NETWORK_RESPONSE_MALFORMED'],
    ['bad-bitmap', 'CARD_NETWORK_NO_RESPONSE'],
    ['truncate', 'CARD_NETWORK_NO_RESPONSE'],
    ['bad-header', 'CARD_NETWORK_NO_RESPONSE'],
  ] as const)('a %s response gives %s, a reversal, and no crash', async (kind, codeName) => {
    const req = purchase({ amountMinor: 1_100 });
    const before = sim.bank.account(req.pan)!.balanceMinor;
    sim.server.inject({ kind, mti: '0200' });
    const error = await gateway.authorize(req).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FixpayError);
    expect(error).toMatchObject({ codeName });
    expect((error as FixpayError).code).toMatch(/^FP50\d\d$/);
    await waitFor(async () => (await reversals.get(req.idempotencyKey))?.status === 'done');
    expect(sim.bank.reversalsOf(req.terminalId, req.stan)).toBe(1);
    expect(sim.bank.account(req.pan)!.balanceMinor).toBe(before);
    // The gateway is still usable afterwards (it reconnects if the frame broke the stream).
    await waitFor(() => gateway.isSignedOn, 3000).catch(() => undefined);
    expect(await gateway.authorize(purchase({ amountMinor: 10 }))).toMatchObject({ approved: true });
  });

  it('explicit reverse (compensation) of an approved purchase is idempotent', async () => {
    const req = purchase({ amountMinor: 4_000 });
    const before = sim.bank.account(req.pan)!.balanceMinor;
    await gateway.authorize(req);
    expect(await gateway.reverse(req.idempotencyKey)).toMatchObject({ status: 'done', responseCode: '00' });
    expect(await gateway.reverse(req.idempotencyKey)).toMatchObject({ status: 'done' });
    expect(sim.bank.reversalsOf(req.terminalId, req.stan)).toBe(1);
    expect(sim.bank.account(req.pan)!.balanceMinor).toBe(before);
    expect(await gateway.reverse('never-sent')).toEqual({ status: 'none' });
  });

  it('reverse of a declined original sends nothing: no money moved', async () => {
    const req = purchase({ pan: '6225880000000019', amountMinor: 60_000 });
    expect(await gateway.authorize(req)).toMatchObject({ approved: false, responseCode: '51' });
    const sent = sim.bank.stats.reversalMessages;
    expect(await gateway.reverse(req.idempotencyKey)).toEqual({ status: 'none', originalResponseCode: '51' });
    expect(await gateway.reverse(req.idempotencyKey)).toEqual({ status: 'none', originalResponseCode: '51' });
    await gateway.forwardReversals();
    expect(sim.bank.stats.reversalMessages).toBe(sent);
    expect((await reversals.get(req.idempotencyKey))?.status).toBe('cancelled');
  });

  it('settles a batch (0500/0320) and reconciles the ledger against the settlement file', async () => {
    const batchNumber = '000042';
    const done: { req: CardholderRequest; outcome: NetworkOutcome }[] = [];
    for (let i = 0; i < 4; i++) {
      const req = purchase({ amountMinor: 100 * (i + 1), batchNumber });
      done.push({ req, outcome: await gateway.authorize(req) });
    }
    const total = done.reduce((a, d) => a + (d.req.amountMinor ?? 0), 0);
    const totals = {
      terminalId: 'TERM0001',
      merchantId: 'MERCHANT0000001',
      batchNumber,
      currency: '156',
      creditsCount: 0,
      creditsAmountMinor: 0,
    };
    expect(await gateway.settleBatch({ ...totals, debitsCount: 4, debitsAmountMinor: total })).toEqual({
      inBalance: true,
      responseCode: '00',
    });
    expect(await gateway.settleBatch({ ...totals, debitsCount: 4, debitsAmountMinor: total + 1 })).toMatchObject({
      inBalance: false,
    });
    const upload = await gateway.uploadBatch(
      done.map((d) => ({
        terminalId: 'TERM0001',
        merchantId: 'MERCHANT0000001',
        batchNumber,
        stan: d.req.stan,
        rrn: d.outcome.rrn ?? '',
        processingCode: '000000',
        amountMinor: d.req.amountMinor ?? 0,
        currency: '156',
      })),
    );
    expect(upload).toEqual(['00', '00', '00', '00']);

    const network = parseSettlementFile(sim.bank.settlementFile()).filter((r) =>
      done.some((d) => d.req.stan === r.stan),
    );
    const ledger = network.map((r) => ({ ...r }));
    // Injected mismatches: one booking missing from the network, one the ledger lacks, one amount off.
    const [first, second, third] = ledger;
    const ledgerWithFaults = [
      { ...first!, amountMinor: first!.amountMinor + 1 },
      third!,
      ledger[3]!,
      { ...third!, stan: '999999' },
    ];
    const report = reconcile(ledgerWithFaults, network);
    expect(report.matched).toBe(2);
    expect(report.exceptions.map((e) => [e.kind, e.key]).sort()).toEqual(
      [
        ['amount_mismatch', `TERM0001|${first!.stan}|${first!.date}`],
        ['long', `TERM0001|999999|${third!.date}`],
        ['short', `TERM0001|${second!.stan}|${second!.date}`],
      ].sort(),
    );
  });
});
