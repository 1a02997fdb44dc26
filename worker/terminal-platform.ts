/**
 * The terminal side of `fixpay dev` (issue 7), composed on an open database and Temporal: demo
 * data, the software HSM (LMK from infra/secrets) with the simulators' demo keys, the bank
 * simulator and the card network gateway (durable reversal queue on Prisma), the service
 * definitions deployed and made live, the activities for the central worker, and the access node
 * (channel engine with TCP PCM and SIP drivers, its `lines.<nodeId>` worker, the access handler).
 */
import { isFixpayError } from '../domain/errors';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { PrismaPsamCounterStore } from '../activities/psam-counter-store';
import { ChannelEngine } from '../channel-engine/engine';
import type { RequestHandler } from '../channel-engine/engine';
import { SipLineDriver } from '../channel-engine/lines/sip/uas';
import { TcpPcmLineDriver } from '../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../channel-engine/profiles';
import type { Config } from '../config';
import { CoreRepository } from '../core/repository';
import { DEMO, seedDemo } from '../core/seed';
import { CardNetworkGateway, TcpChannel } from '../gateways/card-network';
import { PrismaReversalQueue, PrismaRequestJournal } from '../gateways/card-network/prisma-store';
import { MessageCodec, networkSpec } from '../gateways/iso8583';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { PrismaTerminalKeyStore } from '../hsm/prisma-terminal-key-store';
import type { PrismaClient } from '../infra/database';
import type { Logger } from '../infra/logging';
import { PrismaLedgerStore } from '../ledger/store';
import { defaultCatalogue } from '../services/catalogue/entries';
import { compileFiles, definitionFiles } from '../services/compiler/load';
import { PrismaDefinitionStore } from '../services/registry/prisma-store';
import { Registry } from '../services/registry/registry';
import { createPlanAdmissionActivities } from '../services/registry/admission';
import { defaultAccounts, SIM_ZPK_HEX } from '../simulator/bank/accounts';
import { Bank } from '../simulator/bank/bank';
import { BankServer } from '../simulator/bank/server';
import { EXAMPLE_CONFIG } from '../simulator/terminal/config';
import { createAccessHandler, ResponseBoard, startLinesWorker } from './access-handler';
import type { AnsweredRequest } from './access-handler';
import { createPlatformActivities, provisionDemoKeys } from './platform-activities';

/** The definitions folder shipped with the package. */
export const DEFINITIONS_DIR = join(__dirname, '..', 'definitions');
/** How long stopping the access node waits for requests in progress (after cancelling them), ms. */
export const IN_FLIGHT_STOP_WAIT_MS = 2_000;
/** Acquirer and forwarding institution ids the gateway sends (fields 32/33). */
const INSTITUTION = { acquirerId: '1234', forwardingId: '5678' } as const;

export interface TerminalPlatformDeps {
  readonly config: Config;
  readonly prisma: PrismaClient;
  readonly lmkHex: string;
  readonly log: Logger;
}

export interface TerminalPlatform {
  readonly activities: object;
  readonly bankPort: number | undefined;
  /** Starts the access node once the central worker polls. */
  startAccessNode(deps: {
    client: Client;
    connection: NativeConnection;
    dataConverter: DataConverter;
    onAnswered?: (answered: AnsweredRequest) => void;
  }): Promise<{ tcpPcmPort: number; sipPort: number; stop(): Promise<void> }>;
  stop(): Promise<void>;
}

