/**
 * The operator's local codec proxy (`fixpay ops codec-proxy`, ADR 0022): the Temporal UI in the
 * operator's browser points its codec setting at this loopback listener, which forwards `/decode`
 * to the platform's codec endpoint with the operator token added. The token stays in this process,
 * never in the browser. Only the UI's origin may use it (CORS plus an Origin check on every
 * request, since CORS alone does not stop a request from being sent), and only under a loopback
 * Host name (a DNS-rebound name is refused).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FixpayError } from '../domain/errors';

export const CODEC_PROXY_DEFAULTS = {
  host: '127.0.0.1',
  uiOrigins: ['http://localhost:8233', 'http://127.0.0.1:8233'],
  bodyBytesMax: 8 * 1024 * 1024,
  upstreamTimeoutMs: 30_000,
} as const;

export interface CodecProxyOptions {
  /**
   * Base URL of the platform's codec endpoint, e.g. https://codec.example:8089; or a function
   * giving it once known (`fixpay dev` starts the proxy before the UI and the endpoint after it:
   * until then requests get 503).
   */
  readonly upstream: string | (() => string | undefined);
  readonly operatorToken: string;
  readonly uiOrigins?: readonly string[];
  readonly host?: string;
  readonly port: number;
  readonly bodyBytesMax?: number;
  readonly upstreamTimeoutMs?: number;
}

export interface RunningCodecProxy {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function problem(res: ServerResponse, status: number, code: FixpayError, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify({ status, code: code.code, title: code.codeName, detail: code.message }));
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        // Stop keeping it; let the rest drain so the 413 reaches the caller.
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Checks the upstream URL: http(s), no credentials in it, no query. */
export function checkUpstream(upstream: string): URL {
  let u: URL;
  try {
    u = new URL(upstream);
  } catch {
    throw new FixpayError('BAD_REQUEST', `--upstream ${JSON.stringify(upstream)} is not a URL`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '' || u.search !== '')
    throw new FixpayError('BAD_REQUEST', '--upstream must be an http(s) URL without credentials or query');
  return u;
}

export function startCodecProxy(options: CodecProxyOptions): Promise<RunningCodecProxy> {
  if (options.operatorToken.length < 32)
    throw new FixpayError('CONFIG_INVALID', 'the operator token needs 32+ characters (FIXPAY_OPERATOR_TOKEN)');
  const baseOf = (u: string): string => checkUpstream(u).toString().replace(/\/$/, '');
  const fixed = typeof options.upstream === 'string' ? baseOf(options.upstream) : undefined;
  const upstreamOf = options.upstream;
  const origins = new Set(options.uiOrigins ?? CODEC_PROXY_DEFAULTS.uiOrigins);
  const max = options.bodyBytesMax ?? CODEC_PROXY_DEFAULTS.bodyBytesMax;
  const timeoutMs = options.upstreamTimeoutMs ?? CODEC_PROXY_DEFAULTS.upstreamTimeoutMs;
  let port = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // A browser reaching us under any other name is being rebound by DNS: refuse.
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (!LOOPBACK_HOSTS.has(host) || req.headers.host !== `${host}:${port}`) {
      problem(res, 403, new FixpayError('FORBIDDEN', 'loopback host names only'));
      return;
    }
    const origin = req.headers.origin;
    if (origin === undefined || !origins.has(origin)) {
      problem(res, 403, new FixpayError('FORBIDDEN', 'only the Temporal UI origin may use this proxy'));
      return;
    }
    const cors = {
      'access-control-allow-origin': origin,
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': 'Content-Type, X-Namespace, Authorization',
      vary: 'Origin',
    };
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/decode') {
      problem(res, 404, new FixpayError('NOT_FOUND', 'only /decode is forwarded'), cors);
      return;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors).end();
      return;
    }
    if (req.method !== 'POST') {
      problem(res, 405, new FixpayError('METHOD_NOT_ALLOWED', 'POST'), { ...cors, allow: 'POST, OPTIONS' });
      return;
    }
    const body = await readBody(req, max);
    if (body === undefined) {
      problem(res, 413, new FixpayError('PAYLOAD_TOO_LARGE', `${max} bytes at most`), { ...cors, connection: 'close' });
      return;
    }
    const base = fixed ?? (typeof upstreamOf === 'function' ? upstreamOf() : undefined);
    if (base === undefined) {
      problem(res, 503, new FixpayError('TEMPORAL_UNAVAILABLE', 'the codec endpoint is not up yet'), cors);
      return;
    }
    const namespace = req.headers['x-namespace'];
    let answer: Response;
    try {
      answer = await fetch(`${fixed === undefined ? baseOf(base) : base}/decode`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${options.operatorToken}`,
          ...(typeof namespace === 'string' && /^[\x21-\x7e]{1,255}$/.test(namespace)
            ? { 'x-namespace': namespace }
            : {}),
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      problem(res, 502, new FixpayError('TEMPORAL_UNAVAILABLE', 'the codec endpoint did not answer'), cors);
      return;
    }
    const text = Buffer.from(await answer.arrayBuffer());
    res.writeHead(answer.status, {
      ...cors,
      'content-type': answer.headers.get('content-type') ?? 'application/json',
      'cache-control': 'no-store',
    });
    res.end(text);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) problem(res, 500, new FixpayError('INTERNAL'));
      else res.destroy();
    });
  });
  server.requestTimeout = timeoutMs + 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? CODEC_PROXY_DEFAULTS.host, () => {
      port = (server.address() as AddressInfo).port;
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => {
              done();
            });
          }),
      });
    });
  });
}
