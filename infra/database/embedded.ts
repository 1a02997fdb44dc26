/**
 * The embedded database: PGlite (PostgreSQL compiled to WebAssembly) served over the PostgreSQL
 * wire protocol, so the rest of the platform talks to it exactly as to a real server.
 * PGlite runs one transaction at a time across all connections: never await other database work
 * inside a transaction (docs/adr/0003-database.md).
 *
 * PGlite trusts every connection, so it listens only on a Unix socket in a private (0700) folder;
 * the TCP port belongs to the password-checking proxy of `pg-auth.ts`. The data folder is 0700 and
 * its files 0600 (infra/files.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { ensurePrivateDir, tightenTree } from '../files';
import { startPgAuthProxy } from './pg-auth';

/** The one user of the embedded database. */
export const EMBEDDED_USER = 'postgres';

export interface EmbeddedDatabaseOptions {
  /** Folder for the data files; undefined keeps everything in memory (tests). */
  readonly dataDir?: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly maxConnections: number;
  /** The password clients must give; a random one for this start when absent. */
  readonly password?: string;
}

export interface EmbeddedDatabase {
  /** Connection URL, password included: never log it (use `displayUrl`). */
  readonly url: string;
  /** The URL with the password replaced by `***`. */
  readonly displayUrl: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts PGlite and its socket server. Throws when the port is taken or the data folder is locked. */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  if (options.dataDir !== undefined) {
    ensurePrivateDir(options.dataDir);
    tightenTree(options.dataDir);
  }
  const password = options.password ?? randomBytes(24).toString('base64url');
  const db = options.dataDir === undefined ? await PGlite.create() : await PGlite.create(options.dataDir);
  // A short path of its own (Unix socket paths are limited to about 100 bytes).
  const socketDir = mkdtempSync(join(tmpdir(), 'fixpay-db-'));
  const socketPath = join(socketDir, 'pglite.sock');
  const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: options.maxConnections });
  const cleanUp = async (): Promise<void> => {
    await server.stop().catch(() => undefined);
    await db.close();
    rmSync(socketDir, { recursive: true, force: true });
    if (options.dataDir !== undefined) tightenTree(options.dataDir);
  };
  let proxy;
  try {
    await server.start();
    tightenTree(socketDir);
    proxy = await startPgAuthProxy({
      host: options.host,
      port: options.port,
      user: EMBEDDED_USER,
      password,
      upstreamPath: socketPath,
      maxConnections: options.maxConnections,
    });
  } catch (e) {
    await cleanUp();
    throw e;
  }
  if (options.dataDir !== undefined) tightenTree(options.dataDir);
  const running = proxy;
  const at = `${options.host}:${running.port}/postgres?sslmode=disable`;
  return {
    url: `postgresql://${EMBEDDED_USER}:${encodeURIComponent(password)}@${at}`,
    displayUrl: `postgresql://${EMBEDDED_USER}:***@${at}`,
    port: running.port,
    stop: async () => {
      await running.close();
      await cleanUp();
    },
  };
}
