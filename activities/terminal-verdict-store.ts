/**
 * The per-terminal list of purchases waiting for the phone's verdict (ADR 0012), shared by every
 * worker and kept across restarts: one row per terminal id + STAN (`terminal_verdict`,
 * prisma/migrations/20261203140000_terminal_verdict). A purchase run opens its row before it asks
 * the card network, stores the answer it stands by, and closes the row with the verdict; the
 * request verification reads the rows of the terminal after every verified request (the next
 * request confirms, a repeat gets the stored answer); the reversal service marks a row reversed,
 * or leaves a tombstone for a sale the host never saw so that a late copy is declined.
 *
 * No card data: the request is kept only as its SHA-256 digest, the answer (a 0210 or its decline)
 * carries no PAN, no track and no PIN block.
 */
import type { PrismaClient } from '../generated/prisma/client';

/** Where a sale stands. `open`: the run waits for the phone's verdict (or is still processing). */
export type VerdictState = 'open' | 'confirmed' | 'reversed' | 'declined' | 'closed';

export interface VerdictRecord {
  readonly terminalId: string;
  readonly stan: string;
  /** The run of the sale; null for a tombstone (a reversal of a sale the host never saw). */
  readonly workflowId: string | null;
  /** SHA-256 of the request bytes (hex); null for a tombstone. */
  readonly requestDigest: string | null;
  readonly state: VerdictState;
  /** The answer the run stands by (hex): its 0210 while open or confirmed, the MACed 12 after a reversal. */
  readonly answer: string | null;
}

export interface TerminalVerdictStore {
  /**
   * Opens the row of a sale; an existing row (the run's own retry, a tombstone, an older sale under
   * the same STAN) is returned unchanged, except a closed row older than `reuseAfterMs` (a STAN that wrapped).
   */
  open(row: { terminalId: string; stan: string; workflowId: string; requestDigest: string }): Promise<VerdictRecord>;
  get(terminalId: string, stan: string): Promise<VerdictRecord | undefined>;
  /** The terminal's sales still waiting for a verdict (rows `open` with a run). */
  waiting(terminalId: string): Promise<VerdictRecord[]>;
  /** Sets the state and, when given, the answer. */
  update(terminalId: string, stan: string, change: { state?: VerdictState; answer?: string }): Promise<void>;
  /** Leaves a reversed tombstone when no row exists; true when it did. */
  tombstone(terminalId: string, stan: string): Promise<boolean>;
}

/** How long a row is kept: a STAN reused after this is a new sale (the reversal store's expiry). */
export const VERDICT_ROW_KEPT_MS_DEFAULT = 7 * 24 * 3_600_000;

export class InMemoryTerminalVerdictStore implements TerminalVerdictStore {
  private readonly rows = new Map<string, VerdictRecord & { at: number }>();
  constructor(
    private readonly now: () => number = () => Date.now(),
    private readonly keptMs = VERDICT_ROW_KEPT_MS_DEFAULT,
  ) {}
  private key(terminalId: string, stan: string): string {
    return `${terminalId}:${stan}`;
  }
  open(row: { terminalId: string; stan: string; workflowId: string; requestDigest: string }): Promise<VerdictRecord> {
    const k = this.key(row.terminalId, row.stan);
    const known = this.rows.get(k);
    if (known !== undefined && this.now() - known.at < this.keptMs) return Promise.resolve(known);
    const fresh = { ...row, state: 'open' as const, answer: null, at: this.now() };
    this.rows.set(k, fresh);
    return Promise.resolve(fresh);
  }
  get(terminalId: string, stan: string): Promise<VerdictRecord | undefined> {
    return Promise.resolve(this.rows.get(this.key(terminalId, stan)));
  }
  waiting(terminalId: string): Promise<VerdictRecord[]> {
    return Promise.resolve(
      [...this.rows.values()].filter((r) => r.terminalId === terminalId && r.state === 'open' && r.workflowId !== null),
    );
  }
  update(terminalId: string, stan: string, change: { state?: VerdictState; answer?: string }): Promise<void> {
    const k = this.key(terminalId, stan);
    const known = this.rows.get(k);
    if (known !== undefined) this.rows.set(k, { ...known, ...change });
    return Promise.resolve();
  }
  tombstone(terminalId: string, stan: string): Promise<boolean> {
    const k = this.key(terminalId, stan);
    const known = this.rows.get(k);
    if (known !== undefined && this.now() - known.at < this.keptMs) return Promise.resolve(false);
    this.rows.set(k, {
      terminalId,
      stan,
      workflowId: null,
      requestDigest: null,
      state: 'reversed',
      answer: null,
      at: this.now(),
    });
    return Promise.resolve(true);
  }
}

