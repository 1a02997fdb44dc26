/**
 * The real Temporal server on PostgreSQL, for deployments that outgrow the dev server: build it
 * (and its SQL schema tool) with Go into the cache folder, create and migrate its two databases,
 * render its configuration, run it. See docs/operations/cluster.md and ADR 0016.
 *
 * Nothing here is used by `fixpay dev`; the platform's roles reach this server the way they reach
 * any external Temporal (FIXPAY_TEMPORAL_EMBEDDED=false, FIXPAY_TEMPORAL_HOST/PORT).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { stringify } from 'yaml';
import { processEnv } from '../../config';
import { FixpayError } from '../../domain/errors';
import { whichSync } from './cli';
import { ensureSearchAttributes } from './search-attributes';
import { waitForTemporal, DEV_SERVER_DYNAMIC_CONFIG } from './dev-server';

/** The server release fixpay is tested against (the last one whose tools `go install` builds here). */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
export const SERVER_MODULE = 'go.temporal.io/server/cmd/server';
export const SQL_TOOL_MODULE = 'go.temporal.io/server/cmd/tools/sql';
/** The names `go install` gives the two binaries. */
export const SERVER_BINARY = 'server';
export const SQL_TOOL_BINARY = 'sql';

/** Schema names the SQL tool carries inside its binary. */
export const SCHEMAS = {
  default: 'postgresql/v12/temporal',
  visibility: 'postgresql/v12/visibility',
} as const;

export interface ServerBinaries {
  readonly server: string;
  readonly sqlTool: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where the binaries of a server version live in the cache folder. */
export function serverBinDir(cacheDir: string, version = TEMPORAL_SERVER_VERSION): string {
  return join(cacheDir, `server-v${version}`);
}

/** The cached binaries, or undefined when either is missing. */
export function findServerBinaries(cacheDir: string, version = TEMPORAL_SERVER_VERSION): ServerBinaries | undefined {
  const dir = serverBinDir(cacheDir, version);
  const found = { server: join(dir, SERVER_BINARY), sqlTool: join(dir, SQL_TOOL_BINARY) };
  return isExecutable(found.server) && isExecutable(found.sqlTool) ? found : undefined;
}

/**
 * Builds the server and the SQL tool with `go install` into the cache folder, one line of Go's
 * output at a time to `onLine` (so the caller can show progress: a cold module cache is ~2 GB).
 * Throws TEMPORAL_CLI_MISSING when Go is absent or a build fails.
 */
export async function buildServerBinaries(
  cacheDir: string,
  env: Readonly<Record<string, string | undefined>>,
  onLine: (line: string) => void = () => undefined,
  version = TEMPORAL_SERVER_VERSION,
): Promise<ServerBinaries> {
  const go =
    whichSync('go', env['PATH']) ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (go === undefined) {
    throw new FixpayError('TEMPORAL_CLI_MISSING', 'Go is not installed, so the Temporal server cannot be built here');
  }
  const gobin = serverBinDir(cacheDir, version);
  mkdirSync(gobin, { recursive: true });
  for (const module of [SERVER_MODULE, SQL_TOOL_MODULE]) {
    onLine(`go install ${module}@v${version}`);
    const { code, tail } = await runCollect(go, ['install', `${module}@v${version}`], {
      env: { ...env, GOBIN: gobin, GOFLAGS: env['GOFLAGS'] ?? '-mod=mod' },
      onLine,
    });
    if (code !== 0) {
      throw new FixpayError(
        'TEMPORAL_CLI_MISSING',
        `go install ${module} failed (exit ${code ?? 'signal'}): ${tail.slice(-5).join(' | ')}`,
      );
    }
  }
  const built = findServerBinaries(cacheDir, version);
  if (built === undefined) throw new FixpayError('TEMPORAL_CLI_MISSING', `go install left no binaries in ${gobin}`);
  return built;
}

interface RunOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly onLine?: (line: string) => void;
}

function runCollect(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<{ code: number | null; tail: string[] }> {
  return new Promise((resolve, reject) => {
    const tail: string[] = [];
    const child = spawn(command, args, {
      env: { ...(options.env ?? processEnv()) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        options.onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, tail }));
  });
}

/** Where the server keeps its state: PostgreSQL, two databases. */
export interface ServerDatabase {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Never logged; passed to the SQL tool in its environment, not on its command line. */
  readonly password?: string;
  readonly database: string;
  readonly visibilityDatabase: string;
}

/**
 * Parses `postgresql://user[:password]@host[:port]` plus the two database names. The password is
 * kept out of every message this module writes.
 */
export function serverDatabaseFromUrl(
  url: string,
  database = 'temporal',
  visibilityDatabase = 'temporal_visibility',
): ServerDatabase {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FixpayError('CONFIG_INVALID', 'the Temporal database URL is not a URL (postgresql://user@host:port)');
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new FixpayError('CONFIG_INVALID', `the Temporal database URL must be postgresql://…, not ${parsed.protocol}`);
  }
  for (const name of [database, visibilityDatabase]) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
      throw new FixpayError('CONFIG_INVALID', `database name ${JSON.stringify(name)} is not a plain lower-case name`);
    }
  }
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  return {
    host: parsed.hostname === '' ? '127.0.0.1' : parsed.hostname,
    port: parsed.port === '' ? 5432 : Number(parsed.port),
    user: parsed.username === '' ? 'postgres' : decodeURIComponent(parsed.username),
    ...(password === undefined ? {} : { password }),
    database,
    visibilityDatabase,
  };
}

