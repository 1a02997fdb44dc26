/**
 * `fixpay dev`: the roles of `fixpay worker`, `fixpay access-node` and `fixpay api` (cli/roles.ts,
 * the same start functions) in one process tree on embedded defaults, around the Temporal dev
 * server, the database and the demo room (demo/world.ts: demo data, demo keys, bank simulator).
 */
import { join } from 'node:path';
import type { Config } from '../config';
import { processEnv } from '../config';
import { FixpayError } from '../domain/errors';
import { openDatabase, type Database } from '../infra/database';
import type { Logger } from '../infra/logging';
import {
  temporalTls,
  ensureSearchAttributes,
  ensureTemporalCli,
  installTemporalRuntime,
  startDevServer,
  waitForTemporal,
  type DevServer,
} from '../infra/temporal';
import type { AnsweredRequest } from '../channel-engine/access/handler';
import type { PrismaClient } from '../generated/prisma/client';
import { prepareDemoPartner } from '../demo/partner';
import { prepareDemoWorld } from '../demo/world';
import { seedDemo } from '../demo/seed';
import { Client, Connection } from '@temporalio/client';
import { temporalLifecycleRunner } from '../api/operator';
import { lifecycleWorkflowId } from '../activities/terminal-lifecycle';
import { CoreRepository } from '../core/repository';
import { PrismaLedgerStore } from '../ledger/store';
import { spinner } from './progress';
import { createDataConverter } from '../codec/data-converter';
import { startCodecProxy } from '../codec/codec-proxy';
import { DeferredPlanSource } from '../codec/plan-reference';
import { PrismaDefinitionStore } from '../services/registry/prisma-store';
import { Registry } from '../services/registry/registry';
import { codecKeysFromText } from '../codec/payload-codec';
import { loadSecrets } from '../infra/secrets';
import { ControlSlot, serveProcessMetrics } from '../infra/metrics';
import { installTracing } from '../infra/tracing';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ensurePrivateDir, usePrivateUmask } from '../infra/files';
import { startAccessNodeRole, startApiRole, startWorkerRole } from './roles';
import type { RoleContext } from './roles';

export interface Platform {
  readonly temporalAddress: string;
  readonly temporalUiUrl: string | undefined;
  readonly databaseUrl: string;
  readonly databaseEmbedded: boolean;
  readonly apiUrl: string;
  /** Prometheus endpoint of this process; undefined when off or its port was taken. */
  readonly metricsUrl: string | undefined;
  /** The Temporal SDK's own Prometheus endpoint; undefined when off or its port was taken. */
  readonly sdkMetricsUrl: string | undefined;
  /** A sandbox key of the demo partner, fresh at every start (print it; keys are stored hashed). */
  readonly demoPartnerKey: string;
  /** The payload codec endpoint (operator token required). */
  readonly codecUrl: string;
  /**
   * The loopback codec proxy the dev server's UI is configured with (`--ui-codec-endpoint`): it
   * adds the operator token and forwards to `codecUrl`, so the UI shows runs decoded (card data
   * masked) with no step by hand. Undefined with an external Temporal server.
   */
  readonly uiCodecProxyUrl: string | undefined;
  readonly secretsFile: string;
  /** Access node lines the terminal simulator dials (`fixpay sim terminal`). */
  readonly tcpPcmPort: number;
  readonly sipPort: number;
  /** The bank simulator's ISO 8583 port, when fixpay dev runs it. */
  readonly bankPort: number | undefined;
  /** The platform's database (the demo reads PSAM counters and ledger totals). */
  readonly prisma: PrismaClient;
  /** Listens to every answer the access node hands to a line; returns the unsubscribe. */
  onAnswered(listener: (answered: AnsweredRequest) => void): () => void;
  stop(): Promise<void>;
}

/** Starts everything; on any failure stops what already started and rethrows. */
export interface PlatformOptions {
  /** Spans go here instead of the configured exporter (tests: the in-memory exporter). */
  readonly spanExporter?: SpanExporter;
}

/** The origins the dev server's UI is opened under: its host and the loopback names. */
export function devUiOrigins(host: string, uiPort: number): string[] {
  const names = new Set(['127.0.0.1', 'localhost', host === '0.0.0.0' ? '127.0.0.1' : host]);
  return [...names].map((name) => `http://${name}:${uiPort}`);
}

