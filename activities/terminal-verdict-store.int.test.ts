/**
 * The verdict list in the database (ADR 0012): one row per terminal id + STAN, opened once (a
 * second open, a racing worker's included, gets the first row), a tombstone only where no row is,
 * rows past the kept period replaced (a wrapped STAN), and the list survives a new store.
 */
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { PrismaTerminalVerdictStore } from './terminal-verdict-store';

describe('the verdict list in the database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase();
  }, 60_000);
  afterAll(async () => {
    await db.close();
  });

  const sale = (stan: string, digest = `d${stan}`) => ({
    terminalId: 'T0000001',
    stan,
    workflowId: `purchase:T0000001:${stan}:20261203`,
    requestDigest: digest,
  });

  it('opens a sale once: racing opens all get the first row; it survives a new store', async () => {
    const store = new PrismaTerminalVerdictStore(db.prisma);
    const rows = await Promise.all([store.open(sale('000001')), store.open(sale('000001', 'other'))]);
    expect(new Set(rows.map((r) => r.requestDigest)).size).toBe(1);
    expect(rows[0]).toMatchObject({ state: 'open', answer: null });
    const again = new PrismaTerminalVerdictStore(db.prisma);
    expect(await again.waiting('T0000001')).toEqual([expect.objectContaining({ stan: '000001' })]);
  });

  it('stores the answer and the state; waiting lists open sales with a run only', async () => {
    const store = new PrismaTerminalVerdictStore(db.prisma);
    await store.open(sale('000002'));
    await store.update('T0000001', '000002', { answer: 'c0ffee' });
    expect(await store.get('T0000001', '000002')).toMatchObject({ state: 'open', answer: 'c0ffee' });
    await store.update('T0000001', '000002', { state: 'confirmed' });
    expect(await store.get('T0000001', '000002')).toMatchObject({ state: 'confirmed', answer: 'c0ffee' });
    expect(await store.tombstone('T0000001', '000002')).toBe(false);
    expect(await store.tombstone('T0000001', '000003')).toBe(true);
    expect(await store.get('T0000001', '000003')).toMatchObject({ state: 'reversed', workflowId: null });
    const waiting = (await store.waiting('T0000001')).map((r) => r.stan);
    expect(waiting).not.toContain('000002');
    expect(waiting).not.toContain('000003');
  });

  it('replaces a row older than the kept period (a STAN that wrapped)', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const store = new PrismaTerminalVerdictStore(db.prisma, () => now, 1_000);
    await store.open(sale('000004'));
    await store.update('T0000001', '000004', { state: 'confirmed', answer: 'aa' });
    expect(await store.open(sale('000004', 'new'))).toMatchObject({ requestDigest: 'd000004', state: 'confirmed' });
    now = new Date(now.getTime() + 5_000);
    expect(await store.open(sale('000004', 'new'))).toMatchObject({
      requestDigest: 'new',
      state: 'open',
      answer: null,
    });
  });
});
