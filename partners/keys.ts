/**
 * Partner API keys. A key is `fp_<mode>_<43 base64url characters>` (256 random bits); the
 * database keeps only its SHA-256 (a fast hash is enough for a secret of that entropy) and a
 * short prefix a human may see. The token is shown once, when it is made.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type KeyMode = 'test' | 'live';
export const KEY_MODES: readonly KeyMode[] = ['test', 'live'];

/** Resources a key can be scoped to; each has a read and a write scope. */
export const SCOPE_RESOURCES = ['account', 'keys', 'bills', 'webhooks', 'catalogue'] as const;
export type ScopeResource = (typeof SCOPE_RESOURCES)[number];
export type Scope = `${ScopeResource}:${'read' | 'write'}`;
export const ALL_SCOPES: readonly Scope[] = SCOPE_RESOURCES.flatMap((r) => [`${r}:read`, `${r}:write`] as const);

export function isScope(s: string): s is Scope {
  return (ALL_SCOPES as readonly string[]).includes(s);
}

const TOKEN = /^fp_(test|live)_[A-Za-z0-9_-]{43}$/;

export interface NewKey {
  /** The full secret: shown once, never stored. */
  readonly token: string;
  readonly prefix: string;
  readonly secretHash: string;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newApiKey(mode: KeyMode): NewKey {
  const token = `fp_${mode}_${randomBytes(32).toString('base64url')}`;
  return { token, prefix: `${token.slice(0, 12)}…`, secretHash: hashToken(token) };
}

/** The mode a well-formed token claims, or undefined for anything else (never throws). */
export function tokenMode(token: string): KeyMode | undefined {
  const m = TOKEN.exec(token);
  return m === null ? undefined : (m[1] as KeyMode);
}

/** Constant-time comparison of two hex digests of equal length. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A random id with a readable type prefix, e.g. `ptn_3k…` (24 base64url characters after it). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(18).toString('base64url')}`;
}
