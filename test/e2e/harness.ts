/**
 * The whole platform in one test process, on real engines: a Temporal dev server, a migrated
 * database with the demo data, the bank simulator behind the card network gateway (durable
 * reversal queue on Prisma), the software HSM, the central worker on `services`, the access
 * node (channel engine with TCP PCM and SIP drivers, its `lines.<nodeId>` worker and the access
 * handler). The terminal simulator dials it over real FSK audio.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { ChannelEngine } from '../../channel-engine/engine';
import type { RequestHandler } from '../../channel-engine/engine';
import { SipLineDriver } from '../../channel-engine/lines/sip/uas';
import type { SipDriverOptions } from '../../channel-engine/lines/sip/uas';
import { createPushCentralActivities } from '../../activities/push';
import { PrismaPushStore } from '../../core/push-store';
import type { LineDriver } from '../../channel-engine/lines/types';
import { TcpPcmLineDriver } from '../../channel-engine/lines/tcp-pcm';
import type { TcpPcmDriverOptions } from '../../channel-engine/lines/tcp-pcm';
import { BUILTIN_PROFILES_DIR, loadProfiles } from '../../channel-engine/profiles';
import { CoreRepository } from '../../core/repository';
import { DEMO, seedDemo } from '../../demo/seed';
import type { DemoData } from '../../demo/seed';
import { PrismaReversalQueue, PrismaRequestJournal } from '../../gateways/card-network/prisma-store';
import type { CardNetworkGateway } from '../../gateways/card-network/gateway';
import { REVERSAL_POLL_INTERVAL_MS_DEFAULT } from '../../gateways/card-network/reversal-forwarder';
import { SoftwareHsm } from '../../hsm/software/software-hsm';
import { PrismaTerminalKeyStore } from '../../hsm/prisma-terminal-key-store';
import { PrismaPsamCounterStore } from '../../activities/psam-counter-store';
import { PrismaTerminalVerdictStore } from '../../activities/terminal-verdict-store';
import { PrismaLedgerStore } from '../../ledger/store';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import { PrismaDefinitionStore } from '../../services/registry/prisma-store';
import { Registry } from '../../services/registry/registry';
import { createPlanAdmissionActivities } from '../../services/registry/admission';
import type { Payload } from '@temporalio/common';
import { AesGcmPayloadCodec, codecKeysFromText } from '../../codec/payload-codec';
import { DeferredPlanSource } from '../../codec/plan-reference';
import { SIM_ZAK_HEX, SIM_ZPK_HEX } from '../../simulator/bank/accounts';
import { connectGateway, startBank, waitFor } from '../../simulator/bank/harness';
import type { BankServer } from '../../simulator/bank/server';
import type { Bank } from '../../simulator/bank/bank';
import { EXAMPLE_CONFIG, parseTerminalConfig } from '../../simulator/terminal/config';
import type { TerminalConfig } from '../../simulator/terminal/config';
import {
  createAccessHandler,
  promptHangupNotifier,
  ResponseBoard,
  startLinesWorker,
} from '../../channel-engine/access/handler';
import { createProfileResolver } from '../../channel-engine/access/profile-resolver';
import { createPlatformActivities } from '../../worker/platform-activities';
import { temporalDeliveryStarter } from '../../api/webhook-runs';
import type { ProviderDeps } from '../../worker/platform-activities';
import { psamMasterKeyLookup } from '../../worker/central';
import { provisionDemoKeys } from '../../demo/keys';
import { PrismaCardStore } from '../../cards/prisma-store';
import { startTestDatabase } from '../support/database';
import type { TestDatabase } from '../support/database';
import { onTemporalSdkLog, startTestServer, TEST_CODEC_KEYS, testDataConverter } from '../support/temporal';
import { createLogger } from '../../infra/logging';
import { Writable } from 'node:stream';

export const NODE_ID = 'e2e';
/** The bank simulator's first test card (balance 1 000 000, PIN 123456) and a poorer one. */
export const CARD_RICH = { track2: '6225880000000001=30122011234567890', pin: '123456', pan: '6225880000000001' };
export const CARD_POOR = { track2: '6225880000000019=30122011234567890', pin: '654321', pan: '6225880000000019' };
export const SERVICES = ['sign-on', 'purchase', 'balance-inquiry', 'reversal'] as const;
/** The key-loading device's transport key (KBPK, clear, test only): personalisation's TMK leaves the HSM under it. */
/** The identity of the access handler's client when it starts eagerly (its runs' first task shows it). */
export const EAGER_CLIENT_IDENTITY = 'e2e-access-eager';
export const TEST_KBPK_HEX = '89E98CF7921545F234BC7546FD3E380D';

