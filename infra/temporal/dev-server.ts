/**
 * Runs the Temporal dev server (the CLI's `server start-dev`) as a child process: durable SQLite
 * under the data folder (WAL, synchronous=FULL: no `synchronous=OFF` where money is recorded),
 * the platform's search attributes registered, health awaited, clean stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import type { TemporalConfig } from '../../config';
import { FixpayError } from '../../domain/errors';
import { SEARCH_ATTRIBUTES } from '../../domain/search-attributes';
import { ensurePrivateDir, tightenTree } from '../files';

export interface DevServerOptions {
  readonly cliPath: string;
  readonly temporal: TemporalConfig;
  /** Folder for the SQLite file; undefined keeps state in memory (tests). */
  readonly dataDir?: string;
  /** Serve the Web UI on temporal.uiPort. */
  readonly ui: boolean;
  /** Codec endpoint the UI uses to decrypt payloads. */
  readonly uiCodecEndpoint?: string;
  readonly onOutput?: (line: string) => void;
}

export interface DevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

const CLI_TYPE_NAMES = { KEYWORD: 'Keyword' } as const;

/** Durable SQLite settings for the dev server's store. */
export const SQLITE_PRAGMAS = ['journal_mode=WAL', 'synchronous=FULL', 'busy_timeout=5000'] as const;

/**
 * Poll rate limit of each history queue reader (transfer, timer, visibility), per shard. The
 * server's default is 20 polls/s with a burst of about 20: every activity or workflow task of a
 * run is a transfer task, and a lone sequential run needs one reader poll for each, so once the
 * burst is spent every task waited ≈ 40–50 ms for a token (a purchase of 8 activities took
 * ≈ 800 ms). The dev server has one shard, so this is the whole server's read rate; a poll that
 * finds nothing costs one SQLite query. See docs/adr/0008-temporal-latency.md.
 */
export const QUEUE_READER_MAX_POLL_RPS = 10_000;

/** Dynamic configuration every dev server of the platform runs with (fixpay dev and tests). */
export const DEV_SERVER_DYNAMIC_CONFIG: readonly (readonly [key: string, value: string])[] = [
  ['frontend.enableExecuteMultiOperation', 'true'],
  ['frontend.enableUpdateWorkflowExecution', 'true'],
  ['history.transferProcessorMaxPollRPS', String(QUEUE_READER_MAX_POLL_RPS)],
  ['history.timerProcessorMaxPollRPS', String(QUEUE_READER_MAX_POLL_RPS)],
  ['history.visibilityProcessorMaxPollRPS', String(QUEUE_READER_MAX_POLL_RPS)],
  // An activity on the workflow's own task queue comes back in the answer to the workflow task
  // that scheduled it, when the worker has a free slot: no matching, no poll (ADR 0008).
  ['system.enableActivityEagerExecution', 'true'],
];

/** `--dynamic-config-value key=value` arguments for DEV_SERVER_DYNAMIC_CONFIG. */
export function dynamicConfigArgs(): string[] {
  return DEV_SERVER_DYNAMIC_CONFIG.flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]);
}

/** The command-line arguments of `temporal server start-dev` for these options. */
export function devServerArgs(options: Omit<DevServerOptions, 'cliPath' | 'onOutput'>): string[] {
  const t = options.temporal;
  const args = ['server', 'start-dev', '--ip', t.host, '--port', String(t.port), '--log-level', 'warn'];
  args.push('--namespace', t.namespace);
  if (options.dataDir !== undefined) {
    args.push('--db-filename', join(options.dataDir, 'temporal.sqlite'));
    for (const p of SQLITE_PRAGMAS) args.push('--sqlite-pragma', p);
  }
  if (options.ui) args.push('--ui-port', String(t.uiPort));
  else args.push('--headless');
  if (options.uiCodecEndpoint !== undefined) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    args.push('--search-attribute', `${name}=${CLI_TYPE_NAMES[type]}`);
  }
  args.push(...dynamicConfigArgs());
  return args;
}

/** Polls the frontend until it answers a health check; throws TEMPORAL_UNAVAILABLE at the deadline. */
export async function waitForTemporal(
  address: string,
  timeoutMs: number,
  isAlive: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer';
  while (Date.now() < deadline) {
    if (!isAlive())
      throw new FixpayError('TEMPORAL_UNAVAILABLE', `the dev server exited during start-up (${lastError})`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new FixpayError('TEMPORAL_UNAVAILABLE', `${address} did not answer within ${timeoutMs} ms (${lastError})`);
}

function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts the dev server and resolves once it is healthy. Throws TEMPORAL_UNAVAILABLE. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  if (options.dataDir !== undefined) {
    // temporal.sqlite and its WAL: the owner's alone (issue #10); new files follow the umask.
    ensurePrivateDir(options.dataDir);
    tightenTree(options.dataDir);
  }
  const t = options.temporal;
  // Its own process group: a terminal's Ctrl-C reaches fixpay, which stops the workers first and
  // the server last, instead of the server dying under workers that still need it.
  const child = spawn(options.cliPath, devServerArgs(options), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const output: string[] = [];
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() === '') continue;
      output.push(line);
      if (output.length > 50) output.shift();
      options.onOutput?.(line);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  const address = `${t.host}:${t.port}`;
  // If this process dies, do not leave the server behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  try {
    await Promise.race([waitForTemporal(address, t.startTimeoutMs, () => child.exitCode === null), spawnError]);
  } catch (e) {
    await stopChild(child, t.stopTimeoutMs);
    process.removeListener('exit', killOnExit);
    const detail = output.slice(-5).join(' | ');
    throw new FixpayError(
      'TEMPORAL_UNAVAILABLE',
      `${e instanceof Error ? e.message : String(e)}${detail === '' ? '' : `; server said: ${detail}`}`,
    );
  }
  return {
    address,
    uiUrl: options.ui ? `http://${t.host}:${t.uiPort}` : undefined,
    pid: child.pid,
    stop: async () => {
      await stopChild(child, t.stopTimeoutMs);
      process.removeListener('exit', killOnExit);
    },
  };
}
