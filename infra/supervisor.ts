/**
 * Supervision of the child processes `fixpay dev` runs (the Temporal dev server): a child that dies
 * is restarted with exponential back-off, a child never outlives fixpay (a watchdog stops it when
 * fixpay is killed, even with kill -9), and a pid file in the data folder lets the next start
 * recognise a server an earlier, killed fixpay left behind — and tell it apart from a process that
 * is not ours, which is never adopted. See docs/operations.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { FixpayError } from '../domain/errors';

/** First restart delay after a child died. */
export const RESTART_DELAY_MS_INITIAL = 500;
/** Restart delays double up to this. */
export const RESTART_DELAY_MS_MAX = 30_000;
export const RESTART_BACKOFF_COEFFICIENT = 2;
/** Consecutive failed (re)starts before supervision gives up. */
export const RESTARTS_MAX = 10;
/** A child that ran this long is healthy again: the next death restarts after the initial delay. */
export const RESTART_RESET_AFTER_MS = 60_000;
/** How often the watchdog checks that fixpay is still alive. */
export const WATCHDOG_INTERVAL_S = 1;
/** How long a stale server gets to stop on SIGTERM before SIGKILL. */
export const STALE_STOP_TIMEOUT_MS = 5_000;

export interface SupervisorLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RestartPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly coefficient: number;
  readonly restartsMax: number;
  readonly resetAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: RESTART_DELAY_MS_INITIAL,
  maxDelayMs: RESTART_DELAY_MS_MAX,
  coefficient: RESTART_BACKOFF_COEFFICIENT,
  restartsMax: RESTARTS_MAX,
  resetAfterMs: RESTART_RESET_AFTER_MS,
};

/** The delay before restart number `attempt` (1-based). */
export function restartDelayMs(policy: RestartPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.coefficient ** Math.max(0, attempt - 1));
}

export interface SupervisorOptions {
  readonly name: string;
  /** Spawns the child and resolves once it is ready (rejects, after killing it, if it never is). */
  readonly start: () => Promise<ChildProcess>;
  readonly policy?: RestartPolicy;
  readonly log: SupervisorLog;
  /** Called with each new child (after a restart too), e.g. to rewrite a pid file. */
  readonly onStarted?: (child: ChildProcess) => void;
  /** Called once supervision gives up (CHILD_PROCESS_FAILED). */
  readonly onGiveUp?: (error: FixpayError) => void;
}

/** Keeps one child running: restarted with back-off when it dies, until `stop()`. */
export class Supervisor {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private restarts = 0;
  private readonly policy: RestartPolicy;

  constructor(private readonly options: SupervisorOptions) {
    this.policy = options.policy ?? DEFAULT_RESTART_POLICY;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Restarts so far. */
  get restartCount(): number {
    return this.restarts;
  }

  /** Starts the first child; rejects when it does not come up (no restart for the first start). */
  async start(): Promise<void> {
    this.attach(await this.options.start());
  }

  private attach(child: ChildProcess): void {
    this.child = child;
    this.options.onStarted?.(child);
    const startedAt = Date.now();
    child.once('exit', (code, signal) => {
      if (this.stopping || this.child !== child) return;
      if (Date.now() - startedAt >= this.policy.resetAfterMs) this.failures = 0;
      this.scheduleRestart({ code, signal });
    });
  }

  private scheduleRestart(why: object): void {
    this.failures++;
    if (this.failures > this.policy.restartsMax) {
      const error = new FixpayError(
        'CHILD_PROCESS_FAILED',
        `${this.options.name} failed ${this.failures - 1} restarts`,
      );
      this.options.log.error({ child: this.options.name, ...why, code: error.code }, error.message);
      this.options.onGiveUp?.(error);
      return;
    }
    const delayMs = restartDelayMs(this.policy, this.failures);
    this.options.log.warn(
      { child: this.options.name, ...why, attempt: this.failures, delayMs },
      `${this.options.name} exited; restarting`,
    );
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopping) return;
      this.options.start().then(
        (child) => {
          if (this.stopping) {
            child.kill('SIGKILL');
            return;
          }
          this.restarts++;
          this.options.log.info({ child: this.options.name, pid: child.pid }, `${this.options.name} restarted`);
          this.attach(child);
        },
        (e: unknown) => this.scheduleRestart({ error: e instanceof Error ? e.message : String(e) }),
      );
    }, delayMs);
    this.timer.unref();
  }

  /** Stops supervising and stops the child with `stopChild`. */
  async stop(stopChild: (child: ChildProcess) => Promise<void>): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.child !== undefined) await stopChild(this.child);
  }
}

