/**
 * The platform as separate role processes, each in its own process group so a kill -9 takes the
 * whole of it, and each restartable: what `npm run chaos` (the default `--topology roles`) kills.
 *
 * - a private PostgreSQL instance (initdb into a temporary folder, `postgres -D`; run as the
 *   `postgres` user when this process is root, since PostgreSQL refuses root) — the machine's shared
 *   server cannot be killed, this one can;
 * - the Temporal dev server (the CLI's `server start-dev`) with its SQLite file in the temporary
 *   folder, so its history survives its kills;
 * - `fixpay hsm serve` (the network HSM) with a fresh LMK;
 * - two `fixpay worker`, one `fixpay access-node`, one `fixpay api`;
 * - the bank simulator in this process (so its record survives its "kills") behind the tampering
 *   proxy of the attack suite.
 *
 * The demo room (demo data, demo keys, key directory) is prepared from this process, as
 * test/e2e/roles.int.test.ts does. A process that exits on its own (not killed here) is restarted
 * like a service manager would, and counted. Linux only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { loadConfig, processEnv } from '../../config';
import { DEMO } from '../../demo/seed';
import { prepareDemoWorld } from '../../demo/world';
import { openDatabase } from '../../infra/database';
import { createLogger } from '../../infra/logging';
import { devServerArgs, findTemporalCli, waitForTemporal } from '../../infra/temporal';
import { defaultAccounts, SIM_ZAK_HEX, SIM_ZPK_HEX } from '../../simulator/bank/accounts';
import { Bank } from '../../simulator/bank/bank';
import { BankServer } from '../../simulator/bank/server';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import type { TerminalConfig } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import type { ScriptStep } from '../../simulator/terminal/script';
import type { TransactionResult } from '../../simulator/terminal/terminal';
import { TEST_CODEC_KEYS } from '../support/temporal';
import { CARD_RICH, TamperProxy } from './targets';
import { alive, freePort, LOOPBACK, sleep, tcpConnect } from './support';

const ROOT = join(__dirname, '..', '..');
const FIXPAY = join(ROOT, 'bin', 'fixpay.js');
/** The Debian PostgreSQL binaries (initdb, postgres). */
export const PG_BIN = processEnv()['FIXPAY_CHAOS_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';
/** Longest wait for one process to be ready (a role waits for Temporal and the database), ms. */
const READY_TIMEOUT_MS = 180_000;
/** Pause before starting again a process that exited during its start-up, ms. */
const RESPAWN_PAUSE_MS = 1_000;
const OUTPUT_KEEP_CHARS = 200_000;
export const DATABASE_NAME = 'fixpay_chaos';

export type RoleName = 'database' | 'temporal' | 'hsm' | 'worker-1' | 'worker-2' | 'access-node' | 'api';

/** Start order: what a role needs comes before it. */
const START_ORDER: readonly RoleName[] = ['database', 'temporal', 'hsm', 'worker-1', 'worker-2', 'access-node', 'api'];

interface Managed {
  readonly name: RoleName;
  child: ChildProcess | undefined;
  output: string;
  /** Set while this process kills it on purpose (not an exit on its own). */
  killing: boolean;
  /** Exits on its own (crash, or gave up waiting for a dependency), each followed by a restart. */
  exitsOnOwn: number;
  lastExit: string;
}

/** Live (not zombie) processes in a process group, from /proc/<pid>/stat. */
function groupMembers(pgid: number): number {
  let n = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[0] !== 'Z' && Number(f[2]) === pgid) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

/** The uid/gid PostgreSQL runs as: `postgres` when we are root (it refuses root), else ours. */
function pgUser(): { uid: number; gid: number; runAs: string[] } {
  if (process.getuid?.() !== 0) return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, runAs: [] };
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!(uid > 0)) throw new Error('running as root and there is no postgres user to run PostgreSQL as');
  return { uid, gid, runAs: ['runuser', '-u', 'postgres', '--'] };
}

