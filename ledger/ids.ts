/**
 * Deterministic 128-bit ledger ids from stable keys: the same key always names the same account
 * or transfer, so creating it again is an idempotent `exists`. First 128 bits of SHA-256 over a
 * namespaced key.
 */
import { createHash } from 'node:crypto';
import { ID_MAX } from './model';

export type LedgerIdNamespace = 'account' | 'transfer';

/** Throws only if the hash lands on a reserved value (0 or 2^128 - 1): never in practice. */
export function ledgerIdFor(namespace: LedgerIdNamespace, key: string): bigint {
  const digest = createHash('sha256').update(`fixpay:ledger:${namespace}:v1:${key}`).digest('hex');
  const id = BigInt(`0x${digest.slice(0, 32)}`);
  if (id === 0n || id === ID_MAX) throw new Error('ledger id hashed to a reserved value');
  return id;
}
