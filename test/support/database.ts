/**
 * A freshly migrated database for integration tests: a new schema on the real PostgreSQL when
 * DATABASE_URL is set (CI sets it when 127.0.0.1:5432 answers), else an in-memory PGlite served
 * over the wire protocol on a free port.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PrismaPg } from '@prisma/adapter-pg';
import { Client } from 'pg';
import { loadConfig } from '../../config';
import { PrismaClient } from '../../generated/prisma/client';
import { migrate } from '../../infra/database/migrate';

export interface TestDatabase {
  readonly url: string;
  readonly kind: 'postgresql' | 'pglite';
  /** The schema the tables live in. */
  readonly schema: string;
  readonly prisma: PrismaClient;
  close(): Promise<void>;
}

function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** Connections to the embedded PGlite test database (see startTestDatabase). */
export const PGLITE_POOL_MAX = 1;

/**
 * `url` picks the PostgreSQL server explicitly (benchmarks compare both engines in one run); `null`
 * forces the embedded PGlite; undefined follows DATABASE_URL.
 */
export async function startTestDatabase(url?: string | null): Promise<TestDatabase> {
  const base = url === undefined ? loadConfig().database.url : (url ?? undefined);
  if (base !== undefined) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const admin = new Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE SCHEMA "${schema}"`);
    await admin.end();
    const url = withSearchPath(base, schema);
    await migrate(url);
    const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 5 }, { schema }) });
    return {
      url,
      kind: 'postgresql',
      schema,
      prisma,
      close: async () => {
        await prisma.$disconnect();
        const c = new Client({ connectionString: base });
        await c.connect();
        await c.query(`DROP SCHEMA "${schema}" CASCADE`);
        await c.end();
      },
    };
  }
  // PGlite loads its WebAssembly with dynamic import(), which jest's VM refuses: serve it from a
  // child process, as `fixpay dev` would.
  const embedded = await spawnEmbeddedDatabase();
  await migrate(embedded.url);
  // One connection: the socket server multiplexes connections onto PGlite's single session, and
  // extended-protocol statements of concurrent connections interleave ("portal \"\" does not
  // exist" under concurrent purchases). PGlite runs one query at a time anyway.
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: embedded.url, max: PGLITE_POOL_MAX }) });
  return {
    url: embedded.url,
    kind: 'pglite',
    schema: 'public',
    prisma,
    close: async () => {
      await prisma.$disconnect();
      await embedded.stop();
    },
  };
}

/** PGlite's WebAssembly start takes seconds idle and over 30 s on a loaded shared machine. */
export const EMBEDDED_START_TIMEOUT_MS = 90_000;

/** Runs `fixpay db serve --memory --port 0` and resolves with its URL once it is ready. */
export async function spawnEmbeddedDatabase(): Promise<{ url: string; stop(): Promise<void> }> {
  const bin = join(__dirname, '..', '..', 'bin', 'fixpay.js');
  const child = spawn(process.execPath, [bin, 'db', 'serve', '--memory', '--port', '0'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`embedded database did not start within ${EMBEDDED_START_TIMEOUT_MS / 1000} s`)),
      EMBEDDED_START_TIMEOUT_MS,
    );
    child.once('exit', (code) => reject(new Error(`embedded database exited with ${code ?? 'a signal'}`)));
    lines.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { ready?: boolean; url?: string };
        if (msg.ready === true && typeof msg.url === 'string') {
          clearTimeout(timer);
          resolve(msg.url);
        }
      } catch {
        // not the readiness line
      }
    });
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
