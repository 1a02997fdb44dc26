/**
 * The targets the attack suite hits, started by the suite itself on loopback with free ports and a
 * temporary data folder:
 *
 * - `fixpay dev --no-demo` (worker, access node with TCP PCM and SIP/RTP, API, codec endpoint,
 *   embedded database, Temporal dev server child), with the bank simulator switched off: its card
 *   network gateway dials the tampering proxy below instead;
 * - the bank simulator (in this process, so its own record of what it approved is readable) behind
 *   a tampering TCP proxy that can rewrite, drop or inject ISO 8583 frames on the network link;
 * - `fixpay hsm serve` (the network HSM) with a fresh LMK.
 *
 * Roles that become their own processes (`fixpay worker`, `fixpay access-node`, `fixpay api`) are
 * found by their command line among the platform's process tree (`platformPids`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processEnv } from '../../config';
import { DEMO } from '../../demo/seed';
import { encodeFrame, FrameDecoder } from '../../gateways/card-network/framing';
import { MessageCodec, networkSpec } from '../../gateways/iso8583';
import type { IsoMessage } from '../../gateways/iso8583';
import { defaultAccounts, SIM_ZAK_HEX, SIM_ZPK_HEX } from '../../simulator/bank/accounts';
import { Bank } from '../../simulator/bank/bank';
import { BankServer } from '../../simulator/bank/server';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import type { TerminalConfig } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import type { ScriptStep } from '../../simulator/terminal/script';
import type { TransactionResult } from '../../simulator/terminal/terminal';
import { alive, childPids, cmdline, freePort, httpRequest, LOOPBACK, prop, sleep, tcpConnect } from './support';

const ROOT = join(__dirname, '..', '..');
const FIXPAY = join(ROOT, 'bin', 'fixpay.js');
/** Longest wait for `fixpay dev` to say it is up, ms (first start migrates the database). */
export const PLATFORM_START_TIMEOUT_MS = 150_000;
/** Longest wait for the network HSM to listen, ms. */
export const HSM_START_TIMEOUT_MS = 30_000;
/** The bank simulator's test cards (Luhn-valid test BIN, test PINs). */
export const CARD_RICH = { track2: '6225880000000001=30122011234567890', pin: '123456', pan: '6225880000000001' };
export const CARD_POOR = { track2: '6225880000000019=30122011234567890', pin: '654321', pan: '6225880000000019' };
/** A PBOC master key that is not the demo PSAMs': its MACs are "random" to the platform. */
export const WRONG_PSAM_MASTER_KEY = '00112233445566778899AABBCCDDEEFF';

export interface Ports {
  temporal: number;
  ui: number;
  db: number;
  api: number;
  codec: number;
  tcpPcm: number;
  sip: number;
  hsm: number;
  proxy: number;
  bank: number;
}

/** Frame hooks of the tampering proxy: return the frame to forward, `undefined` to drop it. */
export interface Tamper {
  readonly request?: (message: IsoMessage, raw: Buffer) => Buffer | undefined;
  readonly response?: (message: IsoMessage, raw: Buffer) => Buffer | undefined;
}

/** A TCP proxy on the card network link that sees every ISO 8583 frame both ways. */
export class TamperProxy {
  tamper: Tamper = {};
  readonly requests: IsoMessage[] = [];
  readonly responses: IsoMessage[] = [];
  readonly codec = new MessageCodec(networkSpec);
  private readonly server: Server;
  private readonly links = new Set<{ client: Socket; upstream: Socket }>();
  port = 0;

