/**
 * Issue #10 against `fixpay hsm serve` over real TCP on 127.0.0.1 (port 0): defect 2 (no client
 * authentication; key export/import attack chains over the wire) and defect 7 (slow connections
 * locking everyone out; pipelining without reading growing the server's memory). The server runs
 * its default transport (TLS-PSK); `open` is a client holding a valid PSK that then speaks the host
 * protocol by hand (attacks on the `X*` layer inside the tunnel), `openRaw` plain TCP (attacks on
 * the TLS layer).
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { isFixpayError } from '../../domain/errors';
import { fromHex } from '../crypto/bytes';
import { attackChains } from '../__fixtures__/attack-chains';
import { SoftwareHsm } from '../software/software-hsm';
import { authProof } from './auth';
import { NetworkHsm } from './client';
import { FieldReader, FieldWriter, frame, FrameReader } from './codec';
import { startHsmServer } from './server';
import type { HsmServerLimits, RunningHsmServer } from './server';
import { clientTlsOptions } from './tls-psk';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const CLIENT = { id: 'switch-1', secret: Buffer.alloc(32, 7) };

/** A TLS-PSK connection as CLIENT (or `as`), before any host-protocol byte. */
function open(server: RunningHsmServer, as = CLIENT): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connectTls({ host: server.host, port: server.port, ...clientTlsOptions(as) }, () => resolve(s));
    s.once('error', reject);
  });
}

/** A plain TCP connection: what reaches the TLS layer without a key. */
function openRaw(server: RunningHsmServer): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: server.host, port: server.port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads framed replies off a raw socket, one at a time. */
function replies(socket: Socket): () => Promise<string> {
  const reader = new FrameReader(70_000);
  const ready: string[] = [];
  const waiting: ((m: string) => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const m of reader.push(chunk)) {
      const w = waiting.shift();
      if (w === undefined) ready.push(m.toString('latin1'));
      else w(m.toString('latin1'));
    }
  });
  return () => {
    const m = ready.shift();
    return m === undefined ? new Promise((r) => waiting.push(r)) : Promise.resolve(m);
  };
}

/** The handshake by hand on a raw socket (what any client must do). */
async function authenticate(socket: Socket, next: () => Promise<string>): Promise<void> {
  const clientNonce = Buffer.alloc(32, 1);
  socket.write(frame(`0001XA${new FieldWriter().variable(CLIENT.id).bytes(clientNonce).toString()}`));
  const hello = await next();
  expect(hello.slice(4, 8)).toBe('XB00');
  const serverNonce = new FieldReader(hello.slice(8)).bytes();
  const proof = authProof(CLIENT.secret, 'client', CLIENT.id, clientNonce, serverNonce);
  socket.write(frame(`0002XC${new FieldWriter().bytes(proof).toString()}`));
  expect((await next()).slice(4, 8)).toBe('XD00');
}

const closed = (s: Socket): Promise<void> =>
  s.destroyed ? Promise.resolve() : new Promise((r) => s.once('close', () => r()));

async function withServer(
  limits: Partial<HsmServerLimits>,
  body: (server: RunningHsmServer, soft: SoftwareHsm) => Promise<void>,
  clients = [CLIENT],
): Promise<void> {
  const soft = new SoftwareHsm({ lmk: LMK });
  const server = await startHsmServer({ hsm: soft, port: 0, clients, limits });
  try {
    await body(server, soft);
  } finally {
    await server.close();
  }
}

