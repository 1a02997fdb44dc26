/**
 * The embedded database's access control (issue #10, defect 10): a password is required and
 * checked at the wire protocol's startup, and the data folder is the owner's alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';

/**
 * `fixpay db serve` on a data folder, as `fixpay dev` runs the database (PGlite on disk needs
 * dynamic imports, which jest's module sandbox does not have: hence a child process).
 */
async function serve(dataDir: string): Promise<{ child: ChildProcess; url: string; port: number }> {
  const bin = join(__dirname, '..', '..', 'bin', 'fixpay.js');
  const child = spawn(process.execPath, [bin, 'db', 'serve', '--port', '0'], {
    env: { ...process.env, FIXPAY_DATA_DIR: dataDir, DATABASE_URL: '' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('fixpay db serve did not start in 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`fixpay db serve exited with ${code ?? 'a signal'}`)));
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as { ready?: boolean; url?: string; port?: number };
      if (msg.ready === true && typeof msg.url === 'string' && typeof msg.port === 'number') {
        clearTimeout(timer);
        resolve({ child, url: msg.url, port: msg.port });
      }
    });
  });
}

function modes(dir: string): { files: Set<number>; dirs: Set<number> } {
  const files = new Set<number>();
  const dirs = new Set<number>([statSync(dir).mode & 0o777]);
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const mode = statSync(join(entry.parentPath, entry.name)).mode & 0o777;
    (entry.isDirectory() ? dirs : files).add(mode);
  }
  return { files, dirs };
}

async function connects(url: string): Promise<string> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ ok: number }>('SELECT 1 AS ok');
    return rows[0]?.ok === 1 ? 'ok' : 'no rows';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('embedded database access', () => {
  const root = mkdtempSync(join(tmpdir(), 'fixpay-embedded-'));
  const dataDir = join(root, 'data');
  let db: { child: ChildProcess; url: string; port: number };
  beforeAll(async () => {
    db = await serve(dataDir);
  }, 90_000);
  afterAll(async () => {
    if (db.child.exitCode === null) {
      const exited = new Promise((r) => db.child.once('exit', r));
      db.child.kill('SIGTERM');
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('lets in the password holder and refuses a wrong password, no password and another user (28P01)', async () => {
    const at = `127.0.0.1:${db.port}/postgres?sslmode=disable`;
    const { databasePassword: password } = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as {
      databasePassword: string;
    };
    expect(password.length).toBeGreaterThanOrEqual(32);
    expect(await connects(`postgresql://postgres:${encodeURIComponent(password)}@${at}`)).toBe('ok');
    expect(await connects(`postgresql://postgres:wrong@${at}`)).toBe('28P01');
    expect(await connects(`postgresql://postgres@${at}`)).not.toBe('ok');
    expect(await connects(`postgresql://admin:${password}@${at}`)).toBe('28P01');
    expect(await connects(db.url)).toBe('ok');
  });

  it('closes a connection that sends garbage instead of a startup message, and keeps serving', async () => {
    for (const garbage of [
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.from([0, 0, 0, 8, 0, 3, 0, 0]),
      Buffer.alloc(64, 0xff),
    ]) {
      const socket = connect(db.port, '127.0.0.1');
      await new Promise<void>((resolve) => {
        socket.once('connect', () => socket.write(garbage));
        socket.on('error', () => resolve());
        socket.once('close', () => resolve());
        socket.resume();
      });
    }
    expect(await connects(db.url)).toBe('ok');
  });

  it('keeps the data folder 0700 and its files 0600, the secrets file included', () => {
    const { files, dirs } = modes(dataDir);
    expect([...dirs]).toEqual([0o700]);
    expect([...files]).toEqual([0o600]);
  });
});
