/**
 * The terminal simulator calls a real channel engine on 127.0.0.1 over TCP PCM and over SIP/RTP,
 * through the real FSK modem and link layer. The engine's RequestHandler is a small fake issuer
 * (`__fixtures__/fake-issuer.ts`): PSAM MAC verified in the software HSM, PIN checked, answers MACed.
 */
import { ChannelEngine } from '../../channel-engine/engine';
import { SipLineDriver } from '../../channel-engine/lines/sip/uas';
import { TcpPcmLineDriver } from '../../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../../channel-engine/profiles';
import { FakeIssuer } from './__fixtures__/fake-issuer';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from './config';
import type { TerminalConfig } from './config';
import { runTerminalScript } from './script';
import type { ScriptStep } from './script';

const profiles = loadProfiles();

async function withEngine<T>(
  kind: 'tcp' | 'sip',
  run: (issuer: FakeIssuer, port: number, engine: ChannelEngine) => Promise<T>,
): Promise<T> {
  const issuer = new FakeIssuer();
  await issuer.ready;
  const tcp = new TcpPcmLineDriver({ port: 0, pace: false });
  const sip = new SipLineDriver({ port: 0, host: '127.0.0.1' });
  const engine = new ChannelEngine({
    profiles,
    defaultProfileId: 'es201912-v23',
    handler: issuer.handler,
    nodeId: 'test',
  }).addDriver(kind === 'tcp' ? tcp : sip);
  await engine.start();
  try {
    return await run(issuer, kind === 'tcp' ? tcp.port : sip.port, engine);
  } finally {
    await engine.stop();
  }
}

function config(transport: 'tcp-pcm' | 'sip', port: number): TerminalConfig {
  return parseTerminalConfig(
    { ...EXAMPLE_CONFIG, line: { ...EXAMPLE_CONFIG.line, transport, port, pace: false } },
    '/tmp',
  );
}

const purchaseSteps: ScriptStep[] = [
  { step: 'sign-on' },
  { step: 'purchase', amountMinor: 1250 },
  { step: 'balance' },
  { step: 'purchase', amountMinor: 500, pin: '999999' },
  { step: 'hang-up' },
];

