import { TRANSACTION_STATUSES, type TransactionStatus } from './model';
import { nextTransactionStatus, storablePan } from './transactions';

// Expected moves, written out independently of TRANSACTION_TRANSITIONS.
const ALLOWED = new Set([
  'pending>authorized',
  'pending>declined',
  'pending>failed',
  'pending>reversed',
  'authorized>completed',
  'authorized>reversed',
]);

const rows = TRANSACTION_STATUSES.flatMap((from) =>
  TRANSACTION_STATUSES.map((to) => [from, to] as [TransactionStatus, TransactionStatus]),
);

describe('transaction status: every from × to', () => {
  it.each(rows)('%s → %s', (from, to) => {
    const r = nextTransactionStatus(from, to);
    if (from === to) expect(r).toEqual({ ok: true, value: { status: to, same: true } });
    else if (ALLOWED.has(`${from}>${to}`)) expect(r).toEqual({ ok: true, value: { status: to, same: false } });
    else expect(r).toMatchObject({ ok: false, code: 'TRANSACTION_TRANSITION_INVALID' });
  });
});

describe('storablePan', () => {
  it.each([
    // PAN from the ISO 9564 format 0 vector in reference/payments.md [S47].
    ['5432101234567891', '543210******7891'],
    ['543210******7891', '543210******7891'],
    ['4012345678909', '401234***8909'],
  ])('%s → %s', (input, stored) => {
    expect(storablePan(input)).toEqual({ ok: true, value: stored });
  });

  it.each(['12345', 'abcdefabcdefabcd', '5432101234567891=2512'])('refuses %s', (input) => {
    expect(storablePan(input)).toMatchObject({ ok: false, code: 'TRANSACTION_PAN_NOT_MASKED' });
  });
});
