import fc from 'fast-check';
import { currency } from '../domain/money';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { ID_MAX, type AccountEvent, type TransferEvent } from './model';
import { MemoryLedger } from './post';
import { PrismaLedgerStore } from './store';

const CNY = currency('CNY');
const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);

describe('PrismaLedgerStore', () => {
  let db: TestDatabase;
  let store: PrismaLedgerStore;
  let now = T0;
  // Each test works on its own accounts, so ids are offset per test.
  let base = 0n;

  beforeAll(async () => {
    db = await startTestDatabase();
    store = new PrismaLedgerStore(db.prisma, { clock: () => now });
  }, 60_000);
  afterAll(async () => {
    await db.close();
  });
  beforeEach(() => {
    now = T0;
    base += 1_000_000n;
  });
  afterEach(async () => {
    // After every test the whole ledger balances and no limit is broken.
    for (const t of await store.totals()) {
      expect(t.debitsPosted).toBe(t.creditsPosted);
      expect(t.debitsPending).toBe(t.creditsPending);
    }
    const broken = await db.prisma.$queryRawUnsafe<{ n: bigint | number }[]>(
      `SELECT count(*) AS n FROM ledger_account
        WHERE (debits_must_not_exceed_credits AND debits_pending + debits_posted > credits_posted)
           OR (credits_must_not_exceed_debits AND credits_pending + credits_posted > debits_posted)`,
    );
    expect(Number(broken[0]?.n)).toBe(0);
  });

  const account = (n: bigint, extra: Partial<AccountEvent> = {}): AccountEvent => ({
    id: base + n,
    ledger: CNY.numeric,
    code: 1,
    currency: CNY.code,
    ...extra,
  });
  /** Customer funds account 1 (no overdraft) funded with `funds` from account 2. */
  async function funded(funds: bigint): Promise<{ customer: bigint; merchant: bigint }> {
    const customer = base + 1n;
    const merchant = base + 2n;
    expect(
      await store.createAccounts([account(1n, { flags: { debitsMustNotExceedCredits: true } }), account(2n)]),
    ).toEqual(['ok', 'ok']);
    expect(
      await store.createTransfers([
        { id: base + 999n, debitAccountId: merchant, creditAccountId: customer, amount: funds, ledger: 156, code: 1 },
      ]),
    ).toEqual(['ok']);
    return { customer, merchant };
  }

  it('creates accounts idempotently and refuses a changed retry', async () => {
    const a = account(1n, { reference: `test:${base}` });
    expect(await store.createAccounts([a, a])).toEqual(['ok', 'exists']);
    expect(await store.createAccounts([a])).toEqual(['exists']);
    expect(await store.createAccounts([{ ...a, code: 2 }])).toEqual(['exists_with_different_code']);
    expect(await store.createAccounts([{ ...a, id: base + 2n }])).toEqual(['reference_in_use']);
    expect((await store.accountByReference(`test:${base}`))?.id).toBe(base + 1n);
  });

  it('reserves, posts part, voids, and keeps the pending balances exact', async () => {
    const { customer, merchant } = await funded(1000n);
    const r = (id: bigint, amount: bigint): TransferEvent => ({
      id: base + id,
      debitAccountId: customer,
      creditAccountId: merchant,
      amount,
      ledger: 156,
      code: 1,
      flags: { pending: true },
    });
    expect(await store.createTransfers([r(1n, 300n), r(2n, 300n), r(3n, 500n)])).toEqual([
      'ok',
      'ok',
      'exceeds_credits',
    ]);
    expect(
      await store.createTransfers([
        { id: base + 4n, pendingId: base + 1n, amount: 200n, flags: { postPendingTransfer: true } },
        { id: base + 5n, pendingId: base + 2n, flags: { voidPendingTransfer: true } },
      ]),
    ).toEqual(['ok', 'ok']);
    const [c] = await store.lookupAccounts([customer]);
    expect(c).toMatchObject({ debitsPending: 0n, debitsPosted: 200n, creditsPosted: 1000n });
    const [p1, p2] = await store.lookupTransfers([base + 1n, base + 2n]);
    expect([p1?.pendingStatus, p2?.pendingStatus]).toEqual(['posted', 'voided']);
  });

  it('never overdraws under concurrent reservations, posts and voids on one account', async () => {
    const { customer, merchant } = await funded(1000n);
    const reserve = (i: number): TransferEvent => ({
      id: base + 100n + BigInt(i),
      debitAccountId: customer,
      creditAccountId: merchant,
      amount: 100n,
      ledger: 156,
      code: 1,
      flags: { pending: true },
    });
    // 30 reservations of 100 against 1000 of funds, all at once, each sent twice (a retry).
    const reservations = Array.from({ length: 30 }, (_, i) => reserve(i));
    const results = await Promise.all([...reservations, ...reservations].map((e) => store.createTransfers([e])));
    const flat = results.map((x) => x[0]);
    const firstTry = flat.slice(0, 30);
    const retry = flat.slice(30);
    const reserved = reservations.filter((_, i) => firstTry[i] === 'ok' || retry[i] === 'ok');
    expect(reserved).toHaveLength(10);
    // A transfer id is applied once: its twin got `exists` (or both failed on funds).
    for (let i = 0; i < 30; i++) {
      const pair = [firstTry[i], retry[i]].sort();
      expect([
        ['exists', 'ok'],
        ['exceeds_credits', 'exceeds_credits'],
      ]).toContainEqual(pair);
    }
    // Now post half and void the other half, concurrently, with a post AND a void racing on each,
    // and every resolution retried.
    const races = reserved.flatMap((r, i) => {
      const postEvent: TransferEvent = {
        id: base + 500n + BigInt(i),
        pendingId: r.id,
        flags: { postPendingTransfer: true },
      };
      const voidEvent: TransferEvent = {
        id: base + 600n + BigInt(i),
        pendingId: r.id,
        flags: { voidPendingTransfer: true },
      };
      return [postEvent, voidEvent, postEvent, voidEvent];
    });
    const raced = (await Promise.all(races.map((e) => store.createTransfers([e])))).map((x) => x[0]);
    for (let i = 0; i < reserved.length; i++) {
      const [post1, void1, post2, void2] = raced.slice(i * 4, i * 4 + 4);
      const posted = post1 === 'ok' || post2 === 'ok';
      const voided = void1 === 'ok' || void2 === 'ok';
      expect(posted !== voided).toBe(true); // exactly one resolution won
    }
    const resolutions = await db.prisma.ledgerTransfer.count({
      where: { pendingId: { in: reserved.map((r) => r.id).map((id) => uuidOf(id)) } },
    });
    expect(resolutions).toBe(10);
    const [c] = await store.lookupAccounts([customer]);
    expect(c?.debitsPending).toBe(0n);
    expect((c?.debitsPosted ?? 0n) <= 1000n).toBe(true);
  }, 60_000);

  it('applies one retried transfer id exactly once when 20 copies race', async () => {
    const { customer, merchant } = await funded(1000n);
    const e: TransferEvent = {
      id: base + 7n,
      debitAccountId: customer,
      creditAccountId: merchant,
      amount: 10n,
      ledger: 156,
      code: 1,
    };
    const results = (await Promise.all(Array.from({ length: 20 }, () => store.createTransfers([e])))).map((r) => r[0]);
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'exists')).toHaveLength(19);
    const [c] = await store.lookupAccounts([customer]);
    expect(c?.debitsPosted).toBe(10n);
  }, 60_000);

  it('expires a reservation on its timeout', async () => {
    const { customer, merchant } = await funded(1000n);
    const pending: TransferEvent = {
      id: base + 1n,
      debitAccountId: customer,
      creditAccountId: merchant,
      amount: 400n,
      ledger: 156,
      code: 1,
      timeoutSeconds: 30,
      flags: { pending: true },
    };
    expect(await store.createTransfers([pending])).toEqual(['ok']);
    now = T0 + 29_000;
    expect(await store.expirePendingTransfers()).toEqual([]);
    now = T0 + 30_000;
    expect(await store.expirePendingTransfers()).toEqual([base + 1n]);
    expect((await store.lookupAccounts([customer]))[0]?.debitsPending).toBe(0n);
    expect(
      await store.createTransfers([{ id: base + 2n, pendingId: base + 1n, flags: { postPendingTransfer: true } }]),
    ).toEqual(['pending_transfer_expired']);
  });

  it('keeps a linked chain all-or-nothing', async () => {
    const { customer, merchant } = await funded(100n);
    const leg = (id: bigint, amount: bigint, linked: boolean): TransferEvent => ({
      id: base + id,
      debitAccountId: customer,
      creditAccountId: merchant,
      amount,
      ledger: 156,
      code: 1,
      flags: { linked },
    });
    expect(await store.createTransfers([leg(1n, 60n, true), leg(2n, 60n, false)])).toEqual([
      'linked_event_failed',
      'exceeds_credits',
    ]);
    expect(await store.lookupTransfers([base + 1n])).toEqual([]);
  });

  it('refuses edits, deletes and overdrafts at the SQL level too', async () => {
    const { customer } = await funded(100n);
    const id = uuidOf(base + 999n);
    await expect(
      db.prisma.$executeRawUnsafe(`UPDATE ledger_transfer SET amount = 1 WHERE id = '${id}'`),
    ).rejects.toThrow(/immutable/);
    await expect(db.prisma.$executeRawUnsafe(`DELETE FROM ledger_transfer WHERE id = '${id}'`)).rejects.toThrow(
      /immutable/,
    );
    await expect(
      db.prisma.$executeRawUnsafe(`UPDATE ledger_account SET debits_posted = 101 WHERE id = '${uuidOf(customer)}'`),
    ).rejects.toThrow(/ledger_account_debits_limit/);
  });

  it('decides exactly as the in-memory rules do (differential, random batches)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.array(
            fc.record({
              id: fc.bigInt({ min: 1n, max: 12n }),
              dr: fc.bigInt({ min: 1n, max: 3n }),
              cr: fc.bigInt({ min: 1n, max: 3n }),
              amount: fc.bigInt({ min: 0n, max: 400n }),
              pendingId: fc.bigInt({ min: 1n, max: 12n }),
              kind: fc.constantFrom('single', 'pending', 'post', 'void'),
              linked: fc.boolean(),
            }),
            { minLength: 1, maxLength: 4 },
          ),
          { maxLength: 6 },
        ),
        async (batches) => {
          base += 1_000n;
          const accounts = [
            account(1n, { flags: { debitsMustNotExceedCredits: true } }),
            account(2n),
            account(3n, { flags: { creditsMustNotExceedDebits: true } }),
          ];
          const memory = new MemoryLedger();
          memory.createAccounts(accounts, now);
          await store.createAccounts(accounts);
          for (const batch of batches) {
            const events = batch.map((b): TransferEvent => {
              const id = base + b.id;
              switch (b.kind) {
                case 'single':
                case 'pending':
                  return {
                    id,
                    debitAccountId: base + b.dr,
                    creditAccountId: base + b.cr,
                    amount: b.amount,
                    ledger: 156,
                    code: 1,
                    flags: { pending: b.kind === 'pending', linked: b.linked },
                  };
                default:
                  return {
                    id,
                    pendingId: base + b.pendingId,
                    flags: {
                      postPendingTransfer: b.kind === 'post',
                      voidPendingTransfer: b.kind === 'void',
                      linked: b.linked,
                    },
                  };
              }
            });
            expect(await store.createTransfers(events)).toEqual(memory.createTransfers(events, now));
          }
          const ids = accounts.map((a) => a.id);
          const stored = await store.lookupAccounts(ids);
          expect(stored.map(balances)).toEqual(ids.map((id) => balances(memory.account(id))));
        },
      ),
      { numRuns: 15 },
    );
  }, 120_000);

  it('rejects reserved ids without touching the database', async () => {
    expect(
      await store.createTransfers([{ id: ID_MAX, debitAccountId: 1n, creditAccountId: 2n, ledger: 156, code: 1 }]),
    ).toEqual(['id_must_not_be_int_max']);
  });
});

function uuidOf(id: bigint): string {
  const h = id.toString(16).padStart(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function balances(
  a: { debitsPending: bigint; debitsPosted: bigint; creditsPending: bigint; creditsPosted: bigint } | undefined,
): bigint[] {
  return a === undefined ? [] : [a.debitsPending, a.debitsPosted, a.creditsPending, a.creditsPosted];
}