describe('terminal simulator against a real channel engine', () => {
  jest.setTimeout(120_000);

  it('TCP PCM: sign-on, purchase, balance, wrong PIN; STAN persisted and incrementing; ANI from the line', async () => {
    await withEngine('tcp', async (issuer, port, engine) => {
      const state = new MemoryStateStore({ stan: 41, batch: '000001', psamCounter: 10 });
      const displays: string[][] = [];
      const r = await runTerminalScript(
        {
          config: config('tcp-pcm', port),
          stateStore: state,
          callerNumber: '057100001111',
          onDisplay: (l) => displays.push([...l]),
        },
        purchaseSteps,
      );
      const [signOn, purchase, balance, wrongPin] = r.transactions;
      expect(signOn).toMatchObject({ kind: 'sign-on', outcome: 'approved', stan: '000042' });
      expect(purchase).toMatchObject({
        kind: 'purchase',
        outcome: 'approved',
        stan: '000043',
        authorizationCode: 'AB1234',
        balanceMinor: 100_000 - 1250,
      });
      expect(purchase?.display).toEqual(['PURCHASE', 'APPROVED', 'AUTH AB1234', 'BAL 987.50']);
      expect(balance).toMatchObject({ outcome: 'approved', balanceMinor: 98_750, stan: '000044' });
      expect(wrongPin).toMatchObject({ outcome: 'declined', responseCode: '55', stan: '000045' });
      expect(wrongPin?.display[2]).toBe('55 WRONG PIN');
      expect(r.ok).toBe(true);
      expect(state.load()).toMatchObject({ stan: 45, batch: '000002', psamCounter: 14 });
      expect(state.load().workingKeys?.layout).toBe('004');
      expect(issuer.callers).toEqual(['057100001111', '057100001111', '057100001111', '057100001111']);
      expect(engine.metrics().requests).toBe(4);
      // Line time: the purchase alone (request + response + ACKs) at 1200 bit/s.
      expect(purchase?.lineTimeMs).toBeGreaterThan(1000);
      console.log(
        `TCP PCM es201912-v23 purchase: ${purchase?.requestBytes} request bytes, line time ${purchase?.lineTimeMs} ms, wall ${purchase?.wallTimeMs} ms`,
      );
      // Card data is never on the display.
      expect(displays.flat().join('\n')).not.toContain('6225880000000000001');
    });
  });

  it('a request whose call drops after sending is repeated byte-identical on a new call', async () => {
    await withEngine('tcp', async (issuer, port) => {
      const state = new MemoryStateStore();
      const r = await runTerminalScript({ config: config('tcp-pcm', port), stateStore: state }, [
        { step: 'sign-on' },
        { step: 'purchase', amountMinor: 700, dropAfterSend: true },
        { step: 'wait', ms: 300 },
        { step: 'repeat' },
        { step: 'hang-up' },
      ]);
      const [, dropped, repeated] = r.transactions;
      expect(dropped).toMatchObject({ outcome: 'dropped', stan: '000002' });
      expect(repeated).toMatchObject({ outcome: 'approved', stan: '000002', repeated: true });
      expect(repeated?.requestDigest).toBe(dropped?.requestDigest);
      const [first, second] = issuer.requests.slice(1);
      expect(first?.equals(second ?? Buffer.alloc(0))).toBe(true);
      expect(issuer.replays).toBe(1);
      expect(issuer.balance).toBe(100_000 - 700); // charged once
    });
  });

  it('at 15 dB SNR with a corrupted request frame and a lost response frame, the link retransmits and the purchase succeeds', async () => {
    // The modem makes no frame errors at 15 dB (fsk.md §6 goal 2; measured: none in 10 exchanges),
    // so the retransmissions are forced: our first DATA frame goes out with a bad check (the
    // engine NAKs it) and we ignore the engine's first DATA frame (it times out and resends).
    await withEngine('tcp', async (issuer, port, engine) => {
      const r = await runTerminalScript(
        {
          config: config('tcp-pcm', port),
          stateStore: new MemoryStateStore(),
          snrDb: 15,
          noiseSeed: 3,
          endpoint: { corruptDataFrames: 1, ignoreHostDataFrames: 1 },
        },
        [{ step: 'sign-on' }, { step: 'purchase', amountMinor: 1250 }, { step: 'balance' }],
      );
      expect(r.transactions.map((t) => t.outcome)).toEqual(['approved', 'approved', 'approved']);
      const m = engine.metrics();
      const terminalRetx = r.transactions.reduce((n, t) => n + t.retransmissions, 0);
      console.log(
        `15 dB + injected faults: terminal retransmissions ${terminalRetx}, NAKs ${r.transactions.reduce((n, t) => n + t.naksReceived, 0)}, engine retransmissions ${m.retransmissions}, engine bad frames ${JSON.stringify(m.badFramesByCode)}, sign-on line time ${r.transactions[0]?.lineTimeMs} ms`,
      );
      expect(terminalRetx).toBeGreaterThanOrEqual(1);
      expect(m.retransmissions).toBeGreaterThanOrEqual(1);
      expect(m.badFramesByCode).toMatchObject({ LINK_CHECK_MISMATCH: 1 });
      expect(issuer.balance).toBe(100_000 - 1250);
    });
  });

  it('SIP/RTP: our UAC dials the SIP driver (INVITE/PCMU, 20 ms RTP, BYE) and completes the transactions', async () => {
    await withEngine('sip', async (issuer, port, engine) => {
      const r = await runTerminalScript(
        { config: config('sip', port), stateStore: new MemoryStateStore(), callerNumber: '057122223333' },
        [{ step: 'sign-on' }, { step: 'purchase', amountMinor: 1250 }, { step: 'hang-up' }],
      );
      expect(r.transactions.map((t) => t.outcome)).toEqual(['approved', 'approved']);
      expect(issuer.callers).toEqual(['057122223333', '057122223333']);
      const purchase = r.transactions[1];
      console.log(
        `SIP/RTP es201912-v23 purchase: line time ${purchase?.lineTimeMs} ms, wall ${purchase?.wallTimeMs} ms (real-time RTP)`,
      );
      const m = engine.metrics();
      expect(m.outcomes).toMatchObject({ OK: 1 });
      expect(m.linesActive).toBe(0);
    });
  });

  it('refuses to pay before sign-on and reports a dial failure with a result code', async () => {
    const noKeys = await runTerminalScript({ config: config('tcp-pcm', 1), stateStore: new MemoryStateStore() }, [
      { step: 'purchase', amountMinor: 100 },
      { step: 'sign-on' },
    ]);
    expect(noKeys.transactions[0]?.failure?.codeName).toBe('TERMINAL_SIM_NOT_SIGNED_ON');
    expect(noKeys.transactions[1]?.failure?.codeName).toBe('TERMINAL_SIM_DIAL_FAILED');
    expect(noKeys.ok).toBe(false);
  });
});
