import { isFixpayError } from '../../domain/errors';
import { planHash } from '../plan/hash';
import type { Plan } from '../runtime/plan';
import { MemoryDefinitionStore, Registry, routeBucket } from './registry';

const plan = (version: string): Plan => ({ serviceId: 'svc', version, format: 'fixpay.plan/v1' }) as unknown as Plan;

describe('registry routing', () => {
  it('routes a canary share of business keys, stably per key', async () => {
    const r = new Registry(new MemoryDefinitionStore());
    await r.deploy(plan('1.0.0'), 'h1', 'a', 'i1');
    await r.deploy(plan('1.1.0'), 'h2', 'a', 'i2');
    await r.promote('svc', '1.0.0');
    await r.promote('svc', '1.1.0', 20);
    const keys = Array.from({ length: 2000 }, (_, i) => `T${i}:000001`);
    const picks = await Promise.all(keys.map(async (k) => (await r.resolve('svc', k)).version));
    const share = picks.filter((v) => v === '1.1.0').length / keys.length;
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.25);
    for (const [i, k] of keys.entries()) expect(picks[i]).toBe(routeBucket('svc', k) < 20 ? '1.1.0' : '1.0.0');
  });

  it('refuses bad weights, unknown versions and changed content under an existing version', async () => {
    const r = new Registry(new MemoryDefinitionStore());
    await r.deploy(plan('1.0.0'), 'h1', 'a', 'i1');
    await expect(r.promote('svc', '1.0.0', 101)).rejects.toThrow(/canary weight/);
    const e1: unknown = await r.promote('svc', '9.9.9').catch((e: unknown) => e);
    expect(isFixpayError(e1, 'DEF_NOT_FOUND')).toBe(true);
    const e2: unknown = await r.deploy(plan('1.0.0'), 'other', 'a', 'i3').catch((e: unknown) => e);
    expect(isFixpayError(e2, 'DEF_VERSION_EXISTS')).toBe(true);
  });

  it('reads aliases fresh on every resolve (a promotion needs no restart) and each stored version once', async () => {
    const store = new MemoryDefinitionStore();
    const reads: string[] = [];
    const get = store.get.bind(store);
    store.get = (serviceId, version) => {
      reads.push(`${serviceId}@${version}`);
      return get(serviceId, version);
    };
    const r = new Registry(store);
    await r.deploy(plan('1.0.0'), 'h1', 'a', 'i1');
    await r.deploy(plan('2.0.0'), 'h2', 'a', 'i2');
    await r.promote('svc', '1.0.0');
    reads.length = 0;
    expect((await r.resolve('svc', 'k')).version).toBe('1.0.0');
    expect((await r.resolve('svc', 'k')).version).toBe('1.0.0');
    await r.promote('svc', '2.0.0');
    const keyedBy: string[] = [];
    const rec = await r.resolveWith('svc', (p) => {
      keyedBy.push(p.version);
      return 'k';
    });
    expect(rec.version).toBe('2.0.0');
    expect(keyedBy).toEqual([]); // no canary: the business key is not needed
    expect(reads.filter((k) => k === 'svc@1.0.0')).toHaveLength(1);
  });
});

describe('plan admission (the worker runs stored versions only)', () => {
  it('admits a stored version by its recomputed hash, whatever its status', async () => {
    const r = new Registry(new MemoryDefinitionStore());
    const p = plan('1.0.0');
    await r.deploy(p, planHash(p), 'a', 'i1');
    expect((await r.admit(structuredClone(p), planHash(p))).version).toBe('1.0.0');
  });

  it('refuses an unknown version, an edited plan under a stored hash and a stored version with other content', async () => {
    const r = new Registry(new MemoryDefinitionStore());
    const p = plan('1.0.0');
    await r.deploy(p, planHash(p), 'a', 'i1');
    const unknown = plan('6.6.6');
    const edited = { ...p, taskQueue: 'elsewhere' } as Plan;
    const cases: [Plan, string][] = [
      [unknown, planHash(unknown)],
      [edited, planHash(p)],
      [edited, planHash(edited)],
      [null as unknown as Plan, 'sha256:00'],
    ];
    for (const [candidate, hash] of cases) {
      const e: unknown = await r.admit(candidate, hash).catch((err: unknown) => err);
      expect(isFixpayError(e, 'SVC_PLAN_NOT_REGISTERED')).toBe(true);
    }
  });

  it('keeps refusing edited plans after the stored one was admitted (the repeat shortcut is by exact content)', async () => {
    const r = new Registry(new MemoryDefinitionStore());
    const p = plan('1.0.0');
    await r.deploy(p, planHash(p), 'a', 'i1');
    expect((await r.admit(structuredClone(p), planHash(p))).version).toBe('1.0.0');
    expect((await r.admit(structuredClone(p), planHash(p))).version).toBe('1.0.0');
    const edited = { ...p, taskQueue: 'elsewhere' } as Plan;
    for (const [candidate, hash] of [
      [edited, planHash(p)],
      [edited, planHash(edited)],
      [p, planHash(edited)],
    ] as [Plan, string][]) {
      const e: unknown = await r.admit(candidate, hash).catch((err: unknown) => err);
      expect(isFixpayError(e, 'SVC_PLAN_NOT_REGISTERED')).toBe(true);
    }
  });
});
