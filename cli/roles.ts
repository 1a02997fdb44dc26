/**
 * The platform's roles as start functions, each on a RoleContext (configuration, database,
 * secrets, payload encryption, Temporal address): `fixpay worker`, `fixpay access-node` and
 * `fixpay api` each run one in its own process (cli/role-process.ts); `fixpay dev` (cli/platform.ts)
 * runs all three in one process on the same functions — there is no second code path.
 */
import { readOperatorsFile, temporalLifecycleRunner } from '../api/operator';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { createApp } from '../api/app';
import { temporalDeliveryStarter } from '../api/webhook-runs';
import { IdempotencyStore } from '../partners/idempotency';
import { RateLimiter } from '../partners/rate-limit';
import { PartnerService } from '../partners/service';
import { WebhookEgressPolicy } from '../partners/webhook-egress';
import { webhookMasterKey } from '../partners/webhook-signing';
import { CatalogueStore, catalogueSecretKey } from '../gateways/providers/catalogue-store';
import { ProviderDirectory } from '../gateways/providers/profile';
import { PROVIDERS_DIR } from '../worker/platform-activities';
import { defaultCatalogue } from '../services/catalogue/entries';
import { ledgerPostingLookup } from '../api/statements';
import { StatementService } from '../partners/statements';
import { WEBHOOK_RETRY_DELAYS_MS } from '../workflows/webhook-delivery';
import { startAccessNode } from '../channel-engine/access/node';
import type { AccessNode } from '../channel-engine/access/node';
import { CoreRepository } from '../core/repository';
import { PrismaPushStore, pushStoreAsPending } from '../core/push-store';
import type { AnsweredRequest } from '../channel-engine/access/handler';
import { operatorActionPerformer } from './ops/actions';
import { startCodecServer } from '../codec/codec-server';
import { AesGcmPayloadCodec, codecKeysFromText } from '../codec/payload-codec';
import type { Config } from '../config';
import { FixpayError } from '../domain/errors';
import type { PrismaClient } from '../infra/database';
import type { Logger } from '../infra/logging';
import type { Secrets } from '../infra/secrets';
import { PrismaDefinitionStore } from '../services/registry/prisma-store';
import { Registry } from '../services/registry/registry';
import { startCentral } from '../worker/central';
import { scheduleCampaignsAtStart } from '../worker/push-schedules';
import type { Central } from '../worker/central';
import { keyDirectoryPath, readKeyDirectory } from '../worker/key-directory';
import { createTemporalHealthCheck, temporalTls } from '../infra/temporal';
import type { TLSConfig } from '../infra/temporal';
import type { ControlSlot, Registry as MetricsRegistry } from '../infra/metrics';
import type { Tracing } from '../infra/tracing';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { registerAccessNodeMetrics } from '../channel-engine/access/metrics';
import { registerWorkerMetrics } from '../worker/metrics';

export interface RoleContext {
  readonly config: Config;
  readonly log: Logger;
  readonly prisma: PrismaClient;
  readonly secrets: Secrets;
  readonly dataConverter: DataConverter;
  /** host:port of the Temporal frontend. */
  readonly temporalAddress: string;
  /** The process's Prometheus registry; each role adds its metrics to it (infra/metrics.ts). */
  readonly metrics?: MetricsRegistry;
  /** Where the access node attaches its operator control (drain/undrain/state beside /metrics). */
  readonly control?: ControlSlot;
  /** The process's OpenTelemetry tracing, when an exporter is configured (infra/tracing.ts). */
  readonly tracing?: Tracing;
}

/** Connection options for the Temporal frontend: its address, with mTLS when configured. */
function temporalConnectOptions(ctx: RoleContext): { address: string; tls?: TLSConfig } {
  const tls = temporalTls(ctx.config.temporal);
  return tls === undefined ? { address: ctx.temporalAddress } : { address: ctx.temporalAddress, tls };
}

export interface RunningRole {
  /** The readiness line printed once the role serves. */
  readonly ready: string;
  /** Drains (work in progress finishes), then stops. */
  stop(): Promise<void>;
}

