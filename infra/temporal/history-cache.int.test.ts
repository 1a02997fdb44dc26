/**
 * The dev server's workflow cache is bounded (soak, issue #10): after more runs than
 * HISTORY_CACHE_MAX_ENTRIES have started and closed, the history service holds at most that many
 * executions in memory. Read from the server's own `cache_usage` gauge (Prometheus, mutable state
 * cache). Without the bound the CLI's default keeps every closed run for an hour, up to 8,096.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../config';
import { temporalCliPath } from '../../test/support/temporal';
import { devServerArgs, HISTORY_CACHE_MAX_ENTRIES, waitForTemporal } from './dev-server';

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

/** Runs started and closed: the bound plus a margin, so an unbounded cache shows it. */
const RUNS = HISTORY_CACHE_MAX_ENTRIES + 200;
/** Runs started at once (keeps the test short on a loaded machine). */
const CONCURRENCY = 16;

async function mutableStateCacheUsage(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('cache_usage{cache_type="mutablestate"'));
  if (line === undefined) throw new Error('no mutable state cache_usage gauge');
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('Temporal dev server workflow cache', () => {
  const root = mkdtempSync(join(tmpdir(), 'fixpay-history-cache-'));
  let child: ChildProcess | undefined;
  let connection: Connection | undefined;

  afterAll(async () => {
    await connection?.close();
    child?.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it(`holds at most ${HISTORY_CACHE_MAX_ENTRIES} executions after ${RUNS} runs`, async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const temporal = { ...loadConfig().temporal, host: '127.0.0.1', port };
    const args = [...devServerArgs({ temporal, ui: false, dataDir: root }), '--metrics-port', String(metricsPort)];
    child = spawn(temporalCliPath(), args, { stdio: 'ignore' });
    await waitForTemporal(`127.0.0.1:${port}`, 60_000);
    connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    const client = new Client({ connection, namespace: temporal.namespace });
    // No worker: each run is started and terminated, which is enough to put it in the cache.
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < RUNS) {
        const i = next++;
        const handle = await client.workflow.start('cacheProbe', { taskQueue: 'no-worker', workflowId: `probe-${i}` });
        await handle.terminate('probe');
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    const usage = await mutableStateCacheUsage(metricsPort);
    // It filled up (the test can tell a bound from none)…
    expect(usage).toBeGreaterThanOrEqual(HISTORY_CACHE_MAX_ENTRIES / 2);
    // …and stayed within the bound.
    expect(usage).toBeLessThanOrEqual(HISTORY_CACHE_MAX_ENTRIES);
  }, 180_000);
});
