/**
 * Starts every platform process that exists so far, in one process tree, on embedded defaults:
 * the Temporal dev server, the database (with the demo data), the bank simulator and card network
 * gateway, the central worker with every activity, the access node (TCP PCM and SIP lines) and
 * the API. Used by `fixpay dev`.
 */
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createApp } from '../api/app';
import type { Config } from '../config';
import { processEnv } from '../config';
import { FixpayError } from '../domain/errors';
import { openDatabase, type Database } from '../infra/database';
import type { Logger } from '../infra/logging';
import {
  createTemporalHealthCheck,
  temporalTls,
  ensureSearchAttributes,
  ensureTemporalCli,
  installTemporalRuntime,
  startDevServer,
  waitForTemporal,
  type DevServer,
} from '../infra/temporal';
import { startWorker, type RunningWorker } from '../worker/main';
import type { AnsweredRequest } from '../worker/access-handler';
import type { PrismaClient } from '../generated/prisma/client';
import { startTerminalPlatform } from '../worker/terminal-platform';
import { spinner } from './progress';
import { createDataConverter } from '../codec/data-converter';
import { AesGcmPayloadCodec, codecKeysFromText } from '../codec/payload-codec';
import { startCodecServer } from '../codec/codec-server';
import { loadSecrets } from '../infra/secrets';
import { ensurePrivateDir, usePrivateUmask } from '../infra/files';

export interface Platform {
  readonly temporalAddress: string;
  readonly temporalUiUrl: string | undefined;
  readonly databaseUrl: string;
  readonly databaseEmbedded: boolean;
  readonly apiUrl: string;
  /** The payload codec endpoint the Temporal UI decrypts through (operator token required). */
  readonly codecUrl: string;
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

/** Starts everything; on any failure stops what already started and rethrows. */
export async function startPlatform(config: Config, log: Logger): Promise<Platform> {
  installTemporalRuntime(log);
  // The data folder and what fixpay and its children write there are the user's alone (issue #10).
  usePrivateUmask();
  ensurePrivateDir(config.dataDir);
  const secrets = loadSecrets(config.security, { generate: true });
  const codecKeys = codecKeysFromText(secrets.codecKeys);
  const dataConverter = createDataConverter(codecKeys);
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
    // mTLS to a production frontend (docs/security.md); none for the dev server.
    const tls = temporalTls(t);
    const tlsOption = tls === undefined ? {} : { tls };
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
      temporal = await startDevServer({
        cliPath: cli.path,
        temporal: t,
        ui: true,
        dataDir: join(config.dataDir, 'temporal'),
        log,
      });
      const server = temporal;
      stops.push(() => server.stop());
    })();
    const databaseReady = openDatabase(config, {
      ...(secrets.databasePassword === undefined ? {} : { password: secrets.databasePassword }),
      onMigration: (name) => log.info({ migration: name }, 'migration applied'),
    });
    const [temporalResult, databaseResult] = await Promise.allSettled([temporalReady, databaseReady]);
    if (databaseResult.status === 'fulfilled') {
      const db: Database = databaseResult.value;
      stops.push(() => db.close());
    }
    if (temporalResult.status === 'rejected') throw temporalResult.reason;
    if (databaseResult.status === 'rejected') throw databaseResult.reason;
    const db = databaseResult.value;

    const terminals = await startTerminalPlatform({ config, prisma: db.prisma, lmkHex: secrets.lmk, log });
    stops.push(() => terminals.stop());
    const worker: RunningWorker = await startWorker({
      config,
      log,
      nodeName: 'dev',
      dataConverter,
      activities: terminals.activities,
    });
    stops.push(() => worker.shutdown());
    const address = `${t.host}:${t.port}`;
    const clientConnection = await Connection.connect({ address, ...tlsOption });
    stops.push(() => clientConnection.close());
    const linesConnection = await NativeConnection.connect({ address, ...tlsOption });
    stops.push(() => linesConnection.close());
    const answerListeners = new Set<(answered: AnsweredRequest) => void>();
    const access = await terminals.startAccessNode({
      client: new Client({ connection: clientConnection, namespace: t.namespace, dataConverter }),
      connection: linesConnection,
      dataConverter,
      onAnswered: (answered) => answerListeners.forEach((l) => l(answered)),
    });
    stops.push(() => access.stop());

    const codecServer = await startCodecServer({
      codec: new AesGcmPayloadCodec(codecKeys),
      operatorToken: secrets.operatorToken,
      host: t.host,
      port: config.security.codecPort,
      corsOrigins: [`http://${t.host}:${t.uiPort}`, `http://localhost:${t.uiPort}`],
    });
    stops.push(() => codecServer.close());

    // One kept connection for the health check, not one per call (issue #10, defect 9).
    const temporalHealth = createTemporalHealthCheck({ address, ...tlsOption });
    stops.push(() => temporalHealth.close());
    const app = createApp({
      log,
      version: '0.1.0',
      checks: [
        {
          name: 'database',
          check: async () => (await db.prisma.$queryRaw<{ ok: number }[]>`SELECT 1 AS ok`).length === 1,
        },
        temporalHealth,
      ],
    });
    const server = createServer(app);
    const apiPort = await listen(server, config.api.host, config.api.port);
    stops.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    return {
      temporalAddress: `${t.host}:${t.port}`,
      temporalUiUrl: temporal?.uiUrl,
      databaseUrl: db.displayUrl,
      databaseEmbedded: db.embedded,
      apiUrl: `http://${config.api.host}:${apiPort}`,
      codecUrl: `http://${t.host}:${codecServer.port}`,
      secretsFile: config.security.secretsFile,
      tcpPcmPort: access.tcpPcmPort,
      sipPort: access.sipPort,
      bankPort: terminals.bankPort,
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
