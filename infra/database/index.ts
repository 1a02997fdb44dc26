/**
 * Opens the platform database: a real PostgreSQL when `database.url` (DATABASE_URL) is set, the
 * embedded PGlite under the data folder otherwise; migrates it; returns a Prisma client on the
 * pg driver adapter.
 */
import { join } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import type { Config } from '../../config';
import { FixpayError } from '../../domain/errors';
import { PrismaClient } from '../../generated/prisma/client';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './embedded';
import { EMBEDDED_VACUUM_INTERVAL_MS, startVacuumSchedule, VACUUM_SQL } from './maintenance';
import { migrate, type MigrationReport } from './migrate';

export { PrismaClient } from '../../generated/prisma/client';
export { migrate, readMigrations } from './migrate';
export { startEmbeddedDatabase } from './embedded';

/** Connections the platform opens to the embedded PGlite (see openDatabase). */
export const EMBEDDED_POOL_MAX = 1;

export interface Database {
  /** Connection URL; for the embedded database it carries the password: print `displayUrl`. */
  readonly url: string;
  readonly displayUrl: string;
  readonly embedded: boolean;
  readonly prisma: PrismaClient;
  readonly migrations: MigrationReport;
  close(): Promise<void>;
}

/** A Prisma client over node-postgres for `url`. */
export function createPrismaClient(url: string, poolMax: number, connectTimeoutMs: number): PrismaClient {
  const adapter = new PrismaPg({ connectionString: url, max: poolMax, connectionTimeoutMillis: connectTimeoutMs });
  return new PrismaClient({ adapter });
}

export interface OpenDatabaseOptions {
  /** Keep the embedded database in memory instead of under the data folder (tests). */
  readonly inMemory?: boolean;
  readonly onMigration?: (name: string) => void;
  /** Password of the embedded database (the secrets file's `databasePassword`); random per start when absent. */
  readonly password?: string;
  /** Where a failed VACUUM of the embedded database is reported (it is retried at the next interval). */
  readonly onMaintenanceError?: (e: unknown) => void;
}

/**
 * Starts (if embedded), migrates and connects. Throws DATABASE_UNAVAILABLE, PORT_IN_USE,
 * MIGRATION_FAILED or MIGRATION_CHECKSUM_MISMATCH.
 */
export async function openDatabase(config: Config, options: OpenDatabaseOptions = {}): Promise<Database> {
  const db = config.database;
  let embedded: EmbeddedDatabase | undefined;
  let url = db.url;
  if (url === undefined) {
    try {
      embedded = await startEmbeddedDatabase({
        ...(options.inMemory === true ? {} : { dataDir: join(config.dataDir, 'pglite') }),
        host: db.embeddedHost,
        port: db.embeddedPort,
        maxConnections: db.embeddedMaxConnections,
        ...(options.password === undefined ? {} : { password: options.password }),
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (/EADDRINUSE/.test(message)) {
        throw new FixpayError('PORT_IN_USE', `${db.embeddedHost}:${db.embeddedPort} (set FIXPAY_DB_PORT)`, {
          cause: e,
        });
      }
      throw new FixpayError('DATABASE_UNAVAILABLE', `embedded PGlite did not start: ${message}`, { cause: e });
    }
    url = embedded.url;
  }
  let migrations: MigrationReport;
  try {
    migrations = await migrate(url, undefined, options.onMigration);
  } catch (e) {
    await embedded?.stop();
    if (e instanceof FixpayError) throw e;
    throw new FixpayError('DATABASE_UNAVAILABLE', e instanceof Error ? e.message : String(e), { cause: e });
  }
  // The embedded PGlite gets one connection: its socket server multiplexes every connection onto
  // PGlite's single session, and the extended-protocol messages of concurrent connections
  // interleave (wrong parameter counts, even wrong rows). PGlite runs one query at a time anyway.
  const poolMax = embedded === undefined ? db.poolMax : EMBEDDED_POOL_MAX;
  const prisma = createPrismaClient(url, poolMax, db.connectTimeoutMs);
  // PGlite has no autovacuum worker: the platform vacuums its embedded database itself.
  const vacuum =
    embedded === undefined
      ? undefined
      : startVacuumSchedule(
          () => prisma.$executeRawUnsafe(VACUUM_SQL),
          EMBEDDED_VACUUM_INTERVAL_MS,
          options.onMaintenanceError ?? (() => undefined),
        );
  return {
    url,
    displayUrl: embedded?.displayUrl ?? url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@'),
    embedded: embedded !== undefined,
    prisma,
    migrations,
    close: async () => {
      await vacuum?.stop();
      await prisma.$disconnect();
      await embedded?.stop();
    },
  };
}
