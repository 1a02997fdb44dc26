/**
 * Signed payment confirmations end to end, on a real Temporal dev server, a real database and real
 * sockets: a sandbox bill is paid through the API, the `webhook:<id>` run signs and POSTs the
 * `bill.paid` message to a receiver that verifies it with the Standard Webhooks reference library
 * (npm `standardwebhooks`). The receiver answers 500 first, then 200; between the two attempts
 * both the API and the worker are stopped and started again. The receiver accepts exactly one
 * valid message; the captured request, tampered, replayed late or checked with another secret, is
 * refused by the reference receiver.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Webhook } from 'standardwebhooks';
import { createWebhookActivities } from '../activities/webhooks';
import { WebhookEgressPolicy } from '../partners/webhook-egress';
import { WebhookSender } from '../partners/webhook-sender';
import { partnerWebhookSecret, signWebhook, webhookMasterKey } from '../partners/webhook-signing';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { call, LOOPBACK_NETWORKS, startPartnerApi, type PartnerApi } from '../test/support/partner-api';
import { startTestServer, testDataConverter } from '../test/support/temporal';
import { temporalDeliveryStarter, webhookWorkflowId } from './webhook-runs';

const TASK_QUEUE = 'test-webhooks';
const LMK = randomBytes(32).toString('hex');

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly answered: number;
}

/** The partner's endpoint: verifies with the reference library, answers from `plan`, records everything. */
class Receiver {
  readonly received: Received[] = [];
  /** webhook-ids accepted with a 2xx: what the partner's system acted on. */
  readonly processed = new Set<string>();
  secret = '';
  plan: number[] = [];
  private server: Server | undefined;
  private waiters: (() => void)[] = [];
  url = '';

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
        const id = String(req.headers['webhook-id']);
        if (answered < 300 && !this.processed.has(id)) this.processed.add(id);
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

describe('Standard Webhooks payment confirmations as durable Temporal runs', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let bundle: WorkflowBundleWithSourceMap;
  const receiver = new Receiver();

  beforeAll(async () => {
    env = await startTestServer();
    db = await startTestDatabase();
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows/webhook-delivery') });
    await receiver.start();
  }, 120_000);

  afterAll(async () => {
    await receiver.stop();
    await db.close();
    await env.teardown();
  });

  async function startWorker(): Promise<{ stop(): Promise<void> }> {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowBundle: bundle,
      dataConverter: testDataConverter(),
      activities: createWebhookActivities({
        sender: new WebhookSender({
          prisma: db.prisma,
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

  function startApi(): Promise<PartnerApi> {
    return startPartnerApi({
      prisma: db.prisma,
      lmkHex: LMK,
      startDelivery: temporalDeliveryStarter(env.client, {
        taskQueue: TASK_QUEUE,
        retryDelaysMs: [2_000, 2_000, 2_000],
      }),
    });
  }

  it('delivers exactly one valid signed confirmation across an API and a worker restart between attempts', async () => {
    let api = await startApi();
    let worker = await startWorker();
    const n = { i: 0 };
    const idem = (): string => `wh-${++n.i}`;
    try {
      const signUp = await call(api.base, 'POST', '/v1/partners', {
        idem: idem(),
        body: { name: 'Power Co', email: 'ops@power.example' },
      });
      const key = (signUp.body['key'] as { secret: string }).secret;
      const partnerId = (signUp.body['partner'] as { id: string }).id;
      await call(api.base, 'PATCH', '/v1/account', { key, idem: idem(), body: { webhookUrl: receiver.url } });
      const endpoint = await call(api.base, 'GET', '/v1/webhook-endpoint', { key });
      receiver.secret = String(endpoint.body['secret']);
      expect(receiver.secret).toBe(partnerWebhookSecret(webhookMasterKey(LMK), partnerId, 1));
      receiver.plan = [500, 200];

      const bill = await call(api.base, 'POST', '/v1/bills', {
        key,
        idem: idem(),
        body: { customerRef: 'meter-7', amount: { minor: 8_800, currency: 'CNY' }, description: 'Power, November' },
      });
      const billId = String(bill.body['id']);
      const paid = await call(api.base, 'POST', `/v1/test/bills/${billId}/pay`, { key, idem: idem() });
      expect(paid.status).toBe(200);
      const deliveryId = (paid.body['delivery'] as { id: string }).id;

      // Attempt 1 is refused with 500; then everything but the server and the database stops.
      await receiver.waitFor(1);
      await api.close();
      await worker.stop();
      expect(receiver.received[0]?.answered).toBe(500);
      api = await startApi();
      worker = await startWorker();

      const result: unknown = await env.client.workflow.getHandle(webhookWorkflowId(deliveryId)).result();
      expect(result).toEqual({ delivered: true, attempts: 2 });
      expect(receiver.received.map((r) => r.answered)).toEqual([500, 200]);
      // Both attempts carried the same message id and a valid signature; the partner acted once.
      expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
      expect(receiver.processed.size).toBe(1);
      const payload = JSON.parse(receiver.received[1]?.body ?? '{}') as Record<string, unknown>;
      expect(payload).toMatchObject({ type: 'bill.paid', data: { bill: { id: billId, status: 'paid' } } });

      // The delivery log, through the restarted API.
      const log = await call(api.base, 'GET', `/v1/webhook-deliveries/${deliveryId}`, { key });
      expect(log.body).toMatchObject({ status: 'delivered', attempts: 2 });
      expect((log.body['attemptLog'] as { statusCode: number }[]).map((a) => a.statusCode)).toEqual([500, 200]);

      // Replay: a new delivery with the same webhook-id, so the receiver can drop the duplicate.
      const replay = await call(api.base, 'POST', `/v1/webhook-deliveries/${deliveryId}/replay`, { key, idem: idem() });
      expect(replay.status).toBe(202);
      const replayed: unknown = await env.client.workflow
        .getHandle(webhookWorkflowId(String(replay.body['id'])))
        .result();
      expect(replayed).toEqual({ delivered: true, attempts: 1 });
      expect(receiver.received.length).toBe(3);
      expect(receiver.received[2]?.headers['webhook-id']).toBe(receiver.received[1]?.headers['webhook-id']);
      expect(receiver.processed.size).toBe(1);
      const list = await call(api.base, 'GET', '/v1/webhook-deliveries', { key });
      expect((list.body['data'] as { replayOf: string | null }[]).map((d) => d.replayOf)).toEqual([deliveryId, null]);

      // The message's body and secret never reach Temporal's history: only the delivery id does.
      const fetched = await env.client.workflow.getHandle(webhookWorkflowId(deliveryId)).fetchHistory();
      const history = historyToJSON(fetched);
      expect(history).not.toContain(billId);
      expect(history).not.toContain(receiver.secret.slice(6));
      // Refresh the history the replay gate uses (attempt, timer, attempt): UPDATE_HISTORIES=1.
      if (process.env['UPDATE_HISTORIES'] === '1')
        writeFileSync(join(__dirname, '..', 'workflows', '__histories__', 'webhook-delivery.json'), history);
    } finally {
      await api.close();
      await worker.stop();
    }
  }, 120_000);

  it('the reference receiver refuses the captured message tampered, replayed late or signed with another secret', () => {
    const captured = receiver.received[1];
    expect(captured).toBeDefined();
    if (captured === undefined) return;
    const headers = captured.headers as Record<string, string>;
    const wh = new Webhook(receiver.secret);
    expect(wh.verify(captured.body, headers)).toMatchObject({ type: 'bill.paid' });
    expect(() => wh.verify(captured.body.replace('"paid"', '"open"'), headers)).toThrow();
    const id = headers['webhook-id'] ?? '';
    const old = Math.floor(Date.now() / 1000) - 600;
    expect(() =>
      wh.verify(captured.body, {
        ...headers,
        'webhook-timestamp': String(old),
        'webhook-signature': signWebhook(receiver.secret, id, old, captured.body),
      }),
    ).toThrow(/timestamp/i);
    const other = partnerWebhookSecret(webhookMasterKey(randomBytes(32).toString('hex')), 'ptn_x', 1);
    expect(() => new Webhook(other).verify(captured.body, headers)).toThrow();
  });

  it('retries on the schedule and marks the delivery failed when the endpoint never accepts', async () => {
    const api = await startApi();
    const worker = await startWorker();
    try {
      const s = await call(api.base, 'POST', '/v1/partners', {
        idem: 'f-1',
        body: { name: 'Gas', email: 'g@g.example' },
      });
      const key = (s.body['key'] as { secret: string }).secret;
      await call(api.base, 'PATCH', '/v1/account', {
        key,
        idem: 'f-2',
        body: { webhookUrl: 'http://127.0.0.1:1/none' },
      });
      const bill = await call(api.base, 'POST', '/v1/bills', {
        key,
        idem: 'f-3',
        body: { customerRef: 'g-1', amount: { minor: 100, currency: 'CNY' }, description: 'Gas' },
      });
      const paid = await call(api.base, 'POST', `/v1/test/bills/${String(bill.body['id'])}/pay`, { key, idem: 'f-4' });
      const deliveryId = (paid.body['delivery'] as { id: string }).id;
      const result: unknown = await env.client.workflow.getHandle(webhookWorkflowId(deliveryId)).result();
      expect(result).toEqual({ delivered: false, attempts: 4 });
      const log = await call(api.base, 'GET', `/v1/webhook-deliveries/${deliveryId}`, { key });
      expect(log.body).toMatchObject({ status: 'failed', attempts: 4 });
      const attempts = log.body['attemptLog'] as { statusCode: number | null; error: string | null }[];
      expect(attempts.map((a) => [a.statusCode, a.error === null])).toEqual([
        [null, false],
        [null, false],
        [null, false],
        [null, false],
      ]);
    } finally {
      await api.close();
      await worker.stop();
    }
  }, 120_000);
});
