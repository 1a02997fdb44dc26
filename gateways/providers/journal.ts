/**
 * Our side of provider reconciliation: one line per provider transaction whose money we posted
 * (captured) or refunded after a delivery failure. The worker appends to a JSON-lines file; tests
 * keep it in memory. Card data never reaches it; a voucher PIN is never recorded.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface JournalEntry {
  readonly provider: string;
  /** Our reference at the provider (the provider call's idempotency key). */
  readonly reference: string;
  /** Face value sent to the provider (minor units). */
  readonly amount: number;
  readonly fee: number;
  readonly currency: string;
  readonly status: 'COMPLETED' | 'REFUNDED';
  /** ISO 8601 instant. */
  readonly at: string;
}

export interface ProviderJournal {
  record(e: JournalEntry): Promise<void>;
  entries(provider: string, day: string): Promise<JournalEntry[]>;
}

export class MemoryProviderJournal implements ProviderJournal {
  readonly all: JournalEntry[] = [];
  record(e: JournalEntry): Promise<void> {
    if (!this.all.some((x) => x.reference === e.reference && x.status === e.status)) this.all.push(e);
    return Promise.resolve();
  }
  entries(provider: string, day: string): Promise<JournalEntry[]> {
    return Promise.resolve(this.all.filter((e) => e.provider === provider && e.at.slice(0, 10) === day));
  }
}

/** Append-only JSON lines; a repeated record (an activity retry) is skipped when reading. */
export class FileProviderJournal implements ProviderJournal {
  constructor(readonly file: string) {}
  record(e: JournalEntry): Promise<void> {
    mkdirSync(dirname(this.file), { recursive: true });
    appendFileSync(this.file, `${JSON.stringify(e)}\n`);
    return Promise.resolve();
  }
  entries(provider: string, day: string): Promise<JournalEntry[]> {
    return Promise.resolve(
      readJournalLines(existsSync(this.file) ? readFileSync(this.file, 'utf8') : '', provider, day),
    );
  }
}

export function readJournalLines(text: string, provider: string, day: string): JournalEntry[] {
  const seen = new Set<string>();
  const out: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let e: JournalEntry;
    try {
      e = JSON.parse(line) as JournalEntry;
    } catch {
      continue;
    }
    if (e.provider !== provider || typeof e.at !== 'string' || e.at.slice(0, 10) !== day) continue;
    const k = `${e.reference}|${e.status}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(e);
  }
  return out;
}