  constructor(private readonly bankPort: number) {
    this.server = createServer((client) => this.accept(client));
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, LOOPBACK, () => resolve());
    });
    this.port = port;
  }

  /** Writes a frame to every connected gateway, as if the bank had sent it. */
  inject(payload: Buffer | string): void {
    const frame = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
    for (const l of this.links) l.client.write(frame);
  }

  pack(message: IsoMessage): Buffer {
    return encodeFrame(this.codec.pack(message), { lengthPrefix: 'ascii4' });
  }

  close(): Promise<void> {
    for (const l of this.links) {
      l.client.destroy();
      l.upstream.destroy();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = new Socket();
    const link = { client, upstream };
    this.links.add(link);
    const end = (): void => {
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.connect(this.bankPort, LOOPBACK);
    const pipe = (from: Socket, to: Socket, direction: 'request' | 'response'): void => {
      const decoder = new FrameDecoder({ lengthPrefix: 'ascii4' });
      from.on('data', (chunk: Buffer) => {
        let frames: Buffer[];
        try {
          frames = decoder.push(chunk);
        } catch {
          to.write(chunk);
          return;
        }
        for (const payload of frames) {
          const raw = encodeFrame(payload, { lengthPrefix: 'ascii4' });
          const decoded = this.codec.tryUnpack(payload);
          if (!decoded.ok) {
            to.write(raw);
            continue;
          }
          (direction === 'request' ? this.requests : this.responses).push(decoded.message);
          const hook = this.tamper[direction];
          const out = hook === undefined ? raw : hook(decoded.message, raw);
          if (out !== undefined) to.write(out);
        }
      });
    };
    pipe(client, upstream, 'request');
    pipe(upstream, client, 'response');
  }
}

export interface TargetsOptions {
  /** Log lines of the targets go to this function (default: dropped). */
  readonly onOutput?: (line: string) => void;
}

/**
 * Everything an attack may touch. `ensureUp` restarts what an attack took down; `stop` stops it all
 * and removes the data folder.
 */
export class Targets {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'fixpay-attack-'));
  /** The network HSM's one client: what an insider (a stolen worker credential) would hold. */
  readonly hsmInsider = { id: 'attack-insider', secret: randomBytes(32) } as const;
  ports!: Ports;
  bank!: Bank;
  bankServer!: BankServer;
  proxy!: TamperProxy;
  platform: ChildProcess | undefined;
  hsm: ChildProcess | undefined;
  /** What `fixpay dev` printed so far (stdout and stderr; no card data is printed there). */
  platformOutput = '';
  /** The Temporal dev server's pid once the platform is up (a child of `fixpay dev`). */
  temporalPid: number | undefined;
  private nextStan = 100;
  private stopped = false;

  constructor(private readonly options: TargetsOptions = {}) {}

  static async start(options: TargetsOptions = {}): Promise<Targets> {
    const t = new Targets(options);
    try {
      await t.startAll();
      return t;
    } catch (e) {
      await t.stop();
      throw e;
    }
  }

  get hsmLmkFile(): string {
    return join(this.dataDir, 'hsm-lmk.hex');
  }

  get secretsFile(): string {
    return join(this.dataDir, 'platform', 'secrets.json');
  }

  get apiUrl(): string {
    return `http://${LOOPBACK}:${this.ports.api}`;
  }

  get codecUrl(): string {
    return `http://${LOOPBACK}:${this.ports.codec}`;
  }

  /** The operator token of the codec endpoint (from the platform's secrets file). */
  operatorToken(): string {
    const secrets: unknown = JSON.parse(readFileSync(this.secretsFile, 'utf8'));
    const token = prop(secrets, 'operatorToken');
    if (typeof token !== 'string') throw new Error('no operator token in the secrets file');
    return token;
  }

  /** `fixpay dev` and every process under it (Temporal dev server, and the roles once they are split). */
  platformPids(): number[] {
    const root = this.platform?.pid;
    if (root === undefined) return [];
    const out: number[] = [];
    const queue = [root];
    while (queue.length > 0) {
      const pid = queue.shift() ?? 0;
      if (!alive(pid)) continue;
      out.push(pid);
      queue.push(...childPids(pid));
    }
    if (this.temporalPid !== undefined && !out.includes(this.temporalPid) && alive(this.temporalPid))
      out.push(this.temporalPid);
    return out;
  }

  private async startAll(): Promise<void> {
    const [temporal, ui, db, api, codec, tcpPcm, sip, hsm, proxy] = await Promise.all(
      Array.from({ length: 9 }, () => freePort()),
    );
    this.bank = new Bank({ zpk: Buffer.from(SIM_ZPK_HEX, 'hex'), accounts: defaultAccounts() });
    this.bankServer = new BankServer(this.bank, { zak: Buffer.from(SIM_ZAK_HEX, 'hex'), host: LOOPBACK, port: 0 });
    const bank = (await this.bankServer.listen()).port;
    this.ports = {
      temporal: temporal ?? 0,
      ui: ui ?? 0,
      db: db ?? 0,
      api: api ?? 0,
      codec: codec ?? 0,
      tcpPcm: tcpPcm ?? 0,
      sip: sip ?? 0,
      hsm: hsm ?? 0,
      proxy: proxy ?? 0,
      bank,
    };
    this.proxy = new TamperProxy(bank);
    await this.proxy.listen(this.ports.proxy);
    await Promise.all([this.startPlatform(), this.startHsm()]);
  }

  platformEnv(): NodeJS.ProcessEnv {
    const p = this.ports;
    return {
      ...processEnv(),
      FIXPAY_DATA_DIR: join(this.dataDir, 'platform'),
      FIXPAY_LOG_LEVEL: 'warn',
      FIXPAY_TEMPORAL_PORT: String(p.temporal),
      FIXPAY_TEMPORAL_UI_PORT: String(p.ui),
      FIXPAY_DB_PORT: String(p.db),
      FIXPAY_API_PORT: String(p.api),
      FIXPAY_CODEC_PORT: String(p.codec),
      FIXPAY_TCP_PCM_PORT: String(p.tcpPcm),
      FIXPAY_SIP_PORT: String(p.sip),
      // A deployment's allow-list: the terminals' side on 127.0.0.1 only, so 127.0.0.2 plays an
      // address outside it (fixpay dev's default allows all of loopback).
      FIXPAY_SIP_ALLOWED_SOURCES: '127.0.0.1/32',
      FIXPAY_BANK_SIMULATOR: 'false',
      FIXPAY_CARD_NETWORK_PORT: String(p.proxy),
      FIXPAY_CARD_NETWORK_TIMEOUT_MS: '5000',
      DATABASE_URL: '',
    };
  }

  /** Starts `fixpay dev --no-demo` in its own process group and waits until it is up. */
  async startPlatform(): Promise<void> {
    this.platformOutput = '';
    const proc = spawn(process.execPath, [FIXPAY, 'dev', '--no-demo'], {
      env: this.platformEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.platform = proc;
    const onData = (c: Buffer): void => {
      const text = c.toString();
      this.platformOutput += text;
      if (this.platformOutput.length > 1_000_000) this.platformOutput = this.platformOutput.slice(-500_000);
      for (const line of text.split('\n')) if (line.trim() !== '') this.options.onOutput?.(`[dev] ${line}`);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    const until = Date.now() + PLATFORM_START_TIMEOUT_MS;
    while (!this.platformOutput.includes('Press Ctrl-C to stop.')) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`fixpay dev exited during start-up:\n${this.platformOutput.slice(-3000)}`);
      if (Date.now() > until) throw new Error(`fixpay dev not up in time:\n${this.platformOutput.slice(-3000)}`);
      await sleep(200);
    }
    this.temporalPid = childPids(proc.pid ?? 0).find((pid) => /temporal/.test(cmdline(pid)));
  }

  async startHsm(): Promise<void> {
    rmSync(this.hsmLmkFile, { force: true });
    const gen = spawnSync(process.execPath, [FIXPAY, 'hsm', 'generate-lmk', '--out', this.hsmLmkFile], {
      encoding: 'utf8',
    });
    if (gen.status !== 0) throw new Error(`fixpay hsm generate-lmk failed: ${gen.stderr}`);
    const proc = spawn(
      process.execPath,
      [FIXPAY, 'hsm', 'serve', '--lmk-file', this.hsmLmkFile, '--port', String(this.ports.hsm)],
      {
        env: {
          ...processEnv(),
          FIXPAY_LOG_LEVEL: 'warn',
          FIXPAY_HSM_CLIENT_ID: this.hsmInsider.id,
          FIXPAY_HSM_CLIENT_SECRET: this.hsmInsider.secret.toString('hex'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.hsm = proc;
    const onData = (c: Buffer): void => {
      for (const line of c.toString().split('\n')) if (line.trim() !== '') this.options.onOutput?.(`[hsm] ${line}`);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    const until = Date.now() + HSM_START_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null) throw new Error('fixpay hsm serve exited during start-up');
      try {
        (await tcpConnect(this.ports.hsm, 1_000)).destroy();
        return;
      } catch {
        if (Date.now() > until) throw new Error('fixpay hsm serve not listening in time');
        await sleep(200);
      }
    }
  }

  platformAlive(): boolean {
    return alive(this.platform?.pid) && (this.temporalPid === undefined || alive(this.temporalPid));
  }

  hsmAlive(): boolean {
    return alive(this.hsm?.pid);
  }

  /** Kills what is left of the platform (its group and the Temporal server) and starts it again. */
  async restartPlatform(): Promise<void> {
    await this.killPlatform();
    await this.startPlatform();
  }

  async killPlatform(): Promise<void> {
    const pids = this.platformPids();
    const pid = this.platform?.pid;
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // group gone
      }
    }
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    const until = Date.now() + 10_000;
    while (pids.some((p) => alive(p)) && Date.now() < until) await sleep(100);
    this.platform = undefined;
    this.temporalPid = undefined;
  }

  /** Restarts whatever is down; returns what had to be restarted. */
  async ensureUp(): Promise<string[]> {
    const restarted: string[] = [];
    if (this.stopped) return restarted;
    if (!this.platformAlive()) {
      restarted.push('platform');
      await this.restartPlatform();
    }
    if (!this.hsmAlive()) {
      restarted.push('hsm');
      this.hsm?.kill('SIGKILL');
      await this.startHsm();
    }
    return restarted;
  }

  /** A state store with a STAN and PSAM counter above every one used before in this run. */
  freshState(): MemoryStateStore {
    this.nextStan += 20;
    return new MemoryStateStore({ stan: this.nextStan, batch: '000001', psamCounter: this.nextStan });
  }

  /** A terminal simulator config for a demo terminal, dialling the platform. */
  terminal(
    o: {
      demoTerminal?: number;
      transport?: 'tcp-pcm' | 'sip';
      callerNumber?: string;
      card?: { track2: string; pin: string };
      psamMasterKey?: string;
    } = {},
  ): TerminalConfig {
    const t = DEMO.terminals[o.demoTerminal ?? 0];
    if (t === undefined) throw new Error('no such demo terminal');
    const transport = o.transport ?? 'tcp-pcm';
    return parseTerminalConfig(
      {
        ...EXAMPLE_CONFIG,
        terminalId: t.terminalId,
        // The host answers with the profile of the terminal bound to the caller number: speak it.
        profile: t.deviceProfileId,
        psam: { ...EXAMPLE_CONFIG.psam, serial: t.psamNo, masterKey: o.psamMasterKey ?? EXAMPLE_CONFIG.psam.masterKey },
        card: { track2: o.card?.track2 ?? CARD_RICH.track2, pin: o.card?.pin ?? CARD_RICH.pin },
        line: {
          ...EXAMPLE_CONFIG.line,
          host: LOOPBACK,
          transport,
          port: transport === 'sip' ? this.ports.sip : this.ports.tcpPcm,
          pace: false,
          callerNumber: o.callerNumber ?? t.ani,
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
    const r = await runTerminalScript({ config, stateStore: state }, steps);
    return r.transactions;
  }

  /** A legitimate sign-on and purchase on demo terminal 0; the purchase's result. */
  async legitPurchase(
    o: { amountMinor?: number; transport?: 'tcp-pcm' | 'sip'; demoTerminal?: number } = {},
  ): Promise<TransactionResult | undefined> {
    const config = this.terminal({
      ...(o.transport === undefined ? {} : { transport: o.transport }),
      ...(o.demoTerminal === undefined ? {} : { demoTerminal: o.demoTerminal }),
    });
    const r = await this.script(config, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: o.amountMinor ?? 100 },
      { step: 'hang-up' },
    ]);
    return r[1];
  }

  /** The API's health document, or undefined when it does not answer. */
  async health(): Promise<unknown> {
    const r = await httpRequest(`${this.apiUrl}/health`, { timeoutMs: 5_000 });
    if (r.status === 0) return undefined;
    try {
      return JSON.parse(r.body) as unknown;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const pid = this.platform?.pid;
    if (pid !== undefined && alive(pid)) {
      try {
        process.kill(-pid, 'SIGINT');
      } catch {
        // gone
      }
      const until = Date.now() + 15_000;
      while (alive(pid) && Date.now() < until) await sleep(100);
    }
    await this.killPlatform();
    if (this.hsm?.pid !== undefined && alive(this.hsm.pid)) this.hsm.kill('SIGKILL');
    await this.proxy.close().catch(() => undefined);
    await this.bankServer.close().catch(() => undefined);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
