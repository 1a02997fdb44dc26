/**
 * Prometheus metrics of a fixpay process: one registry per process (the roles it runs add their
 * collectors), the Node.js process metrics, and a small HTTP listener that serves `GET /metrics`
 * in the text exposition format. Labels carry service ids, activity types, outcomes and result
 * codes only — never a terminal id, a card number or anything a caller chose (docs/operations/metrics.md).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { FixpayError, resultCode } from '../domain/errors';
import type { ResultCodeName } from '../domain/errors';

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

/**
 * An operator's control of the node this process runs (an access node: drain, undrain, state),
 * served beside `/metrics` as `POST /control/drain`, `POST /control/undrain`, `GET /control/state`
 * with the operator token (`Authorization: Bearer …`). The answers are small JSON objects.
 */
export interface NodeControl {
  drain(): object;
  undrain(): object;
  state(): object;
}

/** Where a role attaches its control once it has started; until then the routes answer 503. */
export class ControlSlot {
  private target: NodeControl | undefined;
  attach(control: NodeControl): void {
    this.target = control;
  }
  get current(): NodeControl | undefined {
    return this.target;
  }
}

export interface ControlEndpoint {
  /** The operator token; a request without it is refused (401). */
  readonly token: string;
  readonly slot: ControlSlot;
}

const CONTROL_ACTIONS = { drain: 'POST', undrain: 'POST', state: 'GET' } as const;

function sameSecret(given: string, expected: string): boolean {
  const digest = (t: string): Buffer => createHash('sha256').update(t).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function answerJson(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

function answerError(
  res: ServerResponse,
  name: ResultCodeName,
  detail: string,
  extra: Record<string, string> = {},
): void {
  const entry = resultCode(name);
  res.writeHead(entry.httpStatus, { 'content-type': 'application/json', 'cache-control': 'no-store', ...extra });
  res.end(`${JSON.stringify({ error: { code: entry.code, name, message: `${entry.message}: ${detail}` } })}\n`);
}

function serveControl(control: ControlEndpoint, action: string, req: IncomingMessage, res: ServerResponse): void {
  // No route reads a body; whatever was sent is discarded.
  req.resume();
  if (!Object.hasOwn(CONTROL_ACTIONS, action)) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  const method = CONTROL_ACTIONS[action as keyof typeof CONTROL_ACTIONS];
  if (req.method !== method) {
    answerError(res, 'METHOD_NOT_ALLOWED', `${action} takes ${method}`, { allow: method });
    return;
  }
  const auth = req.headers.authorization ?? '';
  const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(auth);
  if (m === null || !sameSecret(m[1] ?? '', control.token)) {
    answerError(res, 'UNAUTHORIZED', 'the operator token is needed (Authorization: Bearer …)', {
      'www-authenticate': 'Bearer',
    });
    return;
  }
  const target = control.slot.current;
  if (target === undefined) {
    answerError(res, 'OPS_CONTROL_UNAVAILABLE', 'this process has no node to control (yet)');
    return;
  }
  const a = action as keyof typeof CONTROL_ACTIONS;
  answerJson(res, 200, a === 'drain' ? target.drain() : a === 'undrain' ? target.undrain() : target.state());
}

export interface MetricsServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (and `HEAD`) on host:port, and with `control` the node's control routes;
 * any other path is 404, any other method 405. A collector that throws answers 500 with a one-line
 * message, never a stack trace.
 */
export function startMetricsServer(
  registry: Registry,
  host: string,
  port: number,
  control?: ControlEndpoint,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (control !== undefined && path.startsWith('/control/')) {
      serveControl(control, path.slice('/control/'.length), req, res);
      return;
    }
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
  control?: ControlEndpoint,
): Promise<ProcessMetrics> {
  const registry = createMetricsRegistry(labels);
  if (!settings.enabled) return { registry, url: undefined, close: () => Promise.resolve() };
  try {
    const server = await startMetricsServer(registry, settings.host, settings.port, control);
    return { registry, url: server.url, close: () => server.close() };
  } catch (e) {
    onUnavailable(e instanceof Error ? e.message : String(e));
    return { registry, url: undefined, close: () => Promise.resolve() };
  }
}
