import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFixpayError } from '../../domain/errors';
import { checkCustomerRef } from './bill';
import { signatureFor, signedHeaders, verifySignature, mapRequest, getPath } from './http';
import type { Biller, ProviderProfile, TopupOperator } from './profile';
import { feesFor, parseProviderDocument, ProviderDirectory, withinLimits } from './profile';
import { parseReport, reconcile } from './reconcile';
import { readJournalLines } from './journal';
import { productFor, topupStatusOf } from './topup';
import { openVoucher, sealVoucher } from './voucher';

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return isFixpayError(e) ? e.codeName : `not a FixpayError: ${String(e)}`;
  }
  return 'no error';
};

const PROVIDER = `apiVersion: fixpay/v1
kind: Provider
metadata: { id: p1 }
spec:
  connector: bill-aggregator
  endpoint: http://127.0.0.1:1/
  auth: { scheme: hmac-sha256, keyId: k1, secret: sixteen-chars-long }
  timeouts: { requestMs: 1000 }
  statusQuery: { queries: 3 }
`;

describe('provider documents', () => {
  it('accepts a valid profile', () => {
    expect(parseProviderDocument(PROVIDER).metadata.id).toBe('p1');
  });

  it.each([
    ['YAML syntax', 'kind: [unclosed'],
    ['duplicate keys', PROVIDER.replace('kind: Provider', 'kind: Provider\nkind: Biller')],
    ['unknown key', PROVIDER.replace('connector:', 'surprise: 1\n  connector:')],
    ['unknown connector kind', PROVIDER.replace('bill-aggregator', 'cruise-booking')],
    ['endpoint not http', PROVIDER.replace('http://127.0.0.1:1/', 'file:///etc/passwd')],
    ['no secret', PROVIDER.replace(', secret: sixteen-chars-long', '')],
    ['both secret and secretFile', PROVIDER.replace('secret: sixteen', 'secretFile: /x, secret: sixteen')],
    ['schedule too long', PROVIDER.replace('queries: 3', 'queries: 50')],
    ['timeout not a number', PROVIDER.replace('requestMs: 1000', 'requestMs: soon')],
    ['id with a path', PROVIDER.replace('id: p1', 'id: ../p1')],
    ['prototype pollution key', PROVIDER.replace('connector:', '__proto__: { x: 1 }\n  connector:')],
    ['not an object', '42'],
    [
      'alias bomb',
      'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    ],
  ])('refuses %s with PROVIDER_PROFILE_INVALID', (_name, text) => {
    expect(code(() => parseProviderDocument(text, 'x.yaml'))).toBe('PROVIDER_PROFILE_INVALID');
  });

  it('refuses a biller whose regex does not compile, and a product range upside down', () => {
    const biller = `apiVersion: fixpay/v1
kind: Biller
metadata: { id: b1 }
spec:
  provider: p1
  category: water
  customerParams: [{ name: acct, type: numeric, regex: '([0-9]' }]
  fetch: required
  amount: exact
`;
    expect(code(() => parseProviderDocument(biller))).toBe('PROVIDER_PROFILE_INVALID');
    const op = `apiVersion: fixpay/v1
kind: TopupOperator
metadata: { id: o1 }
spec:
  provider: p1
  service: mobile
  prefixes: ['1']
  products: [{ id: x, delivery: recharge, range: { min: 500, max: 100 } }]
`;
    expect(code(() => parseProviderDocument(op))).toBe('PROVIDER_PROFILE_INVALID');
    expect(code(() => parseProviderDocument(op.replace('range: { min: 500, max: 100 }', 'amount: 0')))).toBe(
      'PROVIDER_PROFILE_INVALID',
    );
  });
});

describe('fees and limits', () => {
  it('fixed plus basis points, rounded down; commission independent of the fee', () => {
    expect(feesFor(5000, { customerFee: { fixed: 100 }, merchantCommission: { bps: 100 } })).toEqual({
      fee: 100,
      commission: 50,
    });
    expect(feesFor(999, { customerFee: { bps: 15 } })).toEqual({ fee: 1, commission: 0 });
    expect(feesFor(2000, undefined)).toEqual({ fee: 0, commission: 0 });
  });
  it('channel limits apply to the channel asked', () => {
    const limits = { terminal: { min: 100, max: 500 } };
    expect(withinLimits(99, limits, 'terminal')).toBe(false);
    expect(withinLimits(501, limits, 'terminal')).toBe(false);
    expect(withinLimits(100, limits, 'terminal')).toBe(true);
    expect(withinLimits(10_000, limits, 'api')).toBe(true);
  });
});

describe('signing', () => {
  const now = 1_800_000_000_000;
  const auth = { scheme: 'hmac-sha256' as const, keyId: 'k', secret: 's3cret-s3cret-s3' };
  const h = signedHeaders(auth, 'POST', 'bills/pay', '{"a":1}', now);

  it('verifies its own signature', () => {
    expect(() => verifySignature(auth.secret, h, 'POST', 'bills/pay', '{"a":1}', now)).not.toThrow();
    expect(h['x-fixpay-signature']).toBe(signatureFor(auth.secret, String(now / 1000), 'POST', 'bills/pay', '{"a":1}'));
  });

  it.each([
    ['a changed body', { body: '{"a":2}' }],
    ['another path', { path: 'bills/cancel' }],
    ['another method', { method: 'GET' }],
    ['another secret', { secret: 'other-secret-1234' }],
    ['a stale timestamp', { at: now + 6 * 60_000 }],
  ])('refuses %s', (_n, change: { body?: string; path?: string; method?: string; secret?: string; at?: number }) => {
    expect(
      code(() =>
        verifySignature(
          change.secret ?? auth.secret,
          h,
          change.method ?? 'POST',
          change.path ?? 'bills/pay',
          change.body ?? '{"a":1}',
          change.at ?? now,
        ),
      ),
    ).toBe('PROVIDER_SIGNATURE_INVALID');
  });

  it('refuses missing, repeated or malformed headers', () => {
    const { ['x-fixpay-signature']: _s, ...unsigned } = h;
    expect(code(() => verifySignature(auth.secret, unsigned, 'POST', 'bills/pay', '{"a":1}', now))).toBe(
      'PROVIDER_SIGNATURE_INVALID',
    );
    const doubled = { ...h, 'x-fixpay-signature': [h['x-fixpay-signature'] ?? '', 'v1=00'] };
    expect(code(() => verifySignature(auth.secret, doubled, 'POST', 'bills/pay', '{"a":1}', now))).toBe(
      'PROVIDER_SIGNATURE_INVALID',
    );
    const weirdTs = { ...h, 'x-fixpay-timestamp': '1e12' };
    expect(code(() => verifySignature(auth.secret, weirdTs, 'POST', 'bills/pay', '{"a":1}', now))).toBe(
      'PROVIDER_SIGNATURE_INVALID',
    );
  });

  it('maps fields to dotted paths and reads them back, never through the prototype', () => {
    const p = { mapping: { request: { number: 'credit_party.mobile_number' } } } as unknown as ProviderProfile;
    const out = mapRequest(p, { number: '138', amount: 5, skip: undefined });
    expect(out).toEqual({ credit_party: { mobile_number: '138' }, amount: 5 });
    expect(getPath(out, 'credit_party.mobile_number')).toBe('138');
    expect(getPath({}, 'constructor.name')).toBeUndefined();
  });
});

describe('vouchers', () => {
  const k = { id: 'k1', key: randomBytes(32) };
  it('seals and opens; the sealed text does not hold the PIN', () => {
    const sealed = sealVoucher('123456789012', k);
    expect(sealed).not.toContain('123456789012');
    expect(openVoucher(sealed, [k])).toBe('123456789012');
  });
  it('refuses a tampered, truncated or foreign voucher', () => {
    const sealed = sealVoucher('123456789012', k);
    const parts = sealed.split('.');
    // A different first character (a fixed 'A' was no change one time in 64).
    const body = parts[3] ?? '';
    const flipped = [...parts.slice(0, 3), `${body.startsWith('A') ? 'B' : 'A'}${body.slice(1)}`, parts[4]].join('.');
    expect(code(() => openVoucher(flipped, [k]))).toBe('PROVIDER_REJECTED');
    expect(code(() => openVoucher(parts.slice(0, 4).join('.'), [k]))).toBe('PROVIDER_REJECTED');
    expect(code(() => openVoucher(sealed, [{ id: 'k1', key: randomBytes(32) }]))).toBe('PROVIDER_REJECTED');
    expect(code(() => openVoucher('', [k]))).toBe('PROVIDER_REJECTED');
  });
});

describe('biller and operator rules', () => {
  const biller: Biller = {
    id: 'b',
    provider: 'p',
    category: 'water',
    customerParams: [{ name: 'acct', type: 'numeric', minLength: 6, maxLength: 10, regex: '[1-9][0-9]*' }],
    fetch: 'required',
    amount: 'exact',
  };
  it.each(['12345', '12345678901', '12345a', '0123456', '123 456', '１２３４５６', "123456' OR 1=1"])(
    'refuses customer reference %p',
    (ref) => {
      expect(code(() => checkCustomerRef(biller, ref))).toBe('PROVIDER_FIELD_INVALID');
    },
  );
  it('accepts a good one', () => {
    expect(() => checkCustomerRef(biller, '1234567')).not.toThrow();
  });

  const op: TopupOperator = {
    id: 'o',
    provider: 'p',
    service: 'mobile',
    prefixes: ['138'],
    numberLength: { min: 11, max: 11 },
    products: [
      { id: 'fixed', delivery: 'recharge', amount: 5000 },
      { id: 'ranged', delivery: 'recharge', range: { min: 1000, max: 2000 } },
    ],
  };
  it('checks product, number and amount; picks a product by amount when none is named', () => {
    expect(productFor(op, 'fixed', '13800138000', 5000).id).toBe('fixed');
    expect(productFor(op, '', '13800138000', 1500).id).toBe('ranged');
    expect(code(() => productFor(op, 'fixed', '13800138000', 5001))).toBe('PROVIDER_AMOUNT_INVALID');
    expect(code(() => productFor(op, 'ranged', '13800138000', 2001))).toBe('PROVIDER_AMOUNT_INVALID');
    expect(code(() => productFor(op, 'ranged', '13800138000', 1500.5))).toBe('PROVIDER_AMOUNT_INVALID');
    expect(code(() => productFor(op, 'nope', '13800138000', 5000))).toBe('PROVIDER_UNKNOWN');
    expect(code(() => productFor(op, 'fixed', '13900138000', 5000))).toBe('PROVIDER_FIELD_INVALID');
    expect(code(() => productFor(op, 'fixed', '1380013800', 5000))).toBe('PROVIDER_FIELD_INVALID');
    expect(code(() => productFor(op, 'fixed', '1380013800x', 5000))).toBe('PROVIDER_FIELD_INVALID');
  });
  it('folds provider states into the run’s three', () => {
    expect(['CREATED', 'CONFIRMED', 'SUBMITTED', 'whatever'].map(topupStatusOf)).toEqual([
      'PENDING',
      'PENDING',
      'PENDING',
      'PENDING',
    ]);
    expect(['DECLINED', 'REJECTED', 'CANCELLED', 'REVERSED'].map(topupStatusOf)).toEqual(Array(4).fill('DECLINED'));
    expect(topupStatusOf('COMPLETED')).toBe('COMPLETED');
  });
});

describe('reconciliation', () => {
  const at = '2026-12-03T10:00:00.000Z';
  const j = (reference: string, amount: number, status: 'COMPLETED' | 'REFUNDED' = 'COMPLETED') => ({
    provider: 'p',
    reference,
    amount,
    fee: 0,
    currency: 'CNY',
    status,
    at,
  });
  const r = (reference: string, amount: number, status = 'COMPLETED') => ({
    reference,
    amount,
    status,
    currency: '156',
  });

  it('matches, and reports long, short and amount exceptions', () => {
    const out = reconcile(
      'p',
      '2026-12-03',
      [r('a', 100), r('b', 200), r('c', 300), r('d', 400, 'DECLINED'), r('e', 500)],
      [j('a', 100), j('b', 250), j('d', 400), j('f', 600), j('e', 500), j('e', 500, 'REFUNDED')],
    );
    expect(out.matched).toBe(1);
    expect(out.exceptions.map((e) => [e.kind, e.reference]).sort()).toEqual([
      ['amount', 'b'],
      ['long', 'c'],
      ['long', 'e'],
      ['short', 'd'],
      ['short', 'f'],
    ]);
  });

  it.each([
    null,
    {},
    { transactions: 'x' },
    { transactions: [{ reference: 'a' }] },
    { transactions: [{ reference: 'a', status: 'COMPLETED', amount: 1.5, currency: '156' }] },
  ])('refuses a malformed report %p', (v) => {
    expect(code(() => parseReport(v))).toBe('PROVIDER_REPORT_INVALID');
  });
});

describe('the journal file', () => {
  it('reads one provider’s day, skips repeats (activity retries) and broken lines', () => {
    const line = (reference: string, at: string, provider = 'p') =>
      JSON.stringify({ provider, reference, amount: 1, fee: 0, currency: 'CNY', status: 'COMPLETED', at });
    const text = [
      line('a', '2026-12-03T01:00:00Z'),
      line('a', '2026-12-03T01:00:01Z'),
      '{ not json',
      line('b', '2026-12-04T01:00:00Z'),
      line('c', '2026-12-03T02:00:00Z', 'q'),
      '',
    ].join('\n');
    expect(readJournalLines(text, 'p', '2026-12-03').map((e) => e.reference)).toEqual(['a']);
  });
});

describe('biller terminal codes', () => {
  const dirWith = (extra: Record<string, string>): string => {
    const d = mkdtempSync(join(tmpdir(), 'fixpay-codes-'));
    cpSync(join(__dirname, '..', '..', 'providers'), d, { recursive: true });
    for (const [f, text] of Object.entries(extra)) writeFileSync(join(d, 'billers', f), text);
    return d;
  };
  const biller = (id: string, code: string): string =>
    [
      'apiVersion: fixpay/v1',
      'kind: Biller',
      `metadata: { id: ${id} }`,
      'spec:',
      '  provider: bills-sandbox',
      `  terminalCode: '${code}'`,
      '  category: telephone',
      '  customerParams: [{ name: accountNumber, type: numeric }]',
      '  fetch: required',
      '  amount: exact',
      '',
    ].join('\n');

  it('resolves a biller by id or by the code a phone keys; an unknown code is PROVIDER_UNKNOWN', () => {
    const d = new ProviderDirectory(dirWith({ 'phone-co.yaml': biller('phone-co', '5') }), 0);
    expect(d.current().problems).toEqual([]);
    expect(d.biller('2').biller.id).toBe('power-co');
    expect(d.biller('5').biller.id).toBe('phone-co');
    expect(d.biller('water-co').biller.terminalCode).toBe('1');
    for (const bad of ['9999', '05', '', '1 ', '12345', '../1'])
      expect(() => d.biller(bad)).toThrow(expect.objectContaining({ codeName: 'PROVIDER_UNKNOWN' }) as Error);
  });

  it('a code two billers claim goes to neither; a code that is not 1–4 digits refuses the file', () => {
    const d = new ProviderDirectory(
      dirWith({ 'phone-co.yaml': biller('phone-co', '1'), 'net-co.yaml': biller('net-co', '12a') }),
      0,
    );
    const problems = d
      .current()
      .problems.map((p) => p.message)
      .join('\n');
    expect(problems).toMatch(/billers (water-co and phone-co|phone-co and water-co) claim terminal code 1/);
    expect(problems).toMatch(/net-co\.yaml/);
    // Neither gets the code (a phone never pays the wrong biller); both stay payable by id.
    expect(() => d.biller('1')).toThrow(expect.objectContaining({ codeName: 'PROVIDER_UNKNOWN' }) as Error);
    expect(d.biller('water-co').biller.id).toBe('water-co');
    expect(d.biller('phone-co').biller.id).toBe('phone-co');
    expect(d.biller('2').biller.id).toBe('power-co');
  });
});
