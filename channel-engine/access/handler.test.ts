/**
 * The handler's Temporal calls follow the access node's stop signal without piling up on it: the
 * Temporal client adds an `abort` listener per gRPC call to the signal it is given and never
 * removes it, so the long-lived stop signal must never be handed to it directly (soak, issue #10).
 */
import { getEventListeners } from 'node:events';
import type { Client } from '@temporalio/client';
import { MAC_BYTES } from '../../terminal-protocol/spec';
import { parseResponse, buildSignOnRequest } from '../../simulator/terminal/messages';
import type { MacSigner, TerminalIdentity } from '../../simulator/terminal/messages';
import { MemoryDefinitionStore, Registry } from '../../services/registry/registry';
import type { Plan } from '../../services/runtime/plan';
import { VERIFY_RUNS_MAX } from '../../terminal-protocol/verification';
import type { TerminalRequestVerdict } from '../../terminal-protocol/verification';
import type { TerminalRequest } from '../engine';
import { createAccessHandler, ResponseBoard, RUN_FAILED_RESPONSE_CODE, whileRunning } from './handler';

const identity: TerminalIdentity = {
  terminalId: 'T0000001',
  merchantId: '898100000000001',
  tpdu: { id: 0x60, destination: '0001', source: '0000' },
  applicationHeader: '603100000000',
  currency: '156',
  operatorCode: '001',
};
const signer: MacSigner = {
  psam: { serial: 'A1B2C3D4E5F60001', terminalNumber: '000000000001', random: '01020304', counter: 7 },
  mac: () => new Uint8Array(MAC_BYTES),
};

/** Behaves as @temporalio/client's Connection does: one `abort` listener per call, never removed. */
function leakyClient(): { client: Client; signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  const client = {
    withAbortSignal<R>(signal: AbortSignal, fn: () => Promise<R>): Promise<R> {
      signals.push(signal);
      signal.addEventListener('abort', () => undefined);
      return fn();
    },
  } as unknown as Client;
  return { client, signals };
}

async function signOnRegistry(): Promise<Registry> {
  const registry = new Registry(new MemoryDefinitionStore());
  const plan = { serviceId: 'sign-on', version: '1.0.0', format: 'fixpay.plan/v1' } as unknown as Plan;
  await registry.deploy(plan, 'h1', 'test', 'i1');
  await registry.promote('sign-on', '1.0.0');
  return registry;
}

function signOn(stan: number): { request: TerminalRequest; built: ReturnType<typeof buildSignOnRequest> } {
  const built = buildSignOnRequest(identity, { stan, batch: '000001', layout: '004' }, signer);
  const request: TerminalRequest = {
    nodeId: 'n1',
    lineId: `line-${stan}`,
    callerNumber: '0311234567',
    calledNumber: undefined,
    profileId: 'default',
    payload: built.payload,
  };
  return { request, built };
}

describe('access handler and the stop signal', () => {
  it('leaves no listener on the stop signal after many requests', async () => {
    const stopping = new AbortController();
    const { client, signals } = leakyClient();
    const refused: TerminalRequestVerdict = { verified: false, responseCode: '03' } as TerminalRequestVerdict;
    const handler = createAccessHandler({
      client,
      registry: await signOnRegistry(),
      board: new ResponseBoard(),
      nodeId: 'n1',
      signal: stopping.signal,
      verify: () => Promise.resolve(refused),
    });
    for (let stan = 1; stan <= 50; stan++) {
      const { request, built } = signOn(stan);
      const answer = await handler(request);
      expect(parseResponse(answer, built, identity).responseCode).toBe('03');
    }
    expect(signals).toHaveLength(50);
    expect(getEventListeners(stopping.signal, 'abort')).toHaveLength(0);
  });

  it('still cancels a Temporal call in progress when the node stops', async () => {
    const stopping = new AbortController();
    const { client, signals } = leakyClient();
    const handler = createAccessHandler({
      client,
      registry: await signOnRegistry(),
      board: new ResponseBoard(),
      nodeId: 'n1',
      signal: stopping.signal,
      // A verification that only ends when its call is cancelled.
      verify: () =>
        new Promise<TerminalRequestVerdict>((_, reject) =>
          signals[signals.length - 1]?.addEventListener('abort', () => reject(new Error('cancelled'))),
        ),
    });
    const { request, built } = signOn(7);
    const answering = handler(request);
    await new Promise((r) => setImmediate(r));
    expect(getEventListeners(stopping.signal, 'abort')).toHaveLength(1);
    stopping.abort();
    const answer = await answering;
    expect(parseResponse(answer, built, identity).responseCode).toBe(RUN_FAILED_RESPONSE_CODE);
    expect(signals[0]?.aborted).toBe(true);
  });
});

