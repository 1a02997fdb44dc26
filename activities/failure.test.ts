import { ApplicationFailure } from '@temporalio/common';
import { FixpayError, resultCode } from '../domain/errors';
import { activityFailure, catalogueFailure } from './failure';

describe('activity failures from catalogue codes', () => {
  it('a catalogue code becomes a typed ApplicationFailure, retryable as the catalogue says', () => {
    for (const name of ['LEDGER_ACCOUNT_UNKNOWN', 'CARD_NETWORK_NO_RESPONSE', 'BAD_REQUEST'] as const) {
      const entry = resultCode(name);
      const f = catalogueFailure(name, 'detail');
      expect(f).toBeInstanceOf(ApplicationFailure);
      expect(f).toMatchObject({ type: name, message: `${entry.message}: detail`, nonRetryable: !entry.retryable });
      expect(f.details).toEqual([{ code: entry.code }]);
    }
  });

  it('a FixpayError keeps its message; other errors pass through; non-errors become errors', () => {
    const e = new FixpayError('NOT_FOUND', 'terminal has no working keys');
    expect(activityFailure(e)).toMatchObject({ type: 'NOT_FOUND', message: e.message, details: [{ code: e.code }] });
    const plain = new Error('socket closed');
    expect(activityFailure(plain)).toBe(plain);
    expect(activityFailure('boom')).toEqual(new Error('boom'));
  });
});
