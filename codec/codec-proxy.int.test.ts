/**
 * The Temporal UI reading our codec endpoint through the operator's codec proxy (ADR 0022,
 * docs/operations/temporal-ui-codec.md): a real Temporal dev server with its UI configured with
 * `--ui-codec-endpoint <proxy>`, the real codec endpoint behind the proxy, a run whose input holds
 * card data. The UI announces the proxy as its codec; a request as the UI's page makes it (its
 * origin, no token) decodes the run's input with card data masked; other origins, other host
 * names, other paths and methods are refused; the token never shows.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Payload } from '@temporalio/common';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { maskPan } from '../domain/masking';
import { SEARCH_ATTRIBUTE_NAMES } from '../domain/search-attributes';
import { freePort } from '../test/support/roles';
import { quietTemporalRuntime, TEST_CODEC_KEYS, temporalCliPath, testDataConverter } from '../test/support/temporal';
import { startCodecProxy } from './codec-proxy';
import type { RunningCodecProxy } from './codec-proxy';
import { startCodecServer } from './codec-server';
import type { RunningCodecServer } from './codec-server';
import { AesGcmPayloadCodec, codecKeysFromText } from './payload-codec';

const PAN = '6225880000000001';
const TRACK2 = `${PAN}=30122011234567890`;
const token = randomBytes(24).toString('hex');

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

describe('the Temporal UI decodes through the codec proxy with the operator token', () => {
  jest.setTimeout(180_000);
  let codecServer: RunningCodecServer;
  let proxy: RunningCodecProxy;
  let env: TestWorkflowEnvironment;
  let uiOrigin = '';
  let uiPort = 0;

  beforeAll(async () => {
    quietTemporalRuntime();
    codecServer = await startCodecServer({
      codec: new AesGcmPayloadCodec(codecKeysFromText(TEST_CODEC_KEYS)),
      operatorToken: token,
      port: 0,
    });
    uiPort = await freePort();
    uiOrigin = `http://localhost:${uiPort}`;
    proxy = await startCodecProxy({
      upstream: `http://127.0.0.1:${codecServer.port}`,
      operatorToken: token,
      uiOrigins: [uiOrigin],
      port: 0,
    });
    env = await TestWorkflowEnvironment.createLocal({
      client: { dataConverter: testDataConverter() },
      server: {
        executable: { type: 'existing-path', path: temporalCliPath() },
        searchAttributes: SEARCH_ATTRIBUTE_NAMES.map((n) => defineSearchAttributeKey(n, SearchAttributeType.KEYWORD)),
        ui: true,
        uiPort,
        extraArgs: ['--ui-codec-endpoint', proxy.url],
      },
    });
  }, 180_000);

  afterAll(async () => {
    await env.teardown();
    await proxy.close();
    await codecServer.close();
  });

  /** The run's input as stored in the history: encrypted. */
  async function storedInput(): Promise<Payload> {
    const handle = await env.client.workflow.start('neverPolled', {
      workflowId: `ui-codec-${randomBytes(4).toString('hex')}`,
      taskQueue: 'nobody-polls',
      args: [{ request: { track2: TRACK2, pinBlock: '0123456789ABCDEF', amountMinor: 1500 }, pan: PAN }],
    });
    const history = await env.client.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId: handle.workflowId },
    });
    const input = history.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!input) throw new Error('no input in history');
    await handle.terminate('test done');
    return input;
  }

  const asUi = (path: string, body: unknown, headers: Record<string, string> = {}, method = 'POST') =>
    fetch(`${proxy.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', origin: uiOrigin, 'x-namespace': 'default', ...headers },
      ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
    });

  it('the UI announces the proxy as its codec endpoint', async () => {
    const settings = (await (await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`)).json()) as {
      Codec?: { Endpoint?: string };
    };
    expect(settings.Codec?.Endpoint).toBe(proxy.url);
  });

  it("decodes a run's input for the UI's origin, card data masked, without the page holding a token", async () => {
    const input = await storedInput();
    expect(Buffer.from(input.data ?? []).toString('latin1')).not.toContain(PAN);
    const preflight = await fetch(`${proxy.url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: uiOrigin, 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    const res = await asUi('/decode', { payloads: [toJson(input)] });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    const body = (await res.json()) as { payloads: JsonPayload[] };
    const shown = Buffer.from(body.payloads[0]?.data ?? '', 'base64').toString();
    expect(JSON.parse(shown)).toEqual({
      request: { track2: '[REDACTED]', pinBlock: '[REDACTED]', amountMinor: 1500 },
      pan: maskPan(PAN),
    });
    expect(shown).not.toContain(PAN);
    expect(JSON.stringify([...res.headers])).not.toContain(token);
  });

  it('the codec endpoint itself still refuses without the token', async () => {
    const input = await storedInput();
    const res = await fetch(`http://127.0.0.1:${codecServer.port}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: uiOrigin },
      body: JSON.stringify({ payloads: [toJson(input)] }),
    });
    expect(res.status).toBe(401);
  });

  /** A page served under another name that DNS points at loopback (fetch sets Host from the URL). */
  const rebound = (body: string): Promise<Response> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: proxy.port,
          path: '/decode',
          method: 'POST',
          headers: { host: `evil.example:${proxy.port}`, origin: uiOrigin, 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(new Response(text, { status: res.statusCode ?? 0 })));
        },
      );
      req.once('error', reject);
      req.end(body);
    });

  it('refuses other origins, no origin, rebound host names, other paths and methods', async () => {
    const input = toJson(await storedInput());
    const refused = [
      await asUi('/decode', { payloads: [input] }, { origin: 'http://evil.example' }),
      await fetch(`${proxy.url}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payloads: [input] }),
      }),
      await rebound(JSON.stringify({ payloads: [input] })),
      await fetch(`${proxy.url}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } }),
    ];
    for (const r of refused) {
      expect(r.status).toBe(403);
      const text = await r.text();
      expect(text).toMatch(/FP1007/);
      expect(text).not.toContain(PAN);
    }
    expect((await asUi('/encode', { payloads: [input] })).status).toBe(404);
    expect((await asUi('/decode', undefined, {}, 'GET')).status).toBe(405);
    const big = await asUi('/decode', { payloads: [{ metadata: {}, data: 'A'.repeat(9 * 1024 * 1024) }] });
    expect(big.status).toBe(413);
  });

  it('a codec endpoint that does not answer is a 502, not a hang or a crash', async () => {
    const deadPort = await freePort();
    const orphan = await startCodecProxy({
      upstream: `http://127.0.0.1:${deadPort}`,
      operatorToken: token,
      uiOrigins: [uiOrigin],
      port: 0,
    });
    try {
      const res = await fetch(`${orphan.url}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: uiOrigin },
        body: '{"payloads":[]}',
      });
      expect(res.status).toBe(502);
    } finally {
      await orphan.close();
    }
  });

  it('with an upstream known later (fixpay dev), answers 503 until it is known, then forwards', async () => {
    const later: { url?: string } = {};
    const deferred = await startCodecProxy({
      upstream: () => later.url,
      operatorToken: token,
      uiOrigins: [uiOrigin],
      port: 0,
    });
    try {
      const input = toJson(await storedInput());
      const ask = () =>
        fetch(`${deferred.url}/decode`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: uiOrigin },
          body: JSON.stringify({ payloads: [input] }),
        });
      const early = await ask();
      expect(early.status).toBe(503);
      expect(await early.text()).not.toContain(PAN);
      later.url = `http://127.0.0.1:${codecServer.port}`;
      const res = await ask();
      expect(res.status).toBe(200);
      const body = (await res.json()) as { payloads: JsonPayload[] };
      const shown = Buffer.from(body.payloads[0]?.data ?? '', 'base64').toString();
      expect(shown).toContain(maskPan(PAN));
      expect(shown).not.toContain(PAN);
    } finally {
      await deferred.close();
    }
  });

  it('refuses a short token and an upstream with credentials', () => {
    expect(() => startCodecProxy({ upstream: 'http://127.0.0.1:1', operatorToken: 'short', port: 0 })).toThrow(
      /32\+ characters/,
    );
    expect(() => startCodecProxy({ upstream: 'http://user:pw@127.0.0.1:1', operatorToken: token, port: 0 })).toThrow(
      /without credentials/,
    );
  });
});