/** `fixpay worker`: the central worker on the services task queue. */
export async function startWorkerRole(
  ctx: RoleContext,
  options: { cardNetworkPort?: number; providersDir?: string; partnerBillMode?: 'live' | 'test' } = {},
): Promise<RunningRole & { central: Central }> {
  // Partner bills paid at a phone queue their confirmation as a delivery run (ADR 0027); the
  // client connects on the first one.
  let client: Promise<Client> | undefined;
  const connectClient = (): Promise<Client> => {
    client ??= Connection.connect(temporalConnectOptions(ctx)).then(
      (connection) =>
        new Client({ connection, namespace: ctx.config.temporal.namespace, dataConverter: ctx.dataConverter }),
      (e: unknown) => {
        client = undefined;
        throw e;
      },
    );
    return client;
  };
  const startDelivery = async (deliveryId: string): Promise<void> =>
    temporalDeliveryStarter(await connectClient(), {
      taskQueue: ctx.config.temporal.taskQueue,
      retryDelaysMs: WEBHOOK_RETRY_DELAYS_MS,
    })(deliveryId);
  const central = await startCentral({
    startDelivery,
    // Operator actions as runs (ADR 0033): the worker holds the operator token for the nodes' control routes.
    performOperatorAction: operatorActionPerformer({ prisma: ctx.prisma, operatorToken: ctx.secrets.operatorToken }),
    ...(options.partnerBillMode === undefined ? {} : { partnerBillMode: options.partnerBillMode }),
    config: ctx.config,
    log: ctx.log.child({ role: 'worker' }),
    prisma: ctx.prisma,
    dataConverter: ctx.dataConverter,
    lmkHex: ctx.secrets.lmk,
    keys: readKeyDirectory(keyDirectoryPath(ctx.config)),
    ...(ctx.metrics === undefined ? {} : { metrics: registerWorkerMetrics(ctx.metrics, ctx.prisma) }),
    ...(ctx.tracing === undefined ? {} : { tracing: ctx.tracing }),
    ...(options.cardNetworkPort === undefined ? {} : { cardNetworkPort: options.cardNetworkPort }),
    ...(options.providersDir === undefined ? {} : { providersDir: options.providersDir }),
  });
  // Push campaigns (ADR 0021): their schedules follow the campaign files at every start.
  if (ctx.config.temporal.campaignSchedules) {
    const log = ctx.log.child({ role: 'worker' });
    await connectClient().then(
      (c) => scheduleCampaignsAtStart(c, ctx.config, log),
      (e: unknown) => log.error({ err: e instanceof Error ? e.name : 'error' }, 'campaign schedules not updated'),
    );
  }
  return {
    central,
    ready: `fixpay worker ready: task queue ${central.taskQueue}, live ${central.deployed.join(' ') || '(none)'}${
      ctx.config.temporal.workerBuildId === undefined
        ? ''
        : `, build ${ctx.config.temporal.workerDeployment}:${ctx.config.temporal.workerBuildId}`
    }`,
    stop: async () => {
      await central.stop();
      const open = await client?.catch(() => undefined);
      await open?.connection.close();
    },
  };
}

/**
 * The identity of an access node's Temporal client: a run's first workflow task shows it when the
 * node started the run eagerly (ADR 0013), a worker's identity otherwise.
 */
export function accessClientIdentity(nodeId: string): string {
  return `access-node:${nodeId}:${process.pid}@${hostname()}`;
}

