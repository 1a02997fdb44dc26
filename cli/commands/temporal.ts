/**
 * `fixpay temporal`: find, build and run the Temporal CLI's dev server; `fixpay temporal server`:
 * build, set up and run the real Temporal server on PostgreSQL (docs/operations/cluster.md).
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadConfig, processEnv } from '../../config';
import {
  buildTemporalCli,
  cachedCliPath,
  ensureTemporalCli,
  findTemporalCli,
  startDevServer,
} from '../../infra/temporal';
import {
  buildServerBinaries,
  DEFAULT_SERVER_PORTS,
  findServerBinaries,
  frontendAddress,
  serverDatabaseFromUrl,
  setupServerSchemas,
  startServer,
  TEMPORAL_SERVER_VERSION,
  writeServerConfig,
  type ServerBinaries,
  type ServerConfigOptions,
} from '../../infra/temporal/server';
import { spinner } from '../progress';

export function register(program: Command): void {
  const temporal = program.command('temporal').description('the Temporal server the platform runs on');

  temporal
    .command('path')
    .description('print the Temporal CLI binary fixpay would use (setting, PATH, then cache), or exit 1')
    .action(() => {
      const config = loadConfig();
      const found = findTemporalCli(config.temporal, processEnv()['PATH']);
      if (found?.kind !== 'binary') {
        console.error(`no Temporal CLI found (looked at FIXPAY_TEMPORAL_CLI, PATH, ${cachedCliPath(config.temporal)})`);
        process.exitCode = 1;
        return;
      }
      console.log(found.path);
    });

  temporal
    .command('install')
    .description(
      `build the Temporal CLI with Go into the cache folder (about 4 minutes and 2 GB of Go modules the first time)`,
    )
    .option('--force', 'rebuild even when a binary is already found')
    .action(async (opts: { force?: boolean }) => {
      const config = loadConfig();
      const existing = opts.force === true ? undefined : findTemporalCli(config.temporal, processEnv()['PATH']);
      if (existing?.kind === 'binary') {
        console.log(`${existing.path} (${existing.source}); use --force to rebuild`);
        return;
      }
      const spin = spinner(`building Temporal CLI v${config.temporal.cliVersion} with go install`);
      const started = Date.now();
      try {
        const path = await buildTemporalCli(config.temporal, processEnv(), (line) => spin.update(line));
        spin.done(`built ${path} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      } catch (e) {
        spin.fail(e instanceof Error ? e.message : String(e));
        process.exitCode = 1;
      }
    });

  temporal
    .command('start')
    .description(
      'run the Temporal dev server (durable SQLite under the data folder, UI on the UI port) until interrupted',
    )
    .option('--memory', 'keep state in memory')
    .action(async (opts: { memory?: boolean }) => {
      const config = loadConfig();
      const cli = await ensureTemporalCli(config.temporal, processEnv());
      if (cli.kind !== 'binary') throw new Error(`no Temporal CLI: ${cli.reason}`);
      const server = await startDevServer({
        cliPath: cli.path,
        temporal: config.temporal,
        ui: true,
        ...(opts.memory === true ? {} : { dataDir: join(config.dataDir, 'temporal') }),
      });
      console.log(`Temporal ${server.address}  UI ${server.uiUrl ?? '(none)'}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.stop();
    });

  registerServer(temporal);
}

interface ServerCliOptions {
  readonly database: string;
  readonly db: string;
  readonly visibilityDb: string;
  readonly root?: string;
  readonly bind: string;
  readonly port: string;
  readonly metricsPort: string;
  readonly shards: string;
  readonly logLevel: ServerConfigOptions['logLevel'];
}

function intOption(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer ${min}..${max}`);
  return n;
}

/** The options of `setup` and `start` that say where the server's databases are. */
function databaseOptions(cmd: Command): Command {
  return cmd
    .option(
      '--database <url>',
      'the PostgreSQL server for Temporal (postgresql://user[:password]@host:port; env TEMPORAL_DATABASE_URL)',
      processEnv()['TEMPORAL_DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432',
    )
    .option('--db <name>', "the server's database", 'temporal')
    .option('--visibility-db <name>', "the server's visibility database", 'temporal_visibility');
}

function serverConfigFrom(opts: ServerCliOptions): Omit<ServerConfigOptions, 'dynamicConfigPath'> {
  const frontend = intOption('port', opts.port, 1024, 65_000);
  return {
    db: serverDatabaseFromUrl(opts.database, opts.db, opts.visibilityDb),
    bindAddress: opts.bind,
    ports: {
      ...DEFAULT_SERVER_PORTS,
      frontend,
      frontendHttp: frontend + 10,
      history: frontend + 1,
      matching: frontend + 2,
      worker: frontend + 6,
      metrics: intOption('metrics-port', opts.metricsPort, 1024, 65_535),
      pprof: frontend + 703,
    },
    numHistoryShards: intOption('shards', opts.shards, 1, 16_384),
    logLevel: opts.logLevel,
  };
}

async function binariesOrBuild(cacheDir: string): Promise<ServerBinaries> {
  const found = findServerBinaries(cacheDir);
  if (found !== undefined) return found;
  const spin = spinner(`building Temporal server v${TEMPORAL_SERVER_VERSION} and its SQL tool with go install`);
  const started = Date.now();
  try {
    const built = await buildServerBinaries(cacheDir, processEnv(), (line) => spin.update(line));
    spin.done(`built ${built.server} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return built;
  } catch (e) {
    spin.fail(e instanceof Error ? e.message : String(e));
    throw e;
  }
}

function registerServer(temporal: Command): void {
  const server = temporal
    .command('server')
    .description(`the real Temporal server v${TEMPORAL_SERVER_VERSION} on PostgreSQL (production and cluster tests)`);

  server
    .command('install')
    .description('build the server and its SQL tool with Go into the cache folder (a few minutes the first time)')
    .action(async () => {
      const config = loadConfig();
      const found = findServerBinaries(config.temporal.cacheDir);
      if (found !== undefined) {
        console.log(`${found.server}\n${found.sqlTool}`);
        return;
      }
      await binariesOrBuild(config.temporal.cacheDir).catch(() => {
        process.exitCode = 1;
      });
    });

  databaseOptions(
    server
      .command('setup')
      .description("create the server's two databases on PostgreSQL and migrate their schemas (idempotent)"),
  ).action(async (opts: Pick<ServerCliOptions, 'database' | 'db' | 'visibilityDb'>) => {
    const config = loadConfig();
    const bins = await binariesOrBuild(config.temporal.cacheDir);
    const db = serverDatabaseFromUrl(opts.database, opts.db, opts.visibilityDb);
    const spin = spinner(`setting up ${db.database} and ${db.visibilityDatabase} on ${db.host}:${db.port}`);
    try {
      await setupServerSchemas(bins.sqlTool, db, (step, line) =>
        spin.update(`${step.database}: ${step.step}${line === undefined ? '' : ` ${line}`}`),
      );
      spin.done(`${db.database} and ${db.visibilityDatabase} are at the schema of server v${TEMPORAL_SERVER_VERSION}`);
    } catch (e) {
      spin.fail(e instanceof Error ? e.message : String(e));
      process.exitCode = 1;
    }
  });

  databaseOptions(
    server
      .command('start')
      .description(
        'render the config under --root, set up the databases, start the server, register the namespace and search attributes; runs until interrupted',
      ),
  )
    .option('--root <dir>', 'folder for the rendered config (default: <data folder>/temporal-server)')
    .option('--bind <ip>', 'address the services bind to and announce', '127.0.0.1')
    .option('--port <n>', 'frontend gRPC port (history +1, matching +2, worker +6, HTTP +10)', '7233')
    .option('--metrics-port <n>', "the server's Prometheus endpoint", '9090')
    .option('--shards <n>', 'history shards (fixed for the life of the cluster)', '4')
    .option('--log-level <level>', 'debug | info | warn | error', 'warn')
    .option('--no-setup', 'do not create or migrate the databases first')
    .action(async (opts: ServerCliOptions & { setup: boolean }) => {
      const config = loadConfig();
      const bins = await binariesOrBuild(config.temporal.cacheDir);
      const serverConfig = serverConfigFrom(opts);
      if (opts.setup) {
        const spin = spinner('database schemas');
        await setupServerSchemas(bins.sqlTool, serverConfig.db, (step) =>
          spin.update(`${step.database}: ${step.step}`),
        );
        spin.done('database schemas up to date');
      }
      const root = writeServerConfig(opts.root ?? join(config.dataDir, 'temporal-server'), serverConfig);
      const spin = spinner(`starting Temporal server at ${frontendAddress(serverConfig)}`);
      const running = await startServer({
        server: bins.server,
        root,
        address: frontendAddress(serverConfig),
        metricsUrl: `http://${serverConfig.bindAddress}:${serverConfig.ports.metrics}/metrics`,
        namespace: config.temporal.namespace,
        onOutput: (line) => spin.update(line.slice(0, 120)),
      }).catch((e: unknown) => {
        spin.fail(e instanceof Error ? e.message : String(e));
        throw e;
      });
      spin.done(
        `Temporal server ${running.address} (namespace ${config.temporal.namespace}, metrics ${running.metricsUrl}); ` +
          `run the platform against it with FIXPAY_TEMPORAL_EMBEDDED=false FIXPAY_TEMPORAL_HOST=${serverConfig.bindAddress} FIXPAY_TEMPORAL_PORT=${serverConfig.ports.frontend}`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await running.stop();
    });
}
