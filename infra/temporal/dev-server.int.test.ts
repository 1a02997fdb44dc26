/**
 * Supervision of the Temporal dev server (issue #10, defect 13), with the real CLI: a server killed
 * with kill -9 is restarted and the same client connection works again; a server a killed fixpay
 * left behind is recognised by its pid file and replaced (said in the log); a server that is not
 * ours is never adopted; a watchdog stops a child whose parent was killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { loadConfig } from '../../config';
import { isFixpayError } from '../../domain/errors';
import { temporalCliPath } from '../../test/support/temporal';
import { watchParent } from '../supervisor';
import { devServerArgs, startDevServer, waitForTemporal } from './dev-server';
import type { DevServer, DevServerOptions } from './dev-server';

async function freePort(): Promise<number> {
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const fast = { initialDelayMs: 100, maxDelayMs: 1_000, coefficient: 2, restartsMax: 3, resetAfterMs: 60_000 };

describe('Temporal dev server supervision', () => {
  const root = mkdtempSync(join(tmpdir(), 'fixpay-supervise-'));
  const cliPath = temporalCliPath();
  const warnings: string[] = [];
  const log = {
    info: () => undefined,
    warn: (_o: object, msg?: string) => warnings.push(msg ?? ''),
    error: (_o: object, msg?: string) => warnings.push(msg ?? ''),
  };
  const servers: DevServer[] = [];
  const strays: ChildProcess[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    for (const c of strays) if (c.pid !== undefined && alive(c.pid)) process.kill(-c.pid, 'SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  const options = async (name: string): Promise<DevServerOptions> => ({
    cliPath,
    temporal: { ...loadConfig().temporal, host: '127.0.0.1', port: await freePort(), uiPort: await freePort() },
    ui: false,
    dataDir: join(root, name),
    log,
    restartPolicy: fast,
  });

  it('restarts a server killed with kill -9, and the same client connection works again', async () => {
    const server = await startDevServer(await options('restart'));
    servers.push(server);
    const connection = await Connection.connect({ address: server.address });
    try {
      const first = server.pid ?? 0;
      process.kill(first, 'SIGKILL');
      await until('a restart', () => server.restarts === 1 && server.pid !== first);
      await until('the restarted server to answer', async () =>
        connection.workflowService.getSystemInfo({}).then(
          () => true,
          () => false,
        ),
      );
      const pidFile = JSON.parse(readFileSync(join(root, 'restart', 'server.pid'), 'utf8')) as { pid: number };
      expect(pidFile.pid).toBe(server.pid);
    } finally {
      await connection.close();
    }
  }, 120_000);

  it('never adopts a server it did not start, and replaces one a killed fixpay left (saying so)', async () => {
    const opts = await options('stale');
    // A Temporal server on the port, as a `fixpay dev` killed with kill -9 would leave it.
    mkdirSync(join(root, 'stale'), { recursive: true, mode: 0o700 });
    const stale = spawn(cliPath, devServerArgs(opts), { stdio: 'ignore', detached: true });
    strays.push(stale);
    await waitForTemporal(`127.0.0.1:${opts.temporal.port}`, 60_000);
    // Without our pid file it is somebody else's: refused, naming the port.
    const refused: unknown = await startDevServer(opts).catch((e: unknown) => e);
    expect(isFixpayError(refused, 'PROCESS_NOT_OURS')).toBe(true);
    expect((refused as Error).message).toContain(`127.0.0.1:${opts.temporal.port}`);
    expect(alive(stale.pid ?? 0)).toBe(true);
    // With the pid file fixpay writes, it is ours: stopped and replaced.
    writeFileSync(
      join(root, 'stale', 'server.pid'),
      JSON.stringify({ pid: stale.pid, port: opts.temporal.port, executable: cliPath }),
    );
    const server = await startDevServer(opts);
    servers.push(server);
    expect(server.pid).not.toBe(stale.pid);
    await until('the stale server to be gone', () => stale.exitCode !== null || stale.signalCode !== null);
    expect(warnings.some((w) => w.includes('an earlier fixpay left running'))).toBe(true);
  }, 120_000);

  it('stops a child whose parent was killed with kill -9 (watchdog)', async () => {
    const parent = spawn('sleep', ['60'], { stdio: 'ignore' });
    const child = spawn('sleep', ['60'], { stdio: 'ignore', detached: true });
    strays.push(child);
    watchParent(child.pid ?? 0, parent.pid ?? 0);
    parent.kill('SIGKILL');
    await until('the orphan to be stopped', () => child.exitCode !== null || child.signalCode !== null, 15_000);
  }, 30_000);
});
