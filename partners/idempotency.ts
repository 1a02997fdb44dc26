/**
 * Idempotency records for partner writes (table `idempotency_record`): the first request with a
 * key claims it (status 0 = in progress), its answer is stored when it ends; the same key with the
 * same request gets the stored answer, with another request a conflict. Answers of 5xx are not
 * kept (the client may retry). Secrets shown once are removed from what is stored.
 */
import { createHash } from 'node:crypto';
import type { PrismaClient } from '../generated/prisma/client';

/** How long an answer is kept for retries. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Longest Idempotency-Key accepted. */
export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;

export type Claim =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'conflict' }
  | { readonly kind: 'in-progress' };

/** Digest of what makes two requests "the same": method, path and body (canonical JSON). */
export function requestHash(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${canonicalJson(body)}`)
    .digest('hex');
}

/** JSON with object keys sorted, so key order does not make two bodies different. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  // JSON.stringify answers undefined for undefined and functions.
  return v === undefined || typeof v === 'function' ? 'null' : JSON.stringify(v);
}

/** A copy with every `secret` property replaced: stored answers never hold a key shown once. */
export function withoutSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutSecrets);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, k === 'secret' ? null : withoutSecrets(x)] as const),
    );
  }
  return v;
}

export class IdempotencyStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly ttlMs: number = IDEMPOTENCY_TTL_MS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async claim(scope: string, key: string, hash: string): Promise<Claim> {
    const now = this.now();
    const expiresAt = new Date(now.getTime() + this.ttlMs);
    const insert = async (): Promise<boolean> =>
      (
        await this.prisma.idempotencyRecord.createMany({
          data: [{ scope, key, requestHash: hash, status: 0, expiresAt }],
          skipDuplicates: true,
        })
      ).count === 1;
    // One statement on the usual path (a fresh key); the lookups only when the key is taken.
    if (await insert()) return { kind: 'new' };
    const expired = await this.prisma.idempotencyRecord.deleteMany({ where: { scope, key, expiresAt: { lte: now } } });
    if (expired.count === 1 && (await insert())) return { kind: 'new' };
    const row = await this.prisma.idempotencyRecord.findUnique({ where: { scope_key: { scope, key } } });
    if (row === null) return { kind: 'in-progress' };
    if (row.requestHash !== hash) return { kind: 'conflict' };
    if (row.status === 0) return { kind: 'in-progress' };
    return { kind: 'replay', status: row.status, body: row.response };
  }

  async finish(scope: string, key: string, status: number, body: unknown): Promise<void> {
    if (status >= 500) {
      await this.release(scope, key);
      return;
    }
    await this.prisma.idempotencyRecord.update({
      where: { scope_key: { scope, key } },
      data: { status, response: withoutSecrets(body ?? null) ?? {} },
    });
  }

  async release(scope: string, key: string): Promise<void> {
    await this.prisma.idempotencyRecord.deleteMany({ where: { scope, key, status: 0 } });
  }
}