export interface E2e {
  readonly env: TestWorkflowEnvironment;
  readonly db: TestDatabase;
  readonly ledger: PrismaLedgerStore;
  readonly bank: Bank;
  readonly bankServer: BankServer;
  readonly gateway: CardNetworkGateway;
  readonly engine: ChannelEngine;
  readonly handler: ReturnType<typeof createAccessHandler>;
  /** The definition registry the access handler resolves services in (tests deploy variants). */
  readonly registry: Registry;
  /** The business core the worker uses (tests read the audit trail and histories). */
  readonly core: CoreRepository;
  readonly tcpPort: number;
  readonly sipPort: number;
  /** Workflow ids the access handler started or attached to. */
  readonly workflowIds: string[];
  /** Every card network request the bank received (MTIs). */
  readonly bankMtis: string[];
  /** Everything the platform's loggers and the Temporal SDK logged so far (to scan for card data). */
  logText(): string;
  terminal(overrides?: {
    transport?: 'tcp-pcm' | 'sip';
    callerNumber?: string;
    card?: { track2: string; pin: string };
    /** Another demo terminal (its id, PSAM and caller number); the first one by default. */
    demoTerminal?: number;
    /** A terminal that is not in the demo data (one the test ordered and personalised). */
    custom?: { terminalId: string; psamNo: string; ani: string; tmkHex: string; deviceProfileId?: string };
  }): TerminalConfig;
  stop(): Promise<void>;
}

export interface E2eOptions {
  /**
   * Partner bills paid from the phone (ADR 0027): whose bills (mode) and where their confirmation
   * runs go (task queue and retry waits); without it the partner-bill activities refuse.
   */
  readonly partnerBills?: {
    readonly mode: 'live' | 'test';
    readonly webhookTaskQueue: string;
    readonly retryDelaysMs: readonly number[];
  };
  /** Wraps the access handler the channel engine calls (benchmarks time it). */
  readonly wrapHandler?: (handler: RequestHandler) => RequestHandler;
  /** Demo data to seed (customers, terminals, bindings); DEMO by default. Benchmarks add terminals. */
  readonly demo?: DemoData;
  /** Bill and top-up connectors (the watched provider directory, the voucher key); the repository's by default. */
  readonly providers?: ProviderDeps;
  /** The database: a PostgreSQL URL, `null` for the embedded PGlite; DATABASE_URL by default. */
  readonly databaseUrl?: string | null;
  /** How long an undelivered answer waits for a repeat before the run notes it as not ACKed. */
  readonly repeatGraceMs?: number;
  /**
   * The access handler's client on the central worker's native connection, starting the
   * verification and the run eagerly (docs/adr/0013-purchase-cost.md); false by default.
   */
  readonly eagerStart?: boolean;
  /** Line capacity and driver settings of the access node (the lines benchmark raises them). */
  readonly lines?: {
    readonly maxLines?: number;
    /** Extra device profile folders, and called number → profile (beside the caller's binding). */
    readonly profileDirs?: readonly string[];
    readonly profileByCalledNumber?: Readonly<Record<string, string>>;
    readonly sip?: Partial<SipDriverOptions>;
    readonly tcp?: Partial<TcpPcmDriverOptions>;
    /** Wraps each line driver (the access node's next-call push hook, ADR 0021). */
    readonly wrapDriver?: (driver: LineDriver) => LineDriver;
  };
}

