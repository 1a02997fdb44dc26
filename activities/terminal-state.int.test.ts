/**
 * Terminal key state in the database (issue 7): working keys survive a restart (a new store and a
 * new HSM with the same LMK use them), are stored only as key blocks under the LMK, and the PSAM
 * counter is never accepted twice, even by workers racing.
 */
import { randomBytes } from 'node:crypto';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { PrismaTerminalKeyStore } from '../hsm/prisma-terminal-key-store';
import { TerminalKeyManager } from '../hsm/terminal-keys';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { PrismaPsamCounterStore } from './psam-counter-store';

/** A test TMK (clear, only to check it never reaches the database). */
const TMK_HEX = '0123456789ABCDEFFEDCBA9876543210';

describe('terminal key state in the database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase();
  }, 60_000);
  afterAll(async () => {
    await db.close();
  });

  it('working keys survive a restart and hold no clear key', async () => {
    const lmk = randomBytes(32);
    const hsm = new SoftwareHsm({ lmk });
    const store = new PrismaTerminalKeyStore(db.prisma);
    await store.put({ terminalId: 'T0000009', tmk: hsm.importClearKey('TMK', 'tdes2', TMK_HEX) });
    const manager = new TerminalKeyManager({ hsm, store, layout: '004' });
    const first = await manager.signOn('T0000009');
    const second = await manager.signOn('T0000009');

    // "Restart": a new HSM with the same LMK and a new store over the same database.
    const restarted = new TerminalKeyManager({
      hsm: new SoftwareHsm({ lmk }),
      store: new PrismaTerminalKeyStore(db.prisma),
    });
    const [current, previous] = await restarted.keysFor('T0000009');
    expect(current).toEqual(second.keys);
    expect(previous).toEqual(first.keys);
    const hsm2 = new SoftwareHsm({ lmk });
    await expect(hsm2.describeKey(current!.tpk.handle)).resolves.toMatchObject({ type: 'TPK', kcv: current!.tpk.kcv });
    expect((await restarted.signOn('T0000009')).keys.version).toBe(3);

    const rows = await db.prisma.$queryRawUnsafe<{ t: string }[]>(`SELECT t::text AS t FROM "terminal_key" t`);
    const text = rows.map((r) => r.t).join('\n');
    expect(text).not.toContain(TMK_HEX);
    expect(text).not.toContain(TMK_HEX.toLowerCase());
  });

  it('a PSAM counter is accepted once: higher advances, its own retry passes, a replay or a race loser fails', async () => {
    const counters = new PrismaPsamCounterStore(db.prisma);
    expect(await counters.get('A1B2C3D4E5F60009')).toBeUndefined();
    expect(await counters.advance('A1B2C3D4E5F60009', 10, 'k10')).toBe(true);
    expect(await counters.advance('A1B2C3D4E5F60009', 10, 'k10')).toBe(true);
    expect(await counters.advance('A1B2C3D4E5F60009', 10, 'other')).toBe(false);
    expect(await counters.advance('A1B2C3D4E5F60009', 9, 'k9')).toBe(false);
    expect(await counters.advance('A1B2C3D4E5F60009', 11, 'k11')).toBe(true);
    expect(await counters.get('A1B2C3D4E5F60009')).toEqual({ counter: 11, key: 'k11' });

    // Two "workers" (separate stores) race the same counter under different request keys.
    const workers = [new PrismaPsamCounterStore(db.prisma), new PrismaPsamCounterStore(db.prisma)];
    for (let counter = 100; counter < 110; counter++) {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          workers[i % 2]!.advance('A1B2C3D4E5F60009', counter, `race-${counter}-${i}`),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    }
    expect((await counters.get('A1B2C3D4E5F60009'))?.counter).toBe(109);
  });
});
