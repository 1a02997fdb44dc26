/**
 * End to end over the TCP PCM driver with the real FSK modem: a terminal (TerminalEndpoint)
 * dials, waits for EST, sends a framed request as FSK audio, the engine decodes it, asks the
 * RequestHandler, and sends the framed response back; the terminal releases and the engine hangs
 * up. Corrupt frames are injected in both directions to force NAK/timeout retransmissions.
 */
import { ChannelEngine } from './engine';
import type { RequestHandler, TerminalRequest } from './engine';
import { TcpPcmClient, TcpPcmLineDriver } from './lines/tcp-pcm';
import { loadProfiles, requireProfile } from './profiles';
import { TerminalEndpoint } from './session';
import { dialTerminal } from './__fixtures__/terminal-call';
import type { TerminalEndpointOptions } from './session';

const profiles = loadProfiles();

async function runCall(
  profileId: string,
  request: Uint8Array,
  terminalOptions: Partial<TerminalEndpointOptions>,
): Promise<{
  response: Uint8Array;
  engine: ChannelEngine;
  terminal: TerminalEndpoint;
  seen: TerminalRequest[];
  ended: string;
}> {
  const seen: TerminalRequest[] = [];
  const handler: RequestHandler = (req) => {
    seen.push(req);
    return Promise.resolve(Uint8Array.from([0xa5, ...req.payload].reverse()));
  };
  const driver = new TcpPcmLineDriver({ port: 0 });
  const engine = new ChannelEngine({ profiles, defaultProfileId: profileId, handler, nodeId: 'test' }).addDriver(
    driver,
  );
  await engine.start();
  const profile = requireProfile(profiles, profileId);
  const terminal = new TerminalEndpoint(profile, terminalOptions);
  const client = new TcpPcmClient();
  const ended = new Promise<string>((resolve) => {
    client.onEnd = resolve;
  });
  client.onAudio = (pcm) => {
    terminal.pushAudio(pcm);
  };
  terminal.onAudioOut = (pcm) => {
    client.sendAudio(pcm);
    setImmediate(() => {
      terminal.playoutDone();
    });
  };
  try {
    await client.dial('127.0.0.1', driver.port, '057188880000', '95105');
    await terminal.waitForEst();
    await terminal.send(request);
    const response = await terminal.receive();
    // Let the ACK for the response leave before REL.
    await new Promise((r) => setTimeout(r, 400));
    terminal.release();
    const reason = await ended;
    return { response, engine, terminal, seen, ended: reason };
  } finally {
    terminal.dispose();
    client.destroy();
    await engine.stop();
  }
}

const expectedAnswer = (req: Uint8Array): number[] => [0xa5, ...req].reverse();

describe('channel engine over TCP PCM with the real modem', () => {
  jest.setTimeout(30000);

  it.each(['es201912-v23', 'bell202-crc16'])('%s: request, response, release', async (profileId) => {
    const request = Uint8Array.from({ length: 60 }, (_, i) => (i * 37) & 0xff);
    const { response, engine, seen, ended } = await runCall(profileId, request, {});
    expect([...response]).toEqual(expectedAnswer(request));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.callerNumber).toBe('057188880000');
    expect(seen[0]?.profileId).toBe(profileId);
    // The terminal ACKed the answer, and the platform is told so.
    await expect(seen[0]?.answerSettled).resolves.toBe(true);
    const m = engine.metrics();
    expect(m.requests).toBe(1);
    expect(m.responses).toBe(1);
    expect(m.outcomes).toEqual({ OK: 1 });
    expect(m.linesActive).toBe(0);
    expect(Number.isFinite(m.meanSnrDb)).toBe(true);
    expect(ended).toBe('hangup'); // the engine's BYE after REL
  });

  it('a corrupt request frame is NAKed and retransmitted; a lost response is retransmitted after the ACK timeout', async () => {
    const request = Uint8Array.from({ length: 300 }, (_, i) => (i * 11) & 0xff); // two segments in es201912-v23
    const { response, engine, terminal } = await runCall('es201912-v23', request, {
      corruptDataFrames: 1,
      ignoreHostDataFrames: 1,
    });
    expect([...response]).toEqual(expectedAnswer(request));
    const m = engine.metrics();
    expect(m.badFramesByCode).toMatchObject({ LINK_CHECK_MISMATCH: 1 });
    expect(terminal.counters.naksReceived).toBe(1);
    expect(terminal.counters.retransmissions).toBe(1);
    expect(m.retransmissions).toBeGreaterThanOrEqual(1); // the engine resent the response segment the terminal "lost"
    expect(m.outcomes).toEqual({ OK: 1 });
  });
});

