/**
 * Applies the SQL migrations in prisma/migrations/<name>/migration.sql in name order, each in its
 * own transaction, and records them in `_prisma_migrations` exactly as `prisma migrate deploy`
 * does (same table, sha256 checksum of the file), so either tool sees the same history.
 * An applied migration whose file changed afterwards stops the run (MIGRATION_CHECKSUM_MISMATCH).
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { FixpayError } from '../../domain/errors';

export const MIGRATIONS_DIR = join(__dirname, '..', '..', 'prisma', 'migrations');

export interface Migration {
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

export interface MigrationReport {
  readonly applied: readonly string[];
  readonly alreadyApplied: readonly string[];
}

/** Reads the migrations folder. */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

const HISTORY_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

/**
 * Migrates the database at `url`. Throws MIGRATION_FAILED (with the migration's name and the
 * database's message) or MIGRATION_CHECKSUM_MISMATCH; a failed migration leaves no partial change.
 */
export async function migrate(
  url: string,
  migrations: readonly Migration[] = readMigrations(),
  onApplied: (name: string) => void = () => undefined,
): Promise<MigrationReport> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(HISTORY_TABLE);
    const rows = await client.query<{ migration_name: string; checksum: string }>(
      'SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    const done = new Map(rows.rows.map((r) => [r.migration_name, r.checksum]));
    const applied: string[] = [];
    const alreadyApplied: string[] = [];
    for (const m of migrations) {
      const recorded = done.get(m.name);
      if (recorded !== undefined) {
        if (recorded !== m.checksum) {
          throw new FixpayError('MIGRATION_CHECKSUM_MISMATCH', `${m.name} was edited after it was applied`);
        }
        alreadyApplied.push(m.name);
        continue;
      }
      try {
        await client.query('BEGIN');
        await client.query(m.sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
           VALUES ($1, $2, now(), $3, 1)`,
          [randomUUID(), m.checksum, m.name],
        );
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new FixpayError('MIGRATION_FAILED', `${m.name}: ${e instanceof Error ? e.message : String(e)}`, {
          cause: e,
        });
      }
      applied.push(m.name);
      onApplied(m.name);
    }
    return { applied, alreadyApplied };
  } finally {
    await client.end();
  }
}
