/**
 * A bill an SP delivered through the partner API, paid from a simulated phone over real FSK audio
 * (TCP PCM), end to end (ADR 0027): the SP signs up, names its webhook endpoint and posts a bill;
 * the household's phone keys the customer reference, sees the amount, confirms, and the amount is
 * debited once; the SP's receiver — verifying with the Standard Webhooks reference library (npm
 * `standardwebhooks`) — gets exactly one valid `bill.paid` confirmation, although it refuses the
 * first attempt and the partner API and the webhook worker are stopped and started again between
 * the attempts. Paying the same reference again finds no open bill and queues nothing; NO at the
 * prompt leaves the bill open and nothing charged.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Webhook } from 'standardwebhooks';
import { createWebhookActivities } from '../../activities/webhooks';
import { confirmationIds } from '../../activities/partner-bills';
import { webhookWorkflowId } from '../../api/webhook-runs';
import { ledgerReferenceFor } from '../../core/model';
import { accountIdFor } from '../../demo/seed';
import { WebhookEgressPolicy } from '../../partners/webhook-egress';
import { WebhookSender } from '../../partners/webhook-sender';
import { webhookMasterKey } from '../../partners/webhook-signing';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import type { ServiceResult } from '../../services/runtime/plan';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { PosTerminal } from '../../simulator/terminal/terminal';
import { call, LOOPBACK_NETWORKS, startPartnerApi, type PartnerApi } from '../support/partner-api';
import { testDataConverter } from '../support/temporal';
import type { E2e } from './harness';
import { ledgerBalanced, startE2e } from './harness';

const WEBHOOK_QUEUE = 'e2e-webhooks';
const LMK = randomBytes(32).toString('hex');
const HOUSEHOLD = ledgerReferenceFor({ id: 'H0001', kind: 'household' });
const DEFINITIONS = join(__dirname, '..', '..', 'definitions');

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly answered: number;
}

/** The SP's endpoint: verifies with the reference library, answers from `plan`, records everything. */
class Receiver {
  readonly received: Received[] = [];
  readonly processed = new Set<string>();
  secret = '';
  plan: number[] = [];
  url = '';
  private server: Server | undefined;
  private waiters: (() => void)[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let valid = true;
        try {
          new Webhook(this.secret).verify(body, req.headers as Record<string, string>);
        } catch {
          valid = false;
        }
        const answered = valid ? (this.plan.shift() ?? 200) : 400;
        if (answered < 300) this.processed.add(String(req.headers['webhook-id']));
        this.received.push({ headers: req.headers, body, answered });
        res.statusCode = answered;
        res.end();
        for (const w of this.waiters.splice(0)) w();
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  async waitFor(count: number): Promise<void> {
    while (this.received.length < count) await new Promise<void>((r) => this.waiters.push(r));
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => {
      this.server?.close(() => r());
      this.server?.closeAllConnections();
    });
  }
}

let nextStart = 7_000;
function phone(e2e: E2e): PosTerminal {
  nextStart += 100;
  // T0000002: the demo household's phone (Bell 202, 4 x 20 display, 32-column printer).
  return new PosTerminal(e2e.terminal({ demoTerminal: 1 }), {
    stateStore: new MemoryStateStore({ stan: nextStart, batch: '000001', psamCounter: nextStart }),
  });
}

async function household(e2e: E2e): Promise<{ posted: bigint; pending: bigint }> {
  const [a] = await e2e.ledger.lookupAccounts([accountIdFor(HOUSEHOLD)]);
  return { posted: a?.debitsPosted ?? -1n, pending: a?.debitsPending ?? -1n };
}

async function resultOf(e2e: E2e, stan: string | undefined): Promise<ServiceResult> {
  const id = e2e.workflowIds.find((w) => w.startsWith(`partner-bill:T0000002:${stan ?? '?'}:`)) ?? '';
  expect(id).not.toBe('');
  return e2e.env.client.workflow.getHandle(id).result() as Promise<ServiceResult>;
}

