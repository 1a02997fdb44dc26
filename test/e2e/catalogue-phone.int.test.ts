/**
 * Catalogue management by API, end to end (ADR 0029): a partner signs up, creates its own bill
 * aggregator profile (endpoint, keyed HMAC secret) and a biller with a terminal code through the
 * partner API, and a household's phone pays a bill of that biller over real FSK audio (TCP PCM)
 * against the real bill simulator — the worker running all along, no restart. The simulator only
 * accepts requests signed with the partner's secret, so the payment also shows that the secret,
 * sealed in the database, opens in the worker. A fee changed by API is charged on the next call.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ledgerReferenceFor } from '../../core/model';
import { accountIdFor } from '../../demo/seed';
import { CatalogueMirror, catalogueSecretKey } from '../../gateways/providers/catalogue-store';
import { ProviderDirectory, type CatalogueFeed } from '../../gateways/providers/profile';
import type { VoucherKey } from '../../gateways/providers/voucher';
import { WebhookEgressPolicy } from '../../partners/webhook-egress';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import type { ServiceResult } from '../../services/runtime/plan';
import { ProviderSimulator } from '../../simulator/providers/server';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { PosTerminal } from '../../simulator/terminal/terminal';
import { call, LOOPBACK_NETWORKS, startPartnerApi, type PartnerApi } from '../support/partner-api';
import type { E2e } from './harness';
import { databaseText, ledgerBalanced, startE2e } from './harness';

const DEFS = join(__dirname, '..', '..', 'definitions');
const HOUSEHOLD = ledgerReferenceFor({ id: 'H0001', kind: 'household' });
const LMK = randomBytes(32).toString('hex');
const PARTNER_SECRET = `lake-${randomBytes(12).toString('hex')}`;

let nextStart = 9_000;
function phone(e2e: E2e): PosTerminal {
  nextStart += 100;
  // T0000002: the demo household, a Bell 202 phone with a 4 x 20 display and a 32-column printer.
  return new PosTerminal(e2e.terminal({ demoTerminal: 1 }), {
    stateStore: new MemoryStateStore({ stan: nextStart, batch: '000001', psamCounter: nextStart }),
  });
}

describe('a biller a partner created by API is paid from the phone over FSK, no restart', () => {
  jest.setTimeout(300_000);
  let e2e: E2e;
  let sim: ProviderSimulator;
  let api: PartnerApi;
  let mirror: CatalogueMirror;
  let directory: ProviderDirectory;
  let emptyDir: string;
  let simUrl = '';
  let key = '';
  let n = 0;
  const voucherKey: VoucherKey = { id: 'e2e', key: randomBytes(32) };

  async function household(): Promise<bigint> {
    const [a] = await e2e.ledger.lookupAccounts([accountIdFor(HOUSEHOLD)]);
    return a?.debitsPosted ?? -1n;
  }
  const runId = (stan: string | undefined): string =>
    e2e.workflowIds.find((w) => w.startsWith(`bill-payment:T0000002:${stan ?? '?'}:`)) ?? '';
  const put = (path: string, body: unknown) =>
    call(api.base, 'PUT', `/v1/catalogue/${path}`, { key, idem: `cat-${++n}`, body });
  const biller = (fee: number) => ({
    apiVersion: 'fixpay/v1',
    kind: 'Biller',
    metadata: { id: 'lake-water', title: 'Lake Water' },
    spec: {
      provider: 'lake-bills',
      terminalCode: '42',
      category: 'water',
      customerParams: [{ name: 'accountNumber', type: 'numeric', minLength: 6, maxLength: 16 }],
      fetch: 'required',
      amount: 'exact',
      fees: { customerFee: { fixed: fee } },
    },
  });
  /** Until the worker's directory holds the biller as written (the mirror polls every 200 ms). */
  async function seen(fee: number): Promise<void> {
    for (let i = 0; i < 300; i++) {
      const b = directory.current().billers.get('lake-water');
      if (b?.fees?.customerFee?.fixed === fee) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the worker never saw the biller');
  }
  async function pay(
    customerRef: string,
  ): Promise<{ result: ServiceResult; workflowId: string; receipt: readonly string[] }> {
    const t = phone(e2e);
    expect((await t.signOn()).outcome).toBe('approved');
    const r = await t.service('bill-payment', { billerId: '42', customerRef }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    await t.hangUp();
    const workflowId = runId(r.stan);
    expect(workflowId).not.toBe('');
    const result = (await e2e.env.client.workflow.getHandle(workflowId).result()) as ServiceResult;
    return { result, workflowId, receipt: r.receipt };
  }

  beforeAll(async () => {
    sim = new ProviderSimulator({
      kind: 'biller',
      keys: { lake: { scheme: 'hmac-sha256', secret: PARTNER_SECRET } },
      pendingMs: 3_000,
      timeoutMs: 5_000,
      lateCallbackMs: 1_000,
    });
    simUrl = (await sim.start()).url;
    // No provider files at all: everything this test pays comes from the catalogue written by API.
    emptyDir = mkdtempSync(join(tmpdir(), 'fixpay-catalogue-e2e-'));
    // The worker's directory reads the catalogue through a mirror of the harness's database, made
    // once the harness has one: until then the feed is empty.
    const late: { mirror?: CatalogueMirror } = {};
    const feed: CatalogueFeed = {
      generation: () => late.mirror?.generation() ?? 0,
      documents: () => late.mirror?.documents() ?? [],
    };
    // As the central worker: the partner's provider connects through the egress policy (loopback
    // allowed here, as an operator with a sandbox on a private network would allow it).
    directory = new ProviderDirectory(emptyDir, 0, undefined, feed, new WebhookEgressPolicy(LOOPBACK_NETWORKS).lookup);
    e2e = await startE2e({ providers: { directory, voucherKey } });
    mirror = new CatalogueMirror(e2e.db.prisma, 'test', catalogueSecretKey(LMK), 200);
    await mirror.start();
    late.mirror = mirror;
    for (const d of compileFiles(
      ['terminal-menu', 'bill-payment'].map((f) => join(DEFS, `${f}.yaml`)),
      defaultCatalogue(),
    )) {
      if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
      await e2e.registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
      await e2e.registry.promote(d.plan.serviceId, d.plan.version);
    }
    api = await startPartnerApi({ prisma: e2e.db.prisma, lmkHex: LMK });
    const signUp = await call(api.base, 'POST', '/v1/partners', {
      idem: 'signup',
      body: { name: 'Lake Water', email: 'ops@lake.example' },
    });
    key = (signUp.body['key'] as { secret: string }).secret;
  }, 300_000);

  afterAll(async () => {
    mirror.stop();
    await api.close();
    await e2e.stop();
    await sim.stop();
    rmSync(emptyDir, { recursive: true, force: true });
  });

  afterEach(async () => {
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
  });

  it('creates the provider and the biller by API; the phone pays a bill of it; a fee change applies next call', async () => {
    const provider = await put('providers/lake-bills', {
      apiVersion: 'fixpay/v1',
      kind: 'Provider',
      metadata: { id: 'lake-bills' },
      spec: {
        connector: 'bill-aggregator',
        endpoint: simUrl,
        currency: '156',
        auth: { scheme: 'hmac-sha256', keyId: 'lake', secret: PARTNER_SECRET },
        timeouts: { requestMs: 2000 },
        retry: { retryable: [429], ambiguous: [502, 503, 504] },
        statusQuery: { queries: 5 },
      },
    });
    expect(provider.status).toBe(201);
    expect((await put('billers/lake-water', biller(70))).status).toBe(201);
    await seen(70);

    const before = await household();
    const first = await pay('1234567890');
    expect(first.result).toMatchObject({ outcome: 'COMPLETED', output: { fee: 70 } });
    expect(first.receipt).toEqual(expect.arrayContaining(['BILL PAYMENT lake-water', 'FEE 0.70']));
    const amount = BigInt(Number((first.result.output as { amount: unknown }).amount));
    expect((await household()) - before).toBe(amount + 70n);
    const charged = sim.transactions().filter((t) => t.reference.startsWith(`${first.workflowId}/`));
    expect(charged.map((t) => [t.product, t.state, t.charged])).toEqual([['lake-water', 'COMPLETED', 1]]);

    // The partner changes its fee by API; the next call charges it, the worker still running.
    const changed = await put('billers/lake-water', biller(120));
    expect(changed.body).toMatchObject({ version: 2 });
    await seen(120);
    const mid = await household();
    const second = await pay('1234567891');
    expect(second.result).toMatchObject({ outcome: 'COMPLETED', output: { fee: 120 } });
    const amount2 = BigInt(Number((second.result.output as { amount: unknown }).amount));
    expect((await household()) - mid).toBe(amount2 + 120n);

    // The partner's secret is nowhere in the database in clear.
    expect(await databaseText(e2e.db)).not.toContain(PARTNER_SECRET);
    expect(e2e.logText()).not.toContain(PARTNER_SECRET);
  });
});
