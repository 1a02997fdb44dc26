/**
 * Role processes for end-to-end tests: `fixpay <role>` as a child process with its readiness line
 * awaited, free loopback ports, a fresh database on the machine's PostgreSQL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { loadConfig, processEnv } from '../../config';
import { prepareDemoWorld } from '../../demo/world';
import type { DemoWorld } from '../../demo/world';
import { openDatabase } from '../../infra/database';
import type { Database } from '../../infra/database';
import { createLogger } from '../../infra/logging';
import { TEST_CODEC_KEYS } from './temporal';

const BIN = join(__dirname, '..', '..', 'bin', 'fixpay.js');
export const READY_TIMEOUT_MS = 120_000;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface RoleProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<string>;
  readonly exited: Promise<number | null>;
  output(): string;
  errors(): string;
}

/**
 * Spawns `fixpay <role>`; `ready` resolves with its `fixpay <role> ready…` line. `netns` runs it in
 * that network namespace (`ip netns exec`, which execs in place: the child is the role itself).
 */
export function startRole(
  role: string,
  env: NodeJS.ProcessEnv,
  options: { netns?: string; readyTimeoutMs?: number } = {},
): RoleProcess {
  const child =
    options.netns === undefined
      ? spawn(process.execPath, [BIN, role], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('ip', ['netns', 'exec', options.netns, process.execPath, BIN, role], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  let out = '';
  let err = '';
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${role} not ready: ${out.slice(-2000)} ${err.slice(-2000)}`)),
      options.readyTimeoutMs ?? READY_TIMEOUT_MS,
    );
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith(`fixpay ${role} ready`));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited ${code}: ${out.slice(-2000)} ${err.slice(-2000)}`));
    });
  });
  // A role that exits before it is ready rejects `ready`; a test that stopped awaiting it must not
  // turn that into an unhandled rejection.
  ready.catch(() => undefined);
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, ready, exited, output: () => out, errors: () => err };
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms).unref()),
  ]);
}

/** A fresh database on the server (the roles' Prisma client uses the default schema, so not a schema). */
export async function createDatabase(
  url: string,
  prefix = 'fixpay_roles',
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new PgClient({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: async () => {
      const c = new PgClient({ connectionString: url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * The demo room for role processes (demo data, keys, key directory, bank simulator) in a database,
 * and the environment every role child gets: that database, the Temporal server at
 * `temporalAddress`, fresh secrets and free loopback ports.
 */
export async function prepareRoleWorld(o: {
  readonly dataDir: string;
  readonly databaseUrl: string;
  readonly temporalAddress: string;
  readonly nodeId: string;
  readonly logName: string;
}): Promise<{ db: Database; world: DemoWorld; env: NodeJS.ProcessEnv }> {
  const lmk = randomBytes(32).toString('hex');
  const [host, port] = o.temporalAddress.split(':');
  const base = { FIXPAY_DATA_DIR: o.dataDir, FIXPAY_CARD_NETWORK_HOST: '127.0.0.1', FIXPAY_LOG_LEVEL: 'warn' };
  const db = await openDatabase(loadConfig({ ...base, DATABASE_URL: o.databaseUrl }));
  const world = await prepareDemoWorld({
    config: loadConfig(base),
    prisma: db.prisma,
    lmkHex: lmk,
    log: createLogger(o.logName, { level: 'warn' }),
    bankPort: 0,
  });
  const [tcp, sip, api, codec] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    PATH: processEnv()['PATH'],
    HOME: processEnv()['HOME'],
    ...base,
    DATABASE_URL: db.url,
    FIXPAY_TEMPORAL_EMBEDDED: 'false',
    FIXPAY_TEMPORAL_HOST: host,
    FIXPAY_TEMPORAL_PORT: port,
    FIXPAY_LMK: lmk,
    FIXPAY_CODEC_KEYS: TEST_CODEC_KEYS,
    FIXPAY_OPERATOR_TOKEN: randomBytes(16).toString('hex'),
    FIXPAY_HSM_CLIENT_SECRET: randomBytes(32).toString('hex'),
    FIXPAY_BANK_SIMULATOR: 'false',
    FIXPAY_CARD_NETWORK_PORT: String(world.bankPort),
    FIXPAY_NODE_ID: o.nodeId,
    FIXPAY_ACCESS_HOST: '127.0.0.1',
    FIXPAY_TCP_PCM_PORT: String(tcp),
    FIXPAY_SIP_PORT: String(sip),
    FIXPAY_API_HOST: '127.0.0.1',
    FIXPAY_API_PORT: String(api),
    FIXPAY_CODEC_PORT: String(codec),
  };
  return { db, world, env };
}