describe('access handler: a verification run without a verdict', () => {
  const refused: TerminalRequestVerdict = { verified: false, responseCode: '03' } as TerminalRequestVerdict;
  const noVerdict = (): Promise<TerminalRequestVerdict> =>
    Promise.reject(new Error('workflow execution timed out (its task was on a worker that is gone)'));

  it('is tried again: the verdict of the next run answers the request, not a 96', async () => {
    let runs = 0;
    const handler = createAccessHandler({
      client: leakyClient().client,
      registry: await signOnRegistry(),
      board: new ResponseBoard(),
      nodeId: 'n1',
      signal: new AbortController().signal,
      verify: () => (++runs === 1 ? noVerdict() : Promise.resolve(refused)),
    });
    const { request, built } = signOn(11);
    expect(parseResponse(await handler(request), built, identity).responseCode).toBe('03');
    expect(runs).toBe(2);
  });

  it(`declines 96 after ${VERIFY_RUNS_MAX} runs without a verdict, and tries no more`, async () => {
    let runs = 0;
    const handler = createAccessHandler({
      client: leakyClient().client,
      registry: await signOnRegistry(),
      board: new ResponseBoard(),
      nodeId: 'n1',
      signal: new AbortController().signal,
      verify: () => {
        runs++;
        return noVerdict();
      },
    });
    const { request, built } = signOn(12);
    expect(parseResponse(await handler(request), built, identity).responseCode).toBe(RUN_FAILED_RESPONSE_CODE);
    expect(runs).toBe(VERIFY_RUNS_MAX);
  });
});

describe('whileRunning', () => {
  it('aborts at once when the parent already has', async () => {
    const parent = new AbortController();
    parent.abort(new Error('stopped'));
    const seen = await whileRunning(parent.signal, (s) => Promise.resolve(s.aborted));
    expect(seen).toBe(true);
  });

  it('unhooks from the parent when the work fails too', async () => {
    const parent = new AbortController();
    await expect(whileRunning(parent.signal, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
  });
});

describe('ResponseBoard retention', () => {
  const deliver = async (board: ResponseBoard, workflowId: string, answer: Uint8Array): Promise<boolean> => {
    const taken = board.wait(workflowId, 1_000, Promise.resolve(true));
    const delivered = board.handOver(workflowId, answer, 1_000);
    await taken;
    return delivered;
  };

  it('keeps an answer in a buffer of its own size, not the slab it was decoded from', async () => {
    const slab = new Uint8Array(64 * 1024).fill(0x30);
    const answer = slab.subarray(1_000, 1_080);
    const board = new ResponseBoard();
    expect(await deliver(board, 'purchase:T1:000001:20261203', answer)).toBe(true);
    const kept = board.answer('purchase:T1:000001:20261203');
    expect(kept).toEqual(answer);
    expect(kept?.buffer.byteLength).toBe(80);
  });

  it('holds at most keptMax answers after keptMax + k deliveries, the oldest going first', async () => {
    const board = new ResponseBoard(3);
    for (let i = 1; i <= 5; i++) await deliver(board, `run-${i}`, Uint8Array.of(i));
    expect(['run-1', 'run-2', 'run-3', 'run-4', 'run-5'].map((id) => board.answer(id)?.[0])).toEqual([
      undefined,
      undefined,
      3,
      4,
      5,
    ]);
  });
});
