/**
 * Registers the platform's search attributes on a Temporal server that fixpay did not start
 * (the embedded dev server gets them with --search-attribute). Idempotent.
 */
import type { TLSConfig } from './tls';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../../domain/search-attributes';

const INDEXED = { KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD } as const;

/** Adds the missing attributes; returns the names it added. Throws what the server says on conflict. */
export async function ensureSearchAttributes(address: string, namespace: string, tls?: TLSConfig): Promise<string[]> {
  const connection = await Connection.connect({ address, ...(tls === undefined ? {} : { tls }) });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const known = new Set([...Object.keys(existing.customAttributes), ...Object.keys(existing.systemAttributes)]);
    const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !known.has(name));
    if (missing.length === 0) return [];
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, INDEXED[type]])),
    });
    return missing.map(([name]) => name);
  } finally {
    await connection.close();
  }
}
