import { WorkflowContinuedAsNewError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { startTestServer, testDataConverter } from '../test/support/temporal';
import { floorAck, floorAckSignal, floorEnd, floorPurchase, floorReady, terminalFloor } from './terminal-floor';

/** The bench:shapes workflow per terminal (ADR 0013, the Update-per-purchase floor). */
describe('terminalFloor on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTestServer();
  }, 60_000);
  afterAll(async () => {
    await env.teardown();
  });

  const workerFor = (taskQueue: string, posted: number[]): Promise<Worker> =>
    Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('./terminal-floor'),
      dataConverter: testDataConverter(),
      activities: { floorStep: (i: number): Promise<number> => Promise.resolve(i) },
      sinks: { floorBench: { posted: { fn: (_info, seq: number) => void posted.push(seq), callDuringReplay: false } } },
    });

  const E = temporal.api.enums.v1.EventType;
  const eventCount = (
    events: readonly temporal.api.history.v1.IHistoryEvent[],
    type: temporal.api.enums.v1.EventType,
  ): number => events.filter((e) => e.eventType === type).length;

  it('takes purchases as Updates, posts after an ACK by Update or signal, continues as new, ends', async () => {
    const taskQueue = 'test-terminal-floor-ack';
    const posted: number[] = [];
    const worker = await workerFor(taskQueue, posted);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(terminalFloor, {
        taskQueue,
        workflowId: 'terminal-floor-ack',
        args: [{ perRun: 2, inRun: 0, ack: true, post: 'RR' }],
      });
      const firstRun = handle.firstExecutionRunId;
      expect(await handle.executeUpdate(floorPurchase, { args: ['LLL'] })).toBe(3);
      expect(await handle.executeUpdate(floorAck, { args: [11] })).toBeNull();
      expect(await handle.executeUpdate(floorPurchase, { args: ['L'] })).toBe(1);
      await handle.signal(floorAckSignal, 12);
      // The second post ends the run's two purchases: it continues as new.
      const run = env.client.workflow.getHandle(handle.workflowId, firstRun, { followRuns: false });
      const ended: unknown = await run.result().catch((e: unknown) => e);
      expect(ended).toBeInstanceOf(WorkflowContinuedAsNewError);
      expect(posted).toEqual([11, 12]);
      const events = (await run.fetchHistory()).events ?? [];
      // Four local activities in the two Updates, two remote activities per post.
      expect(eventCount(events, E.EVENT_TYPE_MARKER_RECORDED)).toBe(4);
      expect(eventCount(events, E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)).toBe(4);
      expect(eventCount(events, E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)).toBe(1);
      expect(eventCount(events, E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)).toBe(3);
      expect(eventCount(events, E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)).toBe(3);
      // An Update's argument is stored encrypted, as every payload (the same data converter).
      const accepted = events.find((e) => e.eventType === E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED);
      const argument =
        accepted?.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads?.[0];
      expect(Buffer.from(argument?.metadata?.['encoding'] ?? []).toString()).toBe('binary/encrypted');
      // The next run starts empty and takes the next purchase.
      expect(await handle.executeUpdate(floorReady)).toBe(0);
      expect(await handle.executeUpdate(floorPurchase, { args: ['L'] })).toBe(1);
      await handle.signal(floorEnd);
      // Ended before its ACK: the purchase is not counted and nothing was posted.
      expect(await handle.result()).toBe(0);
      expect(posted).toEqual([11, 12]);
      expect((await handle.describe()).status.name).toBe('COMPLETED');
    });
  }, 60_000);

  it('counts purchases without ACK and continues as new from a place partway through a run', async () => {
    const taskQueue = 'test-terminal-floor-plain';
    const worker = await workerFor(taskQueue, []);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(terminalFloor, {
        taskQueue,
        workflowId: 'terminal-floor-plain',
        args: [{ perRun: 3, inRun: 1, ack: false, post: '' }],
      });
      const firstRun = handle.firstExecutionRunId;
      expect(await handle.executeUpdate(floorReady)).toBe(1);
      await handle.executeUpdate(floorPurchase, { args: ['L'] });
      await handle.executeUpdate(floorPurchase, { args: ['LL'] });
      const run = env.client.workflow.getHandle(handle.workflowId, firstRun, { followRuns: false });
      expect(await run.result().catch((e: unknown) => e)).toBeInstanceOf(WorkflowContinuedAsNewError);
      await handle.executeUpdate(floorPurchase, { args: ['L'] });
      await handle.signal(floorEnd);
      expect(await handle.result()).toBe(1);
    });
  }, 60_000);
});
