import fc from 'fast-check';
import { isFixpayError } from '../../../domain/errors';
import { ipv4ToInt, parseCidr, SourceList, SourceRateLimiter, splitCidrList } from './admission';

describe('SIP source lists', () => {
  it('matches addresses against CIDR networks', () => {
    const list = new SourceList(['127.0.0.0/8', '192.0.2.10', '10.1.0.0/16']);
    expect(list.matches('127.9.9.9')).toBe(true);
    expect(list.matches('192.0.2.10')).toBe(true);
    expect(list.matches('192.0.2.11')).toBe(false);
    expect(list.matches('10.1.255.1')).toBe(true);
    expect(list.matches('10.2.0.1')).toBe(false);
    expect(list.matches('::1')).toBe(false);
    expect(new SourceList(['0.0.0.0/0']).matches('203.0.113.7')).toBe(true);
    expect(new SourceList([]).matches('127.0.0.1')).toBe(false);
  });

  it.each(['', '1.2.3', '1.2.3.4/33', '1.2.3.4/x', '256.0.0.1/8', 'host/8', '1.2.3.4/8/9'])('refuses %j', (t) => {
    let caught: unknown;
    try {
      parseCidr(t);
    } catch (e) {
      caught = e;
    }
    expect(isFixpayError(caught, 'CONFIG_INVALID')).toBe(true);
  });

  it('splits the config form', () => {
    expect(splitCidrList(' 10.0.0.0/8, ,127.0.0.1 ')).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(splitCidrList('')).toEqual([]);
  });

  it('fuzz: an address is in its own /len network, and ipv4ToInt round-trips', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, len) => {
        expect(new SourceList([`${ip}/${len}`]).matches(ip)).toBe(true);
        const n = ipv4ToInt(ip);
        expect(n).toBeDefined();
        expect([(n ?? 0) >>> 24, ((n ?? 0) >>> 16) & 255, ((n ?? 0) >>> 8) & 255, (n ?? 0) & 255].join('.')).toBe(ip);
      }),
    );
  });
});

describe('per-source INVITE rate limit', () => {
  it('allows a burst, then the sustained rate, per source', () => {
    const rl = new SourceRateLimiter({ ratePerSecond: 2, burst: 3, maxSources: 10 });
    expect([0, 0, 0, 0].map(() => rl.take('a', 1000))).toEqual([true, true, true, false]);
    expect(rl.take('b', 1000)).toBe(true); // another source has its own bucket
    expect(rl.take('a', 1400)).toBe(false); // 0.8 token
    expect(rl.take('a', 1500)).toBe(true); // 1 token after 500 ms
    expect(rl.take('a', 1500)).toBe(false);
    expect([0, 0, 0, 0].map(() => rl.take('a', 10_000))).toEqual([true, true, true, false]); // capped at burst
  });

  it('tracks at most maxSources (least recently used forgotten)', () => {
    const rl = new SourceRateLimiter({ ratePerSecond: 1, burst: 1, maxSources: 3 });
    for (const s of ['a', 'b', 'c']) rl.take(s, 0);
    rl.take('a', 0); // a used again: b is now the oldest
    rl.take('d', 0);
    expect(rl.trackedSources).toBe(3);
    expect(rl.take('a', 0)).toBe(false); // still remembered, still empty
    expect(rl.take('b', 0)).toBe(true); // forgotten: a fresh bucket
  });
});
