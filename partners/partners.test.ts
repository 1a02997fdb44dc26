/**
 * The partner platform's pure parts: key format and hashing, Standard Webhooks signatures against
 * the specification's published example and the reference receiver (npm `standardwebhooks`), the
 * per-key token bucket, and the canonical request digest of idempotency.
 */
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { canonicalJson, requestHash, withoutSecrets } from './idempotency';
import { hashToken, newApiKey, newId, tokenMode } from './keys';
import { RateLimiter } from './rate-limit';
import { partnerWebhookSecret, signWebhook, webhookMasterKey } from './webhook-signing';

describe('API keys', () => {
  it('are fp_<mode>_ + 256 random bits, shown with a short prefix, stored as SHA-256', () => {
    const k = newApiKey('live');
    expect(k.token).toMatch(/^fp_live_[A-Za-z0-9_-]{43}$/);
    expect(tokenMode(k.token)).toBe('live');
    expect(k.prefix).toBe(`${k.token.slice(0, 12)}…`);
    expect(k.secretHash).toBe(hashToken(k.token));
    expect(k.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(newApiKey('test').token).not.toBe(newApiKey('test').token);
    // SHA-256 of "abc" (FIPS 180-2 example).
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('refuse any other shape without throwing', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const mode = tokenMode(s);
        expect(mode === undefined || /^fp_(test|live)_/.test(s)).toBe(true);
      }),
    );
    for (const s of [
      '',
      'fp_test_',
      `fp_prod_${'a'.repeat(43)}`,
      `fp_test_${'a'.repeat(44)}`,
      `fp_test_${'!'.repeat(43)}`,
    ])
      expect(tokenMode(s)).toBeUndefined();
  });

  it('ids carry their type and 24 base64url characters', () => {
    expect(newId('bill')).toMatch(/^bill_[A-Za-z0-9_-]{24}$/);
  });
});

describe('Standard Webhooks signatures', () => {
  it('match the specification example', () => {
    // Standard Webhooks specification, "Signature scheme" example.
    expect(
      signWebhook(
        'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        'msg_p5jXN8AQM9LWM0D4loKWxJek',
        1614265330,
        '{"test": 2432232314}',
      ),
    ).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('are accepted by the reference receiver, which rejects a tampered body, another secret or an old timestamp', () => {
    const master = webhookMasterKey('00'.repeat(32));
    const secret = partnerWebhookSecret(master, 'ptn_a', 1);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(partnerWebhookSecret(master, 'ptn_a', 2)).not.toBe(secret);
    expect(partnerWebhookSecret(master, 'ptn_b', 1)).not.toBe(secret);
    const receiver = new Webhook(secret);
    const body = '{"type":"bill.paid","data":{"bill":{"id":"bill_1"}}}';
    const now = Math.floor(Date.now() / 1000);
    const headers = (ts: number, b = body, s = secret): Record<string, string> => ({
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(ts),
      'webhook-signature': signWebhook(s, 'msg_1', ts, b),
    });
    expect(receiver.verify(body, headers(now))).toEqual(JSON.parse(body));
    expect(() => receiver.verify(body.replace('bill_1', 'bill_2'), headers(now))).toThrow();
    expect(() => receiver.verify(body, headers(now, body, partnerWebhookSecret(master, 'ptn_b', 1)))).toThrow();
    expect(() => receiver.verify(body, headers(now - 3600))).toThrow(/timestamp/i);
  });
});

describe('rate limiter', () => {
  it('lets a burst through, then refuses with a Retry-After until tokens refill; keys are independent', () => {
    let t = 0;
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3 }, () => t);
    expect([1, 2, 3].map(() => limiter.take('a').ok)).toEqual([true, true, true]);
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(limiter.take('b').ok).toBe(true);
    t += 500;
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('a').ok).toBe(false);
  });
});

describe('idempotency digest', () => {
  it('does not depend on key order but on every value, method and path', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: null }] })).toBe('{"a":[2,{"c":null,"d":3}],"b":1}');
    expect(requestHash('POST', '/v1/bills', { a: 1, b: 2 })).toBe(requestHash('POST', '/v1/bills', { b: 2, a: 1 }));
    expect(requestHash('POST', '/v1/bills', { a: 1 })).not.toBe(requestHash('POST', '/v1/bills', { a: 2 }));
    expect(requestHash('POST', '/v1/bills', { a: 1 })).not.toBe(requestHash('POST', '/v1/keys', { a: 1 }));
  });

  it('stored answers lose every secret', () => {
    expect(withoutSecrets({ key: { id: 'k', secret: 'fp_test_x' }, list: [{ secret: 's' }] })).toEqual({
      key: { id: 'k', secret: null },
      list: [{ secret: null }],
    });
  });
});