/** What one run of the SQL tool did, for progress output. */
export type SetupStep = { readonly database: string; readonly step: 'create' | 'setup-schema' | 'update-schema' };

/**
 * Creates both databases when missing and brings their schemas to the version the SQL tool
 * carries. Idempotent: an existing database and an up-to-date schema are left as they are.
 * Throws TEMPORAL_UNAVAILABLE with the tool's last lines when a step fails.
 */
export async function setupServerSchemas(
  sqlTool: string,
  db: ServerDatabase,
  onStep: (step: SetupStep, line?: string) => void = () => undefined,
): Promise<void> {
  const base = ['--plugin', 'postgres12', '--ep', db.host, '-p', String(db.port), '-u', db.user];
  // The tool reads SQL_PASSWORD; keeping it out of argv keeps it out of `ps`.
  const env = { ...processEnv(), ...(db.password === undefined ? {} : { SQL_PASSWORD: db.password }) };
  const run = async (database: string, step: SetupStep['step'], args: string[], allow?: RegExp): Promise<void> => {
    onStep({ database, step });
    const { code, tail } = await runCollect(sqlTool, [...base, '--db', database, ...args], {
      env,
      onLine: (line) => onStep({ database, step }, line),
    });
    if (code === 0) return;
    if (allow !== undefined && tail.some((l) => allow.test(l))) return;
    throw new FixpayError(
      'TEMPORAL_UNAVAILABLE',
      `temporal sql tool ${step} on ${database} failed (exit ${code ?? 'signal'}): ${tail.slice(-4).join(' | ')}`,
    );
  };
  for (const [database, schema] of [
    [db.database, SCHEMAS.default],
    [db.visibilityDatabase, SCHEMAS.visibility],
  ] as const) {
    await run(database, 'create', ['create'], /already exists/);
    // Version 0.0 creates the tool's own bookkeeping tables; on a database that has them the tool
    // says so and changes nothing.
    await run(database, 'setup-schema', ['setup-schema', '-v', '0.0'], /already exists/);
    await run(database, 'update-schema', ['update-schema', '--schema-name', schema]);
  }
}

/** The ports of one server host: frontend gRPC, its HTTP API, and the three internal services. */
export interface ServerPorts {
  readonly frontend: number;
  readonly frontendHttp: number;
  readonly history: number;
  readonly matching: number;
  readonly worker: number;
  /** Membership (ringpop) port of each service is its gRPC port + this offset. */
  readonly membershipOffset: number;
  /** Prometheus scrape endpoint of the server's own metrics. */
  readonly metrics: number;
  readonly pprof: number;
}

export const DEFAULT_SERVER_PORTS: ServerPorts = {
  frontend: 7233,
  frontendHttp: 7243,
  history: 7234,
  matching: 7235,
  worker: 7239,
  membershipOffset: -300,
  metrics: 9090,
  pprof: 7936,
};

export interface ServerConfigOptions {
  readonly db: ServerDatabase;
  /** Address the services bind to and announce to each other. */
  readonly bindAddress: string;
  readonly ports: ServerPorts;
  /**
   * History shards: fixed for the life of the cluster (it cannot be changed after the first
   * start). 4 suits one host; production clusters use 512 or more.
   */
  readonly numHistoryShards: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Where the dynamic configuration file is written. */
  readonly dynamicConfigPath: string;
}

/**
 * The server's static configuration as a YAML document (the format of the server's `config/`
 * folder). It holds the database password when one is set, so writeServerConfig writes it private
 * to its owner.
 */