interface Row {
  terminal_id: string;
  stan: string;
  workflow_id: string | null;
  request_digest: string | null;
  state: string;
  answer: string | null;
}

const STATES: readonly string[] = ['open', 'confirmed', 'reversed', 'declined', 'closed'];

function record(r: Row): VerdictRecord {
  return {
    terminalId: r.terminal_id,
    stan: r.stan,
    workflowId: r.workflow_id,
    requestDigest: r.request_digest,
    state: (STATES.includes(r.state) ? r.state : 'closed') as VerdictState,
    answer: r.answer,
  };
}

/** The rows in PostgreSQL / PGlite; every write is one statement (workers may race). */
export class PrismaTerminalVerdictStore implements TerminalVerdictStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly now: () => Date = () => new Date(),
    private readonly keptMs = VERDICT_ROW_KEPT_MS_DEFAULT,
  ) {}

  async open(row: {
    terminalId: string;
    stan: string;
    workflowId: string;
    requestDigest: string;
  }): Promise<VerdictRecord> {
    const at = this.now();
    const stale = new Date(at.getTime() - this.keptMs);
    // A row older than the kept period belongs to an earlier sale under a wrapped STAN: replaced.
    await this.prisma.$executeRaw`
      INSERT INTO "terminal_verdict" ("terminal_id", "stan", "workflow_id", "request_digest", "state", "answer", "created_at", "updated_at")
      VALUES (${row.terminalId}, ${row.stan}, ${row.workflowId}, ${row.requestDigest}, 'open', NULL, ${at}, ${at})
      ON CONFLICT ("terminal_id", "stan") DO UPDATE
        SET "workflow_id" = EXCLUDED."workflow_id", "request_digest" = EXCLUDED."request_digest", "state" = 'open',
            "answer" = NULL, "created_at" = EXCLUDED."created_at", "updated_at" = EXCLUDED."updated_at"
        WHERE "terminal_verdict"."created_at" < ${stale}`;
    const known = await this.get(row.terminalId, row.stan);
    if (known === undefined) throw new Error('terminal_verdict row vanished');
    return known;
  }

  async get(terminalId: string, stan: string): Promise<VerdictRecord | undefined> {
    const rows = await this.prisma.$queryRaw<Row[]>`
      SELECT "terminal_id", "stan", "workflow_id", "request_digest", "state", "answer"
      FROM "terminal_verdict" WHERE "terminal_id" = ${terminalId} AND "stan" = ${stan}`;
    const r = rows[0];
    return r === undefined ? undefined : record(r);
  }

  async waiting(terminalId: string): Promise<VerdictRecord[]> {
    const rows = await this.prisma.$queryRaw<Row[]>`
      SELECT "terminal_id", "stan", "workflow_id", "request_digest", "state", "answer"
      FROM "terminal_verdict"
      WHERE "terminal_id" = ${terminalId} AND "state" = 'open' AND "workflow_id" IS NOT NULL`;
    return rows.map(record);
  }

  async update(terminalId: string, stan: string, change: { state?: VerdictState; answer?: string }): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE "terminal_verdict"
      SET "state" = COALESCE(${change.state ?? null}, "state"), "answer" = COALESCE(${change.answer ?? null}, "answer"),
          "updated_at" = ${this.now()}
      WHERE "terminal_id" = ${terminalId} AND "stan" = ${stan}`;
  }

  async tombstone(terminalId: string, stan: string): Promise<boolean> {
    const at = this.now();
    const stale = new Date(at.getTime() - this.keptMs);
    const n = await this.prisma.$executeRaw`
      INSERT INTO "terminal_verdict" ("terminal_id", "stan", "workflow_id", "request_digest", "state", "answer", "created_at", "updated_at")
      VALUES (${terminalId}, ${stan}, NULL, NULL, 'reversed', NULL, ${at}, ${at})
      ON CONFLICT ("terminal_id", "stan") DO UPDATE
        SET "workflow_id" = NULL, "request_digest" = NULL, "state" = 'reversed', "answer" = NULL,
            "created_at" = EXCLUDED."created_at", "updated_at" = EXCLUDED."updated_at"
        WHERE "terminal_verdict"."created_at" < ${stale}`;
    return n === 1;
  }
}
