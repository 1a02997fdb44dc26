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
import type { TLSConfig } from './tls';
import {
  freePortFromStaleChild,
  portTaken,
  removePidFile,
  Supervisor,
  watchParent,
  writePidFile,
  type RestartPolicy,
  type SupervisorLog,
} from '../supervisor';

const SILENT_LOG: SupervisorLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

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
  /** Where supervision reports restarts and stale servers. */
  readonly log?: SupervisorLog;
  readonly restartPolicy?: RestartPolicy;
}

export interface DevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  /** The current server process (it changes when the server is restarted). */
  readonly pid: number | undefined;
  /** Restarts after the server died. */
  readonly restarts: number;
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

/**
 * Workflow executions the history service keeps in memory. The CLI's dev server (Temporal 1.29)
 * caches up to 8,096 for an hour, closed runs included: in a soak with the live demo (every
 * transaction is two or three runs) the server grew all through the first hour (≈ 130 MB/h). 512
 * is the per-shard default Temporal had before the cache moved to the host, and the dev server has
 * one shard; a run evicted while still open is read back from SQLite on its next task. See
 * docs/operations.md, "Retention".
 */
export const HISTORY_CACHE_MAX_ENTRIES = 512;

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
  ['history.hostLevelCacheMaxSize', String(HISTORY_CACHE_MAX_ENTRIES)],
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
  tls?: TLSConfig,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer';
  while (Date.now() < deadline) {
    if (!isAlive())
      throw new FixpayError('TEMPORAL_UNAVAILABLE', `the dev server exited during start-up (${lastError})`);
    try {
      const connection = await Connection.connect({
        address,
        connectTimeout: 1000,
        ...(tls === undefined ? {} : { tls }),
      });
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

/** The pid file of the dev server in its data folder (recognises a server a killed fixpay left). */
export const DEV_SERVER_PID_FILE = 'server.pid';

/**
 * Starts the dev server and resolves once it is healthy; supervises it afterwards (restarted with
 * back-off when it dies, stopped by a watchdog if this process is killed). A server an earlier,
 * killed fixpay left on the port (pid file and command line match) is stopped first; any other
 * process on the port is refused. Throws TEMPORAL_UNAVAILABLE or PROCESS_NOT_OURS.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  if (options.dataDir !== undefined) {
    // temporal.sqlite and its WAL: the owner's alone (issue #10); new files follow the umask.
    ensurePrivateDir(options.dataDir);
    tightenTree(options.dataDir);
  }
  const t = options.temporal;
  const log = options.log ?? SILENT_LOG;
  const address = `${t.host}:${t.port}`;
  const pidFile = options.dataDir === undefined ? undefined : join(options.dataDir, DEV_SERVER_PID_FILE);
  if (pidFile !== undefined) {
    await freePortFromStaleChild({
      name: 'Temporal dev server',
      pidFile,
      host: t.host,
      port: t.port,
      log,
      portSetting: 'FIXPAY_TEMPORAL_PORT',
    });
  } else if (await portTaken(t.host, t.port)) {
    throw new FixpayError(
      'PROCESS_NOT_OURS',
      `${address} is in use by a process fixpay did not start: stop it or set FIXPAY_TEMPORAL_PORT to another port`,
    );
  }
  const output: string[] = [];
  let current: ChildProcess | undefined;
  // If this process exits normally, do not leave the server behind (kill -9 is the watchdog's).
  const killOnExit = (): void => {
    current?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const spawnOnce = async (): Promise<ChildProcess> => {
    // Its own process group: a terminal's Ctrl-C reaches fixpay, which stops the workers first and
    // the server last, instead of the server dying under workers that still need it.
    const child = spawn(options.cliPath, devServerArgs(options), {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    current = child;
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
    if (child.pid !== undefined) watchParent(child.pid);
    try {
      await Promise.race([waitForTemporal(address, t.startTimeoutMs, () => child.exitCode === null), spawnError]);
    } catch (e) {
      await stopChild(child, t.stopTimeoutMs);
      const detail = output.slice(-5).join(' | ');
      throw new FixpayError(
        'TEMPORAL_UNAVAILABLE',
        `${e instanceof Error ? e.message : String(e)}${detail === '' ? '' : `; server said: ${detail}`}`,
      );
    }
    return child;
  };
  const supervisor = new Supervisor({
    name: 'Temporal dev server',
    start: spawnOnce,
    log,
    ...(options.restartPolicy === undefined ? {} : { policy: options.restartPolicy }),
    onStarted: (child) => {
      if (pidFile !== undefined && child.pid !== undefined)
        writePidFile(pidFile, { pid: child.pid, port: t.port, executable: options.cliPath });
    },
  });
  try {
    await supervisor.start();
  } catch (e) {
    process.removeListener('exit', killOnExit);
    throw e;
  }
  return {
    address,
    uiUrl: options.ui ? `http://${t.host}:${t.uiPort}` : undefined,
    get pid() {
      return supervisor.pid;
    },
    get restarts() {
      return supervisor.restartCount;
    },
    stop: async () => {
      await supervisor.stop((child) => stopChild(child, t.stopTimeoutMs));
      process.removeListener('exit', killOnExit);
      if (pidFile !== undefined) removePidFile(pidFile);
    },
  };
}