export class RoleTargets {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'fixpay-chaos-'));
  /** PostgreSQL's folder: separate, since it must belong to the user PostgreSQL runs as. */
  readonly pgDir = mkdtempSync(join(tmpdir(), 'fixpay-chaos-pg-'));
  readonly ports = { pg: 0, temporal: 0, api: 0, codec: 0, tcpPcm: 0, sip: 0, hsm: 0, proxy: 0, bank: 0 };
  bank!: Bank;
  bankServer!: BankServer;
  proxy!: TamperProxy;
  private readonly lmk = randomBytes(32).toString('hex').toUpperCase();
  private readonly hsmClientSecret = randomBytes(32).toString('hex');
  private readonly operatorToken = randomBytes(16).toString('hex');
  private readonly procs = new Map<RoleName, Managed>();
  private readonly pg = pgUser();
  private nextStan = 100;
  private stopped = false;

  private constructor(private readonly onOutput: (line: string) => void) {
    for (const name of START_ORDER)
      this.procs.set(name, { name, child: undefined, output: '', killing: false, exitsOnOwn: 0, lastExit: '' });
  }

  static async start(o: { onOutput?: (line: string) => void } = {}): Promise<RoleTargets> {
    const t = new RoleTargets(o.onOutput ?? (() => undefined));
    try {
      await t.startAll();
      return t;
    } catch (e) {
      await t.stop();
      throw e;
    }
  }

  /** The roles' database, on the private PostgreSQL. */
  get databaseUrl(): string {
    return `postgresql://postgres@${LOOPBACK}:${this.ports.pg}/${DATABASE_NAME}`;
  }

  get names(): readonly RoleName[] {
    return START_ORDER;
  }

  pidOf(name: RoleName): number | undefined {
    return this.procs.get(name)?.child?.pid;
  }

  /** Exits on their own per process (each restarted). */
  exitsOnOwn(): Map<RoleName, { n: number; last: string }> {
    const out = new Map<RoleName, { n: number; last: string }>();
    for (const p of this.procs.values()) if (p.exitsOnOwn > 0) out.set(p.name, { n: p.exitsOnOwn, last: p.lastExit });
    return out;
  }

  private async startAll(): Promise<void> {
    const cli = findTemporalCli(loadConfig().temporal, processEnv()['PATH']);
    if (cli?.kind !== 'binary') throw new Error('no Temporal CLI found: set FIXPAY_TEMPORAL_CLI');
    this.temporalCli = cli.path;
    for (const k of Object.keys(this.ports) as (keyof RoleTargets['ports'])[]) this.ports[k] = await freePort();
    this.bank = new Bank({ zpk: Buffer.from(SIM_ZPK_HEX, 'hex'), accounts: defaultAccounts() });
    this.bankServer = new BankServer(this.bank, {
      zak: Buffer.from(SIM_ZAK_HEX, 'hex'),
      host: LOOPBACK,
      port: this.ports.bank,
    });
    await this.bankServer.listen();
    this.proxy = new TamperProxy(this.ports.bank);
    await this.proxy.listen(this.ports.proxy);

    chownSync(this.pgDir, this.pg.uid, this.pg.gid);
    const init = spawnSync(
      this.pg.runAs[0] ?? join(PG_BIN, 'initdb'),
      [
        ...this.pg.runAs.slice(1),
        ...(this.pg.runAs.length > 0 ? [join(PG_BIN, 'initdb')] : []),
        '-D',
        join(this.pgDir, 'data'),
        '-A',
        'trust',
        '-U',
        'postgres',
        '-E',
        'UTF8',
      ],
      { encoding: 'utf8' },
    );
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    await this.startProcess('database');
    const admin = new PgClient({ connectionString: `postgresql://postgres@${LOOPBACK}:${this.ports.pg}/postgres` });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${DATABASE_NAME}`);
    await admin.end();

    mkdirSync(join(this.dataDir, 'platform'), { mode: 0o700 });
    mkdirSync(join(this.dataDir, 'temporal'), { mode: 0o700 });
    writeFileSync(this.lmkFile, `${this.lmk}\n`, { mode: 0o600 });
    const db = await openDatabase(loadConfig({ ...this.baseEnv(), DATABASE_URL: this.databaseUrl }));
    try {
      await prepareDemoWorld({
        config: loadConfig(this.baseEnv()),
        prisma: db.prisma,
        lmkHex: this.lmk,
        log: createLogger('chaos', { level: 'warn' }),
      });
    } finally {
      await db.close();
    }
    await this.startProcess('temporal');
    await this.startProcess('hsm');
    // The workers deploy the definitions the access node resolves: they come up first.
    await Promise.all([this.startProcess('worker-1'), this.startProcess('worker-2')]);
    await Promise.all([this.startProcess('access-node'), this.startProcess('api')]);
  }

  private temporalCli = '';

  private get lmkFile(): string {
    return join(this.dataDir, 'hsm-lmk.hex');
  }

  private baseEnv(): NodeJS.ProcessEnv {
    return {
      FIXPAY_DATA_DIR: join(this.dataDir, 'platform'),
      FIXPAY_CARD_NETWORK_HOST: LOOPBACK,
      FIXPAY_LOG_LEVEL: 'warn',
    };
  }

  /** The environment of the fixpay role processes. */
  roleEnv(): NodeJS.ProcessEnv {
    const p = this.ports;
    return {
      ...processEnv(),
      ...this.baseEnv(),
      DATABASE_URL: this.databaseUrl,
      FIXPAY_TEMPORAL_EMBEDDED: 'false',
      FIXPAY_TEMPORAL_HOST: LOOPBACK,
      FIXPAY_TEMPORAL_PORT: String(p.temporal),
      FIXPAY_LMK: this.lmk,
      FIXPAY_CODEC_KEYS: TEST_CODEC_KEYS,
      FIXPAY_OPERATOR_TOKEN: this.operatorToken,
      FIXPAY_HSM_CLIENT_SECRET: this.hsmClientSecret,
      FIXPAY_BANK_SIMULATOR: 'false',
      FIXPAY_CARD_NETWORK_PORT: String(p.proxy),
      FIXPAY_CARD_NETWORK_TIMEOUT_MS: '5000',
      FIXPAY_NODE_ID: 'chaos',
      FIXPAY_ACCESS_HOST: LOOPBACK,
      FIXPAY_TCP_PCM_PORT: String(p.tcpPcm),
      FIXPAY_SIP_PORT: String(p.sip),
      FIXPAY_SIP_ALLOWED_SOURCES: '127.0.0.1/32',
      FIXPAY_API_HOST: LOOPBACK,
      FIXPAY_API_PORT: String(p.api),
      FIXPAY_CODEC_PORT: String(p.codec),
    };
  }

  private command(name: RoleName): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
    const p = this.ports;
    switch (name) {
      case 'database': {
        const args = [
          join(PG_BIN, 'postgres'),
          '-D',
          join(this.pgDir, 'data'),
          '-p',
          String(p.pg),
          '-h',
          LOOPBACK,
          '-k',
          this.pgDir,
          '-c',
          'max_connections=200',
        ];
        const [file, ...rest] = [...this.pg.runAs, ...args];
        return { file: file ?? '', args: rest, env: { PATH: processEnv()['PATH'] ?? '' } };
      }
      case 'temporal': {
        const temporal = { ...loadConfig().temporal, host: LOOPBACK, port: p.temporal };
        return {
          file: this.temporalCli,
          args: devServerArgs({ temporal, dataDir: join(this.dataDir, 'temporal'), ui: false }),
          env: { PATH: processEnv()['PATH'] ?? '', HOME: processEnv()['HOME'] ?? '' },
        };
      }
      case 'hsm':
        return {
          file: process.execPath,
          args: [FIXPAY, 'hsm', 'serve', '--lmk-file', this.lmkFile, '--host', LOOPBACK, '--port', String(p.hsm)],
          env: { ...processEnv(), FIXPAY_LOG_LEVEL: 'warn', FIXPAY_HSM_CLIENT_SECRET: this.hsmClientSecret },
        };
      case 'worker-1':
      case 'worker-2':
        return { file: process.execPath, args: [FIXPAY, 'worker'], env: this.roleEnv() };
      case 'access-node':
      case 'api':
        return { file: process.execPath, args: [FIXPAY, name], env: this.roleEnv() };
    }
  }

  /** Whether a process is ready to serve (the roles say so on stdout; the others answer). */
  private async ready(m: Managed): Promise<boolean> {
    switch (m.name) {
      case 'database':
        return this.pgAnswers();
      case 'temporal':
        try {
          await waitForTemporal(`${LOOPBACK}:${this.ports.temporal}`, 1_000);
          return true;
        } catch {
          return false;
        }
      case 'hsm':
        try {
          (await tcpConnect(this.ports.hsm, 1_000)).destroy();
          return true;
        } catch {
          return false;
        }
      default: {
        const role = m.name.replace(/-\d$/, '');
        return m.output.includes(`fixpay ${role} ready`);
      }
    }
  }

  private async pgAnswers(): Promise<boolean> {
    const c = new PgClient({
      connectionString: `postgresql://postgres@${LOOPBACK}:${this.ports.pg}/postgres`,
      connectionTimeoutMillis: 1_000,
    });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  private spawnOnce(m: Managed): ChildProcess {
    const { file, args, env } = this.command(m.name);
    m.output = '';
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    m.child = child;
    const onData = (c: Buffer): void => {
      const text = c.toString();
      m.output += text;
      if (m.output.length > OUTPUT_KEEP_CHARS) m.output = m.output.slice(-OUTPUT_KEEP_CHARS / 2);
      for (const line of text.split('\n')) if (line.trim() !== '') this.onOutput(`[${m.name}] ${line}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', () => undefined);
    child.once('exit', (code, signal) => {
      if (m.child !== child || m.killing || this.stopped) return;
      // Exited on its own: count it and start it again, as a service manager would.
      m.exitsOnOwn++;
      m.lastExit = `${signal ?? `exit ${code}`}: ${m.output.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`;
      this.onOutput(`[chaos] ${m.name} exited on its own (${m.lastExit}); restarting`);
      void sleep(RESPAWN_PAUSE_MS).then(() => {
        if (m.child === child && !m.killing && !this.stopped) this.startProcess(m.name).catch(() => undefined);
      });
    });
    return child;
  }

  /** Starts a process and waits until it is ready; one that exits during start-up is started again. */
  async startProcess(name: RoleName): Promise<void> {
    const m = this.procs.get(name);
    if (m === undefined) throw new Error(`no process ${name}`);
    const until = Date.now() + READY_TIMEOUT_MS;
    let child = this.spawnOnce(m);
    for (;;) {
      if (this.stopped) return;
      if (await this.ready(m)) return;
      if (Date.now() > until) throw new Error(`${name} not ready in time: ${m.output.slice(-2000)}`);
      if (m.child !== child && m.child !== undefined) child = m.child; // restarted by the exit handler
      await sleep(250);
    }
  }

  /** kill -9 of the whole process group, then waits until the process is gone. */
  async kill(name: RoleName): Promise<number | undefined> {
    const m = this.procs.get(name);
    const pid = m?.child?.pid;
    if (m === undefined || pid === undefined) return undefined;
    m.killing = true;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // group gone already
    }
    // Every member of the group, not only its leader: a postmaster still exiting holds its pid
    // file, and the next start would refuse it.
    const until = Date.now() + 10_000;
    while ((alive(pid) || groupMembers(pid) > 0) && Date.now() < until) await sleep(50);
    return pid;
  }

  /** kill -9 of the process group and a start; the time it was down, ms. */
  async killAndRestart(name: RoleName): Promise<{ pid: number | undefined; downMs: number }> {
    const t0 = Date.now();
    const pid = await this.kill(name);
    // The whole group is gone: PostgreSQL's pid file is stale. Left there, a new start refuses it
    // whenever the recorded pid has been reused meanwhile (a busy machine reuses pids in seconds).
    // Same for the lock file of its Unix socket.
    if (name === 'database' && (pid === undefined || groupMembers(pid) === 0)) {
      rmSync(join(this.pgDir, 'data', 'postmaster.pid'), { force: true });
      rmSync(join(this.pgDir, `.s.PGSQL.${this.ports.pg}.lock`), { force: true });
    }
    const m = this.procs.get(name);
    if (m !== undefined) m.killing = false;
    await this.startProcess(name);
    return { pid, downMs: Date.now() - t0 };
  }

  /** The bank simulator goes away (every connection dropped, the port closed) for `outageMs`. */
  async bankOutage(outageMs: number): Promise<void> {
    await this.bankServer.close();
    await sleep(outageMs);
    this.bankServer = new BankServer(this.bank, {
      zak: Buffer.from(SIM_ZAK_HEX, 'hex'),
      host: LOOPBACK,
      port: this.ports.bank,
    });
    await this.bankServer.listen();
  }

  /** Waits until every process is ready (after a restart that is still under way); what was not. */
  async ensureUp(): Promise<RoleName[]> {
    const late: RoleName[] = [];
    for (const name of START_ORDER) {
      const m = this.procs.get(name);
      if (m === undefined || (await this.ready(m))) continue;
      late.push(name);
      if (!alive(m.child?.pid)) await this.startProcess(name);
      else {
        const until = Date.now() + READY_TIMEOUT_MS;
        while (!(await this.ready(m)) && Date.now() < until) await sleep(500);
      }
    }
    return late;
  }

  /** A state store with a STAN and PSAM counter above every one used before in this run. */
  freshState(): MemoryStateStore {
    this.nextStan += 20;
    return new MemoryStateStore({ stan: this.nextStan, batch: '000001', psamCounter: this.nextStan });
  }

  /** A terminal simulator config for a demo terminal, dialling the access node over TCP PCM. */
  terminal(o: { demoTerminal?: number } = {}): TerminalConfig {
    const t = DEMO.terminals[o.demoTerminal ?? 0];
    if (t === undefined) throw new Error('no such demo terminal');
    return parseTerminalConfig(
      {
        ...EXAMPLE_CONFIG,
        terminalId: t.terminalId,
        psam: { ...EXAMPLE_CONFIG.psam, serial: t.psamNo },
        card: { track2: CARD_RICH.track2, pin: CARD_RICH.pin },
        line: {
          ...EXAMPLE_CONFIG.line,
          host: LOOPBACK,
          transport: 'tcp-pcm',
          port: this.ports.tcpPcm,
          pace: false,
          callerNumber: t.ani,
        },
        timeouts: { ...EXAMPLE_CONFIG.timeouts, responseMs: 40_000 },
      },
      this.dataDir,
    );
  }

  /** Runs terminal steps; never throws for a failed transaction. */
  async script(
    config: TerminalConfig,
    steps: readonly ScriptStep[],
    state: MemoryStateStore = this.freshState(),
  ): Promise<readonly TransactionResult[]> {
    return (await runTerminalScript({ config, stateStore: state }, steps)).transactions;
  }

  /** Stops everything (SIGKILL to each group: nothing here needs a clean stop) and removes the folders. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const name of [...START_ORDER].reverse()) await this.kill(name);
    // Either may be missing when the start failed early.
    await Promise.resolve()
      .then(() => this.proxy.close())
      .catch(() => undefined);
    await Promise.resolve()
      .then(() => this.bankServer.close())
      .catch(() => undefined);
    rmSync(this.dataDir, { recursive: true, force: true });
    rmSync(this.pgDir, { recursive: true, force: true });
  }
}