export function renderServerConfig(o: ServerConfigOptions): string {
  if (!Number.isInteger(o.numHistoryShards) || o.numHistoryShards < 1 || o.numHistoryShards > 16_384) {
    throw new FixpayError('CONFIG_INVALID', `history shards must be 1..16384, not ${o.numHistoryShards}`);
  }
  const sql = (databaseName: string, maxConns: number): Record<string, unknown> => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${o.db.host}:${o.db.port}`,
      connectProtocol: 'tcp',
      user: o.db.user,
      password: o.db.password ?? '',
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    rpc: {
      grpcPort,
      membershipPort: grpcPort + o.ports.membershipOffset,
      bindOnIP: o.bindAddress,
      ...extra,
    },
  });
  const doc = {
    log: { stdout: true, level: o.logLevel },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: o.numHistoryShards,
      datastores: {
        'postgres-default': sql(o.db.database, 20),
        'postgres-visibility': sql(o.db.visibilityDatabase, 4),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: o.bindAddress },
      pprof: { port: o.ports.pprof },
      metrics: {
        prometheus: {
          framework: 'tally',
          timerType: 'histogram',
          listenAddress: `${o.bindAddress}:${o.ports.metrics}`,
        },
      },
    },
    services: {
      frontend: service(o.ports.frontend, { httpPort: o.ports.frontendHttp }),
      history: service(o.ports.history),
      matching: service(o.ports.matching),
      worker: service(o.ports.worker),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: frontendAddress(o) },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: o.dynamicConfigPath, pollInterval: '10s' },
  };
  return stringify(doc);
}

/** The frontend's address as clients dial it. */
export function frontendAddress(o: Pick<ServerConfigOptions, 'bindAddress' | 'ports'>): string {
  return `${o.bindAddress}:${o.ports.frontend}`;
}

/**
 * The dynamic configuration the platform runs with, in the server's file format: the same
 * settings the embedded dev server gets (updates, multi-operation, eager activities, queue reader
 * rates — ADR 0008), so the cluster behaves as the tests do.
 */
export function renderDynamicConfig(): string {
  const doc: Record<string, { value: unknown; constraints: Record<string, never> }[]> = {};
  for (const [key, value] of DEV_SERVER_DYNAMIC_CONFIG) {
    const parsed: unknown =
      value === 'true' ? true : value === 'false' ? false : Number.isNaN(Number(value)) ? value : Number(value);
    doc[key] = [{ value: parsed, constraints: {} }];
  }
  return stringify(doc);
}

/** The environment name of the rendered file: `<root>/config/<ENV>.yaml`. */
export const SERVER_CONFIG_ENV = 'fixpay';

/**
 * Writes `<root>/config/fixpay.yaml` and `<root>/config/dynamicconfig.yaml` (owner-only: the
 * first holds the database password). Returns the root to start the server with.
 */
export function writeServerConfig(root: string, options: Omit<ServerConfigOptions, 'dynamicConfigPath'>): string {
  const configDir = join(root, 'config');
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  const dynamicConfigPath = join(configDir, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfigPath, renderDynamicConfig(), { mode: 0o600 });
  writeFileSync(join(configDir, `${SERVER_CONFIG_ENV}.yaml`), renderServerConfig({ ...options, dynamicConfigPath }), {
    mode: 0o600,
  });
  return root;
}

export interface RunningServer {
  readonly address: string;
  readonly pid: number | undefined;
  readonly metricsUrl: string;
  stop(): Promise<void>;
}

export interface StartServerOptions {
  readonly server: string;
  /** The folder writeServerConfig wrote. */
  readonly root: string;
  readonly address: string;
  readonly metricsUrl: string;
  readonly namespace: string;
  /** How long a namespace is kept after its runs close, in days. */
  readonly retentionDays?: number;
  readonly startTimeoutMs?: number;
  readonly onOutput?: (line: string) => void;
}

/**
 * Starts the server, waits for its frontend, then makes sure the platform's namespace and search
 * attributes exist (a fresh cluster has neither). Resolves once a client can start runs.
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const child: ChildProcess = spawn(
    options.server,
    ['--root', options.root, '--config', 'config', '--env', SERVER_CONFIG_ENV, '--allow-no-auth', 'start'],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const tail: string[] = [];
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() === '') continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
      options.onOutput?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (!alive()) {
        resolve();
        return;
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  try {
    await waitForTemporal(options.address, options.startTimeoutMs ?? 60_000, alive);
    await ensureNamespace(options.address, options.namespace, options.retentionDays ?? 3);
    // A namespace just registered reaches every service's namespace cache within seconds; until
    // then the operator service answers NOT_FOUND for it.
    await retryWhile(() => ensureSearchAttributes(options.address, options.namespace), /not found/i, 30_000);
  } catch (e) {
    await stop();
    const why = e instanceof Error ? e.message : String(e);
    throw new FixpayError('TEMPORAL_UNAVAILABLE', `${why}; server said: ${tail.slice(-3).join(' | ')}`);
  }
  return { address: options.address, pid: child.pid, metricsUrl: options.metricsUrl, stop };
}

async function retryWhile<T>(attempt: () => Promise<T>, transient: RegExp, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (Date.now() > deadline || !transient.test(e instanceof Error ? e.message : String(e))) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Registers the namespace when missing (a new cluster has only the system namespace). Idempotent. */
export async function ensureNamespace(address: string, namespace: string, retentionDays: number): Promise<boolean> {
  const connection = await Connection.connect({ address });
  try {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      return false;
    } catch (e) {
      if (!/not found/i.test(e instanceof Error ? e.message : String(e))) throw e;
    }
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs(`${retentionDays} days`),
      });
    } catch (e) {
      if (!/already exists/i.test(e instanceof Error ? e.message : String(e))) throw e;
    }
    // The namespace cache of the frontend refreshes every few seconds: wait until it is served.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await connection.workflowService.describeNamespace({ namespace });
        return true;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await connection.close();
  }
}

/** True when a file exists at path (for the CLI's "already built" message). */
export function binariesPresent(b: ServerBinaries | undefined): b is ServerBinaries {
  return b !== undefined && existsSync(b.server) && existsSync(b.sqlTool);
}
