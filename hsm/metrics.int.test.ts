/**
 * HSM operation metrics across the real host protocol: a worker-side registry meters the network
 * client, an HSM-side registry meters the server's engine per caller, each served over HTTP. One
 * operation is counted once in each process, with the HSM's refusal under its result code name,
 * and a dead HSM link under HSM_UNAVAILABLE on the client side.
 */
import { fromHex } from './crypto/bytes';
import { NetworkHsm } from './host-protocol/client';
import { startHsmServer } from './host-protocol/server';
import type { RunningHsmServer } from './host-protocol/server';
import { registerHsmMetrics } from './metrics';
import type { HsmPort } from './port';
import { SoftwareHsm } from './software/software-hsm';
import { createMetricsRegistry, startMetricsServer } from '../infra/metrics';
import type { MetricsServer } from '../infra/metrics';
import { series } from '../test/support/prometheus';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const CLIENT = { id: 'worker-1', secret: Buffer.alloc(32, 9) };
const DATA = Buffer.from('Now is the time for all ', 'ascii');

describe('HSM operation metrics over the host protocol', () => {
  const soft = new SoftwareHsm({ lmk: LMK });
  const tak = soft.importClearKey('TAK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
  let hsmServer: RunningHsmServer;
  let hsmEndpoint: MetricsServer;
  let workerEndpoint: MetricsServer;
  let network: NetworkHsm;
  let client: HsmPort;

  beforeAll(async () => {
    const hsmRegistry = createMetricsRegistry({ process: 'hsm' });
    hsmServer = await startHsmServer({
      hsm: registerHsmMetrics(hsmRegistry).meterCallerScoped(soft),
      port: 0,
      clients: [CLIENT],
    });
    hsmEndpoint = await startMetricsServer(hsmRegistry, '127.0.0.1', 0);
    const workerRegistry = createMetricsRegistry({ process: 'worker' });
    network = new NetworkHsm({
      host: hsmServer.host,
      port: hsmServer.port,
      requestTimeoutMs: 5000,
      credentials: CLIENT,
    });
    client = registerHsmMetrics(workerRegistry).meter(network);
    workerEndpoint = await startMetricsServer(workerRegistry, '127.0.0.1', 0);
  });

  afterAll(async () => {
    network.close();
    await hsmServer.close().catch(() => undefined);
    await hsmEndpoint.close();
    await workerEndpoint.close();
  });

  it('counts each operation once on each side, by operation and result', async () => {
    const mac = await client.generateMac({ key: tak.handle, algorithm: 'x9.19', data: DATA });
    await client.verifyMac({ key: tak.handle, algorithm: 'x9.19', data: DATA, mac });
    await expect(
      client.verifyMac({ key: tak.handle, algorithm: 'x9.19', data: DATA, mac: Buffer.alloc(8) }),
    ).rejects.toThrow('MAC verification failed');

    for (const endpoint of [workerEndpoint, hsmEndpoint]) {
      const text = await (await fetch(endpoint.url)).text();
      expect(series(text, 'fixpay_hsm_commands_total', { command: 'generateMac', result: 'ok' })).toBe(1);
      expect(series(text, 'fixpay_hsm_commands_total', { command: 'verifyMac', result: 'ok' })).toBe(1);
      expect(series(text, 'fixpay_hsm_commands_total', { command: 'verifyMac', result: 'HSM_MAC_INVALID' })).toBe(1);
      expect(series(text, 'fixpay_hsm_command_duration_seconds_count', { command: 'verifyMac' })).toBe(2);
      expect(text).not.toContain(tak.handle);
    }
  });

  it('counts a dead HSM link as HSM_UNAVAILABLE on the client side', async () => {
    network.close();
    await hsmServer.close();
    await expect(client.describeKey(tak.handle)).rejects.toThrow();
    const text = await (await fetch(workerEndpoint.url)).text();
    expect(series(text, 'fixpay_hsm_commands_total', { command: 'describeKey', result: 'HSM_UNAVAILABLE' })).toBe(1);
  });
});
