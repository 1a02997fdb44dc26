/**
 * The TLS-PSK transport of `fixpay hsm serve` (ADR 0009, "Transport") over real TCP on 127.0.0.1:
 * a passive observer between client and server sees no PIN block, key handle or MAC input (and
 * sees all three with the plain transport); a wrong secret fails in the TLS handshake; plain TCP,
 * garbage before or after the handshake and offers without the PSK are refused without harm to
 * other clients.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { isFixpayError } from '../../domain/errors';
import { fromHex, toHex } from '../crypto/bytes';
import { encodePinBlock } from '../crypto/pin-block';
import { blockCipher } from '../crypto/block-cipher';
import { SoftwareHsm } from '../software/software-hsm';
import { NetworkHsm } from './client';
import { frame } from './codec';
import { startHsmServer } from './server';
import type { RunningHsmServer } from './server';
import { clientTlsOptions, derivePsk, HSM_TLS } from './tls-psk';
import type { HsmTransport } from './tls-psk';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const CLIENT = { id: 'switch-1', secret: Buffer.alloc(32, 7) };
const TIMEOUT = { requestTimeoutMs: 10_000, connectTimeoutMs: 10_000 };

/** A TCP proxy that forwards both ways and records every byte it carries. */
async function recordingProxy(target: { host: string; port: number }): Promise<{
  port: number;
  seen: () => Buffer;
  close: () => Promise<void>;
}> {
  const chunks: Buffer[] = [];
  const sockets: Socket[] = [];
  const proxy: Server = createServer((inbound) => {
    const outbound = connect(target);
    sockets.push(inbound, outbound);
    inbound.on('data', (c: Buffer) => {
      chunks.push(Buffer.from(c));
      outbound.write(c);
    });
    outbound.on('data', (c: Buffer) => {
      chunks.push(Buffer.from(c));
      inbound.write(c);
    });
    for (const [a, b] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    port: (proxy.address() as AddressInfo).port,
    seen: () => Buffer.concat(chunks),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => r());
      }),
  };
}

