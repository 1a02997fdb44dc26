/**
 * The central role (`fixpay worker`): on the `services` task queue, the interpreter and the
 * request verification workflows, and every activity with its real dependencies — the HSM (software,
 * keys from the key directory), the card network gateway (durable reversal queue), the ledger and
 * the business core. At start it deploys the runnable definitions and makes them live. Imports no
 * simulator and no demo data: the demo room (demo/) prepares the world before this starts.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { DataConverter } from '@temporalio/common';
import { PrismaPsamCounterStore } from '../activities/psam-counter-store';
import type { Config } from '../config';
import { CoreRepository } from '../core/repository';
import type { KeyHandle } from '../hsm/port';
import { FixpayError, isFixpayError } from '../domain/errors';
import { CardNetworkGateway, hsmMessageAuthenticator, NetworkMac, TcpChannel } from '../gateways/card-network';
import { PrismaReversalQueue, PrismaRequestJournal } from '../gateways/card-network/prisma-store';
import { MessageCodec, networkSpec } from '../gateways/iso8583';
import { PrismaTerminalKeyStore } from '../hsm/prisma-terminal-key-store';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { TerminalKeyManager } from '../hsm/terminal-keys';
import type { PrismaClient } from '../infra/database';
import type { DeliveryStarter } from '../partners/service';
import type { Logger } from '../infra/logging';
import { PrismaLedgerStore } from '../ledger/store';
import { defaultCatalogue } from '../services/catalogue/entries';
import { compileFiles, definitionFiles } from '../services/compiler/load';
import { PrismaDefinitionStore } from '../services/registry/prisma-store';
import { Registry } from '../services/registry/registry';
import { LINE_ACTIVITY_NAMES } from '../channel-engine/access/handler';
import { timeoutFigures } from '../channel-engine/access/timeouts';
import { assertTimeoutOrder } from '../domain/timeouts';
import { PrismaTerminalVerdictStore } from '../activities/terminal-verdict-store';
import { REVERSAL_EXPIRE_AFTER_MS_DEFAULT } from '../gateways/card-network/reversal-forwarder';
import { activitiesOf } from '../services/catalogue/plan-activities';
import type { Plan } from '../services/runtime/plan';
import type { KeyDirectory } from './key-directory';
import { startWorker } from './main';
import type { NativeConnection } from '@temporalio/worker';
import type { WorkerMetrics } from './metrics';
import type { Tracing } from '../infra/tracing';
import { createOperatorActionActivities } from '../activities/operator-actions';
import type { OperatorActionDeps } from '../activities/operator-actions';
import { createPlatformActivities, PROVIDERS_DIR } from './platform-activities';
import { ProviderDirectory } from '../gateways/providers/profile';
import { CatalogueMirror, catalogueSecretKey } from '../gateways/providers/catalogue-store';
import { FileProviderJournal } from '../gateways/providers/journal';
import { voucherKeyFromLmk } from '../gateways/providers/voucher';
import { PrismaCardStore } from '../cards/prisma-store';
import { cardIndexKeyFromLmk } from '../cards/store';
import { createPlanAdmissionActivities } from '../services/registry/admission';
import { createWebhookActivities } from '../activities/webhooks';
import { WebhookEgressPolicy } from '../partners/webhook-egress';
import { createPushCentralActivities } from '../activities/push';
import { PrismaPushStore } from '../core/push-store';
import { loadProfiles } from '../channel-engine/profiles';
import { WebhookSender } from '../partners/webhook-sender';
import { webhookMasterKey } from '../partners/webhook-signing';

/** The definitions folder shipped with the package. */
export const DEFINITIONS_DIR = join(__dirname, '..', 'definitions');

export interface CentralDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly prisma: PrismaClient;
  readonly dataConverter: DataConverter;
  /** The LMK the HSM's key handles are under (hex). */
  readonly lmkHex: string;
  /** Provider profiles, billers and operators (watched; default the repository's providers/). */
  readonly providersDir?: string;
  readonly keys: KeyDirectory;
  /** Card network port instead of the configured one (the demo room's bank simulator). */
  readonly cardNetworkPort?: number;
  readonly nodeName?: string;
  /** Prometheus instrumentation of the worker (worker/metrics.ts). */
  readonly metrics?: WorkerMetrics;
  readonly tracing?: Tracing;
  /** Starts a webhook delivery run (partner bills paid from the phone, ADR 0027); without it they are refused. */
  readonly startDelivery?: DeliveryStarter;
  /** Whose partner bills the phones pay: `live` (default) or `test` (sandbox bills, `fixpay dev`). */
  readonly partnerBillMode?: 'live' | 'test';
  /** Operator actions as runs (ADR 0033); without it those runs are refused (CONFIG_INVALID). */
  readonly performOperatorAction?: OperatorActionDeps['perform'];
}

