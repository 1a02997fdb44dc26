/**
 * The embedded database is vacuumed by the platform (soak, issue #10): PGlite has no autovacuum
 * worker, so without the schedule the dead row versions of updated rows stay forever. Real PGlite
 * (a child process, as fixpay dev serves it) and the same Prisma path the platform uses.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client';
import { spawnEmbeddedDatabase } from '../../test/support/database';
import { startVacuumSchedule, VACUUM_SQL, type VacuumSchedule } from './maintenance';

const ROWS = 10;
const UPDATES = 30;

describe('embedded database VACUUM schedule', () => {
  let stop: (() => Promise<void>) | undefined;
  let prisma: PrismaClient | undefined;
  let schedule: VacuumSchedule | undefined;

  afterAll(async () => {
    await schedule?.stop();
    await prisma?.$disconnect();
    await stop?.();
  });

  async function deadRows(db: PrismaClient): Promise<{ dead: number; vacuums: number; autovacuums: number }> {
    await db.$queryRawUnsafe('SELECT pg_stat_force_next_flush()::text AS flushed');
    await db.$queryRawUnsafe('SELECT pg_stat_clear_snapshot()::text AS cleared');
    const rows = await db.$queryRawUnsafe<{ dead: bigint; vacuums: bigint; autovacuums: bigint }[]>(
      "SELECT n_dead_tup AS dead, vacuum_count AS vacuums, autovacuum_count AS autovacuums FROM pg_stat_user_tables WHERE relname = 'soak_counter'",
    );
    const r = rows[0];
    if (r === undefined) throw new Error('soak_counter has no statistics');
    return { dead: Number(r.dead), vacuums: Number(r.vacuums), autovacuums: Number(r.autovacuums) };
  }

  it('reclaims the dead rows that updates leave', async () => {
    const embedded = await spawnEmbeddedDatabase();
    stop = () => embedded.stop();
    const db = new PrismaClient({ adapter: new PrismaPg({ connectionString: embedded.url, max: 1 }) });
    prisma = db;
    await db.$executeRawUnsafe('CREATE TABLE soak_counter (id int PRIMARY KEY, n int NOT NULL)');
    await db.$executeRawUnsafe(`INSERT INTO soak_counter SELECT g, 0 FROM generate_series(1, ${ROWS}) g`);
    for (let i = 0; i < UPDATES; i++) await db.$executeRawUnsafe('UPDATE soak_counter SET n = n + 1');
    const before = await deadRows(db);
    // Page pruning reclaims some as it goes; many stay.
    expect(before.dead).toBeGreaterThanOrEqual(ROWS * 2);
    // Nothing else would ever reclaim them.
    expect(before.autovacuums).toBe(0);

    const errors: unknown[] = [];
    schedule = startVacuumSchedule(
      () => db.$executeRawUnsafe(VACUUM_SQL),
      60_000,
      (e) => errors.push(e),
    );
    await schedule.runNow();
    const after = await deadRows(db);
    expect(errors).toEqual([]);
    expect(after.vacuums).toBe(before.vacuums + 1);
    expect(after.dead).toBe(0);
    const rows = await db.$queryRawUnsafe<{ n: number }[]>('SELECT DISTINCT n FROM soak_counter');
    expect(rows).toEqual([{ n: UPDATES }]);
  }, 90_000);
});
