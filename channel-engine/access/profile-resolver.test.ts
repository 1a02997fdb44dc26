import type { CallOffer } from '../lines/types';
import { createProfileResolver } from './profile-resolver';

const offer = (callerNumber: string | undefined): CallOffer => ({
  lineId: `tcp:${callerNumber ?? 'none'}`,
  driver: 'tcp-pcm',
  callerNumber,
  calledNumber: undefined,
});

const BOUND: Record<string, string> = { '862150000002': 'bell202-crc16', '862150000001': 'es201912-v23' };

describe('profile resolver', () => {
  it('returns the profile of the terminal bound to the caller number, and undefined for others', async () => {
    const r = createProfileResolver((ani) => Promise.resolve(BOUND[ani]), {
      cacheTtlMs: 1000,
      cacheMaxEntries: 10,
      lookupTimeoutMs: 1000,
    });
    await expect(r.resolve(offer('862150000002'))).resolves.toBe('bell202-crc16');
    await expect(r.resolve(offer('862150000001'))).resolves.toBe('es201912-v23');
    await expect(r.resolve(offer('999'))).resolves.toBeUndefined();
    await expect(r.resolve(offer(undefined))).resolves.toBeUndefined();
    expect(r.stats).toMatchObject({ lookups: 3, unbound: 2, failures: 0, timeouts: 0 });
  });

  it('caches answers (bound and unbound) for the TTL, then asks again', async () => {
    let t = 0;
    const asked: string[] = [];
    const r = createProfileResolver(
      (ani) => {
        asked.push(ani);
        return Promise.resolve(BOUND[ani]);
      },
      { cacheTtlMs: 100, cacheMaxEntries: 10, lookupTimeoutMs: 1000, now: () => t },
    );
    await r.resolve(offer('862150000002'));
    await r.resolve(offer('999'));
    t = 99;
    await expect(r.resolve(offer('862150000002'))).resolves.toBe('bell202-crc16');
    await expect(r.resolve(offer('999'))).resolves.toBeUndefined();
    expect(asked).toEqual(['862150000002', '999']);
    t = 100;
    await r.resolve(offer('862150000002'));
    expect(asked).toEqual(['862150000002', '999', '862150000002']);
    expect(r.stats.cacheHits).toBe(2);
  });

  it('keeps at most cacheMaxEntries numbers, dropping the oldest', async () => {
    const asked: string[] = [];
    const r = createProfileResolver(
      (ani) => {
        asked.push(ani);
        return Promise.resolve('es201912-v23');
      },
      { cacheTtlMs: 10_000, cacheMaxEntries: 2, lookupTimeoutMs: 1000 },
    );
    for (const n of ['1001', '1002', '1003', '1002', '1003', '1001']) await r.resolve(offer(n));
    // 1001 was evicted by 1003; 1002 and 1003 were still cached.
    expect(asked).toEqual(['1001', '1002', '1003', '1001']);
  });

  it('gives up after the lookup timeout (undefined: the default profile) and caches the late answer', async () => {
    let release: (() => void) | undefined;
    const r = createProfileResolver(
      (ani) =>
        new Promise<string | undefined>((resolve) => {
          release = () => resolve(BOUND[ani]);
        }),
      { cacheTtlMs: 10_000, cacheMaxEntries: 10, lookupTimeoutMs: 5 },
    );
    await expect(r.resolve(offer('862150000002'))).resolves.toBeUndefined();
    expect(r.stats.timeouts).toBe(1);
    release?.();
    await new Promise((resolve) => setImmediate(resolve));
    await expect(r.resolve(offer('862150000002'))).resolves.toBe('bell202-crc16');
    expect(r.stats.lookups).toBe(1);
  });

  it('a failed lookup gives undefined, is counted and is not cached', async () => {
    let fail = true;
    const r = createProfileResolver(
      (ani) => (fail ? Promise.reject(new Error('connection refused')) : Promise.resolve(BOUND[ani])),
      { cacheTtlMs: 10_000, cacheMaxEntries: 10, lookupTimeoutMs: 1000 },
    );
    await expect(r.resolve(offer('862150000002'))).resolves.toBeUndefined();
    expect(r.stats).toMatchObject({ failures: 1, unbound: 0 });
    fail = false;
    await expect(r.resolve(offer('862150000002'))).resolves.toBe('bell202-crc16');
  });

  it('asks once for concurrent calls from one number', async () => {
    let n = 0;
    const r = createProfileResolver(
      async (ani) => {
        n++;
        await new Promise((resolve) => setImmediate(resolve));
        return BOUND[ani];
      },
      { cacheTtlMs: 10_000, cacheMaxEntries: 10, lookupTimeoutMs: 1000 },
    );
    const all = await Promise.all([1, 2, 3].map(() => r.resolve(offer('862150000002'))));
    expect(all).toEqual(['bell202-crc16', 'bell202-crc16', 'bell202-crc16']);
    expect(n).toBe(1);
  });

  it('a caller number no terminal could be bound to is not looked up', async () => {
    const asked: string[] = [];
    const r = createProfileResolver(
      (ani) => {
        asked.push(ani);
        return Promise.resolve(undefined);
      },
      { cacheTtlMs: 10_000, cacheMaxEntries: 10, lookupTimeoutMs: 1000 },
    );
    for (const n of ['', '12', 'anonymous', '1'.repeat(21), "1' OR '1'='1"])
      await expect(r.resolve(offer(n))).resolves.toBeUndefined();
    expect(asked).toEqual([]);
    expect(r.stats.unbound).toBe(5);
  });

  it('refuses limits that are not positive integers', () => {
    expect(() =>
      createProfileResolver(() => Promise.resolve(undefined), {
        cacheTtlMs: 0,
        cacheMaxEntries: 1,
        lookupTimeoutMs: 1,
      }),
    ).toThrow(RangeError);
  });
});
