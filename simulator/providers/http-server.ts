/**
 * The HTTP part every provider simulator shares (bill and top-up aggregators, ticketing): listen on
 * a loopback port, read a bounded body, check a request's API key or HMAC signature, answer JSON,
 * and keep the timers of delayed outcomes so that `stop()` leaves nothing behind. A simulator
 * extends it with its routes (`handle`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isFixpayError } from '../../domain/errors';
import { API_KEY_HEADER, KEY_ID_HEADER, verifySignature } from '../../gateways/providers/http';

/** Largest request body a simulator reads. */
export const BODY_MAX = 16 * 1024;

export interface SandboxServerOptions {
  readonly port?: number;
  readonly host?: string;
  /** Key id → how requests under it authenticate. */
  readonly keys: Readonly<Record<string, { scheme: 'api-key' | 'hmac-sha256'; secret: string }>>;
  readonly now?: () => number;
}

export abstract class SandboxHttpServer<O extends SandboxServerOptions> {
  private server: Server | undefined;
  protected readonly timers = new Set<NodeJS.Timeout>();
  protected readonly now: () => number;

  constructor(readonly options: O) {
    this.now = options.now ?? (() => Date.now());
  }

  /** The simulator's routes; a throw answers 500. */
  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;

  async start(): Promise<{ url: string; port: number }> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) this.send(res, 500, { error: 'INTERNAL' });
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    return { url: `http://${this.options.host ?? '127.0.0.1'}:${port}/`, port };
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const s = this.server;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  protected later(ms: number, f: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      f();
    }, ms);
    this.timers.add(t);
  }

  protected send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** The body as text; undefined past BODY_MAX. */
  protected async readBody(req: IncomingMessage): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      const b = c as Buffer;
      size += b.length;
      if (size > BODY_MAX) return undefined;
      chunks.push(b);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Whether the request carries a known key id and its API key or a valid, fresh HMAC signature. */
  protected authentic(req: IncomingMessage, path: string, body: string): boolean {
    const keyId = req.headers[KEY_ID_HEADER];
    const key = typeof keyId === 'string' ? this.options.keys[keyId] : undefined;
    if (key === undefined) return false;
    if (key.scheme === 'api-key') return req.headers[API_KEY_HEADER] === key.secret;
    try {
      verifySignature(key.secret, req.headers, req.method ?? 'GET', path, body, this.now());
      return true;
    } catch (e) {
      if (isFixpayError(e)) return false;
      throw e;
    }
  }
}
