import fc from 'fast-check';
import { currency } from '../domain/money';
import {
  AMOUNT_MAX,
  CREATE_ACCOUNT_RESULTS,
  CREATE_TRANSFER_RESULTS,
  ID_MAX,
  type AccountEvent,
  type CreateAccountResult,
  type CreateTransferResult,
  type TransferEvent,
} from './model';
import { assertAccountInvariants, ledgerTotals, MemoryLedger } from './post';

const CNY = currency('CNY');
const USD = currency('USD');
const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);

// Accounts: A customer funds (no overdraft), B merchant, C on another ledger, D may not be credited
// beyond its debits, X/Y/Z plain accounts for the overflow cases.
const A = 1n;
const B = 2n;
const C = 3n;
const D = 4n;
const X = 10n;
const Y = 11n;
const Z = 12n;

function ledger(): MemoryLedger {
  const l = new MemoryLedger();
  const acct = (id: bigint, extra: Partial<AccountEvent> = {}): AccountEvent => ({
    id,
    ledger: CNY.numeric,
    code: 1,
    currency: CNY.code,
    ...extra,
  });
  const results = l.createAccounts(
    [
      acct(A, { flags: { debitsMustNotExceedCredits: true } }),
      acct(B),
      acct(C, { ledger: USD.numeric, currency: USD.code }),
      acct(D, { flags: { creditsMustNotExceedDebits: true } }),
      acct(X),
      acct(Y),
      acct(Z),
    ],
    T0,
  );
  expect(results.every((r) => r === 'ok')).toBe(true);
  // Fund A with 1000 from B.
  expect(
    l.createTransfers([{ id: 1000n, debitAccountId: B, creditAccountId: A, amount: 1000n, ledger: 156, code: 1 }], T0),
  ).toEqual(['ok']);
  return l;
}

const t = (id: bigint, extra: Partial<TransferEvent> = {}): TransferEvent => ({
  id,
  debitAccountId: A,
  creditAccountId: B,
  amount: 100n,
  ledger: 156,
  code: 1,
  ...extra,
});
const pending = (id: bigint, extra: Partial<TransferEvent> = {}): TransferEvent =>
  t(id, { flags: { pending: true }, ...extra });
const post = (id: bigint, pendingId: bigint, extra: Partial<TransferEvent> = {}): TransferEvent => ({
  id,
  pendingId,
  flags: { postPendingTransfer: true },
  ...extra,
});
const voidOf = (id: bigint, pendingId: bigint, extra: Partial<TransferEvent> = {}): TransferEvent => ({
  id,
  pendingId,
  flags: { voidPendingTransfer: true },
  ...extra,
});

// The transfer every exists_* case retries with one field changed.
const ORIGINAL = pending(100n, { timeoutSeconds: 60, userData128: 7n, userData64: 8n, userData32: 9 });

interface Case {
  result: CreateTransferResult;
  before?: readonly TransferEvent[];
  events: readonly TransferEvent[];
  /** Which event's result to check (default: the last). */
  index?: number;
  atMs?: number;
}

