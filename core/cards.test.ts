import {
  expiryFor,
  isExpired,
  isLuhnValid,
  luhnCheckDigit,
  nextCardState,
  panFor,
  standingDecline,
  validateServiceCode,
} from './cards';
import type { CardEvent, CardState } from './cards';

describe('card numbers', () => {
  it.each([
    ['7992739871', '3'],
    ['411111111111111', '1'],
    ['622588123456789', '8'],
  ])('Luhn check digit of %s is %s', (body, digit) => {
    expect(luhnCheckDigit(body)).toBe(digit);
  });

  it('issues Luhn-valid numbers of the asked length inside the BIN', () => {
    for (const seq of [0, 1, 42, 999_999_999]) {
      const r = panFor('628888', seq, 16);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.value).toHaveLength(16);
      expect(r.value.startsWith('628888')).toBe(true);
      expect(isLuhnValid(r.value)).toBe(true);
    }
  });

  it('refuses a sequence that does not fit, a bad BIN or length, and never returns a Luhn-invalid number', () => {
    expect(panFor('628888', 1_000_000_000, 16)).toMatchObject({ ok: false, code: 'CARD_ISSUANCE_INVALID' });
    expect(panFor('628888', -1, 16).ok).toBe(false);
    expect(panFor('628888', 1.5, 16).ok).toBe(false);
    expect(panFor('62888', 1, 16).ok).toBe(false);
    expect(panFor('62888a', 1, 16).ok).toBe(false);
    expect(panFor('628888', 1, 12).ok).toBe(false);
    expect(panFor('628888', 1, 20).ok).toBe(false);
    expect(isLuhnValid('4111111111111112')).toBe(false);
    expect(isLuhnValid('41111111111')).toBe(false);
  });
});

describe('expiry and service code', () => {
  it('expires at the end of the month N months on, across years', () => {
    expect(expiryFor(new Date(Date.UTC(2026, 11, 3)), 36)).toBe('2912');
    expect(expiryFor(new Date(Date.UTC(2026, 0, 31)), 1)).toBe('2602');
    expect(isExpired('2612', new Date(Date.UTC(2026, 11, 31, 23, 59)))).toBe(false);
    expect(isExpired('2612', new Date(Date.UTC(2027, 0, 1)))).toBe(true);
    expect(isExpired('2613', new Date(Date.UTC(2020, 0, 1)))).toBe(true);
    expect(isExpired('x', new Date())).toBe(true);
  });

  it.each([
    ['120', true],
    ['201', true],
    ['999', true],
    ['020', false],
    ['12', false],
    ['1a0', false],
  ])('service code %s ok=%p', (code, ok) => {
    expect(validateServiceCode(code).ok).toBe(ok);
  });
});

describe('card lifecycle', () => {
  it.each<[CardState, CardEvent, CardState | undefined]>([
    ['issued', 'activate', 'active'],
    ['issued', 'block', 'blocked'],
    ['issued', 'replace', undefined],
    ['active', 'block', 'blocked'],
    ['active', 'activate', undefined],
    ['blocked', 'unblock', 'active'],
    ['blocked', 'replace', 'replaced'],
    ['active', 'replace', 'replaced'],
    ['replaced', 'unblock', undefined],
    ['replaced', 'activate', undefined],
  ])('%s + %s → %s', (from, event, to) => {
    const r = nextCardState(from, event);
    if (to === undefined) expect(r).toMatchObject({ ok: false, code: 'CARD_TRANSITION_INVALID' });
    else expect(r).toEqual({ ok: true, value: to });
  });
});

describe('on-us standing', () => {
  const now = new Date(Date.UTC(2026, 11, 3));
  it.each<[string, { state: CardState; expiry: string } | undefined, string | undefined]>([
    ['unknown', undefined, '14'],
    ['not activated', { state: 'issued', expiry: '2912' }, '78'],
    ['blocked', { state: 'blocked', expiry: '2912' }, '62'],
    ['replaced', { state: 'replaced', expiry: '2912' }, '62'],
    ['expired', { state: 'active', expiry: '2611' }, '54'],
    ['active', { state: 'active', expiry: '2912' }, undefined],
  ])('%s → %s', (_what, card, code) => {
    expect(standingDecline(card, now)).toBe(code);
  });
});