export async function startTerminalPlatform(deps: TerminalPlatformDeps): Promise<TerminalPlatform> {
  const { config, prisma, log } = deps;
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch((e: unknown) => log.error({ err: e }, 'stop failed'));
    stops.length = 0;
  };
  try {
    const core = new CoreRepository(prisma);
    const ledger = new PrismaLedgerStore(prisma);
    await seedDemo({ core, ledger });

    const hsm = new SoftwareHsm({ lmk: Buffer.from(deps.lmkHex, 'hex') });
    const keys = await provisionDemoKeys(
      hsm,
      {
        psamMasterKeyHex: EXAMPLE_CONFIG.psam.masterKey,
        zpkHex: SIM_ZPK_HEX,
        tmks: Object.fromEntries(DEMO.terminals.map((t) => [t.terminalId, EXAMPLE_CONFIG.keys.tmk])),
      },
      new PrismaTerminalKeyStore(prisma),
    );
    const psams = new Set(DEMO.terminals.map((t) => t.psamNo));

    const cn = config.cardNetwork;
    let bankPort: number | undefined;
    if (cn.simulator) {
      const server = new BankServer(new Bank({ zpk: Buffer.from(SIM_ZPK_HEX, 'hex'), accounts: defaultAccounts() }), {
        host: cn.host,
        port: cn.port,
      });
      bankPort = (await server.listen()).port;
      stops.push(() => server.close());
    }
    const gateway = new CardNetworkGateway(
      {
        transport: new TcpChannel({
          host: cn.host,
          port: bankPort ?? cn.port,
          codec: new MessageCodec(networkSpec),
          framing: { lengthPrefix: 'ascii4' },
        }),
        reversals: new PrismaReversalQueue(prisma),
        journal: new PrismaRequestJournal(prisma),
        logger: log.child({ component: 'card-network' }),
      },
      { ...INSTITUTION, requestTimeoutMs: cn.requestTimeoutMs },
    );
    gateway.start();
    stops.push(() => gateway.stop());

    const registry = new Registry(new PrismaDefinitionStore(prisma));
    for (const d of compileFiles(definitionFiles(DEFINITIONS_DIR), defaultCatalogue())) {
      if (d.plan === null || d.planHash === null) {
        log.warn({ file: d.file, problems: d.diagnostics.length }, 'definition does not compile; not deployed');
        continue;
      }
      try {
        const deployed = await registry.deploy(d.plan, d.planHash, 'fixpay-dev', randomUUID());
        await registry.promote(deployed.serviceId, deployed.version);
      } catch (e) {
        // Versions are immutable: a file edited without a new version keeps the deployed plan live.
        if (!isFixpayError(e, 'DEF_VERSION_EXISTS')) throw e;
        log.warn(
          { file: d.file, service: `${d.plan.serviceId}@${d.plan.version}` },
          'definition changed but its version is already deployed with another plan: bump metadata.version to deploy it; the deployed version stays live',
        );
      }
    }

    const activities = {
      ...createPlatformActivities({
        nodeName: config.access.nodeId,
        hsm,
        psamMasterKey: (serial) => (psams.has(serial) ? keys.psamMasterKey : undefined),
        zpk: keys.zpk,
        terminalKeys: keys.terminalKeys,
        counters: new PrismaPsamCounterStore(prisma),
        core,
        ledger,
        gateway,
      }),
      // Plan admission: the worker runs only plans this registry holds (docs/security.md).
      ...createPlanAdmissionActivities(registry),
    };

    return {
      activities,
      bankPort,
      async startAccessNode(access) {
        const a = config.access;
        const board = new ResponseBoard();
        const stopping = new AbortController();
        // Requests in progress, so the stop lets them finish before the Temporal connection closes.
        const inFlight = new Set<Promise<Uint8Array>>();
        const tracked =
          (inner: RequestHandler): RequestHandler =>
          (req) => {
            const p = inner(req);
            inFlight.add(p);
            p.then(
              () => inFlight.delete(p),
              () => inFlight.delete(p),
            );
            return p;
          };
        // The lines worker talks to the engine built just below (its activities run after start).
        const engineRef: { engine?: ChannelEngine } = {};
        const lines = await startLinesWorker({
          connection: access.connection,
          namespace: config.temporal.namespace,
          nodeId: a.nodeId,
          board,
          dataConverter: access.dataConverter,
          lines: () => engineRef.engine,
        });
        const lineLog = log.child({ component: 'channel-engine' });
        const tcp = new TcpPcmLineDriver({ host: a.host, port: a.tcpPcmPort }, lineLog);
        const sip = new SipLineDriver({ host: a.host, port: a.sipPort }, lineLog);
        const engine = new ChannelEngine(
          {
            nodeId: a.nodeId,
            profiles: loadProfiles(),
            handler: tracked(
              createAccessHandler({
                client: access.client,
                registry,
                board,
                nodeId: a.nodeId,
                answerTimeoutMs: a.answerTimeoutMs,
                signal: stopping.signal,
                ...(access.onAnswered === undefined ? {} : { onAnswered: access.onAnswered }),
              }),
            ),
          },
          lineLog,
        )
          .addDriver(tcp)
          .addDriver(sip);
        engineRef.engine = engine;
        try {
          await engine.start();
        } catch (e) {
          await lines.shutdown();
          throw e;
        }
        return {
          tcpPcmPort: tcp.port,
          sipPort: sip.port,
          // Lines first (no new calls), then the worker that answers them.
          stop: async () => {
            stopping.abort();
            await engine.stop();
            await Promise.race([
              Promise.allSettled([...inFlight]),
              new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_STOP_WAIT_MS).unref()),
            ]);
            await lines.shutdown();
          },
        };
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