// One row per result code, in the declaration (precedence) order of CREATE_TRANSFER_RESULTS.
const CASES: readonly Case[] = [
  { result: 'ok', events: [t(1n)] },
  { result: 'linked_event_failed', events: [t(1n, { flags: { linked: true } }), t(2n, { amount: 5000n })], index: 0 },
  { result: 'linked_event_chain_open', events: [t(1n, { flags: { linked: true } })] },
  { result: 'id_must_not_be_zero', events: [t(0n)] },
  { result: 'id_must_not_be_int_max', events: [t(ID_MAX)] },
  { result: 'exists_with_different_flags', before: [ORIGINAL], events: [{ ...ORIGINAL, flags: {} }] },
  { result: 'exists_with_different_pending_id', before: [ORIGINAL], events: [{ ...ORIGINAL, pendingId: 5n }] },
  { result: 'exists_with_different_timeout', before: [ORIGINAL], events: [{ ...ORIGINAL, timeoutSeconds: 30 }] },
  {
    result: 'exists_with_different_debit_account_id',
    before: [ORIGINAL],
    events: [{ ...ORIGINAL, debitAccountId: X }],
  },
  {
    result: 'exists_with_different_credit_account_id',
    before: [ORIGINAL],
    events: [{ ...ORIGINAL, creditAccountId: X }],
  },
  { result: 'exists_with_different_amount', before: [ORIGINAL], events: [{ ...ORIGINAL, amount: 99n }] },
  { result: 'exists_with_different_user_data_128', before: [ORIGINAL], events: [{ ...ORIGINAL, userData128: 70n }] },
  { result: 'exists_with_different_user_data_64', before: [ORIGINAL], events: [{ ...ORIGINAL, userData64: 80n }] },
  { result: 'exists_with_different_user_data_32', before: [ORIGINAL], events: [{ ...ORIGINAL, userData32: 90 }] },
  { result: 'exists_with_different_ledger', before: [ORIGINAL], events: [{ ...ORIGINAL, ledger: 840 }] },
  { result: 'exists_with_different_code', before: [ORIGINAL], events: [{ ...ORIGINAL, code: 2 }] },
  { result: 'exists', before: [ORIGINAL], events: [ORIGINAL] },
  { result: 'flags_are_mutually_exclusive', events: [t(1n, { flags: { pending: true, postPendingTransfer: true } })] },
  { result: 'debit_account_id_must_not_be_zero', events: [t(1n, { debitAccountId: 0n })] },
  { result: 'debit_account_id_must_not_be_int_max', events: [t(1n, { debitAccountId: ID_MAX })] },
  { result: 'credit_account_id_must_not_be_zero', events: [t(1n, { creditAccountId: 0n })] },
  { result: 'credit_account_id_must_not_be_int_max', events: [t(1n, { creditAccountId: ID_MAX })] },
  { result: 'accounts_must_be_different', events: [t(1n, { creditAccountId: A })] },
  { result: 'pending_id_must_be_zero', events: [t(1n, { pendingId: 7n })] },
  { result: 'pending_id_must_not_be_zero', events: [post(1n, 0n)] },
  { result: 'pending_id_must_not_be_int_max', events: [post(1n, ID_MAX)] },
  { result: 'pending_id_must_be_different', events: [post(1n, 1n)] },
  { result: 'timeout_reserved_for_pending_transfer', events: [t(1n, { timeoutSeconds: 5 })] },
  { result: 'ledger_must_not_be_zero', events: [t(1n, { ledger: 0 })] },
  { result: 'code_must_not_be_zero', events: [t(1n, { code: 0 })] },
  { result: 'debit_account_not_found', events: [t(1n, { debitAccountId: 99n })] },
  { result: 'credit_account_not_found', events: [t(1n, { creditAccountId: 99n })] },
  { result: 'accounts_must_have_the_same_ledger', events: [t(1n, { creditAccountId: C })] },
  { result: 'transfer_must_have_the_same_ledger_as_accounts', events: [t(1n, { ledger: 840 })] },
  { result: 'pending_transfer_not_found', events: [post(1n, 999n)] },
  { result: 'pending_transfer_not_pending', events: [post(1n, 1000n)] },
  {
    result: 'pending_transfer_has_different_debit_account_id',
    before: [pending(5n)],
    events: [post(1n, 5n, { debitAccountId: X })],
  },
  {
    result: 'pending_transfer_has_different_credit_account_id',
    before: [pending(5n)],
    events: [post(1n, 5n, { creditAccountId: X })],
  },
  { result: 'pending_transfer_has_different_ledger', before: [pending(5n)], events: [post(1n, 5n, { ledger: 840 })] },
  { result: 'pending_transfer_has_different_code', before: [pending(5n)], events: [post(1n, 5n, { code: 2 })] },
  { result: 'exceeds_pending_transfer_amount', before: [pending(5n)], events: [post(1n, 5n, { amount: 101n })] },
  { result: 'pending_transfer_has_different_amount', before: [pending(5n)], events: [voidOf(1n, 5n, { amount: 50n })] },
  { result: 'pending_transfer_already_posted', before: [pending(5n), post(6n, 5n)], events: [post(1n, 5n)] },
  { result: 'pending_transfer_already_voided', before: [pending(5n), voidOf(6n, 5n)], events: [voidOf(1n, 5n)] },
  {
    result: 'pending_transfer_expired',
    before: [pending(5n, { timeoutSeconds: 1 })],
    events: [post(1n, 5n)],
    atMs: T0 + 1000,
  },
  {
    result: 'overflows_debits_pending',
    before: [pending(5n, { debitAccountId: X, creditAccountId: Y, amount: AMOUNT_MAX })],
    events: [pending(1n, { debitAccountId: X, creditAccountId: Z, amount: 1n })],
  },
  {
    result: 'overflows_credits_pending',
    before: [pending(5n, { debitAccountId: X, creditAccountId: Y, amount: AMOUNT_MAX })],
    events: [pending(1n, { debitAccountId: Z, creditAccountId: Y, amount: 1n })],
  },
  {
    result: 'overflows_debits_posted',
    before: [t(5n, { debitAccountId: X, creditAccountId: Y, amount: AMOUNT_MAX })],
    events: [t(1n, { debitAccountId: X, creditAccountId: Z, amount: 1n })],
  },
  {
    result: 'overflows_credits_posted',
    before: [t(5n, { debitAccountId: X, creditAccountId: Y, amount: AMOUNT_MAX })],
    events: [t(1n, { debitAccountId: Z, creditAccountId: Y, amount: 1n })],
  },
  {
    result: 'overflows_debits',
    before: [pending(5n, { debitAccountId: X, creditAccountId: Y, amount: AMOUNT_MAX })],
    events: [t(1n, { debitAccountId: X, creditAccountId: Z, amount: 1n })],
  },
  {
    result: 'overflows_credits',
    before: [pending(5n, { debitAccountId: X, creditAccountId: Y, amount: AMOUNT_MAX })],
    events: [t(1n, { debitAccountId: Z, creditAccountId: Y, amount: 1n })],
  },
  { result: 'overflows_timeout', events: [pending(1n, { timeoutSeconds: 9_000_000_000_000 })] },
  { result: 'exceeds_credits', events: [t(1n, { amount: 1001n })] },
  { result: 'exceeds_debits', events: [t(1n, { debitAccountId: B, creditAccountId: D, amount: 1n })] },
];

