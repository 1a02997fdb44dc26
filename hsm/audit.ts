/**
 * HSM audit lines: one structured record per key command (generate, import, export, form,
 * translate, derive), accepted or refused, with the caller's id and, per key involved, its role,
 * type, algorithm, check value and a short reference to its handle — never key material, PINs or
 * account numbers. Written through the project logger, which masks (docs/security.md).
 */
import { createHash } from 'node:crypto';
import type { KeyAlgorithm, KeyHandle, KeyType } from './port';

/** Logger shape (infra/logging's pino logger fits). */
export interface HsmAuditSink {
  info(obj: object, msg?: string): void;
}

export interface AuditedKey {
  /** What the key was in the command: `key`, `kek`, `source`, `target`, `result`, `component`… */
  readonly role: string;
  readonly type: KeyType;
  readonly algorithm: KeyAlgorithm;
  readonly kcv: string;
  /** First 16 hex digits of SHA-256 of the handle: names the stored key, reveals nothing. */
  readonly ref: string;
}

export interface HsmAuditRecord {
  readonly audit: 'hsm';
  readonly command: string;
  readonly client: string;
  readonly outcome: 'ok' | 'refused';
  /** The result code of a refusal. */
  readonly result?: string;
  readonly keys: readonly AuditedKey[];
  /** Non-secret parameters: export scheme, requested type, PIN block formats. */
  readonly params?: Readonly<Record<string, string>>;
}

/** A short, stable reference to a handle for audit lines. */
export function keyRef(handle: KeyHandle | string): string {
  return createHash('sha256').update(handle).digest('hex').slice(0, 16).toUpperCase();
}