/** `fixpay access-node`: the channel engine, its lines worker and the access handler. */
export async function startAccessNodeRole(
  ctx: RoleContext,
  options: {
    onAnswered?: (answered: AnsweredRequest) => void;
    /**
     * The connection of a central worker running in this process (`fixpay dev`): with
     * `temporal.eagerStart` and no worker build id, the handler's client is built on it and starts
     * the verification and the run eagerly on that worker (docs/adr/0013-purchase-cost.md). The
     * worker owns and closes it. Eager starts are not versioned, hence not with a build id (ADR 0022).
     */
    centralConnection?: NativeConnection;
  } = {},
): Promise<RunningRole & { tcpPcmPort: number; sipPort: number }> {
  const { config } = ctx;
  const shared =
    config.temporal.eagerStart && config.temporal.workerBuildId === undefined ? options.centralConnection : undefined;
  const clientConnection = shared ?? (await Connection.connect(temporalConnectOptions(ctx)));
  let linesConnection: NativeConnection | undefined;
  try {
    linesConnection = await NativeConnection.connect(temporalConnectOptions(ctx));
    const core = new CoreRepository(ctx.prisma);
    // The node's metrics read the engine at scrape time; the engine exists once the node started.
    const started: { node?: AccessNode } = {};
    const nodeMetrics =
      ctx.metrics === undefined ? undefined : registerAccessNodeMetrics(ctx.metrics, () => started.node?.metrics());
    const onAnswered = options.onAnswered;
    const node = await startAccessNode({
      config,
      log: ctx.log.child({ role: 'access-node', component: 'channel-engine' }),
      registry: new Registry(new PrismaDefinitionStore(ctx.prisma)),
      client: new Client({
        connection: clientConnection,
        identity: accessClientIdentity(config.access.nodeId),
        namespace: config.temporal.namespace,
        dataConverter: ctx.dataConverter,
        // The request's span travels in the start's headers: the run joins the line's trace.
        ...(ctx.tracing === undefined
          ? {}
          : {
              interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: ctx.tracing.tracer })] },
            }),
      }),
      ...(ctx.tracing === undefined ? {} : { tracer: ctx.tracing.tracer }),
      connection: linesConnection,
      dataConverter: ctx.dataConverter,
      centralTaskQueue: config.temporal.taskQueue,
      eagerStart: shared !== undefined,
      // Each call's device profile: the terminal bound to the caller number (one cached read).
      boundProfile: (ani) => core.boundDeviceProfile(ani),
      // Pushes waiting for a terminal, delivered after its calls (docs/protocols/push.md).
      pendingPushes: pushStoreAsPending(new PrismaPushStore(ctx.prisma)),
      ...(nodeMetrics === undefined && onAnswered === undefined
        ? {}
        : {
            onAnswered: (answered: AnsweredRequest) => {
              nodeMetrics?.answered(answered);
              onAnswered?.(answered);
            },
          }),
    });
    started.node = node;
    ctx.control?.attach({ drain: () => node.drain(), undrain: () => node.undrain(), state: () => node.state() });
    const lines = linesConnection;
    const a = config.access;
    return {
      tcpPcmPort: node.tcpPcmPort,
      sipPort: node.sipPort,
      ready: `fixpay access-node ready: node ${a.nodeId}, TCP PCM ${a.host}:${node.tcpPcmPort}, SIP ${a.host}:${node.sipPort}`,
      stop: async () => {
        await node.stop();
        await lines.close();
        if (shared === undefined) await clientConnection.close();
      },
    };
  } catch (e) {
    await linesConnection?.close();
    if (shared === undefined) await clientConnection.close();
    throw e;
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'EADDRINUSE' ? new FixpayError('PORT_IN_USE', `${host}:${port} (set FIXPAY_API_PORT)`) : e),
    );
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/** `fixpay api`: the partner/operator API and the payload codec endpoint for the Temporal UI. */
export async function startApiRole(
  ctx: RoleContext,
): Promise<RunningRole & { apiUrl: string; codecUrl: string; partners: PartnerService }> {
  const { config } = ctx;
  const t = config.temporal;
  const codecServer = await startCodecServer({
    codec: new AesGcmPayloadCodec(codecKeysFromText(ctx.secrets.codecKeys)),
    operatorToken: ctx.secrets.operatorToken,
    host: t.host,
    port: config.security.codecPort,
    corsOrigins: [`http://${t.host}:${t.uiPort}`, `http://localhost:${t.uiPort}`],
  });
  // One kept connection for the health check, not one per call.
  const temporalHealth = createTemporalHealthCheck(temporalConnectOptions(ctx));
  // Webhook deliveries run on the central task queue; the client connects on the first one.
  let client: Promise<Client> | undefined;
  const connectClient = (): Promise<Client> => {
    client ??= Connection.connect(temporalConnectOptions(ctx)).then(
      (connection) =>
        new Client({ connection, namespace: config.temporal.namespace, dataConverter: ctx.dataConverter }),
      (e: unknown) => {
        client = undefined;
        throw e;
      },
    );
    return client;
  };
  const startRun = (c: Client) =>
    temporalDeliveryStarter(c, { taskQueue: config.temporal.taskQueue, retryDelaysMs: WEBHOOK_RETRY_DELAYS_MS });
  const partners = new PartnerService({
    prisma: ctx.prisma,
    webhookMasterKey: webhookMasterKey(ctx.secrets.lmk),
    startDelivery: async (deliveryId) => startRun(await connectClient())(deliveryId),
    egress: new WebhookEgressPolicy(config.api.webhookAllowedNetworks),
  });
  // The operator API (ADR 0020) when an operators file is configured.
  const operators =
    config.security.operatorsFile === undefined ? undefined : readOperatorsFile(config.security.operatorsFile);
  // Catalogue management by API (ADR 0029): validated like the provider files, ids and terminal
  // codes checked against the shipped directory, partner endpoints held to the webhook egress rule.
  const egress = new WebhookEgressPolicy(config.api.webhookAllowedNetworks);
  const files = new ProviderDirectory(PROVIDERS_DIR);
  const catalogue = new CatalogueStore({
    prisma: ctx.prisma,
    sealKey: catalogueSecretKey(ctx.secrets.lmk),
    files: () => files.current(),
    checkEndpointHost: (host) => egress.checkHost(host),
  });
  const idempotency = new IdempotencyStore(ctx.prisma);
  const app = createApp({
    partners: {
      service: partners,
      idempotency,
      rateLimiter: new RateLimiter(),
      catalogue,
      statements: new StatementService(ctx.prisma, ledgerPostingLookup(ctx.prisma)),
    },
    ...(operators === undefined
      ? {}
      : {
          operator: {
            operators,
            core: new CoreRepository(ctx.prisma),
            prisma: ctx.prisma,
            catalogue,
            idempotency,
            // Definitions by API (ADR 0029): the same registry, compiler and test runner as the CLI.
            definitions: {
              registry: new Registry(new PrismaDefinitionStore(ctx.prisma)),
              catalogue: defaultCatalogue(),
              servedTaskQueues: [config.temporal.taskQueue],
            },
            runLifecycle: async (workflowId, command, actor) =>
              temporalLifecycleRunner(await connectClient(), config.temporal.taskQueue)(workflowId, command, actor),
          },
        }),
    log: ctx.log,
    version: '0.1.0',
    checks: [
      {
        name: 'database',
        check: async () => (await ctx.prisma.$queryRaw<{ ok: number }[]>`SELECT 1 AS ok`).length === 1,
      },
      temporalHealth,
    ],
  });
  const server = createServer(app);
  let apiPort: number;
  try {
    apiPort = await listen(server, config.api.host, config.api.port);
  } catch (e) {
    await codecServer.close();
    await temporalHealth.close();
    throw e;
  }
  const apiUrl = `http://${config.api.host}:${apiPort}`;
  const codecUrl = `http://${t.host}:${codecServer.port}`;
  // Deliveries committed but not started (a crash in between) get their run now.
  partners
    .resumePendingDeliveries()
    .catch((e: unknown) => ctx.log.error({ err: e }, 'resuming webhook deliveries failed'));
  return {
    apiUrl,
    codecUrl,
    partners,
    ready: `fixpay api ready: ${apiUrl} (health ${apiUrl}/health, partner API docs ${apiUrl}/docs, developer page ${apiUrl}/developers), codec ${codecUrl}`,
    stop: async () => {
      // In-flight requests finish; idle keep-alive connections are closed at once.
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await codecServer.close();
      await temporalHealth.close();
      if (client !== undefined) await (await client.catch(() => undefined))?.connection.close();
    },
  };
}
