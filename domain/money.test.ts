import { currency, formatMinorUnits, MINOR_UNITS_MAX, parseCurrency, parseMinorUnits } from './money';

describe('money', () => {
  it('parses ISO 4217 alphabetic and numeric codes to the same currency', () => {
    const byAlpha = parseCurrency('cny');
    const byNumeric = parseCurrency('156');
    expect(byAlpha.ok && byNumeric.ok && byAlpha.value === byNumeric.value).toBe(true);
    expect(parseCurrency('XXX').ok).toBe(false);
    expect(parseCurrency('999').ok).toBe(false);
  });

  it.each([
    [0, true],
    [12345, true],
    ['9223372036854775807', true],
    [MINOR_UNITS_MAX + 1n, false],
    [-1, false],
    [1.5, false],
    [Number.MAX_SAFE_INTEGER + 1, false],
    ['12.50', false],
    ['', false],
  ] as const)('parseMinorUnits(%p) ok=%p', (input, good) => {
    expect(parseMinorUnits(input).ok).toBe(good);
  });

  it('formats with the currency exponent', () => {
    expect(formatMinorUnits(12345n, currency('CNY'))).toBe('123.45');
    expect(formatMinorUnits(5n, currency('CNY'))).toBe('0.05');
    expect(formatMinorUnits(500n, currency('JPY'))).toBe('500');
  });
});