describe('createTransfers: every result code', () => {
  it('has one case per result, in declaration order', () => {
    expect(CASES.map((c) => c.result)).toEqual([...CREATE_TRANSFER_RESULTS]);
  });

  it.each(CASES.map((c) => [c.result, c] as const))('%s', (_name, c) => {
    const l = ledger();
    if (c.before !== undefined) expect(l.createTransfers(c.before, T0)).toEqual(c.before.map(() => 'ok'));
    const accountsBefore = new Map(l.accounts);
    const transfersBefore = l.transfers.size;
    const results = l.createTransfers(c.events, c.atMs ?? T0);
    expect(results[c.index ?? results.length - 1]).toBe(c.result);
    if (c.result !== 'ok') {
      // A failed event (and a failed chain) leaves no trace.
      expect(l.transfers.size).toBe(transfersBefore);
      expect(l.accounts).toEqual(accountsBefore);
    }
  });
});

describe('two-phase transfers', () => {
  it('reserves in pending balances, then posts part and releases the rest', () => {
    const l = ledger();
    expect(l.createTransfers([pending(5n)], T0)).toEqual(['ok']);
    expect(l.account(A)).toMatchObject({ debitsPending: 100n, debitsPosted: 0n, creditsPosted: 1000n });
    expect(l.account(B)).toMatchObject({ creditsPending: 100n });
    expect(l.createTransfers([post(6n, 5n, { amount: 60n })], T0)).toEqual(['ok']);
    expect(l.account(A)).toMatchObject({ debitsPending: 0n, debitsPosted: 60n });
    expect(l.account(B)).toMatchObject({ creditsPending: 0n, creditsPosted: 60n });
    expect(l.transfer(5n)?.pendingStatus).toBe('posted');
    expect(l.transfer(6n)).toMatchObject({ amount: 60n, debitAccountId: A, creditAccountId: B, pendingId: 5n });
  });

  it('voids: the whole reservation returns', () => {
    const l = ledger();
    l.createTransfers([pending(5n)], T0);
    expect(l.createTransfers([voidOf(6n, 5n)], T0)).toEqual(['ok']);
    expect(l.account(A)).toMatchObject({ debitsPending: 0n, debitsPosted: 0n });
    expect(l.transfer(6n)?.amount).toBe(100n);
    expect(l.transfer(5n)?.pendingStatus).toBe('voided');
  });

  it('counts reservations against the no-overdraft limit', () => {
    const l = ledger();
    expect(l.createTransfers([pending(5n, { amount: 700n }), pending(6n, { amount: 400n })], T0)).toEqual([
      'ok',
      'exceeds_credits',
    ]);
  });

  it('expires a due reservation and releases it; a retried post then reports expired', () => {
    const l = ledger();
    l.createTransfers([pending(5n, { timeoutSeconds: 30 })], T0);
    expect(l.expire(T0 + 29_999)).toEqual([]);
    expect(l.expire(T0 + 30_000)).toEqual([5n]);
    expect(l.account(A)?.debitsPending).toBe(0n);
    expect(l.createTransfers([post(6n, 5n)], T0)).toEqual(['pending_transfer_expired']);
  });

  it('is idempotent: a retried post with omitted fields is `exists`', () => {
    const l = ledger();
    l.createTransfers([pending(5n), post(6n, 5n)], T0);
    expect(l.createTransfers([post(6n, 5n)], T0)).toEqual(['exists']);
    expect(l.createTransfers([post(6n, 5n, { amount: 100n, debitAccountId: A })], T0)).toEqual(['exists']);
    expect(l.account(A)?.debitsPosted).toBe(100n);
  });

  it('sees its own earlier events in one batch', () => {
    const l = ledger();
    expect(l.createTransfers([pending(5n), post(6n, 5n), voidOf(7n, 5n), t(8n), t(8n)], T0)).toEqual([
      'ok',
      'ok',
      'pending_transfer_already_posted',
      'ok',
      'exists',
    ]);
  });

  it('rolls back a whole linked chain and resumes after it', () => {
    const l = ledger();
    const results = l.createTransfers(
      [t(1n, { flags: { linked: true } }), t(2n, { flags: { linked: true } }), t(3n, { amount: 900n }), t(4n)],
      T0,
    );
    expect(results).toEqual(['linked_event_failed', 'linked_event_failed', 'exceeds_credits', 'ok']);
    expect(l.transfer(1n)).toBeUndefined();
    expect(l.account(A)?.debitsPosted).toBe(100n);
  });

  it('refuses negative amounts as a programming error', () => {
    expect(() => ledger().createTransfers([t(1n, { amount: -1n })], T0)).toThrow(RangeError);
  });
});

