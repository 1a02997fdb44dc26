import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createPingActivities } from '../activities/ping';
import { startTestServer, testDataConverter } from '../test/support/temporal';
import { pingWorkflow } from './ping';

const HISTORIES = join(__dirname, '__histories__');

describe('ping workflow on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTestServer();
  }, 60_000);
  afterAll(async () => {
    await env.teardown();
  });

  it('runs the activity and records search attributes', async () => {
    const taskQueue = 'test-ping';
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('./ping'),
      activities: createPingActivities({ responder: 'node-a' }),
      dataConverter: testDataConverter(),
    });
    const result = await worker.runUntil(
      env.client.workflow.execute(pingWorkflow, { taskQueue, workflowId: 'ping-1', args: [{ message: 'hello' }] }),
    );
    expect(result).toEqual({ reply: 'pong from node-a: hello', workflowId: 'ping-1' });

    const handle = env.client.workflow.getHandle('ping-1');
    const description = await handle.describe();
    const keyword = (name: string) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);
    expect(description.typedSearchAttributes.get(keyword('ServiceId'))).toBe('ping');
    expect(description.typedSearchAttributes.get(keyword('Outcome'))).toBe('ok');

    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    expect(events.length).toBeGreaterThan(5);
    // Payloads are stored encrypted: the argument's text is nowhere in the history.
    const started = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    expect(Buffer.from(started?.metadata?.['encoding'] ?? []).toString()).toBe('binary/encrypted');
    expect(historyToJSON(history)).not.toContain(Buffer.from('"hello"').toString('base64'));
    // Refresh the committed history used by the replay gate: UPDATE_HISTORIES=1 npm run test:workflow
    if (process.env['UPDATE_HISTORIES'] === '1') {
      mkdirSync(HISTORIES, { recursive: true });
      writeFileSync(join(HISTORIES, 'ping.json'), historyToJSON(history));
    }
  }, 60_000);
});