export interface Central {
  readonly taskQueue: string;
  /** The worker's connection (for an access node in this process: eager start, ADR 0013). */
  readonly connection: NativeConnection;
  /** `serviceId@version` of every definition live after start. */
  readonly deployed: readonly string[];
  /** Drains the worker (tasks in progress finish), then closes the card network link. */
  stop(): Promise<void>;
}

/** A definition that compiles and whose every activity some worker registers. */
export interface DeployableDefinition {
  readonly file: string;
  readonly plan: Plan;
  readonly planHash: string;
}

/**
 * Splits the shipped definitions: deployable ones, and those that call an activity no worker
 * registers (declared in the catalogue ahead of its implementation) or that do not compile.
 */
export function deployableDefinitions(
  registered: ReadonlySet<string>,
  dir = DEFINITIONS_DIR,
  /** The queues this platform's workers serve: the configured central queue. */
  servedTaskQueues?: readonly string[],
): {
  deployable: DeployableDefinition[];
  skipped: { file: string; serviceId: string; missing: string[] }[];
} {
  const deployable: DeployableDefinition[] = [];
  const skipped: { file: string; serviceId: string; missing: string[] }[] = [];
  const opts = servedTaskQueues === undefined ? {} : { servedTaskQueues };
  for (const d of compileFiles(definitionFiles(dir), defaultCatalogue(), opts)) {
    if (d.plan === null || d.planHash === null) {
      skipped.push({ file: d.file, serviceId: '', missing: [] });
      continue;
    }
    const missing = [...activitiesOf(d.plan)].filter((a) => !registered.has(a));
    if (missing.length > 0) skipped.push({ file: d.file, serviceId: d.plan.serviceId, missing });
    else deployable.push({ file: d.file, plan: d.plan, planHash: d.planHash });
  }
  return { deployable, skipped };
}

/** Deploys every runnable definition and promotes it to `live`; returns what is live. */
export async function deployDefinitions(
  registry: Registry,
  log: Logger,
  split: ReturnType<typeof deployableDefinitions>,
): Promise<string[]> {
  const live: string[] = [];
  const { deployable, skipped } = split;
  for (const s of skipped)
    log.warn(
      { file: s.file, missing: s.missing },
      'definition not runnable here (does not compile or calls unimplemented activities); not deployed',
    );
  for (const d of deployable) {
    try {
      const deployed = await registry.deploy(d.plan, d.planHash, 'fixpay-worker', randomUUID());
      await registry.promote(deployed.serviceId, deployed.version);
      live.push(`${d.plan.serviceId}@${d.plan.version}`);
    } catch (e) {
      // Versions are immutable: a file edited without a new version keeps the deployed plan live.
      if (!isFixpayError(e, 'DEF_VERSION_EXISTS')) throw e;
      log.warn(
        { file: d.file, service: `${d.plan.serviceId}@${d.plan.version}` },
        'definition changed but its version is already deployed with another plan: bump metadata.version to deploy it; the deployed version stays live',
      );
    }
  }
  return live;
}