describe('fixpay hsm serve: client authentication (issue #10, defect 2)', () => {
  it('answers nothing before authentication: a command is refused with F9 and the connection closed', async () => {
    await withServer({}, async (server) => {
      const s = await open(server);
      const next = replies(s);
      s.write(frame('0001NC'));
      expect(await next()).toBe('0001NDF9');
      await closed(s);
    });
  });

  it('refuses a wrong secret, an unknown client id and no credentials; the right ones work', async () => {
    await withServer({}, async (server) => {
      const at = { host: server.host, port: server.port, requestTimeoutMs: 2000 };
      for (const credentials of [
        { id: CLIENT.id, secret: Buffer.alloc(32, 8) },
        { id: 'intruder', secret: CLIENT.secret },
      ]) {
        const bad = new NetworkHsm({ ...at, credentials });
        const e: unknown = await bad.diagnostics().catch((err: unknown) => err);
        expect(isFixpayError(e, 'HSM_CLIENT_UNAUTHENTICATED')).toBe(true);
        bad.close();
      }
      // Without credentials there is no PSK: refused before connecting; in plain, the TLS layer drops it.
      expect(() => new NetworkHsm(at)).toThrow(/credential/);
      const none = new NetworkHsm({ ...at, transport: 'plain' });
      const e: unknown = await none.diagnostics().catch((err: unknown) => err);
      expect(isFixpayError(e, 'HSM_UNAVAILABLE')).toBe(true);
      none.close();
      const good = new NetworkHsm({ ...at, credentials: CLIENT });
      expect((await good.diagnostics()).firmware).toMatch(/fixpay/);
      good.close();
    });
  });

  it('refuses a server that cannot prove it holds the secret (the client checks XD)', async () => {
    const soft = new SoftwareHsm({ lmk: LMK });
    const impostor = await startHsmServer({
      hsm: soft,
      port: 0,
      clients: [{ id: CLIENT.id, secret: Buffer.alloc(32, 9) }],
    });
    try {
      // The impostor refuses our proof already; either way no command is sent to it.
      const c = new NetworkHsm({
        host: impostor.host,
        port: impostor.port,
        requestTimeoutMs: 2000,
        credentials: CLIENT,
      });
      const e: unknown = await c.diagnostics().catch((err: unknown) => err);
      expect(isFixpayError(e, 'HSM_CLIENT_UNAUTHENTICATED')).toBe(true);
      c.close();
    } finally {
      await impostor.close();
    }
  });

  it('answers a malformed or out-of-order handshake with F9, executes nothing after it, and keeps serving others', async () => {
    await withServer({}, async (server) => {
      for (const hostile of [
        '0001XA',
        '0001XAFFFFzz',
        `0001XA${new FieldWriter().variable('bad id!').bytes(Buffer.alloc(32)).toString()}`,
        `0001XA${new FieldWriter().variable(CLIENT.id).bytes(Buffer.alloc(3)).toString()}`,
        `0001XC${new FieldWriter().bytes(Buffer.alloc(32)).toString()}`,
      ]) {
        const s = await open(server);
        const next = replies(s);
        // A refused handshake followed by a command in the same segment: only the refusal comes back.
        s.write(Buffer.concat([frame(hostile), frame('0002NC')]));
        expect((await next()).slice(6)).toBe('F9');
        await closed(s);
      }
      const good = new NetworkHsm({
        host: server.host,
        port: server.port,
        requestTimeoutMs: 2000,
        credentials: CLIENT,
      });
      expect(await good.echo('ok')).toBe('ok');
      good.close();
    });
  });

  it('refuses an X* hello naming another client than the TLS identity (the two layers are bound)', async () => {
    const OTHER = { id: 'switch-2', secret: Buffer.alloc(32, 5) };
    await withServer(
      {},
      async (server) => {
        const s = await open(server, OTHER);
        const next = replies(s);
        // OTHER's TLS key, then CLIENT's id and a correct-looking hello: refused before any nonce.
        s.write(frame(`0001XA${new FieldWriter().variable(CLIENT.id).bytes(Buffer.alloc(32, 1)).toString()}`));
        expect(await next()).toBe('0001XBF9');
        await closed(s);
      },
      [CLIENT, OTHER],
    );
  });

  it('refuses to start without any client credential', async () => {
    const e: unknown = await startHsmServer({ hsm: new SoftwareHsm({ lmk: LMK }), port: 0, clients: [] }).catch(
      (err: unknown) => err,
    );
    expect(isFixpayError(e, 'CONFIG_INVALID')).toBe(true);
  });
});

describe('over the wire', () => {
  let server: RunningHsmServer;
  let client: NetworkHsm;
  const soft = new SoftwareHsm({ lmk: LMK });

  beforeAll(async () => {
    server = await startHsmServer({ hsm: soft, port: 0, clients: [CLIENT] });
    client = new NetworkHsm({ host: server.host, port: server.port, requestTimeoutMs: 5000, credentials: CLIENT });
  });

  afterAll(async () => {
    client.close();
    await server.close();
  });

  attackChains('network HSM', () => ({ hsm: client, soft }));
});

