/**
 * Provider callbacks (docs/providers.md §Callbacks): a signed POST `{ reference, status }` from an
 * aggregator. A callback never settles anything: it only wakes the run that made the call (the run
 * then asks the provider's status endpoint itself). The run is found from the reference, which is
 * the call's idempotency key `<workflowId>/<stepId>#<iteration>`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FixpayError, isFixpayError } from '../../domain/errors';
import { KEY_ID_HEADER, verifySignature } from './http';

/** Largest callback body read. */
export const CALLBACK_BYTES_MAX = 8 * 1024;

export interface ProviderCallback {
  readonly reference: string;
  readonly status: string;
  readonly workflowId: string;
}

/** Checks signature and shape; throws PROVIDER_SIGNATURE_INVALID or BAD_REQUEST. */
export function readCallback(
  secretFor: (keyId: string) => string | undefined,
  headers: Record<string, string | string[] | undefined>,
  path: string,
  body: string,
  nowMs: number,
): ProviderCallback {
  const keyId = headers[KEY_ID_HEADER];
  const secret = typeof keyId === 'string' ? secretFor(keyId) : undefined;
  if (secret === undefined) throw new FixpayError('PROVIDER_SIGNATURE_INVALID', 'unknown key id');
  verifySignature(secret, headers, 'POST', path, body, nowMs);
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new FixpayError('BAD_REQUEST', 'callback body is not JSON');
  }
  const o = v as { reference?: unknown; status?: unknown } | null;
  const reference = o?.reference;
  const status = o?.status;
  if (typeof reference !== 'string' || typeof status !== 'string' || reference.length > 300 || status.length > 40)
    throw new FixpayError('BAD_REQUEST', 'callback needs reference and status');
  const slash = reference.lastIndexOf('/');
  if (slash <= 0) throw new FixpayError('BAD_REQUEST', 'reference is not one of ours');
  return { reference, status, workflowId: reference.slice(0, slash) };
}

export interface CallbackReceiver {
  readonly url: string;
  /** Callbacks refused (bad signature or shape). */
  readonly refused: () => number;
  stop(): Promise<void>;
}

/** A small HTTP endpoint for callbacks; `wake` signals the run (errors there are answered 503). */
export async function startCallbackReceiver(opts: {
  host?: string;
  port?: number;
  path?: string;
  secretFor: (keyId: string) => string | undefined;
  wake: (c: ProviderCallback) => Promise<void>;
  now?: () => number;
}): Promise<CallbackReceiver> {
  const path = opts.path ?? '/provider-callbacks';
  let refused = 0;
  const server: Server = createServer((req, res) => {
    const answer = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= CALLBACK_BYTES_MAX) chunks.push(c);
    });
    req.on('end', () => {
      if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== path) return answer(404, {});
      if (size > CALLBACK_BYTES_MAX) return answer(413, {});
      let cb: ProviderCallback;
      try {
        cb = readCallback(
          opts.secretFor,
          req.headers,
          path,
          Buffer.concat(chunks).toString('utf8'),
          (opts.now ?? Date.now)(),
        );
      } catch (e) {
        refused += 1;
        return answer(isFixpayError(e, 'PROVIDER_SIGNATURE_INVALID') ? 401 : 400, {
          error: isFixpayError(e) ? e.codeName : 'BAD_REQUEST',
        });
      }
      opts.wake(cb).then(
        () => answer(202, { accepted: true }),
        () => answer(503, { accepted: false }),
      );
    });
    req.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}${path}`,
    refused: () => refused,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
