/**
 * Demo data for `fixpay dev` and the end-to-end tests: merchants and a household, each with a
 * terminal in service, its PSAM (an HSM key handle, no key material) and phone binding; BIN routes
 * to the bank simulator; and the ledger accounts money moves through (settlement, merchant,
 * customer funds, suspense, funding), with the household funded. Safe to run again: every step
 * is idempotent (deterministic ids, lifecycle steps only where the terminal has not reached them).
 *
 * Customers and terminals go through the business core's lifecycle commands (ADR 0020), as an
 * operator's would: onboarding with KYC, the terminal order, binding and activation, each audited
 * with the actor `seed`. `fixpay dev` runs them as Temporal runs (`run`); without `run` the same
 * activity code runs in-process (tests that seed before their worker starts). Two steps are the
 * demo room's own: the demo PSAMs arrive from their vendor carrying the simulator's published test
 * keys (registered, not personalised — personalisation would give them keys the simulated phones do
 * not hold), and their terminal master keys are loaded by `demo/keys.ts`, which stands for the first
 * sign-on's key download (`downloadKeys`).
 */
import { currency as currencyOf } from '../domain/money';
import { ledgerIdFor } from '../ledger/ids';
import { ACCOUNT_CODES, TRANSFER_CODES, transferSucceeded, type AccountEvent, type LedgerPort } from '../ledger/model';
import { ledgerReferenceFor, type BinRoute, type Customer } from '../core/model';
import type { CoreRepository } from '../core/repository';
import { createLifecycleActivities } from '../activities/terminal-lifecycle';
import type { LifecycleCommand, LifecycleOutcome } from '../activities/terminal-lifecycle';

/** Carries out one lifecycle command (a Temporal run in `fixpay dev`). */
export type DemoLifecycleRun = (command: LifecycleCommand, actor: string) => Promise<LifecycleOutcome>;

/** Terminals the seed brings up side by side (benchmarks seed hundreds; the database takes a few at once). */
export const SEED_TERMINALS_AT_ONCE = 8;

/** The demo customers' KYC data (made up, valid for core/kyc.ts). */
export function demoKyc(customer: Customer): Readonly<Record<string, string>> {
  const digits = customer.id.replace(/\D/g, '').padStart(4, '0');
  const common = {
    legalName: customer.name,
    idType: customer.kind === 'merchant' ? 'business-licence' : 'national-id',
    idNumber: `DEMO-${customer.id}`,
    address: `${digits} Demo Road, Shanghai`,
    contactPhone: `+8621500${digits}`,
  };
  return customer.kind === 'merchant' ? { ...common, registrationNo: `DEMO-REG-${digits}`, mcc: '5411' } : common;
}

/**
 * The lifecycle activities in this process (no Temporal): the code a run executes, with its audit
 * rows. Only the commands the seed gives (onboard, order, bind, activate) are served.
 */
export function inProcessLifecycleRun(deps: {
  core: CoreRepository;
  ledger: LedgerPort;
  currency?: string;
}): DemoLifecycleRun {
  const noKeys = (): Promise<never> => Promise.reject(new Error('the demo seed manages no keys'));
  const acts = createLifecycleActivities({
    core: deps.core,
    ledger: deps.ledger,
    ...(deps.currency === undefined ? {} : { currency: deps.currency }),
    hsm: { describeKey: noKeys },
    terminalKeys: { injectMasterKey: noKeys, destroy: noKeys },
  });
  return (command, actor) => acts.applyLifecycleCommand({ command, actor });
}

export interface DemoTerminal {
  readonly customer: Customer;
  readonly terminalId: string;
  readonly deviceProfileId: string;
  readonly psamNo: string;
  /** HSM key handle the PSAM's session keys derive from. */
  readonly psamKeyHandle: string;
  /** Caller number the terminal dials from (digits). */
  readonly ani: string;
}

export interface DemoData {
  readonly currency: string;
  readonly terminals: readonly DemoTerminal[];
  readonly binRoutes: readonly BinRoute[];
  /** Prepaid money the household starts with, in minor units. */
  readonly householdFundsMinor: bigint;
}

export const DEMO: DemoData = {
  currency: 'CNY',
  terminals: [
    {
      customer: { id: 'M0001', kind: 'merchant', name: 'Demo Grocery' },
      terminalId: 'T0000001',
      deviceProfileId: 'es201912-v23',
      psamNo: 'A1B2C3D4E5F60001',
      psamKeyHandle: 'psam-master:demo',
      ani: '862150000001',
    },
    {
      customer: { id: 'H0001', kind: 'household', name: 'Demo Household' },
      terminalId: 'T0000002',
      deviceProfileId: 'bell202-crc16',
      psamNo: 'A1B2C3D4E5F60002',
      psamKeyHandle: 'psam-master:demo',
      ani: '862150000002',
    },
    {
      customer: { id: 'M0002', kind: 'merchant', name: 'Demo Pharmacy' },
      terminalId: 'T0000011',
      deviceProfileId: 'es201912-v23',
      psamNo: 'A1B2C3D4E5F60011',
      psamKeyHandle: 'psam-master:demo',
      ani: '862150000011',
    },
    {
      customer: { id: 'M0003', kind: 'merchant', name: 'Demo Newsagent' },
      terminalId: 'T0000012',
      deviceProfileId: 'es201912-v23',
      psamNo: 'A1B2C3D4E5F60012',
      psamKeyHandle: 'psam-master:demo',
      ani: '862150000012',
    },
  ],
  binRoutes: [
    { binLow: '62', binHigh: '62', network: 'cup', issuerId: 'sim-issuer', gatewayId: 'sim-bank' },
    { binLow: '4', binHigh: '4', network: 'visa', issuerId: 'sim-issuer', gatewayId: 'sim-bank' },
    { binLow: '51', binHigh: '55', network: 'mastercard', issuerId: 'sim-issuer', gatewayId: 'sim-bank' },
  ],
  householdFundsMinor: 100_000n,
};

