/**
 * Idempotency of gateway operations: the first call with a key sends; later calls with the same key
 * get the stored result and never send again (Mojaloop's rule: same key + same request → same
 * answer; same key + different request → IDEMPOTENCY_KEY_REUSED).
 */

/** What a finished operation left for repeats: an outcome, or a catalogue error by name. */
export type StoredResult =
  | { readonly kind: 'outcome'; readonly outcome: Readonly<Record<string, string | number | boolean>> }
  | { readonly kind: 'error'; readonly codeName: string; readonly detail: string };

/** Checks a stored result read back from storage; undefined when it is not one. */
export function parseStoredResult(value: unknown): StoredResult | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v: Record<string, unknown> = { ...value };
  if (v.kind === 'error' && typeof v.codeName === 'string' && typeof v.detail === 'string') {
    return { kind: 'error', codeName: v.codeName, detail: v.detail };
  }
  if (v.kind === 'outcome' && typeof v.outcome === 'object' && v.outcome !== null) {
    const outcome: Record<string, string | number | boolean> = {};
    for (const [k, x] of Object.entries(v.outcome)) {
      if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') outcome[k] = x;
    }
    return { kind: 'outcome', outcome };
  }
  return undefined;
}

export interface JournalEntry {
  readonly key: string;
  readonly requestHash: string;
  readonly status: 'in_flight' | 'done';
  readonly result?: StoredResult;
  readonly createdAt: Date;
}

export interface RequestJournal {
  /** Inserts an in-flight entry; when one exists, returns it instead (nothing is changed). */
  begin(
    key: string,
    requestHash: string,
    now: Date,
  ): Promise<{ started: true } | { started: false; entry: JournalEntry }>;
  finish(key: string, result: StoredResult, now: Date): Promise<void>;
  /** Forgets an in-flight entry whose request was never sent, so a retry may send it. */
  abandon(key: string): Promise<void>;
  /** The entry under `key`, if any (read only). */
  get(key: string): Promise<JournalEntry | undefined>;
}

export class InMemoryRequestJournal implements RequestJournal {
  private readonly entries = new Map<string, JournalEntry>();

  begin(
    key: string,
    requestHash: string,
    now: Date,
  ): Promise<{ started: true } | { started: false; entry: JournalEntry }> {
    const entry = this.entries.get(key);
    if (entry !== undefined) return Promise.resolve({ started: false, entry });
    this.entries.set(key, { key, requestHash, status: 'in_flight', createdAt: now });
    return Promise.resolve({ started: true });
  }

  finish(key: string, result: StoredResult): Promise<void> {
    const e = this.entries.get(key);
    if (e !== undefined) this.entries.set(key, { ...e, status: 'done', result });
    return Promise.resolve();
  }

  abandon(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (e?.status === 'in_flight') this.entries.delete(key);
    return Promise.resolve();
  }

  get(key: string): Promise<JournalEntry | undefined> {
    return Promise.resolve(this.entries.get(key));
  }
}
