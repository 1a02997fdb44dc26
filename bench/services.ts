/**
 * Per-service benchmark (`npm run bench:services [-- --quick] [-- --n <count>]`): in one run on
 * the embedded engines, simulated phones dial over TCP PCM (audio unpaced, as `bench:e2e --line`)
 * and run, one after the other on one call per service, purchase, balance inquiry, mobile top-up,
 * game-card (voucher) top-up, bill payment, air ticket, movie ticket, lottery wager (YES at each
 * confirmation prompt), card transfer and credit-card repayment (YES), through the whole platform:
 * the Temporal dev server, the database, the HSM, the card network gateway with the bank simulator,
 * and the bill, top-up and ticketing provider simulators over signed HTTP.
 *
 * Per service it prints the count, how many were approved, throughput (transactions/s over the
 * batch's wall time, line time included) and host latency p50/p95/p99: the time the access handler
 * spends on the transaction's requests (decoded request in → answer out), summed over the service
 * request and the prompt reply for conversations (the time the person takes to press a key is not
 * in it). The last column is the service's p50 over purchase's p50 in the same run: timings on a
 * shared machine are noisy, the ratios are what to compare between runs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestHandler } from '../channel-engine/engine';
import { ProviderDirectory } from '../gateways/providers/profile';
import { defaultCatalogue } from '../services/catalogue/entries';
import { compileFiles } from '../services/compiler/load';
import { ProviderSimulator } from '../simulator/providers/server';
import { TicketSimulator } from '../simulator/providers/tickets';
import { demoSeat } from '../cli/demo';
import { MemoryStateStore } from '../simulator/terminal/config';
import { PosTerminal } from '../simulator/terminal/terminal';
import type { E2e } from '../test/e2e/harness';
import { CARD_POOR, CARD_RICH, startE2e } from '../test/e2e/harness';
import { quietTemporalRuntime } from '../test/support/temporal';
import { PROVIDERS_DIR } from '../worker/platform-activities';
import { DEMO } from '../demo/seed';
import { formatTable, serviceRows } from './services-stats';
import type { ServiceSample } from './services-stats';

const N_DEFAULT = 20;
const N_QUICK = 5;
/** Unmeasured transactions per service first (the first run of each workflow and activity is slower). */
const WARMUP = 1;
const DEFINITIONS = join(__dirname, '..', 'definitions');
const DEPLOYED = [
  'terminal-menu',
  'mobile-topup',
  'voucher-topup',
  'bill-payment',
  'air-ticket',
  'movie-ticket',
  'lottery-ticket',
  'transfer',
  'credit-card-repayment',
];
const BILL_SECRET = 'sandbox-bills-secret-0001';
const TOPUP_SECRET = 'sandbox-topup-secret-0001';
const TICKETS_SECRET = 'sandbox-tickets-secret-0001';
/** The lottery draw the bench sells (open for the whole run). */
const DRAW = '20260001';
/** The bank simulator's credit card (simulator/bank/accounts.ts): the repayment's target. */
const CREDIT_CARD = '6225880000000027';
const HOUR = 3_600_000;
/** T0000001 is the demo merchant (card phone), T0000002 the demo household (top-ups, bills). */
const MERCHANT_PHONE = 0;
const HOUSEHOLD_PHONE = 1;
const HOUSEHOLD_FUNDS_MINOR = 1_000_000_000n;

/** Host time per transaction: every access-handler call while a transaction is open is added to it. */
class HostClock {
  private open: { ms: number } | undefined;

  wrap(h: RequestHandler): RequestHandler {
    return async (req) => {
      const started = performance.now();
      try {
        return await h(req);
      } finally {
        if (this.open !== undefined) this.open.ms += performance.now() - started;
      }
    };
  }

  /** Runs one transaction; its host ms and whether it was approved. */
  async time(run: () => Promise<boolean>): Promise<{ ms: number; approved: boolean }> {
    const open = { ms: 0 };
    this.open = open;
    try {
      const approved = await run().catch(() => false);
      return { ms: open.ms, approved };
    } finally {
      this.open = undefined;
    }
  }
}