export interface SeedReport {
  readonly customers: readonly string[];
  readonly terminals: readonly { id: string; state: string }[];
  /** Ledger account references and ids (UUID-able bigints). */
  readonly accounts: readonly { reference: string; id: bigint }[];
}

/** The ledger account id for a reference such as `merchant:M0001` (deterministic). */
export function accountIdFor(reference: string): bigint {
  return ledgerIdFor('account', reference);
}

/**
 * Creates (or completes) the demo data. Throws on any refusal: demo data that cannot be created is
 * a broken installation, not an expected outcome.
 */
export async function seedDemo(
  deps: { core: CoreRepository; ledger: LedgerPort; run?: DemoLifecycleRun },
  data: DemoData = DEMO,
): Promise<SeedReport> {
  const { core, ledger } = deps;
  const actor = 'seed';
  const run = deps.run ?? inProcessLifecycleRun({ core, ledger, currency: data.currency });
  const must = <T>(r: { ok: true; value: T } | { ok: false; code: string; detail: string }): T => {
    if (!r.ok) throw new Error(`seed: ${r.code}: ${r.detail}`);
    return r.value;
  };
  const command = async (c: LifecycleCommand): Promise<void> => {
    const outcome = await run(c, actor);
    if (!outcome.ok) throw new Error(`seed: ${c.kind}: ${outcome.reason}: ${outcome.detail}`);
  };
  /** `work` over `items`, SEED_TERMINALS_AT_ONCE at a time, results in order. */
  const inChunks = async <T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> => {
    const out: R[] = [];
    for (let i = 0; i < items.length; i += SEED_TERMINALS_AT_ONCE)
      out.push(...(await Promise.all(items.slice(i, i + SEED_TERMINALS_AT_ONCE).map(work))));
    return out;
  };
  // Customers first (each once), then each terminal's steps in order, terminals side by side:
  // `fixpay dev` waits for these runs.
  const customers = [...new Map(data.terminals.map((t) => [t.customer.id, t.customer])).values()];
  await inChunks(customers, async (c) => {
    if ((await core.customer(c.id)) === undefined)
      await command({ kind: 'onboard', customerId: c.id, customerKind: c.kind, name: c.name, kyc: demoKyc(c) });
  });
  const bring = async (t: DemoTerminal): Promise<{ id: string; state: string }> => {
    if ((await core.terminal(t.terminalId)) === undefined)
      await command({
        kind: 'order',
        terminalId: t.terminalId,
        customerId: t.customer.id,
        deviceProfileId: t.deviceProfileId,
      });
    // The demo PSAM, with the simulator's published test keys (see above).
    must(await core.registerPsam({ psamNo: t.psamNo, keyHandle: t.psamKeyHandle }));
    if ((await core.terminal(t.terminalId))?.state === 'registered')
      await command({ kind: 'bind', terminalId: t.terminalId, psamNo: t.psamNo, ani: t.ani });
    if ((await core.terminal(t.terminalId))?.state === 'bound')
      await command({ kind: 'activate', terminalId: t.terminalId });
    // The demo TMK is loaded (demo/keys.ts): the key download of a first sign-on.
    if ((await core.terminal(t.terminalId))?.state === 'activated')
      must(await core.applyTerminalEvent(t.terminalId, 'downloadKeys', actor));
    const final = await core.terminal(t.terminalId);
    return { id: t.terminalId, state: final?.state ?? 'unknown' };
  };
  const terminals = await inChunks(data.terminals, bring);
  for (const route of data.binRoutes) must(await core.addBinRoute(route));

  const cur = currencyOf(data.currency);
  const account = (reference: string, code: number, flags: AccountEvent['flags'] = {}): AccountEvent => ({
    id: accountIdFor(reference),
    reference,
    ledger: cur.numeric,
    code,
    currency: cur.code,
    flags,
  });
  const accounts: AccountEvent[] = [
    account(`settlement:${cur.code}`, ACCOUNT_CODES.settlement),
    account(`suspense:${cur.code}`, ACCOUNT_CODES.suspense),
    account(`funding:${cur.code}`, ACCOUNT_CODES.funding),
    ...data.terminals.map((t) =>
      t.customer.kind === 'merchant'
        ? account(ledgerReferenceFor(t.customer), ACCOUNT_CODES.merchant)
        : account(ledgerReferenceFor(t.customer), ACCOUNT_CODES.customerFunds, { debitsMustNotExceedCredits: true }),
    ),
  ];
  const results = await ledger.createAccounts(accounts);
  results.forEach((r, i) => {
    if (r !== 'ok' && r !== 'exists') throw new Error(`seed: ledger account ${accounts[i]?.reference ?? '?'}: ${r}`);
  });
  const funding = data.terminals
    .filter((t) => t.customer.kind === 'household')
    .map((t) => ({
      id: ledgerIdFor('transfer', `seed:funding:${t.customer.id}`),
      debitAccountId: accountIdFor(`funding:${cur.code}`),
      creditAccountId: accountIdFor(ledgerReferenceFor(t.customer)),
      amount: data.householdFundsMinor,
      ledger: cur.numeric,
      code: TRANSFER_CODES.funding,
    }));
  const funded = await ledger.createTransfers(funding);
  funded.forEach((r) => {
    if (!transferSucceeded(r)) throw new Error(`seed: funding transfer: ${r}`);
  });
  return {
    customers: data.terminals.map((t) => t.customer.id),
    terminals,
    accounts: accounts.map((a) => ({ reference: a.reference ?? '', id: a.id })),
  };
}