export async function startCentral(deps: CentralDeps): Promise<Central> {
  const { config, prisma, log } = deps;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch((e: unknown) => log.error({ err: e }, 'stop failed'));
    stops.length = 0;
  };
  try {
    // Every HSM operation of this process goes through this one port: metered here, once.
    const engine = new SoftwareHsm({ lmk: Buffer.from(deps.lmkHex, 'hex') });
    const hsm = deps.metrics === undefined ? engine : deps.metrics.meterHsm(engine);
    // Catalogue entries written by API (ADR 0029), of the partner mode this worker serves, read
    // beside the provider directory and refreshed without a restart.
    const catalogue = new CatalogueMirror(
      prisma,
      deps.partnerBillMode ?? 'live',
      catalogueSecretKey(deps.lmkHex),
      config.api.catalogueRefreshMs,
      (e) => log.warn({ err: e }, 'reading the provider catalogue failed; keeping the last entries'),
    );
    await catalogue.start();
    stops.push(() => Promise.resolve(catalogue.stop()));
    const cn = config.cardNetwork;
    const networkCodec = new MessageCodec(networkSpec);
    const gateway = new CardNetworkGateway(
      {
        transport: new TcpChannel({
          host: cn.host,
          port: deps.cardNetworkPort ?? cn.port,
          codec: networkCodec,
          framing: { lengthPrefix: cn.lengthPrefix },
        }),
        mac: new NetworkMac(networkCodec, hsmMessageAuthenticator(hsm, deps.keys.zak)),
        reversals: new PrismaReversalQueue(prisma),
        journal: new PrismaRequestJournal(prisma),
        logger: log.child({ component: 'card-network' }),
      },
      { acquirerId: cn.acquirerId, forwardingId: cn.forwardingId, requestTimeoutMs: cn.requestTimeoutMs },
    );
    gateway.start();
    stops.push(() => gateway.stop());

    const core = new CoreRepository(prisma);
    const pushProfiles = loadProfiles();
    const registry = new Registry(new PrismaDefinitionStore(prisma));
    const activities = {
      // Plan admission: the worker runs only plans this registry holds (docs/security.md).
      ...createPlanAdmissionActivities(registry),
      ...createPlatformActivities({
        nodeName: deps.nodeName ?? config.access.nodeId,
        hsm,
        psamMasterKey: psamMasterKeyLookup(deps.keys.psamMasterKeys, core),
        zpk: deps.keys.zpk,
        terminalKeys: new TerminalKeyManager({ hsm, store: new PrismaTerminalKeyStore(prisma), layout: '004' }),
        counters: new PrismaPsamCounterStore(prisma),
        verdicts: new PrismaTerminalVerdictStore(prisma),
        core,
        ledger: new PrismaLedgerStore(prisma),
        gateway,
        ...(deps.keys.personalisation === undefined ? {} : { personalisation: deps.keys.personalisation }),
        // The prepaid programme (ADR 0026): cards whose BIN route is `onus` never reach the network.
        cards: {
          store: new PrismaCardStore(prisma),
          indexKey: cardIndexKeyFromLmk(deps.lmkHex),
          atomically: PrismaCardStore.unitOfWork(prisma, config.cards.batchTransactionTimeoutMs),
          loadHoldSeconds: config.cards.loadHoldSeconds,
          ...(deps.keys.cards === undefined ? {} : { keys: deps.keys.cards }),
        },
        registry,
        pushStore: new PrismaPushStore(prisma),
        providers: {
          // Providers partners wrote connect only to addresses webhooks may reach (SSRF).
          directory: new ProviderDirectory(
            deps.providersDir ?? PROVIDERS_DIR,
            undefined,
            undefined,
            catalogue,
            new WebhookEgressPolicy(config.api.webhookAllowedNetworks).lookup,
          ),
          voucherKey: { id: 'v1', key: voucherKeyFromLmk(deps.lmkHex) },
          journal: new FileProviderJournal(join(config.dataDir, 'provider-journal.jsonl')),
        },
        ...(deps.startDelivery === undefined
          ? {}
          : {
              partnerBills: { prisma, startDelivery: deps.startDelivery, mode: deps.partnerBillMode ?? 'live' },
            }),
      }),
      // Information push campaigns (workflows/push-campaign.ts, ADR 0021).
      ...createPushCentralActivities({
        store: new PrismaPushStore(prisma),
        displayOf: (id) => pushProfiles.get(id)?.terminal?.display,
      }),
      // Operator actions as audited runs: drain/undrain, reversal replay (workflows/operator-action.ts).
      ...createOperatorActionActivities({
        perform:
          deps.performOperatorAction ??
          (() => Promise.reject(new FixpayError('CONFIG_INVALID', 'this worker takes no operator actions'))),
      }),
      // The partner platform's signed payment confirmations (workflows/webhook-delivery.ts).
      ...createWebhookActivities({
        sender: new WebhookSender({
          prisma,
          webhookMasterKey: webhookMasterKey(deps.lmkHex),
          egress: new WebhookEgressPolicy(config.api.webhookAllowedNetworks),
        }),
      }),
    };
    // The central worker's activities and the access nodes' lines activities (same names everywhere).
    const registered = new Set([...Object.keys(activities), ...LINE_ACTIVITY_NAMES]);
    const split = deployableDefinitions(registered, DEFINITIONS_DIR, [config.temporal.taskQueue]);
    // The timeouts the live plans, the access nodes and the gateway run with are in order.
    assertTimeoutOrder(
      timeoutFigures(
        config,
        split.deployable.map((d) => d.plan),
        { reversalExpiryMs: REVERSAL_EXPIRE_AFTER_MS_DEFAULT },
      ),
    );
    const deployed = await deployDefinitions(registry, log, split);
    const worker = await startWorker({
      config,
      log,
      nodeName: deps.nodeName ?? 'central',
      dataConverter: deps.dataConverter,
      activities,
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
      ...(deps.tracing === undefined ? {} : { tracing: deps.tracing }),
    });
    stops.push(() => worker.shutdown());
    return { taskQueue: worker.taskQueue, connection: worker.connection, deployed, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * A PSAM's master key: the key directory's entry for its serial, else — for a PSAM the platform
 * personalised (ADR 0020) — the handle recorded on the active PSAM, but only when it is one of the
 * directory's PSAM master keys: a database row cannot point the worker at any other key.
 */
export function psamMasterKeyLookup(
  directory: Readonly<Record<string, KeyHandle>>,
  core: Pick<CoreRepository, 'activePsamKeyHandle'>,
): (serial: string) => Promise<KeyHandle | undefined> {
  const trusted = new Set<string>(Object.values(directory));
  return async (serial) => {
    const direct = directory[serial.toUpperCase()];
    if (direct !== undefined) return direct;
    const recorded = await core.activePsamKeyHandle(serial);
    return recorded !== undefined && trusted.has(recorded) ? (recorded as KeyHandle) : undefined;
  };
}