function positive(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} needs a positive integer`);
  return v;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

interface ServiceRun {
  readonly service: string;
  readonly phone: number;
  readonly card?: { track2: string; pin: string };
  readonly needsMenu: boolean;
  /** Transaction `i`: resolves true when approved. */
  readonly one: (t: PosTerminal, i: number) => Promise<boolean>;
}

/** Numbers ending in 0–3 succeed at once at the sandbox providers; `i` keeps references apart. */
const SERVICES: readonly ServiceRun[] = [
  {
    service: 'purchase',
    phone: MERCHANT_PHONE,
    needsMenu: false,
    one: async (t) => (await t.purchase(100)).outcome === 'approved',
  },
  {
    service: 'balance',
    phone: MERCHANT_PHONE,
    needsMenu: false,
    one: async (t) => (await t.balance()).outcome === 'approved',
  },
  {
    service: 'mobile-topup',
    phone: HOUSEHOLD_PHONE,
    needsMenu: true,
    one: async (t, i) =>
      (await t.service('mobile-topup', { operator: '1', msisdn: `138${pad(i, 7)}${i % 4}`, amount: '5000' }, []))
        .outcome === 'approved',
  },
  {
    service: 'voucher-topup',
    phone: HOUSEHOLD_PHONE,
    needsMenu: true,
    one: async (t, i) =>
      (await t.service('voucher-topup', { operator: '1', msisdn: `9000${pad(i, 7)}${i % 4}`, amount: '10000' }, []))
        .outcome === 'approved',
  },
  {
    service: 'bill-payment',
    phone: HOUSEHOLD_PHONE,
    needsMenu: true,
    one: async (t, i) =>
      (await t.service('bill-payment', { billerId: '1', customerRef: `1${pad(i, 8)}${i % 4}` }, [{ key: '1' }]))
        .outcome === 'approved',
  },
  {
    service: 'air-ticket',
    phone: HOUSEHOLD_PHONE,
    needsMenu: true,
    // A booking is paid once: each transaction its own (last digit 0–3: paid at once).
    one: async (t, i) =>
      (await t.service('air-ticket', { offer: '1', booking: `2${pad(i, 4)}${i % 4}` }, [{ key: '1' }])).outcome ===
      'approved',
  },
  {
    service: 'movie-ticket',
    phone: HOUSEHOLD_PHONE,
    needsMenu: true,
    // A seat is sold once: each transaction its own seat.
    one: async (t, i) =>
      (await t.service('movie-ticket', { offer: '1', show: '1', seatKeys: demoSeat(i) }, [{ key: '1' }])).outcome ===
      'approved',
  },
  {
    service: 'lottery-ticket',
    phone: HOUSEHOLD_PHONE,
    needsMenu: true,
    one: async (t, i) =>
      (
        await t.service('lottery-ticket', { offer: '1', draw: DRAW, numbers: `0107132235${pad(40 + (i % 4), 2)}` }, [
          { key: '1' },
        ])
      ).outcome === 'approved',
  },
  {
    service: 'transfer',
    phone: MERCHANT_PHONE,
    card: CARD_RICH,
    needsMenu: true,
    one: async (t) =>
      (await t.service('transfer', { target: CARD_POOR.pan, amount: '100' }, [{ key: '1' }])).outcome === 'approved',
  },
  {
    service: 'credit-card-repayment',
    phone: MERCHANT_PHONE,
    card: CARD_RICH,
    needsMenu: true,
    one: async (t) =>
      (await t.service('credit-card-repayment', { target: CREDIT_CARD, amount: '100' }, [{ key: '1' }])).outcome ===
      'approved',
  },
];

async function deploy(e2e: E2e): Promise<void> {
  for (const d of compileFiles(
    DEPLOYED.map((f) => join(DEFINITIONS, `${f}.yaml`)),
    defaultCatalogue(),
  )) {
    if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
    await e2e.registry.deploy(d.plan, d.planHash, 'bench', randomUUID());
    await e2e.registry.promote(d.plan.serviceId, d.plan.version);
  }
}

async function runService(e2e: E2e, clock: HostClock, s: ServiceRun, n: number, start: number): Promise<ServiceSample> {
  const t = new PosTerminal(
    e2e.terminal({ demoTerminal: s.phone, ...(s.card === undefined ? {} : { card: s.card }) }),
    {
      stateStore: new MemoryStateStore({ stan: start, batch: '000001', psamCounter: start }),
    },
  );
  try {
    if ((await t.signOn()).outcome !== 'approved') throw new Error(`${s.service}: the sign-on was not approved`);
    if (s.needsMenu && (await t.downloadMenu()).outcome !== 'approved')
      throw new Error(`${s.service}: the menu download was not approved`);
    for (let i = 0; i < WARMUP; i++) await s.one(t, n + i);
    const latenciesMs: number[] = [];
    let approved = 0;
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const r = await clock.time(() => s.one(t, i));
      if (r.approved) {
        approved += 1;
        latenciesMs.push(r.ms);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    return { service: s.service, count: n, approved, seconds, latenciesMs };
  } finally {
    await t.hangUp().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  quietTemporalRuntime();
  const n = positive('--n') ?? (process.argv.includes('--quick') ? N_QUICK : N_DEFAULT);
  const common = { pendingMs: 3_000, timeoutMs: 5_000, lateCallbackMs: 1_000 };
  const bills = new ProviderSimulator({
    kind: 'biller',
    keys: { 'fixpay-demo': { scheme: 'hmac-sha256', secret: BILL_SECRET } },
    ...common,
  });
  const topups = new ProviderSimulator({
    kind: 'topup',
    keys: { 'fixpay-demo': { scheme: 'hmac-sha256', secret: TOPUP_SECRET } },
    pinProducts: ['game-100', 'qcoin-10'],
    operatorPrefixes: { '138': 'mobile-a' },
    ...common,
  });
  const tickets = new TicketSimulator({
    keys: { 'fixpay-demo': { scheme: 'hmac-sha256', secret: TICKETS_SECRET } },
    airlines: { SK: { prefix: '123' } },
    shows: { 'dune-1930': { price: 4500 }, 'heat-2100': { price: 4000 } },
    games: { 'lotto-6-49': { pricePerBoard: 200, pick: { count: 6, min: 1, max: 49 } } },
    pendingMs: 3_000,
    timeoutMs: 5_000,
  });
  const now = Date.now();
  tickets.addDraw('lotto-6-49', DRAW, { opensAt: now - HOUR, cutoffAt: now + 24 * HOUR, drawAt: now + 25 * HOUR });
  const b = await bills.start();
  const tp = await topups.start();
  const tk = await tickets.start();
  // The shipped providers, pointed at this run's simulators.
  const dir = mkdtempSync(join(tmpdir(), 'fixpay-bench-services-'));
  let e2e: E2e | undefined;
  try {
    cpSync(PROVIDERS_DIR, dir, { recursive: true });
    for (const [file, url] of [
      ['bills-sandbox.yaml', b.url],
      ['topup-sandbox.yaml', tp.url],
      ['tickets-sandbox.yaml', tk.url],
    ] as const) {
      const text = readFileSync(join(dir, file), 'utf8').replace(/endpoint: .*/, `endpoint: ${url}`);
      writeFileSync(join(dir, file), text);
    }
    const directory = new ProviderDirectory(dir, 0);
    const problems = directory.current().problems;
    if (problems.length > 0) throw new Error(`provider files: ${JSON.stringify(problems)}`);
    const clock = new HostClock();
    e2e = await startE2e({
      // The demo household is funded for a few top-ups; the bench pays for many.
      demo: { ...DEMO, householdFundsMinor: HOUSEHOLD_FUNDS_MINOR },
      providers: { directory, voucherKey: { id: 'bench', key: randomBytes(32) } },
      wrapHandler: (h) => clock.wrap(h),
    });
    await deploy(e2e);
    console.log(
      `bench:services: ${n} transactions per service, one phone per service on one call, sequential, over FSK (TCP PCM, unpaced), embedded engines; host latency = access handler time per transaction (prompt replies included, the person's key press not); timings are noisy on a shared machine: compare the ratios`,
    );
    const samples: ServiceSample[] = [];
    let stan = 10_000;
    for (const s of SERVICES) {
      stan += 1_000;
      const sample = await runService(e2e, clock, s, n, stan);
      samples.push(sample);
      console.log(`  ${s.service}: ${sample.approved}/${sample.count} approved in ${sample.seconds.toFixed(1)} s`);
    }
    console.log(formatTable(serviceRows(samples, 'purchase'), 'purchase'));
  } finally {
    await e2e?.stop();
    await bills.stop();
    await topups.stop();
    await tickets.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
