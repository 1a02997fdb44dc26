import { createServer } from 'node:net';
import { Counter } from 'prom-client';
import { createMetricsRegistry, serveProcessMetrics, startMetricsServer } from './metrics';

describe('the metrics endpoint', () => {
  it('serves the registry in the Prometheus text format with the process labels', async () => {
    const registry = createMetricsRegistry({ process: 'worker', node: 'n1' });
    new Counter({ name: 'fixpay_test_total', help: 'a test counter', registers: [registry] }).inc(3);
    const server = await startMetricsServer(registry, '127.0.0.1', 0);
    try {
      const res = await fetch(server.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text).toMatch(/^fixpay_test_total\{process="worker",node="n1"\} 3$/m);
      // The Node.js process metrics come with it.
      expect(text).toMatch(/^fixpay_process_resident_memory_bytes\{process="worker",node="n1"\} \d+/m);
    } finally {
      await server.close();
    }
  });

  it('answers 404 off /metrics, 405 to other methods, and 500 without details when a collector fails', async () => {
    const registry = createMetricsRegistry({ process: 't' });
    const server = await startMetricsServer(registry, '127.0.0.1', 0);
    try {
      const base = server.url.replace('/metrics', '');
      expect((await fetch(`${base}/`)).status).toBe(404);
      expect((await fetch(`${base}/metrics/../etc`)).status).toBe(404);
      const post = await fetch(server.url, { method: 'POST', body: 'x' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
      expect((await fetch(`${server.url}?name[]=x`)).status).toBe(200);
      new Counter({
        name: 'fixpay_broken_total',
        help: 'throws',
        registers: [registry],
        collect() {
          throw new Error('secret detail 6225880000000001');
        },
      });
      const failed = await fetch(server.url);
      expect(failed.status).toBe(500);
      expect(await failed.text()).toBe('a metrics collector failed\n');
    } finally {
      await server.close();
    }
  });

  it('a taken port is reported and the process runs on without an endpoint', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const reasons: string[] = [];
    try {
      const m = await serveProcessMetrics({ enabled: true, host: '127.0.0.1', port }, { process: 't' }, (why) =>
        reasons.push(why),
      );
      expect(m.url).toBeUndefined();
      expect(reasons.join()).toContain(`127.0.0.1:${port}`);
      await m.close();
      const off = await serveProcessMetrics({ enabled: false, host: '127.0.0.1', port: 0 }, { process: 't' }, (why) =>
        reasons.push(why),
      );
      expect(off.url).toBeUndefined();
      expect(reasons).toHaveLength(1);
    } finally {
      blocker.close();
    }
  });
});