describe('createAccounts: every result code', () => {
  const base: AccountEvent = {
    id: 50n,
    ledger: 156,
    code: 1,
    currency: CNY.code,
    reference: 'merchant:M1',
    userData128: 1n,
    userData64: 2n,
    userData32: 3,
  };
  const cases: readonly (readonly [CreateAccountResult, AccountEvent])[] = [
    ['ok', { ...base, id: 51n, reference: 'merchant:M2' }],
    ['id_must_not_be_zero', { ...base, id: 0n }],
    ['id_must_not_be_int_max', { ...base, id: ID_MAX }],
    ['exists_with_different_flags', { ...base, flags: { debitsMustNotExceedCredits: true } }],
    ['exists_with_different_user_data_128', { ...base, userData128: 9n }],
    ['exists_with_different_user_data_64', { ...base, userData64: 9n }],
    ['exists_with_different_user_data_32', { ...base, userData32: 9 }],
    ['exists_with_different_ledger', { ...base, ledger: 840 }],
    ['exists_with_different_code', { ...base, code: 2 }],
    ['exists_with_different_currency', { ...base, currency: USD.code }],
    ['exists_with_different_reference', { ...base, reference: 'merchant:M9' }],
    ['exists', base],
    [
      'flags_are_mutually_exclusive',
      { ...base, id: 52n, flags: { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: true } },
    ],
    ['ledger_must_not_be_zero', { ...base, id: 52n, ledger: 0 }],
    ['code_must_not_be_zero', { ...base, id: 52n, code: 0 }],
    ['ledger_must_match_currency', { ...base, id: 52n, ledger: 840 }],
    ['reference_in_use', { ...base, id: 52n }],
  ];
  it('has one case per result, in declaration order', () => {
    expect(cases.map(([r]) => r)).toEqual([...CREATE_ACCOUNT_RESULTS]);
  });
  it.each(cases)('%s', (result, event) => {
    const l = new MemoryLedger();
    expect(l.createAccounts([base], T0)).toEqual(['ok']);
    expect(l.createAccounts([event], T0)).toEqual([result]);
  });
});

