/**
 * A phone with a primary and backup numbers (N+1 access nodes): real channel engines on 127.0.0.1
 * over TCP PCM, the real FSK modem and link layer, one fake issuer behind both engines (as the
 * platform's runs are behind every access node). The phone dials its primary first on every call
 * and the backups in order when a number is refused, draining, gone, or drops the call.
 */
import { createServer } from 'node:net';
import { ChannelEngine } from '../../channel-engine/engine';
import { TcpPcmLineDriver } from '../../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../../channel-engine/profiles';
import { FakeIssuer } from './__fixtures__/fake-issuer';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from './config';
import type { TerminalConfig } from './config';
import { PosTerminal } from './terminal';

const profiles = loadProfiles();

interface Node {
  readonly engine: ChannelEngine;
  readonly port: number;
}

async function startNode(issuer: FakeIssuer, nodeId: string): Promise<Node> {
  const tcp = new TcpPcmLineDriver({ port: 0, pace: false });
  const engine = new ChannelEngine({
    profiles,
    defaultProfileId: 'es201912-v23',
    handler: issuer.handler,
    nodeId,
  }).addDriver(tcp);
  await engine.start();
  return { engine, port: tcp.port };
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function config(primary: number, backups: readonly number[]): TerminalConfig {
  return parseTerminalConfig(
    {
      ...EXAMPLE_CONFIG,
      line: {
        ...EXAMPLE_CONFIG.line,
        port: primary,
        pace: false,
        backups: backups.map((port, i) => ({ host: '127.0.0.1', port, calledNumber: `9510${6 + i}` })),
      },
      timeouts: { ...EXAMPLE_CONFIG.timeouts, dialMs: 3_000 },
    },
    '/tmp',
  );
}

describe('a phone redials its backup numbers', () => {
  jest.setTimeout(120_000);
  const nodes: Node[] = [];
  let issuer: FakeIssuer;
  let a: Node;
  let b: Node;

  beforeEach(async () => {
    issuer = new FakeIssuer();
    await issuer.ready;
    a = await startNode(issuer, 'a');
    b = await startNode(issuer, 'b');
    nodes.push(a, b);
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.engine.stop();
  });

  it('primary refused (nothing listens): the call goes to the backup number and the purchase is approved', async () => {
    const dead = await closedPort();
    const phone = new PosTerminal(config(dead, [b.port]), { stateStore: new MemoryStateStore() });
    expect((await phone.signOn()).outcome).toBe('approved');
    expect(phone.dialled).toEqual({ host: '127.0.0.1', port: b.port, calledNumber: '95106', backup: true });
    expect((await phone.purchase(1_250)).outcome).toBe('approved');
    await phone.hangUp();
    expect(phone.dialFailures).toBe(1); // one call, the primary refused once
    expect(b.engine.metrics().requests).toBe(2);
    expect(a.engine.metrics().requests).toBe(0);
    expect(issuer.balance).toBe(100_000 - 1_250);
  });

  it('the primary up: it is used and the backup is not dialled', async () => {
    const phone = new PosTerminal(config(a.port, [b.port]), { stateStore: new MemoryStateStore() });
    expect((await phone.signOn()).outcome).toBe('approved');
    await phone.hangUp();
    expect(phone.dialled).toMatchObject({ port: a.port, backup: false });
    expect(phone.dialFailures).toBe(0);
    expect(b.engine.metrics().callsOffered).toBe(0);
  });

  it('primary draining: it refuses the call, the backup answers; after undrain the primary takes calls again', async () => {
    await a.engine.drain(1_000); // no live call: returns at once, the node stays draining
    const phone = new PosTerminal(config(a.port, [b.port]), { stateStore: new MemoryStateStore() });
    expect((await phone.signOn()).outcome).toBe('approved');
    await phone.hangUp();
    expect(phone.dialled).toMatchObject({ port: b.port, backup: true });
    expect(a.engine.metrics()).toMatchObject({ callsRefused: 1, requests: 0 });
    a.engine.undrain();
    expect((await phone.purchase(300)).outcome).toBe('approved');
    await phone.hangUp();
    expect(phone.dialled).toMatchObject({ port: a.port, backup: false });
  });

  it('the primary dies mid-call: the repeat redials, reaches the backup, and the purchase is charged once', async () => {
    const phone = new PosTerminal(config(a.port, [b.port]), { stateStore: new MemoryStateStore() });
    expect((await phone.signOn()).outcome).toBe('approved');
    // Node a goes away once the purchase request is on the line (its calls end with it).
    const sent = phone.purchase(700, undefined, { dropAfterSend: false, loseAnswers: 99 });
    const dead = (async (): Promise<void> => {
      while (a.engine.metrics().requests < 2) await new Promise((r) => setTimeout(r, 20));
      await a.engine.stop();
    })();
    const first = await sent;
    await dead;
    expect(first.outcome).toBe('failed');
    expect(phone.pendingPurchase).toBeUndefined();
    expect(phone.owedReversal).toMatchObject({ stan: first.stan, sent: false });
    const repeated = await phone.repeatLast();
    expect(repeated).toMatchObject({ outcome: 'approved', stan: first.stan, repeated: true });
    expect(repeated.requestDigest).toBe(first.requestDigest);
    expect(phone.dialled).toMatchObject({ port: b.port, backup: true });
    expect(phone.owedReversal).toBeUndefined();
    await phone.hangUp();
    expect(issuer.replays).toBe(1); // node b's copy attached to the first answer
    expect(issuer.balance).toBe(100_000 - 700);
  });

  it('no number answers: TERMINAL_SIM_DIAL_FAILED after trying each once', async () => {
    const [x, y] = [await closedPort(), await closedPort()];
    const phone = new PosTerminal(config(x, [y]), { stateStore: new MemoryStateStore() });
    const r = await phone.signOn();
    expect(r.failure?.codeName).toBe('TERMINAL_SIM_DIAL_FAILED');
    expect(phone.dialFailures).toBe(2);
    expect(phone.dialled).toBeUndefined();
  });

  it('refuses hostile backup lists with a catalogue error naming the key', () => {
    const bad = (backups: unknown) => (): unknown =>
      parseTerminalConfig({ ...EXAMPLE_CONFIG, line: { ...EXAMPLE_CONFIG.line, backups } }, '/tmp');
    const many = Array.from({ length: 5 }, () => ({ host: '127.0.0.1', port: 1 }));
    for (const [backups, message] of [
      [many, /at most 4/],
      ['127.0.0.1:5070', /list/],
      [[{ host: 'a b', port: 1 }], /line\.backups\[0\]\.host/],
      [[{ host: '127.0.0.1', port: 70_000 }], /line\.backups\[0\]\.port/],
      [[{ host: '127.0.0.1', port: 1, secret: 'x' }], /unknown key secret/],
      [[null], /line\.backups\[0\] must be a mapping/],
    ] as const)
      try {
        bad(backups)();
        throw new Error('accepted');
      } catch (e) {
        expect((e as { codeName?: string }).codeName).toBe('TERMINAL_SIM_CONFIG_INVALID');
        expect((e as Error).message).toMatch(message);
      }
  });
});