describe('an answer that never reaches the terminal', () => {
  jest.setTimeout(30000);

  it('settles false when the call drops while the platform is still working', async () => {
    const driver = new TcpPcmLineDriver({ port: 0 });
    let seen: TerminalRequest | undefined;
    let answeredResolve: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => {
      answeredResolve = resolve;
    });
    const handler: RequestHandler = async (req) => {
      seen = req;
      await new Promise((r) => setTimeout(r, 600));
      answeredResolve();
      return Uint8Array.of(9, 9, 9);
    };
    const engine = new ChannelEngine({ profiles, defaultProfileId: 'es201912-v23', handler, nodeId: 'test' });
    engine.addDriver(driver);
    await engine.start();
    const { terminal, client, dispose } = await dialTerminal(
      driver.port,
      requireProfile(profiles, 'es201912-v23'),
      '057188880000',
    );
    try {
      await terminal.send(Uint8Array.of(1, 2, 3));
      client.destroy(); // the caller hangs up before the answer is ready
      await answered;
      await expect(seen?.answerSettled).resolves.toBe(false);
    } finally {
      dispose();
      await engine.stop();
    }
  });
});

describe('drain and malformed input over TCP PCM', () => {
  jest.setTimeout(30000);

  it('refuses new calls while draining, lets the live call finish, and survives a malformed client', async () => {
    const driver = new TcpPcmLineDriver({ port: 0 });
    const engine = new ChannelEngine({
      profiles,
      defaultProfileId: 'es201912-v23',
      handler: (req) => Promise.resolve(req.payload),
    }).addDriver(driver);
    await engine.start();
    const terminal = new TerminalEndpoint(requireProfile(profiles, 'es201912-v23'));
    const client = new TcpPcmClient();
    client.onAudio = (pcm) => {
      terminal.pushAudio(pcm);
    };
    terminal.onAudioOut = (pcm) => {
      client.sendAudio(pcm);
      setImmediate(() => {
        terminal.playoutDone();
      });
    };
    try {
      // A malformed client: a length over the limit. It is dropped and counted.
      const bad = new TcpPcmClient();
      await expect(
        (async () => {
          const p = bad.dial('127.0.0.1', driver.port, '1');
          await p;
          bad.sendRaw(Uint8Array.of(0x02, 0xff, 0xff));
        })(),
      ).resolves.toBeUndefined();
      await client.dial('127.0.0.1', driver.port, '057188880000');
      await terminal.waitForEst();
      const drained = engine.drain(20000);
      const late = new TcpPcmClient();
      await expect(late.dial('127.0.0.1', driver.port, '2')).rejects.toThrow(/FP3620/);
      await terminal.send(Uint8Array.of(1, 2, 3));
      expect([...(await terminal.receive())]).toEqual([1, 2, 3]);
      await new Promise((r) => setTimeout(r, 400));
      terminal.release();
      await drained;
      const m = engine.metrics();
      expect(m.linesActive).toBe(0);
      expect(m.callsRefused).toBe(1);
      expect(m.drivers['tcp-pcm.tcpMalformed']).toBe(1);
      // The malformed client's call was answered, then cut by the driver (a remote hang-up for the session).
      expect(m.outcomes).toEqual({ OK: 2 });
      bad.destroy();
      late.destroy();
    } finally {
      terminal.dispose();
      client.destroy();
      await engine.stop();
    }
  });
});