describe('ledger properties', () => {
  const accountIds = [A, B, D, X, Y];
  const event = fc.oneof(
    fc.record({
      kind: fc.constant('single' as const),
      id: fc.bigInt({ min: 1n, max: 40n }),
      dr: fc.constantFrom(...accountIds),
      cr: fc.constantFrom(...accountIds),
      amount: fc.bigInt({ min: 0n, max: 700n }),
      linked: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('pending' as const),
      id: fc.bigInt({ min: 1n, max: 40n }),
      dr: fc.constantFrom(...accountIds),
      cr: fc.constantFrom(...accountIds),
      amount: fc.bigInt({ min: 0n, max: 700n }),
      timeoutSeconds: fc.constantFrom(0, 0, 5, 60),
      linked: fc.boolean(),
    }),
    fc.record({
      kind: fc.constantFrom('post' as const, 'void' as const),
      id: fc.bigInt({ min: 1n, max: 40n }),
      pendingId: fc.bigInt({ min: 1n, max: 40n }),
      amount: fc.option(fc.bigInt({ min: 0n, max: 700n }), { nil: undefined }),
      linked: fc.boolean(),
    }),
  );
  type Ev = typeof event extends fc.Arbitrary<infer T> ? T : never;
  const toEvent = (e: Ev): TransferEvent => {
    const base = { id: e.id, ledger: 156, code: 1 };
    switch (e.kind) {
      case 'single':
        return { ...base, debitAccountId: e.dr, creditAccountId: e.cr, amount: e.amount, flags: { linked: e.linked } };
      case 'pending':
        return {
          ...base,
          debitAccountId: e.dr,
          creditAccountId: e.cr,
          amount: e.amount,
          timeoutSeconds: e.timeoutSeconds,
          flags: { pending: true, linked: e.linked },
        };
      case 'post':
        return {
          id: e.id,
          pendingId: e.pendingId,
          ...(e.amount === undefined ? {} : { amount: e.amount }),
          flags: { postPendingTransfer: true, linked: e.linked },
        };
      case 'void':
        return { id: e.id, pendingId: e.pendingId, flags: { voidPendingTransfer: true, linked: e.linked } };
    }
  };

  it('keeps debits equal to credits, every limit, and resolves each reservation at most once', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            batch: fc.array(event, { maxLength: 6 }),
            advanceMs: fc.constantFrom(0, 1000, 10_000),
            expire: fc.boolean(),
          }),
          {
            maxLength: 25,
          },
        ),
        (steps) => {
          const l = ledger();
          let now = T0;
          for (const step of steps) {
            now += step.advanceMs;
            l.createTransfers(step.batch.map(toEvent), now);
            if (step.expire) l.expire(now);
            const totals = ledgerTotals(l.accounts.values());
            expect(totals.debitsPosted).toBe(totals.creditsPosted);
            expect(totals.debitsPending).toBe(totals.creditsPending);
            for (const a of l.accounts.values()) assertAccountInvariants(a);
            // Pending balances are exactly the still-pending reservations.
            const open = [...l.transfers.values()].filter((x) => x.pendingStatus === 'pending');
            expect(open.reduce((s, x) => s + x.amount, 0n)).toBe(totals.debitsPending);
            const resolutions = [...l.transfers.values()]
              .filter((x) => x.pendingId !== undefined)
              .map((x) => x.pendingId);
            expect(new Set(resolutions).size).toBe(resolutions.length);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
