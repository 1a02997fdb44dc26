/**
 * The worker's HSM and webhook backlog metrics, scraped over HTTP from a real metrics endpoint: an
 * HSM operation through the worker's metered software HSM is counted, and the backlog gauges
 * follow real webhook_delivery rows in a real database, read with one query per queue per scrape.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';
import { fromHex } from '../hsm/crypto/bytes';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { createMetricsRegistry, startMetricsServer } from '../infra/metrics';
import type { MetricsServer } from '../infra/metrics';
import { startTestDatabase } from '../test/support/database';
import type { TestDatabase } from '../test/support/database';
import { series } from '../test/support/prometheus';
import { registerWorkerMetrics } from './metrics';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');

describe('worker metrics over HTTP', () => {
  let db: TestDatabase;
  let prisma: PrismaClient<'query'>;
  let server: MetricsServer;
  const queries: string[] = [];
  let hsm: ReturnType<ReturnType<typeof registerWorkerMetrics>['meterHsm']>;
  const engine = new SoftwareHsm({ lmk: LMK });
  const tak = engine.importClearKey('TAK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');

  beforeAll(async () => {
    db = await startTestDatabase();
    // The worker's own client, with its queries listened to (one per queue per scrape).
    prisma = new PrismaClient({
      adapter: new PrismaPg(
        { connectionString: db.url, max: 2 },
        db.kind === 'postgresql' ? { schema: db.schema } : {},
      ),
      log: [{ emit: 'event', level: 'query' }],
    });
    prisma.$on('query', (e) => queries.push(e.query));
    const registry = createMetricsRegistry({ process: 'worker', node: 'n1' });
    const metrics = registerWorkerMetrics(registry, prisma);
    hsm = metrics.meterHsm(engine);
    server = await startMetricsServer(registry, '127.0.0.1', 0);
    await db.prisma.partner.create({ data: { id: 'p_metrics', name: 'Metrics test', email: 'ops@example.org' } });
  }, 120_000);

  afterAll(async () => {
    await server.close();
    await prisma.$disconnect();
    await db.close();
  });

  const scrape = async (): Promise<string> => {
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    return res.text();
  };

  it('counts an HSM operation after a real call through the metered HSM', async () => {
    const data = Buffer.from('Now is the time for all ', 'ascii');
    const before = await scrape();
    expect(series(before, 'fixpay_hsm_commands_total', { command: 'generateMac', result: 'ok' })).toBeUndefined();
    await hsm.generateMac({ key: tak.handle, algorithm: 'x9.19', data });
    await expect(hsm.verifyMac({ key: tak.handle, algorithm: 'x9.19', data, mac: Buffer.alloc(8) })).rejects.toThrow(
      'MAC verification failed',
    );
    const text = await scrape();
    const labels = { process: 'worker', node: 'n1' };
    expect(series(text, 'fixpay_hsm_commands_total', { ...labels, command: 'generateMac', result: 'ok' })).toBe(1);
    expect(series(text, 'fixpay_hsm_commands_total', { command: 'verifyMac', result: 'HSM_MAC_INVALID' })).toBe(1);
    expect(series(text, 'fixpay_hsm_command_duration_seconds_count', { command: 'generateMac' })).toBe(1);
    expect(series(text, 'fixpay_hsm_command_duration_seconds_count', { command: 'verifyMac' })).toBe(1);
    expect(text).not.toContain(tak.handle);
  });

  it('reports the webhook backlog from the rows in the database, one query per scrape', async () => {
    const empty = await scrape();
    expect(series(empty, 'fixpay_webhook_backlog', { status: 'pending' })).toBe(0);
    expect(series(empty, 'fixpay_webhook_backlog', { status: 'retrying' })).toBe(0);
    expect(series(empty, 'fixpay_webhook_backlog_oldest_age_seconds')).toBe(0);

    const ago = (s: number): Date => new Date(Date.now() - s * 1000);
    const row = (id: string, status: 'pending' | 'delivered' | 'failed', attempts: number, createdAt: Date) => ({
      id,
      messageId: `msg_${id}`,
      partnerId: 'p_metrics',
      mode: 'live' as const,
      eventType: 'bill.paid',
      payload: { bill: id },
      status,
      attempts,
      createdAt,
    });
    await db.prisma.webhookDelivery.createMany({
      data: [
        row('wd_new1', 'pending', 0, ago(5)),
        row('wd_new2', 'pending', 0, ago(10)),
        row('wd_retry', 'pending', 3, ago(600)),
        row('wd_done', 'delivered', 1, ago(3_600)),
        row('wd_gave_up', 'failed', 8, ago(7_200)),
      ],
    });
    queries.length = 0;
    const text = await scrape();
    expect(series(text, 'fixpay_webhook_backlog', { status: 'pending', process: 'worker' })).toBe(2);
    expect(series(text, 'fixpay_webhook_backlog', { status: 'retrying' })).toBe(1);
    // The oldest undelivered one is the retrying delivery, ten minutes old; delivered and given-up ones do not count.
    const age = series(text, 'fixpay_webhook_backlog_oldest_age_seconds') ?? 0;
    expect(age).toBeGreaterThanOrEqual(600);
    expect(age).toBeLessThan(3_600);
    // Two gauges, one read of webhook_delivery (and one of the reversal queue).
    expect(queries.filter((q) => q.includes('webhook_delivery'))).toHaveLength(1);
    expect(queries.filter((q) => q.includes('card_network_reversal'))).toHaveLength(1);

    await db.prisma.webhookDelivery.updateMany({
      where: { id: { in: ['wd_retry', 'wd_new1'] } },
      data: { status: 'delivered', deliveredAt: new Date() },
    });
    const after = await scrape();
    expect(series(after, 'fixpay_webhook_backlog', { status: 'pending' })).toBe(1);
    expect(series(after, 'fixpay_webhook_backlog', { status: 'retrying' })).toBe(0);
    expect(series(after, 'fixpay_webhook_backlog_oldest_age_seconds')).toBeLessThan(600);
  });
});
