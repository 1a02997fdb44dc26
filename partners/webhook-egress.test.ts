import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FixpayError } from '../domain/errors';
import { checkWebhookUrl } from './service';
import { embeddedIpv4, parseNetworks, WebhookEgressPolicy } from './webhook-egress';
import { postThrough } from './webhook-sender';

const deny = new WebhookEgressPolicy();

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof FixpayError ? e.codeName : String(e);
  }
};

describe('webhook egress policy: which addresses a delivery may reach', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '198.18.0.1',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::10.0.0.1',
    '2002:c0a8:101::1',
  ])('refuses %s', (address) => {
    expect(deny.permits(address)).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'permits the public address %s',
    (address) => {
      expect(deny.permits(address)).toBe(true);
    },
  );

  it('is not an address: not permitted', () => {
    expect(deny.permits('example.com')).toBe(false);
    expect(deny.permits('')).toBe(false);
  });

  it('reads the IPv4 address inside IPv6 forms', () => {
    expect(embeddedIpv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(embeddedIpv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(embeddedIpv4('2002:a00:1::')).toBe('10.0.0.1');
    expect(embeddedIpv4('2606:4700::1')).toBeUndefined();
  });

  it('lets the operator allow a private network, and only that one', () => {
    const p = new WebhookEgressPolicy('10.20.0.0/16, fd00::/8');
    expect(p.permits('10.20.3.4')).toBe(true);
    expect(p.permits('::ffff:10.20.3.4')).toBe(true);
    expect(p.permits('fd00::5')).toBe(true);
    expect(p.permits('10.21.0.1')).toBe(false);
    expect(p.permits('127.0.0.1')).toBe(false);
  });

  it('refuses a malformed allowed network with a clear configuration error', () => {
    expect(() => parseNetworks('10.0.0.0/33')).toThrow(/not an address or CIDR/);
    expect(() => parseNetworks('intranet')).toThrow(/not an address or CIDR/);
    expect(parseNetworks(' 10.0.0.1 , ')).toEqual([['10.0.0.1', 32, 'ipv4']]);
  });
});

describe('webhook URL registration', () => {
  it.each([
    'http://127.0.0.1/hook',
    'http://localhost:8080/hook',
    'http://LOCALHOST./hook',
    'http://api.localhost/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]:80/',
    'http://[::ffff:127.0.0.1]/',
    'http://0x7f000001/', // the URL parser reads hex, octal and short forms as 127.0.0.1
    'http://017700000001/',
    'http://127.1/',
    'http://2130706433/',
    'https://10.0.0.5/hook',
  ])('refuses %s with WEBHOOK_URL_FORBIDDEN', (url) => {
    expect(codeOf(() => checkWebhookUrl(url))).toBe('WEBHOOK_URL_FORBIDDEN');
  });

  it('accepts a public name or address, and keeps the other URL checks', () => {
    expect(checkWebhookUrl('https://water.example/hooks')).toBe('https://water.example/hooks');
    expect(checkWebhookUrl('https://8.8.8.8/h')).toBe('https://8.8.8.8/h');
    expect(codeOf(() => checkWebhookUrl('ftp://water.example/'))).toBe('BAD_REQUEST');
    expect(codeOf(() => checkWebhookUrl('https://u:p@water.example/'))).toBe('BAD_REQUEST');
  });

  it('accepts loopback when the operator allows it', () => {
    expect(checkWebhookUrl('http://127.0.0.1:9/hook', new WebhookEgressPolicy('127.0.0.0/8'))).toBe(
      'http://127.0.0.1:9/hook',
    );
  });
});

describe('a delivery connects only where the policy permits (real sockets)', () => {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(204).end();
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('reaches a loopback receiver when loopback is allowed', async () => {
    const before = hits;
    const res = await postThrough(
      new WebhookEgressPolicy('127.0.0.0/8'),
      `http://127.0.0.1:${port}/h`,
      {},
      '{}',
      5_000,
    );
    expect(res.status).toBe(204);
    expect(hits).toBe(before + 1);
  });

  it('does not connect to an address literal the policy refuses', async () => {
    const before = hits;
    await expect(postThrough(deny, `http://127.0.0.1:${port}/h`, {}, '{}', 5_000)).rejects.toMatchObject({
      codeName: 'WEBHOOK_URL_FORBIDDEN',
    });
    expect(hits).toBe(before);
  });

  it('does not connect to a name that resolves to a refused address (checked at connect time)', async () => {
    const before = hits;
    await expect(postThrough(deny, `http://localhost:${port}/h`, {}, '{}', 5_000)).rejects.toMatchObject({
      codeName: 'WEBHOOK_URL_FORBIDDEN',
    });
    expect(hits).toBe(before);
  });

  it('reaches a name that resolves to an allowed address', async () => {
    const before = hits;
    const res = await postThrough(
      new WebhookEgressPolicy('127.0.0.0/8,::1/128'),
      `http://localhost:${port}/h`,
      {},
      '{}',
      5_000,
    );
    expect(res.status).toBe(204);
    expect(hits).toBe(before + 1);
  });
});
