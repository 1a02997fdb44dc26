/**
 * The real Temporal server (v1.29.1 from `fixpay temporal server install`) for end-to-end tests:
 * its two databases created and migrated by the SQL tool on the machine's PostgreSQL, a free block
 * of ports on the address it binds, a client with the platform's data converter, and a teardown
 * that stops it and drops both databases.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import {
  DEFAULT_SERVER_PORTS,
  frontendAddress,
  serverDatabaseFromUrl,
  setupServerSchemas,
  startServer,
  writeServerConfig,
} from '../../infra/temporal/server';
import type { RunningServer, ServerBinaries, ServerConfigOptions } from '../../infra/temporal/server';
import { freePort } from './roles';
import { testDataConverter } from './temporal';

async function allFree(ports: number[], host: string): Promise<boolean> {
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, host, () => s.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

/**
 * A block of free ports for one server host on `host`: frontend, +1, +2, +6, +10, membership −300,
 * pprof +703, and a metrics port.
 */
export async function serverPorts(host = '127.0.0.1'): Promise<ServerConfigOptions['ports']> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 9_000);
    const wanted = [0, 1, 2, 6, 10, -300, -299, -298, -294, 703].map((d) => base + d);
    const metrics = await freePort();
    if ((await allFree(wanted, host)) && (await allFree([metrics], host))) {
      return {
        ...DEFAULT_SERVER_PORTS,
        frontend: base,
        frontendHttp: base + 10,
        history: base + 1,
        matching: base + 2,
        worker: base + 6,
        metrics,
        pprof: base + 703,
      };
    }
  }
  throw new Error('no free block of ports for the Temporal server');
}

export interface TestTemporalServer {
  /** host:port of the frontend, as clients dial it. */
  readonly address: string;
  /** A client with the platform's (test) data converter, on namespace `default`. */
  readonly client: Client;
  readonly server: RunningServer;
  /** Closes the client, stops the server and drops its two databases. */
  stop(): Promise<void>;
}

/**
 * Starts the real server bound to `bindAddress` on fresh databases `<prefix>_<hex>` and
 * `<prefix>_<hex>_vis` of the PostgreSQL at `adminUrl` (two history shards: one host).
 */
export async function startRealTemporalServer(o: {
  readonly binaries: ServerBinaries;
  readonly adminUrl: string;
  readonly dataDir: string;
  readonly bindAddress?: string;
  readonly prefix?: string;
}): Promise<TestTemporalServer> {
  const bindAddress = o.bindAddress ?? '127.0.0.1';
  const suffix = randomBytes(5).toString('hex');
  const temporalDb = `${o.prefix ?? 'fixpay_tsrv'}_${suffix}`;
  const visibilityDb = `${temporalDb}_vis`;
  const dropDatabases = async (): Promise<void> => {
    const admin = new PgClient({ connectionString: o.adminUrl });
    await admin.connect();
    try {
      for (const name of [temporalDb, visibilityDb])
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  };
  const ports = await serverPorts(bindAddress);
  const options = {
    db: serverDatabaseFromUrl(o.adminUrl, temporalDb, visibilityDb),
    bindAddress,
    ports,
    numHistoryShards: 2,
    logLevel: 'warn' as const,
  };
  let server: RunningServer;
  try {
    await setupServerSchemas(o.binaries.sqlTool, options.db);
    const root = writeServerConfig(join(o.dataDir, `temporal-server-${suffix}`), options);
    server = await startServer({
      server: o.binaries.server,
      root,
      address: frontendAddress(options),
      metricsUrl: `http://${bindAddress}:${ports.metrics}/metrics`,
      namespace: 'default',
      startTimeoutMs: 180_000,
    });
  } catch (e) {
    await dropDatabases().catch(() => undefined);
    throw e;
  }
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: 'default', dataConverter: testDataConverter() });
  return {
    address: server.address,
    client,
    server,
    stop: async () => {
      await connection.close().catch(() => undefined);
      await server.stop();
      await dropDatabases();
    },
  };
}