describe('an SP bill paid from the phone over FSK, confirmed by one signed webhook', () => {
  jest.setTimeout(300_000);
  let e2e: E2e;
  let bundle: WorkflowBundleWithSourceMap;
  const receiver = new Receiver();
  let api: PartnerApi;
  let webhookWorker: { stop(): Promise<void> };
  let key = '';
  let partnerId = '';
  let idem = 0;

  async function startWebhookWorker(): Promise<{ stop(): Promise<void> }> {
    const worker = await Worker.create({
      connection: e2e.env.nativeConnection,
      taskQueue: WEBHOOK_QUEUE,
      workflowBundle: bundle,
      dataConverter: testDataConverter(),
      activities: createWebhookActivities({
        sender: new WebhookSender({
          prisma: e2e.db.prisma,
          webhookMasterKey: webhookMasterKey(LMK),
          timeoutMs: 5_000,
          egress: new WebhookEgressPolicy(LOOPBACK_NETWORKS),
        }),
      }),
    });
    const running = worker.run();
    return {
      stop: async () => {
        worker.shutdown();
        await running;
      },
    };
  }

  const startApi = (): Promise<PartnerApi> => startPartnerApi({ prisma: e2e.db.prisma, lmkHex: LMK });

  async function postBill(customerRef: string, minor: number): Promise<string> {
    const bill = await call(api.base, 'POST', '/v1/bills', {
      key,
      idem: `bill-${++idem}`,
      body: { customerRef, amount: { minor, currency: 'CNY' }, description: 'Water, November' },
    });
    expect(bill.status).toBe(201);
    return String(bill.body['id']);
  }

  beforeAll(async () => {
    e2e = await startE2e({
      partnerBills: { mode: 'test', webhookTaskQueue: WEBHOOK_QUEUE, retryDelaysMs: [2_000, 2_000, 2_000] },
    });
    for (const d of compileFiles(
      [join(DEFINITIONS, 'terminal-menu.yaml'), join(DEFINITIONS, 'partner-bill.yaml')],
      defaultCatalogue(),
    )) {
      if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
      await e2e.registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
      await e2e.registry.promote(d.plan.serviceId, d.plan.version);
    }
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows/webhook-delivery') });
    await receiver.start();
    api = await startApi();
    webhookWorker = await startWebhookWorker();
    const signUp = await call(api.base, 'POST', '/v1/partners', {
      idem: `signup-${++idem}`,
      body: { name: 'Lake Water Co', email: 'ops@lake-water.example' },
    });
    key = (signUp.body['key'] as { secret: string }).secret;
    partnerId = (signUp.body['partner'] as { id: string }).id;
    const patched = await call(api.base, 'PATCH', '/v1/account', {
      key,
      idem: `acct-${++idem}`,
      body: { webhookUrl: receiver.url },
    });
    expect(patched.status).toBe(200);
    receiver.secret = String((await call(api.base, 'GET', '/v1/webhook-endpoint', { key })).body['secret']);
    expect(receiver.secret).toMatch(/^whsec_/);
  }, 300_000);

  afterAll(async () => {
    await webhookWorker.stop();
    await api.close();
    await receiver.stop();
    await e2e.stop();
  });

  afterEach(async () => {
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
  });

  it('keys the reference, sees the amount, confirms: debited once, one valid confirmation across restarts', async () => {
    const billId = await postBill('5550012345', 4_550);
    const { deliveryId } = confirmationIds(billId);
    receiver.plan = [500, 200];
    const before = await household(e2e);

    const t = phone(e2e);
    expect((await t.signOn()).outcome).toBe('approved');
    await t.downloadMenu();
    expect(t.menu?.entries.map((e) => e.code)).toContain('partner-bill');
    const r = await t.service('partner-bill', { customer: '5550012345' }, [{ key: '1' }]);
    expect(r).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(r.screens).toHaveLength(1);
    expect(r.screens[0]?.lines.join(' ')).toMatch(/PAY 45\.50 FOR 5550012345\? 1=YES 2=NO/);
    expect(r.receipt).toEqual(expect.arrayContaining(['BILL PAYMENT', 'CUSTOMER 5550012345', 'AMOUNT 45.50']));
    await t.hangUp();
    expect(await resultOf(e2e, r.stan)).toMatchObject({
      outcome: 'COMPLETED',
      output: { billId, amount: 4550, deliveryId },
    });
    const after = await household(e2e);
    expect(after.posted - before.posted).toBe(4550n);
    expect(after.pending).toBe(0n);

    // Attempt 1 is refused; then the partner API and the webhook worker stop and start again.
    await receiver.waitFor(1);
    expect(receiver.received[0]?.answered).toBe(500);
    await api.close();
    await webhookWorker.stop();
    api = await startApi();
    webhookWorker = await startWebhookWorker();

    const delivered: unknown = await e2e.env.client.workflow.getHandle(webhookWorkflowId(deliveryId)).result();
    expect(delivered).toEqual({ delivered: true, attempts: 2 });
    expect(receiver.received.map((x) => x.answered)).toEqual([500, 200]);
    expect(new Set(receiver.received.map((x) => x.headers['webhook-id'])).size).toBe(1);
    expect(receiver.processed.size).toBe(1);
    const payload = JSON.parse(receiver.received[1]?.body ?? '{}') as Record<string, unknown>;
    expect(payload).toMatchObject({
      type: 'bill.paid',
      data: { bill: { id: billId, status: 'paid', customerRef: '5550012345', amount: { minor: 4550 } } },
    });

    // The SP sees it paid through the restarted API, with one delivery and the audit entry.
    const bill = await call(api.base, 'GET', `/v1/bills/${billId}`, { key });
    expect(bill.body).toMatchObject({ status: 'paid' });
    const deliveries = await call(api.base, 'GET', '/v1/webhook-deliveries', { key });
    expect((deliveries.body['data'] as { id: string }[]).map((d) => d.id)).toEqual([deliveryId]);
    const audit = await e2e.db.prisma.auditEvent.findMany({ where: { subject: `partner:${partnerId}` } });
    expect(audit.filter((a) => a.action === 'bill.paid').map((a) => a.actor)).toEqual(['terminal:T0000002']);

    // The day's statement lists it with its webhook id and the ledger posting of the phone's run.
    const statement = await call(api.base, 'GET', `/v1/statements/${new Date().toISOString().slice(0, 10)}`, { key });
    expect(statement.body).toMatchObject({ consistentWithLedger: true });
    expect(statement.body['lines']).toEqual([
      expect.objectContaining({
        billId,
        channel: 'phone',
        amount: { minor: 4550, currency: 'CNY' },
        webhookId: confirmationIds(billId).messageId,
        deliveryStatus: 'delivered',
        ledger: 'posted',
      }),
    ]);

    // The same reference again: no open bill, nothing charged, nothing queued.
    const again = phone(e2e);
    await again.signOn();
    const second = await again.service('partner-bill', { customer: '5550012345' }, [{ key: '1' }]);
    expect(second.outcome).toBe('declined');
    expect(second.screens).toHaveLength(0);
    await again.hangUp();
    expect(await resultOf(e2e, second.stan)).toMatchObject({ outcome: 'FAILED', code: 'BILL_NOT_FOUND' });
    expect(await household(e2e)).toEqual(after);
    expect(await e2e.db.prisma.webhookDelivery.count({ where: { partnerId } })).toBe(1);
    expect(receiver.received).toHaveLength(2);
  });

  it('NO at the prompt: the bill stays open, nothing charged, nothing sent', async () => {
    const billId = await postBill('5550067890', 1_200);
    const before = await household(e2e);
    const sent = receiver.received.length;
    const t = phone(e2e);
    await t.signOn();
    const r = await t.service('partner-bill', { customer: '5550067890' }, [{ key: '2' }]);
    expect(r).toMatchObject({ outcome: 'declined', responseCode: '17' });
    await t.hangUp();
    expect(await resultOf(e2e, r.stan)).toMatchObject({ outcome: 'COMPENSATED', code: 'NOT_CONFIRMED' });
    expect(await household(e2e)).toEqual(before);
    const bill = await call(api.base, 'GET', `/v1/bills/${billId}`, { key });
    expect(bill.body).toMatchObject({ status: 'open' });
    expect(await e2e.db.prisma.webhookDelivery.findUnique({ where: { id: confirmationIds(billId).deliveryId } })).toBe(
      null,
    );
    expect(receiver.received.length).toBe(sent);
  });
});
