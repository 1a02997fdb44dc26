/**
 * The embedded database: PGlite (PostgreSQL compiled to WebAssembly) served over the PostgreSQL
 * wire protocol, so the rest of the platform talks to it exactly as to a real server.
 * PGlite runs one transaction at a time across all connections: never await other database work
 * inside a transaction (docs/adr/0003-database.md).
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedDatabaseOptions {
  /** Folder for the data files; undefined keeps everything in memory (tests). */
  readonly dataDir?: string;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly maxConnections: number;
}

export interface EmbeddedDatabase {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts PGlite and its socket server. Throws when the port is taken or the data folder is locked. */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
  const db = options.dataDir === undefined ? await PGlite.create() : await PGlite.create(options.dataDir);
  const server = new PGLiteSocketServer({
    db,
    host: options.host,
    port: options.port,
    maxConnections: options.maxConnections,
  });
  try {
    await server.start();
  } catch (e) {
    await db.close();
    throw e;
  }
  const port = boundPort(server) ?? options.port;
  return {
    url: `postgresql://postgres@${options.host}:${port}/postgres?sslmode=disable`,
    port,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

function boundPort(server: PGLiteSocketServer): number | undefined {
  const conn = server.getServerConn();
  const match = /:(\d+)$/.exec(conn);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
