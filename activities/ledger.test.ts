import { currency } from '../domain/money';
import { MemoryLedgerStore } from '../ledger/memory';
import { ACCOUNT_CODES } from '../ledger/model';
import { createLedgerActivities, transferIdForKey } from './ledger';

const CNY = currency('CNY');

async function setup(timeoutSeconds = 900) {
  let now = Date.UTC(2026, 10, 26);
  const ledger = new MemoryLedgerStore(() => now);
  const acct = (id: bigint, reference: string, code: number, flags = {}) => ({
    id,
    reference,
    ledger: CNY.numeric,
    code,
    currency: CNY.code,
    flags,
  });
  await ledger.createAccounts([
    acct(1n, 'customer-funds:H1', ACCOUNT_CODES.customerFunds, { debitsMustNotExceedCredits: true }),
    acct(2n, 'suspense:CNY', ACCOUNT_CODES.suspense),
    acct(3n, 'merchant:M1', ACCOUNT_CODES.merchant),
    acct(4n, 'settlement:CNY', ACCOUNT_CODES.settlement),
    acct(5n, 'funding:CNY', ACCOUNT_CODES.funding),
  ]);
  await ledger.createTransfers([
    { id: 99n, debitAccountId: 5n, creditAccountId: 1n, amount: 1000n, ledger: 156, code: 4 },
  ]);
  return {
    ledger,
    activities: createLedgerActivities({ ledger, reservationTimeoutSeconds: timeoutSeconds }),
    advance: (ms: number) => (now += ms),
  };
}

describe('ledger activities', () => {
  it('derives the transfer id from the idempotency key, deterministically', () => {
    expect(transferIdForKey('wf:1:reserve')).toBe(transferIdForKey('wf:1:reserve'));
    expect(transferIdForKey('wf:1:reserve')).not.toBe(transferIdForKey('wf:1:reserve2'));
    expect(transferIdForKey('x') < 2n ** 128n).toBe(true);
  });

  it('reserves from customer funds into suspense, and credits a merchant from settlement', async () => {
    const { ledger, activities } = await setup();
    await activities.reserveFunds({
      accountId: 'customer-funds:H1',
      amount: 300,
      currency: '156',
      idempotencyKey: 'a',
    });
    await activities.reserveFunds({ accountId: 'merchant:M1', amount: 500, currency: 'CNY', idempotencyKey: 'b' });
    const [h, s, m, st] = await ledger.lookupAccounts([1n, 2n, 3n, 4n]);
    expect([h?.debitsPending, s?.creditsPending, m?.creditsPending, st?.debitsPending]).toEqual([
      300n,
      300n,
      500n,
      500n,
    ]);
  });

  it.each([
    [{ amount: 0 }, 'LEDGER_AMOUNT_INVALID'],
    [{ amount: 1.5 }, 'LEDGER_AMOUNT_INVALID'],
    [{ currency: 'USD' }, 'LEDGER_ACCOUNT_CURRENCY_MISMATCH'],
    [{ accountId: 'customer-funds:nobody' }, 'LEDGER_ACCOUNT_UNKNOWN'],
    [{ amount: 5000 }, 'LEDGER_EXCEEDS_CREDITS'],
  ])('refuses %p with %s, not retryable', async (change, type) => {
    const { activities } = await setup();
    await expect(
      activities.reserveFunds({
        accountId: 'customer-funds:H1',
        amount: 100,
        currency: 'CNY',
        idempotencyKey: 'k',
        ...change,
      }),
    ).rejects.toMatchObject({ type, nonRetryable: true });
  });

  it('posts part of a reservation; the rest returns', async () => {
    const { ledger, activities } = await setup();
    await activities.reserveFunds({
      accountId: 'customer-funds:H1',
      amount: 300,
      currency: 'CNY',
      idempotencyKey: 'r',
    });
    expect(
      await activities.postReservation({
        accountId: 'customer-funds:H1',
        reservationKey: 'r',
        idempotencyKey: 'p',
        amount: 200,
      }),
    ).toEqual({
      posted: true,
    });
    const [h] = await ledger.lookupAccounts([1n]);
    expect([h?.debitsPending, h?.debitsPosted]).toEqual([0n, 200n]);
  });

  it('voids after expiry report `expired`, posts after expiry fail', async () => {
    const { ledger, activities, advance } = await setup(10);
    await activities.reserveFunds({
      accountId: 'customer-funds:H1',
      amount: 300,
      currency: 'CNY',
      idempotencyKey: 'r',
    });
    advance(10_000);
    await ledger.expirePendingTransfers();
    await expect(
      activities.postReservation({ accountId: 'x', reservationKey: 'r', idempotencyKey: 'p' }),
    ).rejects.toMatchObject({
      type: 'LEDGER_PENDING_TRANSFER_EXPIRED',
    });
    expect(
      await activities.voidReservation({ accountId: 'x', idempotencyKey: 'v', originalIdempotencyKey: 'r' }),
    ).toEqual({
      voided: false,
      outcome: 'expired',
    });
  });
});