/** Runs PIN translation, MAC generation and key generation through a recording proxy. */
async function observe(transport: HsmTransport): Promise<{ wire: string; needles: string[] }> {
  const soft = new SoftwareHsm({ lmk: LMK });
  const server = await startHsmServer({ hsm: soft, port: 0, clients: [CLIENT], transport });
  const proxy = await recordingProxy(server);
  const client = new NetworkHsm({ host: '127.0.0.1', port: proxy.port, credentials: CLIENT, transport, ...TIMEOUT });
  try {
    const tpkClear = '0123456789ABCDEFFEDCBA9876543210';
    const tpk = soft.importClearKey('TPK', 'tdes2', tpkClear);
    const zpk = soft.importClearKey('ZPK', 'tdes2', '89ABCDEF01234567FEDCBA9876543210');
    const tak = soft.importClearKey('TAK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
    const pan = '4012345678909';
    const clearBlock = encodePinBlock(0, '1234', pan);
    const pinBlock = blockCipher('tdes', fromHex(tpkClear)).encrypt(clearBlock);
    const translated = await client.translatePin({
      source: { key: tpk.handle, format: 0 },
      target: { key: zpk.handle, format: 0 },
      pinBlock,
      pan,
    });
    const macInput = Buffer.from('Now is the time for all ', 'ascii');
    const mac = await client.generateMac({ key: tak.handle, algorithm: 'x9.19', data: macInput });
    const generated = await client.generateKey({ type: 'TAK', algorithm: 'tdes2' });
    const wire = proxy.seen().toString('latin1');
    return {
      wire,
      needles: [
        toHex(pinBlock),
        toHex(translated),
        tpk.handle,
        zpk.handle,
        toHex(macInput),
        toHex(mac),
        generated.handle,
        pan,
      ],
    };
  } finally {
    client.close();
    await proxy.close();
    await server.close();
  }
}

function tlsAttempt(
  server: RunningHsmServer,
  options: ConnectionOptions,
): Promise<{ secure: boolean; error?: string; protocol?: string | null; group?: string }> {
  return new Promise((resolve) => {
    const s: TLSSocket = connectTls({ host: server.host, port: server.port, ...options });
    s.once('secureConnect', () => {
      const info = s.getEphemeralKeyInfo();
      const group = info !== null && 'name' in info ? info.name : undefined;
      resolve({ secure: true, protocol: s.getProtocol(), ...(group === undefined ? {} : { group }) });
      s.destroy();
    });
    s.once('error', (e: Error & { code?: string }) => resolve({ secure: false, error: e.code ?? e.message }));
  });
}

/** Plain TCP: writes `bytes`, collects what comes back until the server closes. */
function rawExchange(server: RunningHsmServer, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    const s = connect({ host: server.host, port: server.port }, () => s.write(bytes));
    s.on('data', (c: Buffer) => got.push(c));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

describe('HSM link: TLS-PSK transport', () => {
  it('a passive observer sees PIN blocks, handles and MAC input with plain, and none of them with tls-psk', async () => {
    const plain = await observe('plain');
    for (const n of plain.needles) expect(plain.wire).toContain(n);
    const tls = await observe('tls-psk');
    expect(tls.wire.length).toBeGreaterThan(0);
    for (const n of tls.needles) expect(tls.wire).not.toContain(n);
    // Not even the host-protocol commands show; the PSK and the secret never cross either.
    expect(tls.wire).not.toMatch(/XA|NC|CA[0-9A-F]|M6/u);
    expect(tls.wire).not.toContain(derivePsk(CLIENT.secret, CLIENT.id).toString('latin1'));
    expect(tls.wire).not.toContain(CLIENT.secret.toString('latin1'));
  });

  describe('against one server', () => {
    let server: RunningHsmServer;
    beforeAll(async () => {
      server = await startHsmServer({
        hsm: new SoftwareHsm({ lmk: LMK }),
        port: 0,
        clients: [CLIENT],
        limits: { handshakeTimeoutMs: 10_000 },
      });
    });
    afterAll(async () => {
      await server.close();
    });
    const good = (): NetworkHsm =>
      new NetworkHsm({ host: server.host, port: server.port, credentials: CLIENT, ...TIMEOUT });
    const stillServes = async (): Promise<void> => {
      const c = good();
      expect(await c.echo('still here')).toBe('still here');
      c.close();
    };

    it('negotiates TLS 1.3 with an ephemeral key exchange (forward secrecy) on the right PSK', async () => {
      expect(server.transport).toBe('tls-psk');
      const ok = await tlsAttempt(server, clientTlsOptions(CLIENT));
      expect(ok).toMatchObject({ secure: true, protocol: 'TLSv1.3' });
      expect(ok.group).toEqual(expect.any(String));
    });

    it('a wrong secret or an unknown client id fails at the TLS handshake, before any host-protocol byte', async () => {
      const wrongSecret = await tlsAttempt(server, clientTlsOptions({ id: CLIENT.id, secret: Buffer.alloc(32, 8) }));
      expect(wrongSecret.secure).toBe(false);
      expect(wrongSecret.error).toMatch(/^ERR_SSL_/);
      const unknownId = await tlsAttempt(server, clientTlsOptions({ id: 'intruder', secret: CLIENT.secret }));
      expect(unknownId.secure).toBe(false);
      // The raw secret as PSK (no HKDF) is not the key either.
      const rawSecret = await tlsAttempt(server, {
        ...clientTlsOptions(CLIENT),
        pskCallback: () => ({ psk: CLIENT.secret, identity: CLIENT.id }),
      });
      expect(rawSecret.secure).toBe(false);
      const bad = new NetworkHsm({
        host: server.host,
        port: server.port,
        credentials: { ...CLIENT, secret: Buffer.alloc(32, 8) },
        ...TIMEOUT,
      });
      const e: unknown = await bad.diagnostics().catch((err: unknown) => err);
      expect(isFixpayError(e, 'HSM_CLIENT_UNAUTHENTICATED')).toBe(true);
      bad.close();
      await stillServes();
    });

    it('refuses a downgrade: TLS 1.2 PSK suites, certificate-only offers, SHA-384-only suites', async () => {
      const tls12 = await tlsAttempt(server, {
        ...clientTlsOptions(CLIENT),
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        ciphers: 'PSK-AES128-CBC-SHA:ECDHE-PSK-CHACHA20-POLY1305',
      });
      expect(tls12.secure).toBe(false);
      const noPsk = await tlsAttempt(server, {
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.3',
        rejectUnauthorized: false,
        ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256',
      });
      expect(noPsk.secure).toBe(false);
      const sha384 = await tlsAttempt(server, { ...clientTlsOptions(CLIENT), ciphers: 'TLS_AES_256_GCM_SHA384' });
      expect(sha384.secure).toBe(false);
      await stillServes();
    });

    it('a plain-TCP client gets nothing served: host-protocol frames and garbage are answered with a TLS alert at most', async () => {
      for (const bytes of [
        Buffer.concat([frame('0001NC'), frame('0002B20002ok')]),
        frame(`0001XA0008switch-1${'00'.repeat(32)}`),
        randomBytes(512),
        Buffer.from('GET / HTTP/1.1\r\nHost: hsm\r\n\r\n', 'ascii'),
        Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0xff, 0xff]), randomBytes(200)]),
      ]) {
        const got = await rawExchange(server, bytes);
        const text = got.toString('latin1');
        expect(text).not.toMatch(/ND|B3|XB|F9/u);
        // Nothing, or TLS alert records (content type 21).
        if (got.length > 0) expect(got[0]).toBe(0x15);
      }
      expect(server.stats().some((c) => c.client !== undefined)).toBe(false);
      await stillServes();
    });

    it('garbage injected into the TCP stream after the handshake closes that connection only', async () => {
      const raw = connect({ host: server.host, port: server.port });
      raw.on('error', () => undefined);
      const tls = connectTls({ socket: raw, ...clientTlsOptions(CLIENT) });
      tls.on('error', () => undefined);
      await new Promise<void>((r) => tls.once('secureConnect', () => r()));
      const closed = new Promise<void>((r) => tls.once('close', () => r()));
      raw.write(randomBytes(300)); // under the TLS layer: not a valid record
      await closed;
      await stillServes();
    });
  });

  it('derives the PSK with HKDF under its own label: per client, not the raw secret', () => {
    const psk = derivePsk(CLIENT.secret, CLIENT.id);
    expect(psk).toHaveLength(HSM_TLS.pskBytes);
    expect(psk.equals(derivePsk(CLIENT.secret, CLIENT.id))).toBe(true);
    expect(psk.equals(derivePsk(CLIENT.secret, 'switch-2'))).toBe(false);
    expect(psk.equals(derivePsk(Buffer.alloc(32, 8), CLIENT.id))).toBe(false);
    expect(psk.equals(CLIENT.secret)).toBe(false);
  });
});