export async function startPlatform(config: Config, log: Logger, options: PlatformOptions = {}): Promise<Platform> {
  const sdkMetrics = installTemporalRuntime(log, {
    sdkMetrics: { settings: config.metrics, labels: { process: 'dev', node: config.access.nodeId } },
  });
  // The data folder and what fixpay and its children write there are the user's alone.
  usePrivateUmask();
  ensurePrivateDir(config.dataDir);
  const secrets = loadSecrets(config.security, { generate: true });
  // Plans travel by reference (ADR 0013), read from the registry once the database is open.
  const plans = new DeferredPlanSource();
  const dataConverter = createDataConverter(codecKeysFromText(secrets.codecKeys), plans);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      await stop().catch((e: unknown) => log.error({ err: e }, 'stop failed'));
    }
    stops.length = 0;
  };
  try {
    let temporal: DevServer | undefined;
    const t = config.temporal;
    // The codec endpoint (the API role) starts after the dev server, whose UI must be told its
    // codec at start: the loopback proxy listens first and forwards once the endpoint is up.
    const codecEndpoint: { url?: string } = {};
    let uiCodecProxyUrl: string | undefined;
    // mTLS to a production frontend (docs/security.md); none for the dev server.
    const tls = temporalTls(t);
    const temporalReady = (async () => {
      if (!t.embedded) {
        await waitForTemporal(`${t.host}:${t.port}`, t.startTimeoutMs, undefined, tls);
        const added = await ensureSearchAttributes(`${t.host}:${t.port}`, t.namespace, tls);
        if (added.length > 0) log.info({ added }, 'search attributes registered');
        return;
      }
      let spin: ReturnType<typeof spinner> | undefined;
      const cli = await ensureTemporalCli(t, processEnv(), (line) => {
        spin ??= spinner('building the Temporal CLI (first run only)');
        spin.update(line);
      });
      spin?.done('Temporal CLI built');
      if (cli.kind !== 'binary') throw new FixpayError('TEMPORAL_CLI_MISSING', cli.reason);
      const proxy = await startCodecProxy({
        upstream: () => codecEndpoint.url,
        operatorToken: secrets.operatorToken,
        uiOrigins: devUiOrigins(t.host, t.uiPort),
        port: 0,
      });
      stops.push(() => proxy.close());
      uiCodecProxyUrl = proxy.url;
      temporal = await startDevServer({
        cliPath: cli.path,
        temporal: t,
        ui: true,
        uiCodecEndpoint: proxy.url,
        dataDir: join(config.dataDir, 'temporal'),
        log,
      });
      const server = temporal;
      stops.push(() => server.stop());
    })();
    const databaseReady = openDatabase(config, {
      ...(secrets.databasePassword === undefined ? {} : { password: secrets.databasePassword }),
      onMigration: (name) => log.info({ migration: name }, 'migration applied'),
      onMaintenanceError: (e) => log.warn({ err: e }, 'embedded database VACUUM failed; retried at the next interval'),
    });
    const [temporalResult, databaseResult] = await Promise.allSettled([temporalReady, databaseReady]);
    if (databaseResult.status === 'fulfilled') {
      const db: Database = databaseResult.value;
      stops.push(() => db.close());
    }
    if (temporalResult.status === 'rejected') throw temporalResult.reason;
    if (databaseResult.status === 'rejected') throw databaseResult.reason;
    const db = databaseResult.value;
    plans.bind(new Registry(new PrismaDefinitionStore(db.prisma)));

    // One registry for the process: every role it runs adds its metrics (infra/metrics.ts).
    const control = new ControlSlot();
    const metrics = await serveProcessMetrics(
      config.metrics,
      { process: 'dev', node: config.access.nodeId },
      (why) => log.warn({ why }, 'metrics endpoint not served'),
      { token: secrets.operatorToken, slot: control },
    );
    stops.push(() => metrics.close());
    const tracing = installTracing(
      config.tracing,
      { process: 'dev', node: config.access.nodeId },
      options.spanExporter,
    );
    if (tracing !== undefined) stops.push(() => tracing.shutdown());
    const context: RoleContext = {
      config,
      log,
      prisma: db.prisma,
      secrets,
      dataConverter,
      temporalAddress: `${t.host}:${t.port}`,
      metrics: metrics.registry,
      control,
      ...(tracing === undefined ? {} : { tracing }),
    };
    // The demo room's keys, simulators and providers first (the worker reads its key directory),
    // then the worker, then the demo customers and terminals through lifecycle runs on it.
    const world = await prepareDemoWorld({ config, prisma: db.prisma, lmkHex: secrets.lmk, log, seed: false });
    stops.push(() => world.stop());
    const worker = await startWorkerRole(context, {
      providersDir: world.providersDir,
      // The demo partner's bills are sandbox bills: the demo phones pay them (ADR 0027).
      partnerBillMode: 'test',
      ...(world.bankPort === undefined ? {} : { cardNetworkPort: world.bankPort }),
    });
    stops.push(() => worker.stop());
    const seedConnection = await Connection.connect({ address: context.temporalAddress });
    stops.push(() => seedConnection.close());
    const runLifecycle = temporalLifecycleRunner(
      new Client({ connection: seedConnection, namespace: config.temporal.namespace, dataConverter }),
      config.temporal.taskQueue,
    );
    await seedDemo({
      core: new CoreRepository(db.prisma),
      ledger: new PrismaLedgerStore(db.prisma),
      // A restart attaches to the seed's earlier runs; steps already done are not asked again.
      run: (command, actor) => runLifecycle(lifecycleWorkflowId(command, 'demo-seed'), command, actor),
    });
    const answerListeners = new Set<(answered: AnsweredRequest) => void>();
    const access = await startAccessNodeRole(context, {
      onAnswered: (answered) => answerListeners.forEach((l) => l(answered)),
      // One process: the access node starts runs eagerly on the central worker (ADR 0013).
      centralConnection: worker.central.connection,
    });
    stops.push(() => access.stop());
    const api = await startApiRole(context);
    stops.push(() => api.stop());
    codecEndpoint.url = api.codecUrl;
    const demoPartner = await prepareDemoPartner(api.partners, db.prisma);
    return {
      temporalAddress: `${t.host}:${t.port}`,
      temporalUiUrl: temporal?.uiUrl,
      databaseUrl: db.displayUrl,
      databaseEmbedded: db.embedded,
      apiUrl: api.apiUrl,
      metricsUrl: metrics.url,
      sdkMetricsUrl: sdkMetrics.url,
      demoPartnerKey: demoPartner.sandboxKey,
      codecUrl: api.codecUrl,
      uiCodecProxyUrl,
      secretsFile: config.security.secretsFile,
      tcpPcmPort: access.tcpPcmPort,
      sipPort: access.sipPort,
      bankPort: world.bankPort,
      prisma: db.prisma,
      onAnswered(listener) {
        answerListeners.add(listener);
        return () => answerListeners.delete(listener);
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
