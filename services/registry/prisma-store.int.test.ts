import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestDatabase } from '../../test/support/database';
import type { TestDatabase } from '../../test/support/database';
import { isFixpayError } from '../../domain/errors';
import { defaultCatalogue } from '../catalogue/entries';
import { compileDefinition } from '../compiler/compile';
import { planHash } from '../plan/hash';
import type { Plan } from '../runtime/plan';
import { PrismaDefinitionStore } from './prisma-store';
import { Registry, routeBucket } from './registry';

function topup(version: string): { plan: Plan; hash: string } {
  const text = readFileSync(join(__dirname, '..', '..', 'definitions', 'mobile-topup.yaml'), 'utf8').replace(
    /version: \d+\.\d+\.\d+/,
    `version: ${version}`,
  );
  const r = compileDefinition(text, 'mobile-topup.yaml', { catalogue: defaultCatalogue() });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return { plan: r.plan, hash: planHash(r.plan) };
}

describe('definition registry on PostgreSQL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase();
  }, 60_000);
  afterAll(async () => {
    await db.close();
  });

  it('deploys immutable versions, promotes, routes a canary stably and rolls back', async () => {
    const registry = new Registry(new PrismaDefinitionStore(db.prisma));
    const v1 = topup('1.0.0');
    const v2 = topup('2.0.0');
    await registry.deploy(v1.plan, v1.hash, 'alice', randomUUID());
    await registry.deploy(v1.plan, v1.hash, 'alice', randomUUID()); // same content: a no-op
    await registry.promote('mobile-topup', '1.0.0');
    expect((await registry.resolve('mobile-topup', 'T1:000001')).planHash).toBe(v1.hash);

    await registry.deploy(v2.plan, v2.hash, 'bob', randomUUID());
    await registry.promote('mobile-topup', '2.0.0', 30);
    const keys = Array.from({ length: 200 }, (_, i) => `T1:${String(i).padStart(6, '0')}`);
    for (const k of keys) {
      const picked = (await registry.resolve('mobile-topup', k)).version;
      expect(picked).toBe(routeBucket('mobile-topup', k) < 30 ? '2.0.0' : '1.0.0');
      expect((await registry.resolve('mobile-topup', k)).version).toBe(picked); // stable
    }

    await registry.promote('mobile-topup', '2.0.0');
    expect((await registry.resolve('mobile-topup', 'x')).version).toBe('2.0.0');
    expect(await registry.rollback('mobile-topup')).toBe('1.0.0');
    expect((await registry.resolve('mobile-topup', 'x')).version).toBe('1.0.0');
    const listed = await registry.list('mobile-topup');
    expect(listed.map((d) => [d.version, d.status])).toEqual([
      ['1.0.0', 'active'],
      ['2.0.0', 'retired'],
    ]);
    expect(listed[0]?.plan).toEqual(v1.plan);
  }, 60_000);

  it('refuses the same version with other content, and edits of a stored plan', async () => {
    const registry = new Registry(new PrismaDefinitionStore(db.prisma));
    const v1 = topup('1.0.0');
    const other = { ...v1.plan, title: 'changed' };
    const err: unknown = await registry
      .deploy(other, planHash(other), 'mallory', randomUUID())
      .catch((e: unknown) => e);
    expect(isFixpayError(err, 'DEF_VERSION_EXISTS')).toBe(true);
    await expect(
      db.prisma.serviceDefinition.update({
        where: { serviceId_version: { serviceId: 'mobile-topup', version: '1.0.0' } },
        data: { author: 'mallory' },
      }),
    ).rejects.toThrow(/immutable/);
  }, 60_000);

  it('two processes deploying the same version at once both succeed; with other content one gets DEF_VERSION_EXISTS', async () => {
    // Two workers starting together: each reads "not there", then both insert.
    const [a, b] = [
      new Registry(new PrismaDefinitionStore(db.prisma)),
      new Registry(new PrismaDefinitionStore(db.prisma)),
    ];
    const v3 = topup('3.0.0');
    const [ra, rb] = await Promise.all([
      a.deploy(v3.plan, v3.hash, 'worker-1', randomUUID()),
      b.deploy(v3.plan, v3.hash, 'worker-2', randomUUID()),
    ]);
    expect(ra.id).toBe(rb.id);
    expect((await a.list('mobile-topup')).filter((d) => d.version === '3.0.0')).toHaveLength(1);

    const v4 = topup('4.0.0');
    const changed = { ...v4.plan, title: 'changed' };
    const results = await Promise.allSettled([
      a.deploy(v4.plan, v4.hash, 'worker-1', randomUUID()),
      b.deploy(changed, planHash(changed), 'worker-2', randomUUID()),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected');
    expect(isFixpayError(refused?.status === 'rejected' ? refused.reason : undefined, 'DEF_VERSION_EXISTS')).toBe(true);
  }, 60_000);
});
