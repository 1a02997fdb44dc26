/**
 * Hostile peers against the TCP PCM driver over real loopback sockets (issue 10): garbage,
 * oversized and truncated framing, a fault inside one call, a peer that never reads, and
 * connections that never say HELLO. Each ends that connection only; the next call works.
 */
import net from 'node:net';
import type { CallListener, CallOffer, LineCall, LineHost, OfferAnswer } from './types';
import { encodeTcpPcm, TCP_PCM_TYPE, TcpPcmClient, TcpPcmLineDriver } from './tcp-pcm';
import type { TcpPcmDriverOptions } from './tcp-pcm';

class Host implements LineHost {
  draining = false;
  calls: LineCall[] = [];
  hangups: string[] = [];
  throwOnAudio = false;
  /** Audio played to each new call at once (a peer that never reads fills its buffers). */
  playOnAttach: Int16Array | undefined;
  offer(_offer: CallOffer): OfferAnswer {
    return {
      accept: true,
      attach: (call): CallListener => {
        this.calls.push(call);
        if (this.playOnAttach !== undefined) {
          const pcm = this.playOnAttach;
          setImmediate(() => call.play(pcm));
        }
        return {
          onAudio: () => {
            if (this.throwOnAudio) throw new Error('listener bug');
          },
          onPlayoutDone: () => {},
          onHangup: (reason) => this.hangups.push(reason),
        };
      },
    };
  }
}

async function withDriver(
  options: Partial<TcpPcmDriverOptions>,
  run: (driver: TcpPcmLineDriver, host: Host) => Promise<void>,
): Promise<void> {
  const host = new Host();
  const driver = new TcpPcmLineDriver({ port: 0, ...options });
  await driver.start(host);
  try {
    await run(driver, host);
  } finally {
    await driver.stop();
  }
}

/** Opens a raw socket, writes `bytes`, resolves with what came back once the engine closed it. */
function rawExchange(port: number, bytes: Uint8Array, endAfterWrite = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(bytes);
      if (endAfterWrite) s.end();
    });
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function callWorks(port: number): Promise<void> {
  const c = new TcpPcmClient();
  await c.dial('127.0.0.1', port, '057100001111');
  c.hangup();
}

describe('TCP PCM driver against hostile peers', () => {
  jest.setTimeout(30_000);

  it('garbage, oversized and truncated framing end that connection only', async () => {
    await withDriver({}, async (driver) => {
      const garbage = await rawExchange(driver.port, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      expect(garbage.subarray(3).toString('latin1')).toBe('FP3600');
      const oversized = await rawExchange(driver.port, Uint8Array.of(TCP_PCM_TYPE.hello, 0xff, 0xff));
      expect(oversized.subarray(3).toString('latin1')).toBe('FP3600');
      // A truncated HELLO then a half-close: the connection is closed, nothing is answered.
      const truncated = await rawExchange(driver.port, Uint8Array.of(TCP_PCM_TYPE.hello, 0, 10, 0x30), true);
      expect(truncated.length).toBe(0);
      await callWorks(driver.port);
      expect(driver.metrics()).toMatchObject({ tcpMalformed: 2, tcpCallsAnswered: 1 });
    });
  });

  it('a fault inside one call (a throwing listener) ends that call with FP3645; the driver serves the next', async () => {
    await withDriver({}, async (driver, host) => {
      host.throwOnAudio = true;
      const c = new TcpPcmClient();
      const ended = new Promise<string>((r) => {
        c.onEnd = r;
      });
      await c.dial('127.0.0.1', driver.port, '057100001111');
      c.sendAudio(new Int16Array(160));
      expect(await ended).toBe('FP3645');
      expect(host.hangups).toEqual(['error']);
      expect(driver.metrics()).toMatchObject({ tcpFaults: 1, tcpActive: 0 });
      host.throwOnAudio = false;
      await callWorks(driver.port);
    });
  });

  it('a peer that never reads is dropped once its unsent audio passes the limit', async () => {
    await withDriver({ pace: false, maxWriteBufferBytes: 64 * 1024 }, async (driver, host) => {
      host.playOnAttach = new Int16Array(8_000_000); // 16 MB, far beyond the socket buffers
      const s = net.connect(driver.port, '127.0.0.1');
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write(encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from('057100001111', 'latin1')));
      s.pause(); // never read
      await until(() => host.hangups.length === 1);
      expect(host.hangups).toEqual(['error']);
      expect(driver.metrics()).toMatchObject({ tcpSlowPeers: 1, tcpActive: 0 });
      s.destroy();
      host.playOnAttach = undefined;
      await callWorks(driver.port);
    });
  });

  it('connections that never send HELLO beyond the pending limit are closed at once', async () => {
    await withDriver({ maxPendingConnections: 3, helloTimeoutMs: 20_000 }, async (driver) => {
      const idle = await Promise.all(
        [0, 1, 2].map(
          () =>
            new Promise<net.Socket>((resolve) => {
              const s = net.connect(driver.port, '127.0.0.1', () => resolve(s));
            }),
        ),
      );
      await until(() => driver.metrics().tcpActive === 3);
      const extra = await rawExchange(driver.port, new Uint8Array(0));
      expect(extra.length).toBe(0);
      expect(driver.metrics()).toMatchObject({ tcpPendingRefused: 1 });
      for (const s of idle) s.destroy();
      await until(() => driver.metrics().tcpActive === 0);
      await callWorks(driver.port);
    });
  });
});