export async function startE2e(options: E2eOptions = {}): Promise<E2e> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  // Every platform logger writes here (through the masking logger), and so does the Temporal SDK.
  const logLines: string[] = [];
  const log = createLogger('e2e', {
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    }),
  });
  const stopSdkLog = onTemporalSdkLog((line) => logLines.push(line));
  stops.push(() => {
    stopSdkLog();
    return Promise.resolve();
  });
  const plans = new DeferredPlanSource();
  try {
    // Both started at once; whichever came up is stopped even when the other failed.
    const [envResult, dbResult] = await Promise.allSettled([
      startTestServer(plans),
      startTestDatabase(options.databaseUrl),
    ]);
    if (envResult.status === 'fulfilled') stops.push(() => envResult.value.teardown());
    if (dbResult.status === 'fulfilled') stops.push(() => dbResult.value.close());
    if (envResult.status === 'rejected') throw envResult.reason;
    if (dbResult.status === 'rejected') throw dbResult.reason;
    const env = envResult.value;
    const db = dbResult.value;
    // Plans travel by reference (ADR 0013): every client and worker reads them from the registry.
    const registry = new Registry(new PrismaDefinitionStore(db.prisma));
    plans.bind(registry);
    const core = new CoreRepository(db.prisma);
    const ledger = new PrismaLedgerStore(db.prisma);
    const demo = options.demo ?? DEMO;
    await seedDemo({ core, ledger }, demo);

    const { server: bankServer, bank, port } = await startBank();
    stops.push(() => bankServer.close());
    const bankMtis: string[] = [];
    const handleOriginal = bank.handle.bind(bank);
    bank.handle = (msg) => {
      bankMtis.push(msg.mti);
      return handleOriginal(msg);
    };
    const gateway = connectGateway(
      port,
      { reversals: new PrismaReversalQueue(db.prisma), journal: new PrismaRequestJournal(db.prisma) },
      {
        requestTimeoutMs: 2_000,
        reversalGraceMs: 500,
        reverseWaitMs: 3_000,
        // The production sweep: queued reversals and retries wake the forwarder in-process.
        reversals: { pollIntervalMs: REVERSAL_POLL_INTERVAL_MS_DEFAULT, retryDelayMsMin: 50, retryDelayMsMax: 200 },
      },
      log.child({ component: 'card-network' }),
    );
    stops.push(() => gateway.stop());
    await waitFor(() => gateway.isSignedOn, 10_000);

    const hsm = new SoftwareHsm({ lmk: randomBytes(32) });
    const keys = await provisionDemoKeys(
      hsm,
      {
        psamMasterKeyHex: EXAMPLE_CONFIG.psam.masterKey,
        zpkHex: SIM_ZPK_HEX,
        zakHex: SIM_ZAK_HEX,
        tmks: Object.fromEntries(demo.terminals.map((t) => [t.terminalId, EXAMPLE_CONFIG.keys.tmk])),
      },
      new PrismaTerminalKeyStore(db.prisma),
    );
    const directory = Object.fromEntries(demo.terminals.map((t) => [t.psamNo, keys.psamMasterKey]));
    const transportKey = hsm.importClearKey('KBPK', 'tdes2', TEST_KBPK_HEX).handle;
    const dataConverter = testDataConverter(plans);
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'services',
      workflowsPath: require.resolve('../../worker/workflows'),
      dataConverter,
      activities: {
        ...createPlatformActivities({
          nodeName: 'e2e',
          hsm,
          psamMasterKey: psamMasterKeyLookup(directory, core),
          personalisation: { psamMasterKey: keys.psamMasterKey, transportKey },
          zpk: keys.zpk,
          terminalKeys: keys.terminalKeys,
          counters: new PrismaPsamCounterStore(db.prisma),
          verdicts: new PrismaTerminalVerdictStore(db.prisma),
          core,
          ledger,
          gateway,
          registry,
          // The prepaid programme, as the central worker has it (ADR 0026): BIN routing in front of
          // the gateway, card commands with the demo CVK and mailer key, all-or-nothing batches.
          cards: {
            store: new PrismaCardStore(db.prisma),
            indexKey: randomBytes(32),
            atomically: PrismaCardStore.unitOfWork(db.prisma),
            keys: keys.cards,
          },
          pushStore: new PrismaPushStore(db.prisma),
          ...(options.partnerBills === undefined
            ? {}
            : {
                partnerBills: {
                  prisma: db.prisma,
                  mode: options.partnerBills.mode,
                  startDelivery: temporalDeliveryStarter(env.client, {
                    taskQueue: options.partnerBills.webhookTaskQueue,
                    retryDelaysMs: options.partnerBills.retryDelaysMs,
                  }),
                },
              }),
          ...(options.providers === undefined ? {} : { providers: options.providers }),
        }),
        // Plan admission, as in production (the definitions are deployed below, before any start).
        ...createPlanAdmissionActivities(registry),
        // Push campaigns (ADR 0021), as the central worker registers them.
        ...createPushCentralActivities({
          store: new PrismaPushStore(db.prisma),
          displayOf: (id) => loadProfiles().get(id)?.terminal?.display,
        }),
      },
    });
    const workerDone = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await workerDone;
    });

    const board = new ResponseBoard();
    const lines = await startLinesWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      nodeId: NODE_ID,
      board,
      dataConverter,
      ...(options.repeatGraceMs === undefined ? {} : { repeatGraceMs: options.repeatGraceMs }),
    });
    stops.push(() => lines.shutdown());

    const files = SERVICES.map((s) => join(__dirname, '..', '..', 'definitions', `${s}.yaml`));
    for (const d of compileFiles(files, defaultCatalogue())) {
      if (d.plan === null || d.planHash === null) throw new Error(`${d.file} does not compile`);
      await registry.deploy(d.plan, d.planHash, 'e2e', randomUUID());
      await registry.promote(d.plan.serviceId, d.plan.version);
    }
    const workflowIds: string[] = [];
    const eagerStart = options.eagerStart === true;
    const handler = createAccessHandler({
      client: eagerStart
        ? new Client({ connection: env.nativeConnection, dataConverter, identity: EAGER_CLIENT_IDENTITY })
        : env.client,
      eagerStart,
      registry,
      board,
      nodeId: NODE_ID,
      onStarted: (id) => workflowIds.push(id),
    });
    const lineLog = log.child({ component: 'channel-engine' });
    const tcp = new TcpPcmLineDriver({ port: 0, pace: false, ...options.lines?.tcp }, lineLog);
    const sip = new SipLineDriver({ port: 0, host: '127.0.0.1', ...options.lines?.sip }, lineLog);
    const engine = new ChannelEngine(
      {
        profiles: loadProfiles([BUILTIN_PROFILES_DIR, ...(options.lines?.profileDirs ?? [])]),
        defaultProfileId: 'es201912-v23',
        ...(options.lines?.profileByCalledNumber === undefined
          ? {}
          : { profileByCalledNumber: options.lines.profileByCalledNumber }),
        // As the access node does: the caller number's bound terminal picks the profile.
        resolveProfile: createProfileResolver((ani) => core.boundDeviceProfile(ani)).resolve,
        handler: options.wrapHandler?.(handler) ?? handler,
        onCallEnded: promptHangupNotifier(env.client, board),
        nodeId: NODE_ID,
        ...(options.lines?.maxLines === undefined ? {} : { maxLines: options.lines.maxLines }),
      },
      lineLog,
    )
      .addDriver(options.lines?.wrapDriver?.(tcp) ?? tcp)
      .addDriver(options.lines?.wrapDriver?.(sip) ?? sip);
    await engine.start();
    stops.push(() => engine.stop());
    const merchant = demo.terminals[0];
    if (merchant === undefined) throw new Error('no demo terminal');
    return {
      env,
      db,
      ledger,
      bank,
      bankServer,
      gateway,
      engine,
      handler,
      registry,
      core,
      tcpPort: tcp.port,
      sipPort: sip.port,
      workflowIds,
      bankMtis,
      logText: () => logLines.join('\n'),
      terminal(o = {}) {
        const transport = o.transport ?? 'tcp-pcm';
        const demoT = demo.terminals[o.demoTerminal ?? 0] ?? merchant;
        const t =
          o.custom === undefined
            ? demoT
            : {
                terminalId: o.custom.terminalId,
                psamNo: o.custom.psamNo,
                ani: o.custom.ani,
                deviceProfileId: o.custom.deviceProfileId ?? 'es201912-v23',
              };
        return parseTerminalConfig(
          {
            ...EXAMPLE_CONFIG,
            ...(o.custom === undefined ? {} : { keys: { ...EXAMPLE_CONFIG.keys, tmk: o.custom.tmkHex } }),
            terminalId: t.terminalId,
            // Each demo phone speaks the profile its terminal is registered with.
            profile: t.deviceProfileId,
            psam: { ...EXAMPLE_CONFIG.psam, serial: t.psamNo },
            card: { track2: o.card?.track2 ?? CARD_RICH.track2, pin: o.card?.pin ?? CARD_RICH.pin },
            line: {
              ...EXAMPLE_CONFIG.line,
              transport,
              port: transport === 'sip' ? sip.port : tcp.port,
              pace: false,
              callerNumber: o.callerNumber ?? t.ani,
            },
          },
          '/tmp',
        );
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** Every ledger in balance: posted and pending debits equal credits. */
export async function ledgerBalanced(ledger: PrismaLedgerStore): Promise<boolean> {
  for (const t of await ledger.totals()) {
    if (t.debitsPosted !== t.creditsPosted || t.debitsPending !== t.creditsPending) return false;
  }
  return true;
}

/** Card data that must never appear in clear: PANs, track 2 texts, PIN blocks (hex). */
export function cardNeedles(pinBlocksHex: readonly string[] = []): string[] {
  return [CARD_RICH.pan, CARD_POOR.pan, CARD_RICH.track2, CARD_POOR.track2, ...pinBlocksHex].flatMap((s) => [
    s,
    s.toLowerCase(),
  ]);
}

/** Every row of every table in the test schema, as text. */
export async function databaseText(db: TestDatabase): Promise<string> {
  const tables = await db.prisma.$queryRawUnsafe<{ table_name: string }[]>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  );
  const parts: string[] = [];
  for (const { table_name } of tables) {
    const rows = await db.prisma.$queryRawUnsafe<{ t: string }[]>(`SELECT t::text AS t FROM "${table_name}" t`);
    parts.push(...rows.map((r) => r.t));
  }
  return parts.join('\n');
}

/**
 * A run's history with every payload opened by the codec (what the Temporal UI's codec server
 * decrypts, before its display masking), as text: what a reader holding the codec key would see.
 */
export async function decodedHistoryText(env: TestWorkflowEnvironment, workflowId: string): Promise<string> {
  const codec = new AesGcmPayloadCodec(codecKeysFromText(TEST_CODEC_KEYS));
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const payloads: Payload[] = [];
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return;
    if ('data' in v && 'metadata' in v && v.data instanceof Uint8Array) payloads.push(v as Payload);
    else for (const x of Object.values(v)) walk(x);
  };
  walk(history);
  const texts: string[] = [];
  for (const p of payloads) {
    // Search attributes and headers are plain by design; everything else opens under the test key.
    const [open] = await codec.decode([p]).catch(() => [p]);
    texts.push(Buffer.from(open?.data ?? new Uint8Array()).toString('latin1'));
  }
  return texts.join('\n');
}

/** The raw stored history of a workflow (payloads as stored: encrypted), as text. */
export async function rawHistoryText(env: TestWorkflowEnvironment, workflowId: string): Promise<string> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  return JSON.stringify(history, (_k, v: unknown) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : typeof v === 'bigint' ? v.toString() : v,
  );
}
