/**
 * The codec endpoint over a real socket: decrypts for the UI with the operator token (CORS for the
 * UI origin) and refuses without it.
 */
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import { startCodecServer, tokenMatches } from './codec-server';
import type { RunningCodecServer } from './codec-server';
import { AesGcmPayloadCodec } from './payload-codec';
import { maskPan } from '../domain/masking';

const token = randomBytes(24).toString('hex');
const uiOrigin = 'http://localhost:8233';
const b64 = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

describe('codec endpoint (Temporal codec-server protocol)', () => {
  const codec = new AesGcmPayloadCodec([{ id: 'k1', key: randomBytes(32) }]);
  let server: RunningCodecServer;
  let base: string;

  beforeAll(async () => {
    server = await startCodecServer({ codec, operatorToken: token, corsOrigins: [uiOrigin], port: 0 });
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.close();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default', origin: uiOrigin, ...headers },
      body: JSON.stringify(body),
    });

  it('decodes for the UI with the operator token, with CORS for the UI origin', async () => {
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload({ pan: '4012345678909' })]);
    const res = await post('/decode', { payloads: [b64(encrypted as Payload)] }, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    const first = body.payloads[0];
    // Decoded for display: the PAN masked to BIN + last four (ADR 0022), never in clear.
    expect(Buffer.from(first?.data ?? '', 'base64').toString()).toBe(JSON.stringify({ pan: maskPan('4012345678909') }));
    expect(Buffer.from(first?.data ?? '', 'base64').toString()).not.toContain('4012345678909');
    expect(Buffer.from(first?.metadata['encoding'] ?? '', 'base64').toString()).toBe('json/plain');
  });

  it('masks card data in what it decodes: track data, PIN blocks, keys hidden; non-JSON bytes by size only', async () => {
    const [json, bytes] = await codec.encode([
      defaultPayloadConverter.toPayload({
        request: { track2: '4012345678909=30122011234567890', pinBlock: '0123456789ABCDEF', amount: 100 },
        note: 'card 4012345678909 swiped',
      }),
      { metadata: { encoding: Buffer.from('binary/plain') }, data: Buffer.from('4012345678909=3012201') },
    ]);
    const res = await post(
      '/decode',
      { payloads: [b64(json as Payload), b64(bytes as Payload)] },
      { authorization: `Bearer ${token}` },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { payloads: { data: string }[] };
    const [first, second] = body.payloads.map((p) => Buffer.from(p.data, 'base64').toString());
    expect(JSON.parse(first ?? '')).toEqual({
      request: { track2: '[REDACTED]', pinBlock: '[REDACTED]', amount: 100 },
      note: `card ${maskPan('4012345678909')} swiped`,
    });
    expect(second).toBe('"<21 bytes of binary/plain, not shown>"');
    for (const text of [first, second]) expect(text).not.toMatch(/4012345678909|0123456789ABCDEF/);
  });

  it('encodes too, and the result decodes back', async () => {
    const plain = defaultPayloadConverter.toPayload('hello');
    const res = await post('/encode', { payloads: [b64(plain)] }, { authorization: `Bearer ${token}` });
    const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    const p = body.payloads[0];
    const encoded: Payload = {
      metadata: Object.fromEntries(Object.entries(p?.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      data: Buffer.from(p?.data ?? '', 'base64'),
    };
    const [decoded] = await codec.decode([encoded]);
    expect(defaultPayloadConverter.fromPayload(decoded as Payload)).toBe('hello');
  });

  it('refuses without the token, with a wrong token and with a malformed header (401, FP1006)', async () => {
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload('secret')]);
    for (const headers of [{}, { authorization: `Bearer ${token}x` }, { authorization: token }]) {
      const res = await post('/decode', { payloads: [b64(encrypted as Payload)] }, headers);
      expect(res.status).toBe(401);
      const body = (await res.json()) as { code: string };
      expect(body.code).toBe('FP1006');
    }
  });

  it('answers CORS preflight for the UI origin only', async () => {
    const ok = await fetch(`${base}/decode`, {
      method: 'OPTIONS',
      headers: { origin: uiOrigin, 'access-control-request-method': 'POST' },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-headers')).toContain('Authorization');
    const other = await fetch(`${base}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('rejects malformed bodies and tampered payloads with problem+json', async () => {
    const auth = { authorization: `Bearer ${token}` };
    expect((await post('/decode', { nope: 1 }, auth)).status).toBe(400);
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload('x')]);
    const bad = b64(encrypted as Payload);
    bad.data = Buffer.from('garbage-garbage-garbage-garbage-garbage').toString('base64');
    const res = await post('/decode', { payloads: [bad] }, auth);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('FP4019');
  });

  it('answers hostile requests with problem+json and the security headers, never HTML or 500 (issue #10, defect 11)', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const expectHardened = async (res: Response, status: number, code: string): Promise<void> => {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(((await res.json()) as { code: string }).code).toBe(code);
    };
    // An unknown key id is the caller's mistake: 400, not 500.
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload('x')]);
    const foreign = b64(encrypted as Payload);
    foreign.metadata['encryption-key-id'] = Buffer.from('no-such-key').toString('base64');
    await expectHardened(await post('/decode', { payloads: [foreign] }, auth), 400, 'FP4018');
    // Express's HTML pages: a wrong method, an unknown path.
    await expectHardened(await fetch(`${base}/decode`, { headers: auth }), 405, 'FP1044');
    await expectHardened(await fetch(`${base}/nope`, { headers: auth }), 404, 'FP1004');
    // Limits: a body over the limit, a foreign charset.
    const big = await fetch(`${base}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: `{"payloads":["${'A'.repeat(10 * 1024 * 1024)}"]}`,
    });
    await expectHardened(big, 413, 'FP1042');
    const latin1 = await fetch(`${base}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=latin1', ...auth },
      body: '{"payloads":[]}',
    });
    await expectHardened(latin1, 415, 'FP1043');
    // The refusal without a token carries the headers too.
    await expectHardened(await post('/decode', { payloads: [] }), 401, 'FP1006');
  });

  it('shows plain payloads as they are (the UI sends every payload of a history)', async () => {
    const plain = defaultPayloadConverter.toPayload({ status: 'plain' });
    const res = await post('/decode', { payloads: [b64(plain)] }, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { payloads: { data: string }[] };
    expect(Buffer.from(body.payloads[0]?.data ?? '', 'base64').toString()).toBe('{"status":"plain"}');
  });

  it('compares tokens in constant time over digests', () => {
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches(undefined, token)).toBe(false);
    expect(tokenMatches('short', token)).toBe(false);
  });
});