/**
 * Starts a watchdog (a small shell loop, its own process group) that stops the child's process
 * group when `parentPid` is gone: a child never outlives a fixpay killed with kill -9. It ends by
 * itself when the child is gone.
 */
export function watchParent(childPid: number, parentPid: number = process.pid): ChildProcess {
  const script =
    `while kill -0 ${parentPid} 2>/dev/null && kill -0 ${childPid} 2>/dev/null; do sleep ${WATCHDOG_INTERVAL_S}; done; ` +
    `kill -TERM -${childPid} 2>/dev/null; sleep 5; kill -KILL -${childPid} 2>/dev/null; exit 0`;
  const watchdog = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
  watchdog.unref();
  return watchdog;
}

// --- pid files and stale servers ------------------------------------------------------------

export interface PidRecord {
  readonly pid: number;
  readonly port: number;
  readonly executable: string;
}

export function writePidFile(file: string, record: PidRecord): void {
  writeFileSync(file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
}

export function removePidFile(file: string): void {
  rmSync(file, { force: true });
}

function readPidFile(file: string): PidRecord | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    const { pid, port, executable } = o;
    if (typeof pid !== 'number' || typeof port !== 'number' || typeof executable !== 'string') return undefined;
    return { pid, port, executable };
  } catch {
    return undefined;
  }
}

/** The command line of a live process (Linux /proc), undefined when unknown. */
function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((s) => s !== '');
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when something accepts TCP connections on host:port. */
export function portTaken(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (taken: boolean): void => {
      socket.destroy();
      resolve(taken);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Makes sure `host:port` is free for our child. A process the pid file names, still alive, whose
 * command line is our executable with this port, is ours, left by a killed fixpay: it is stopped
 * (said in the log). Anything else on the port is not ours: PROCESS_NOT_OURS, naming the port.
 */
export async function freePortFromStaleChild(options: {
  readonly name: string;
  readonly pidFile: string;
  readonly host: string;
  readonly port: number;
  readonly log: SupervisorLog;
  /** The setting that moves the port, for the message. */
  readonly portSetting: string;
}): Promise<void> {
  const { host, port, log, name } = options;
  if (!(await portTaken(host, port))) {
    removePidFile(options.pidFile);
    return;
  }
  const record = readPidFile(options.pidFile);
  const cmd = record === undefined ? undefined : commandLine(record.pid);
  const ours =
    record !== undefined &&
    record.port === port &&
    alive(record.pid) &&
    cmd !== undefined &&
    cmd[0] === record.executable &&
    cmd.includes(String(port));
  if (!ours) {
    throw new FixpayError(
      'PROCESS_NOT_OURS',
      `${host}:${port} is in use by a process fixpay did not start (no matching ${name} pid file): ` +
        `stop it (e.g. find it with \`ss -ltnp 'sport = :${port}'\`) or set ${options.portSetting} to another port`,
    );
  }
  log.warn(
    { child: name, pid: record.pid, port },
    `stopping the ${name} (pid ${record.pid}) an earlier fixpay left running on port ${port}`,
  );
  try {
    process.kill(-record.pid, 'SIGTERM');
  } catch {
    process.kill(record.pid, 'SIGTERM');
  }
  const deadline = Date.now() + STALE_STOP_TIMEOUT_MS;
  while (alive(record.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(record.pid)) process.kill(record.pid, 'SIGKILL');
  while (await portTaken(host, port)) {
    if (Date.now() > deadline + STALE_STOP_TIMEOUT_MS)
      throw new FixpayError('PORT_IN_USE', `${host}:${port} is still in use after stopping pid ${record.pid}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  removePidFile(options.pidFile);
}
