/** Canonical JSON and the plan hash (sha256 over canonical JSON). Node-side only. */
import { createHash } from 'node:crypto';
import type { Plan } from '../runtime/plan';

/** JSON with object keys sorted at every level and no undefined values: equal content, equal text. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value))
    return `[${value.map((v: unknown) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** `sha256:<hex>` of the plan's canonical JSON (any value: admission hashes untrusted input). */
export function planHash(plan: Plan | Readonly<Record<string, unknown>> | null): string {
  return `sha256:${createHash('sha256').update(canonicalJson(plan)).digest('hex')}`;
}
