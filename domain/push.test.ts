import fc from 'fast-check';
import { isFixpayError } from './errors';
import {
  checkPushText,
  holdsCardData,
  isRetriedOutcome,
  pushBackoffMs,
  pushTextProblem,
  quietHoursRemainingMs,
} from './push';

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return isFixpayError(e) ? e.codeName : 'other';
  }
  return 'none';
};

describe('push text', () => {
  it('accepts printable ASCII that fits the display', () => {
    expect(codeOf(() => checkPushText('Bills due 30 Nov. Pay: menu 3.', { lines: 2, columns: 16 }))).toBe('none');
  });

  it.each([
    ['a control byte', 'Pay\x07 now'],
    ['a newline', 'Pay\nnow'],
    ['DEL', 'Pay\x7f'],
    ['a right-to-left override', 'Pay \u202Ewon'],
    ['a left-to-right isolate', 'Pay \u2066now'],
    ['an Arabic letter mark', 'Pay \u061Cnow'],
    ['non-ASCII', 'Café ouvert'],
    ['a zero-width space', 'Pay\u200Bnow'],
    ['a card number', 'Card 5500000000000004 blocked'],
    ['a card number with spaces', 'Card 4111 1111 1111 1111 blocked'],
    ['a card number with dashes', 'Card 4111-1111-1111-1111'],
    ['a card number inside a longer run', 'Ref 99411111111111111199'],
    ['track 2 data', ';6225881234567890=2512'],
    ['track 1 data', '%B6225881234567890^DOE'],
    ['empty text', ''],
  ])('refuses %s with PUSH_TEXT_UNSAFE', (_what, text) => {
    expect(pushTextProblem(text)).toBeDefined();
    expect(codeOf(() => checkPushText(text, { lines: 8, columns: 40 }))).toBe('PUSH_TEXT_UNSAFE');
  });

  it('keeps ordinary numbers: amounts, dates, phone numbers, a Luhn-invalid long number', () => {
    expect(holdsCardData('Pay 123.40 by 30/11, call 95566 or 862150000001')).toBe(false);
    expect(holdsCardData('Ref 5500000000000005')).toBe(false);
  });

  it('refuses text longer than the display with PUSH_TEXT_TOO_LONG', () => {
    expect(codeOf(() => checkPushText('x'.repeat(33), { lines: 2, columns: 16 }))).toBe('PUSH_TEXT_TOO_LONG');
    expect(codeOf(() => checkPushText('x'.repeat(32), { lines: 2, columns: 16 }))).toBe('none');
  });

  it('never throws anything but a catalogue error on any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const c = codeOf(() => checkPushText(s, { lines: 16, columns: 80 }));
        expect(['none', 'PUSH_TEXT_UNSAFE', 'PUSH_TEXT_TOO_LONG']).toContain(c);
      }),
      { numRuns: 500 },
    );
  });
});

describe('quiet hours', () => {
  const at = (hh: number, mm: number): number => Date.UTC(2026, 11, 3, hh, mm);

  it('is 0 outside, the time to the end inside (same day)', () => {
    const q = { start: '12:00', end: '14:00', utcOffsetMinutes: 0 };
    expect(quietHoursRemainingMs(at(11, 59), q)).toBe(0);
    expect(quietHoursRemainingMs(at(12, 0), q)).toBe(2 * 3_600_000);
    expect(quietHoursRemainingMs(at(13, 30), q)).toBe(30 * 60_000);
    expect(quietHoursRemainingMs(at(14, 0), q)).toBe(0);
  });

  it('spans midnight and uses the audience offset (21:00–08:00 at UTC+8)', () => {
    const q = { start: '21:00', end: '08:00', utcOffsetMinutes: 480 };
    // 14:00 UTC = 22:00 local: 10 h to go.
    expect(quietHoursRemainingMs(at(14, 0), q)).toBe(10 * 3_600_000);
    // 23:30 UTC = 07:30 local: 30 min.
    expect(quietHoursRemainingMs(at(23, 30), q)).toBe(30 * 60_000);
    // 02:00 UTC = 10:00 local: outside.
    expect(quietHoursRemainingMs(at(2, 0), q)).toBe(0);
  });

  it('equal start and end, or none, is no quiet hours; a bad time is a campaign error', () => {
    expect(quietHoursRemainingMs(at(3, 0), { start: '03:00', end: '03:00', utcOffsetMinutes: 0 })).toBe(0);
    expect(quietHoursRemainingMs(at(3, 0), undefined)).toBe(0);
    expect(codeOf(() => quietHoursRemainingMs(0, { start: '24:00', end: '01:00', utcOffsetMinutes: 0 }))).toBe(
      'PUSH_CAMPAIGN_INVALID',
    );
  });
});

describe('retry backoff', () => {
  it('grows by the coefficient and stops at the maximum', () => {
    const r = { maxAttempts: 6, initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 5000 };
    expect([1, 2, 3, 4, 5].map((a) => pushBackoffMs(a, r))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it('retries busy, unanswered, over-budget and unconfirmed calls only', () => {
    expect(['busy', 'no-answer', 'budget', 'no-receipt'].every((o) => isRetriedOutcome(o as never))).toBe(true);
    expect(['delivered', 'refused', 'failed'].some((o) => isRetriedOutcome(o as never))).toBe(false);
  });
});
