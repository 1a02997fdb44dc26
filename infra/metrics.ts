/**
 * Prometheus metrics of a fixpay process: one registry per process (the roles it runs add their
 * collectors), the Node.js process metrics, and a small HTTP listener that serves `GET /metrics`
 * in the text exposition format. Labels carry service ids, activity types, outcomes and result
 * codes only — never a terminal id, a card number or anything a caller chose (docs/operations/metrics.md).
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { FixpayError } from '../domain/errors';

export type { Registry } from 'prom-client';

/** The metric name prefix of everything fixpay defines. */
export const METRIC_PREFIX = 'fixpay_';

/** A registry with the process metrics and constant labels for this process. */
export function createMetricsRegistry(labels: { readonly process: string; readonly node?: string }): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process: labels.process, ...(labels.node === undefined ? {} : { node: labels.node }) });
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}

export interface MetricsServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (and `HEAD`) on host:port; any other path is 404, any other method 405.
 * A collector that throws answers 500 with a one-line message, never a stack trace.
 */
export function startMetricsServer(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    registry
      .metrics()
      .then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      })
      .catch(() => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('a metrics collector failed\n');
      });
  });
  // Scrapers keep connections alive; requests are tiny.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? new FixpayError('PORT_IN_USE', `${host}:${port} (set FIXPAY_METRICS_PORT)`) : e),
    );
    server.listen(port, host, () => {
      const a = server.address();
      const bound = typeof a === 'object' && a !== null ? a.port : port;
      resolve({
        port: bound,
        url: `http://${host}:${bound}/metrics`,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeIdleConnections();
          }),
      });
    });
  });
}

export interface ProcessMetrics {
  readonly registry: Registry;
  /** The scrape URL, or undefined when metrics are off or the port was taken. */
  readonly url: string | undefined;
  close(): Promise<void>;
}

/**
 * The registry of this process and its endpoint per the `metrics` settings. A taken port is
 * reported through `onUnavailable` and the process runs on without an endpoint: metrics must never
 * be the reason a payment platform does not start.
 */
export async function serveProcessMetrics(
  settings: { readonly enabled: boolean; readonly host: string; readonly port: number },
  labels: { readonly process: string; readonly node?: string },
  onUnavailable: (why: string) => void,
): Promise<ProcessMetrics> {
  const registry = createMetricsRegistry(labels);
  if (!settings.enabled) return { registry, url: undefined, close: () => Promise.resolve() };
  try {
    const server = await startMetricsServer(registry, settings.host, settings.port);
    return { registry, url: server.url, close: () => server.close() };
  } catch (e) {
    onUnavailable(e instanceof Error ? e.message : String(e));
    return { registry, url: undefined, close: () => Promise.resolve() };
  }
}
