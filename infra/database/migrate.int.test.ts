import { createHash } from 'node:crypto';
import { isFixpayError } from '../../domain/errors';
import { startTestDatabase, type TestDatabase } from '../../test/support/database';
import { migrate, type Migration } from './migrate';

const m = (name: string, sql: string): Migration => ({
  name,
  sql,
  checksum: createHash('sha256').update(sql).digest('hex'),
});

describe('migrate', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase();
  }, 60_000);
  afterAll(async () => {
    await db.close();
  });

  it('applies in order, skips what is applied, and rolls a failed migration back whole', async () => {
    const first = m('29990101000000_a', 'CREATE TABLE zz_a (id int);');
    const bad = m('29990101000001_b', 'CREATE TABLE zz_b (id int); SELECT * FROM no_such_table;');
    const report = await migrate(db.url, [first]);
    expect(report.applied).toEqual(['29990101000000_a']);

    let caught: unknown;
    try {
      await migrate(db.url, [first, bad]);
    } catch (e) {
      caught = e;
    }
    expect(isFixpayError(caught, 'MIGRATION_FAILED')).toBe(true);
    expect(String(caught)).toContain('29990101000001_b');
    const tables = await db.prisma.$queryRawUnsafe<{ n: bigint }[]>(
      `SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = '${db.schema}' AND table_name = 'zz_b'`,
    );
    expect(Number(tables[0]?.n)).toBe(0);

    const again = await migrate(db.url, [first]);
    expect(again).toEqual({ applied: [], alreadyApplied: ['29990101000000_a'] });
  });

  it('refuses a migration edited after it was applied', async () => {
    await migrate(db.url, [m('29990101000002_c', 'CREATE TABLE zz_c (id int);')]);
    await expect(migrate(db.url, [m('29990101000002_c', 'CREATE TABLE zz_c (id bigint);')])).rejects.toThrow(
      /edited after it was applied/,
    );
  });
});
