/**
 * The activities of `lines.<nodeId>` against a real channel engine and a terminal over TCP PCM
 * with the real modem: after its answer, a run sends a message on its live call (the terminal ACKs
 * it), then hangs the call up; with no call the activity says so instead of pretending.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { ChannelEngine, loadProfiles, requireProfile, TcpPcmLineDriver } from '..';
import { dialTerminal } from '../__fixtures__/terminal-call';
import type { RequestHandler } from '..';
import { createLineActivities, ResponseBoard } from './handler';

const profiles = loadProfiles();
const WORKFLOW = { workflowId: 'purchase:T1:000001:20261126', runId: 'run-1' };

describe('lines.<nodeId> activities on a live call', () => {
  jest.setTimeout(30_000);

  it('answer the request, send a message (ACKed by the terminal), then hang up', async () => {
    const board = new ResponseBoard();
    let requestSeen: () => void = () => undefined;
    const seen = new Promise<void>((r) => {
      requestSeen = r;
    });
    let answer: (a: Uint8Array) => void = () => undefined;
    const handler: RequestHandler = (req) => {
      board.track(WORKFLOW.workflowId, req.lineId);
      requestSeen();
      return new Promise((r) => {
        answer = r;
      });
    };
    const driver = new TcpPcmLineDriver({ port: 0 });
    const engine = new ChannelEngine({ profiles, defaultProfileId: 'es201912-v23', handler, nodeId: 'n1' }).addDriver(
      driver,
    );
    await engine.start();
    const activities = createLineActivities({ board, lines: () => engine });
    const env = new MockActivityEnvironment({ workflowExecution: WORKFLOW });
    const { terminal, ended, dispose } = await dialTerminal(
      driver.port,
      requireProfile(profiles, 'es201912-v23'),
      '057188880000',
    );
    try {
      await terminal.send(Uint8Array.of(1, 2, 3));
      await seen;
      const response = terminal.receive();
      answer(Uint8Array.of(9, 8, 7));
      expect([...(await response)]).toEqual([9, 8, 7]);

      // Once the response is ACKed the call is idle again (a run knows it from its delivery step):
      // the run sends a notice on it, and the terminal ACKs it.
      for (let i = 0; i < 100 && engine.liveCalls()[0]?.state !== 'ready'; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(engine.liveCalls()[0]?.state).toBe('ready');
      const received = terminal.receive();
      const sent = await env.run(activities.sendToTerminal, { terminalId: 'T1', message: 'c0ffee' });
      expect(sent).toEqual({ acknowledged: true });
      expect([...(await received)]).toEqual([0xc0, 0xff, 0xee]);

      expect(await env.run(activities.hangUpCall, { terminalId: 'T1' })).toEqual({ released: true });
      expect(await ended).toBeDefined();
      expect(engine.metrics().linesActive).toBe(0);
      // The call is gone: sending again is not acknowledged.
      expect(await env.run(activities.sendToTerminal, { terminalId: 'T1', message: '00' })).toEqual({
        acknowledged: false,
      });
    } finally {
      dispose();
      await engine.stop();
    }
  });

  it('refuses to act for a run with no call on this node', async () => {
    const activities = createLineActivities({ board: new ResponseBoard(), lines: () => undefined });
    const env = new MockActivityEnvironment({ workflowExecution: WORKFLOW });
    await expect(env.run(activities.hangUpCall, { terminalId: 'T1' })).rejects.toThrow(/no call for/);
  });
});