describe('fixpay hsm serve: limits (issue #10, defect 7)', () => {
  it('64 connections that each send two bytes and stall do not lock out an authenticated client', async () => {
    await withServer({ handshakesMax: 16, connectionsMax: 64 }, async (server) => {
      const slow: Socket[] = [];
      for (let i = 0; i < 64; i++) {
        // Half stall inside the TLS handshake (plain TCP), half inside the tunnel before X*.
        const s = i % 2 === 0 ? await openRaw(server) : await open(server);
        s.on('error', () => undefined);
        s.write(Buffer.from([0x00, 0x10])); // a length prefix, then nothing
        slow.push(s);
      }
      const good = new NetworkHsm({
        host: server.host,
        port: server.port,
        requestTimeoutMs: 5000,
        credentials: CLIENT,
      });
      expect((await good.diagnostics()).firmware).toMatch(/fixpay/);
      expect(await good.echo('still here')).toBe('still here');
      // At most `handshakesMax` unauthenticated connections are held; the rest were evicted.
      expect(server.stats().filter((c) => c.client === undefined).length).toBeLessThanOrEqual(16);
      good.close();
      for (const s of slow) s.destroy();
    });
  });

  it('closes a connection whose frame never completes (frame timeout) and one that never authenticates', async () => {
    await withServer({ frameTimeoutMs: 100, handshakeTimeoutMs: 60_000 }, async (server) => {
      const s = await open(server);
      s.write(Buffer.from([0x00, 0x10, 0x30]));
      await closed(s);
    });
    await withServer({ handshakeTimeoutMs: 100 }, async (server) => {
      const s = await open(server);
      await closed(s);
      // The TLS handshake counts: a TCP connection that never starts it is closed as well.
      const raw = await openRaw(server);
      raw.write(Buffer.from([0x16, 0x03])); // the start of a TLS record, then nothing
      await closed(raw);
    });
  });

  it('closes an authenticated connection idle for longer than the idle timeout', async () => {
    await withServer({ idleTimeoutMs: 150 }, async (server) => {
      const s = await open(server);
      await authenticate(s, replies(s));
      await closed(s);
    });
  });

  it('caps authenticated connections per client id (HSM_BUSY beyond)', async () => {
    await withServer({ connectionsPerClientMax: 2 }, async (server) => {
      const at = { host: server.host, port: server.port, requestTimeoutMs: 2000, credentials: CLIENT };
      const clients = [new NetworkHsm(at), new NetworkHsm(at), new NetworkHsm(at)];
      const [a, b, c] = clients;
      await a?.diagnostics();
      await b?.diagnostics();
      const e: unknown = await c?.diagnostics().catch((err: unknown) => err);
      expect(isFixpayError(e, 'HSM_BUSY')).toBe(true);
      for (const x of clients) x.close();
    });
  });

  it('a client that pipelines requests and never reads the answers gets its reading stopped (bounded queues)', async () => {
    const messageBytesMax = 70_000;
    const socketBufferBytes = 65_536;
    await withServer({ messageBytesMax, socketBufferBytes }, async (server) => {
      const s = await open(server);
      await authenticate(s, replies(s));
      s.pause(); // never read again
      // 8 KB echo requests: each answer is as large as its request.
      const echo = frame(`0003B2${new FieldWriter().variable('x'.repeat(8_000)).toString()}`);
      const total = 64 * 1024 * 1024;
      let written = 0;
      let serverReadAll = false;
      while (written < total) {
        written += echo.length;
        if (!s.write(echo)) {
          // The kernel buffers filled: wait until the server reads more, or stops reading.
          const outcome = await Promise.race([
            new Promise<'drained'>((r) => s.once('drain', () => r('drained'))),
            (async (): Promise<'paused'> => {
              for (;;) {
                if (server.stats().some((c) => c.paused)) return 'paused';
                await new Promise((r) => setTimeout(r, 20));
              }
            })(),
          ]);
          if (outcome === 'paused') break;
        }
        if (written >= total) serverReadAll = true;
      }
      // Before the fix the server read all 64 MB and queued every answer in memory.
      expect(serverReadAll).toBe(false);
      const [conn] = server.stats().filter((c) => c.client !== undefined);
      expect(conn?.paused).toBe(true);
      expect(conn?.unreadBytes ?? Infinity).toBeLessThanOrEqual(messageBytesMax + 2 + 65_536);
      expect(conn?.unsentBytes ?? Infinity).toBeLessThanOrEqual(socketBufferBytes + messageBytesMax + 2);
      s.destroy();
    });
  });
});
