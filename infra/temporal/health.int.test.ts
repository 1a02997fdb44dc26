/**
 * The Temporal health check against a real dev server: one connection however many checks run
 * (issue #10, defect 9), and a clean `false` when the server is gone.
 */
import type { AddressInfo } from 'node:net';
import { Connection } from '@temporalio/client';
import type { ConnectionOptions } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../api/app';
import { startTestServer } from '../../test/support/temporal';
import { createTemporalHealthCheck } from './health';

describe('Temporal health check', () => {
  let env: TestWorkflowEnvironment;
  let address: string;
  beforeAll(async () => {
    env = await startTestServer();
    address = env.address;
  }, 120_000);
  afterAll(async () => {
    await env.teardown();
  });

  it('opens one connection for 50 concurrent /health calls and 50 concurrent checks', async () => {
    let connects = 0;
    const temporal = createTemporalHealthCheck({
      address,
      connect: (o: ConnectionOptions) => {
        connects++;
        return Connection.connect(o);
      },
    });
    const app = createApp({ version: 'test', checks: [temporal], healthCacheMs: 0 });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
      const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(url)));
      expect(answers.map((r) => r.status)).toEqual(Array.from({ length: 50 }, () => 200));
      expect(await Promise.all(Array.from({ length: 50 }, () => temporal.check()))).toEqual(
        Array.from({ length: 50 }, () => true),
      );
      expect(connects).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
      await temporal.close();
    }
  });

  it('answers false, without throwing, when nothing listens', async () => {
    const temporal = createTemporalHealthCheck({ address: '127.0.0.1:1', connectTimeoutMs: 500 });
    expect(await temporal.check()).toBe(false);
    await temporal.close();
  });
});
