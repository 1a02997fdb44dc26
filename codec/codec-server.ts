/**
 * The codec endpoint for the Temporal UI and CLI (Temporal's codec-server protocol): `POST /encode`
 * and `POST /decode` take and return `{ "payloads": [{ "metadata": { k: base64 }, "data": base64 }] }`.
 * Every request needs the operator token (`Authorization: Bearer …`, compared in constant time);
 * without it the answer is 401 and nothing is decoded. CORS admits the configured UI origins only.
 * Decoded payloads are masked for display: no card data leaves in clear (ADR 0022).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import express from 'express';
import type { Express, NextFunction, Request, Response } from 'express';
import { FixpayError, isFixpayError } from '../domain/errors';
import {
  errorHandler,
  HttpProblem,
  jsonBody,
  methodNotAllowed,
  notFound,
  securityHeaders,
  sendProblem,
} from '../infra/http';
import { isEncrypted } from './payload-codec';
import { maskForDisplayDeep } from '../domain/masking';

export const CODEC_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  /** The dev server's UI. */
  corsOrigins: ['http://localhost:8233'],
  /** Largest request body (Temporal payloads are at most 2 MB each; a history page holds several). */
  bodyBytesMax: 8 * 1024 * 1024,
  /** Payloads in one request. */
  payloadsMax: 1_000,
} as const;

export interface CodecServerOptions {
  readonly codec: PayloadCodec;
  /** The operator token; at least 32 characters. */
  readonly operatorToken: string;
  readonly corsOrigins?: readonly string[];
  readonly bodyBytesMax?: number;
  readonly payloadsMax?: number;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time token check (hashing first makes the lengths equal). */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(presented), digest(expected));
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function parsePayloads(body: unknown, max: number): Payload[] {
  const list = (body as { payloads?: unknown } | null)?.payloads;
  if (typeof body !== 'object' || body === null || !Array.isArray(list) || list.length > max) {
    throw new FixpayError('BAD_REQUEST', `expected { payloads: [...] } with at most ${max} payloads`);
  }
  return list.map((item: unknown) => {
    const p = item as JsonPayload | null;
    if (typeof p !== 'object' || p === null) throw new FixpayError('BAD_REQUEST', 'payload is not an object');
    const metadata = Object.create(null) as Record<string, Uint8Array>; // `__proto__` stays a key
    const rawMeta: unknown = p.metadata ?? {};
    if (typeof rawMeta !== 'object' || rawMeta === null) throw new FixpayError('BAD_REQUEST', 'metadata');
    for (const [k, v] of Object.entries(rawMeta)) {
      if (typeof v !== 'string' || !BASE64.test(v)) throw new FixpayError('BAD_REQUEST', 'metadata values are base64');
      metadata[k] = Buffer.from(v, 'base64');
    }
    const data: unknown = p.data ?? '';
    if (typeof data !== 'string' || !BASE64.test(data)) throw new FixpayError('BAD_REQUEST', 'data is base64');
    return { metadata, data: Buffer.from(data, 'base64') };
  });
}

function toJson(payloads: Payload[]): { payloads: JsonPayload[] } {
  return {
    payloads: payloads.map((p) => ({
      metadata: Object.fromEntries(
        Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
      data: Buffer.from(p.data ?? new Uint8Array(0)).toString('base64'),
    })),
  };
}

/**
 * What an operator may see of a decoded payload: JSON with card data masked (PAN as BIN + last
 * four, track data, PIN blocks and keys hidden: domain/masking.ts); anything that is not JSON
 * is shown by its size only, since its bytes could hold card data no field name reveals.
 */
export function maskForDisplay(p: Payload): Payload {
  const encoding = Buffer.from(p.metadata?.['encoding'] ?? new Uint8Array(0)).toString('utf8');
  const data = Buffer.from(p.data ?? new Uint8Array(0));
  if (encoding === 'binary/null') return p;
  if (encoding.startsWith('json/')) {
    try {
      const masked = JSON.stringify(maskForDisplayDeep(JSON.parse(data.toString('utf8'))));
      return { metadata: p.metadata ?? {}, data: Buffer.from(masked, 'utf8') };
    } catch {
      // not JSON after all: fall through to the size only
    }
  }
  return {
    metadata: { encoding: Buffer.from('json/plain') },
    data: Buffer.from(JSON.stringify(`<${data.length} bytes of ${encoding || 'unknown encoding'}, not shown>`)),
  };
}

/**
 * Decodes what is encrypted and shows the rest as it is: the UI sends every payload of a history,
 * and a plain one (written without the codec) is already readable. Workers refuse plain payloads;
 * a display does not need to. Either way card data is masked (`maskForDisplay`): the UI is a
 * display, and no display shows clear card data.
 */
async function decodeForDisplay(codec: PayloadCodec, payloads: Payload[]): Promise<Payload[]> {
  const encrypted = payloads.filter(isEncrypted);
  const decoded = await codec.decode(encrypted);
  let next = 0;
  return payloads.map((p) => maskForDisplay(isEncrypted(p) ? (decoded[next++] ?? p) : p));
}

/** Builds the express app (no `listen()`), for tests and for mounting. */
export function createCodecApp(options: CodecServerOptions): Express {
  if (options.operatorToken.length < 32)
    throw new FixpayError('CONFIG_INVALID', 'the operator token needs 32+ characters');
  const origins = new Set(options.corsOrigins ?? CODEC_SERVER_DEFAULTS.corsOrigins);
  const payloadsMax = options.payloadsMax ?? CODEC_SERVER_DEFAULTS.payloadsMax;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // First, so every answer (a refused preflight, a 401) carries them.
  app.use(securityHeaders());
  app.use((req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin !== undefined && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.status(origin !== undefined && origins.has(origin) ? 204 : 403).end();
      return;
    }
    next();
  });

  // Authentication before the body is even parsed.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') === true ? header.slice('Bearer '.length) : undefined;
    if (!tokenMatches(token, options.operatorToken)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="fixpay-codec"');
      sendProblem(res, new FixpayError('UNAUTHORIZED', 'operator token required'));
      return;
    }
    next();
  });

  app.use(jsonBody(options.bodyBytesMax ?? CODEC_SERVER_DEFAULTS.bodyBytesMax));

  const route = (op: 'encode' | 'decode') => (req: Request, res: Response, next: NextFunction) => {
    const run = async (): Promise<void> => {
      const payloads = parsePayloads(req.body, payloadsMax);
      try {
        const out =
          op === 'encode' ? await options.codec.encode(payloads) : await decodeForDisplay(options.codec, payloads);
        res.json(toJson(out));
      } catch (e) {
        // A payload that does not decode (unknown key id, tampered) is the caller's mistake here.
        if (isFixpayError(e)) throw new HttpProblem(400, e);
        throw e;
      }
    };
    run().catch(next);
  };
  app.post('/encode', route('encode'));
  app.post('/decode', route('decode'));
  app.all(['/encode', '/decode'], methodNotAllowed(['POST', 'OPTIONS']));
  app.use(notFound());
  app.use(errorHandler());
  return app;
}

export interface RunningCodecServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the endpoint on `host:port` (port 0 picks one). */
export function startCodecServer(
  options: CodecServerOptions & { readonly host?: string; readonly port: number },
): Promise<RunningCodecServer> {
  const app = createCodecApp(options);
  return new Promise((resolve, reject) => {
    const server: Server = app.listen(options.port, options.host ?? CODEC_SERVER_DEFAULTS.host, (error?: Error) => {
      if (error !== undefined) {
        reject(error);
        return;
      }
      resolve({
        port: (server.address() as AddressInfo).port,
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
