/**
 * Money is an integer count of minor units plus an ISO 4217 currency (STYLE item 8): never a float.
 * Pure: safe inside workflows.
 */
import { err, ok, type Result } from './result';

declare const minorUnitsBrand: unique symbol;
/** A non-negative whole number of minor units (fen, cents), as the ledger stores it. */
export type MinorUnits = bigint & { readonly [minorUnitsBrand]: true };

declare const currencyBrand: unique symbol;
/** An ISO 4217 alphabetic code the platform knows, e.g. `CNY`. */
export type CurrencyCode = string & { readonly [currencyBrand]: true };

export interface Currency {
  readonly code: CurrencyCode;
  /** ISO 4217 numeric code, as ISO 8583 field 49 carries it; also the ledger number of the currency. */
  readonly numeric: number;
  /** Digits after the decimal point (ISO 4217 minor unit). */
  readonly exponent: number;
}

/** The currencies fixpay accepts; extend the table to add one. */
const CURRENCY_TABLE: readonly (readonly [string, number, number])[] = [
  ['CNY', 156, 2],
  ['HKD', 344, 2],
  ['INR', 356, 2],
  ['JPY', 392, 0],
  ['KES', 404, 2],
  ['GBP', 826, 2],
  ['USD', 840, 2],
  ['EUR', 978, 2],
];

export const CURRENCIES: readonly Currency[] = CURRENCY_TABLE.map(([code, numeric, exponent]) => ({
  code: code as CurrencyCode,
  numeric,
  exponent,
}));

const byAlpha = new Map(CURRENCIES.map((c) => [c.code as string, c]));
const byNumeric = new Map(CURRENCIES.map((c) => [c.numeric, c]));

/**
 * The largest amount the platform stores: balances are PostgreSQL BIGINT (signed 64-bit), so no
 * single amount or balance may exceed 2^63 - 1 minor units.
 */
export const MINOR_UNITS_MAX = 2n ** 63n - 1n;

/** Parses `CNY`, `cny` or the numeric `156`. */
export function parseCurrency(input: string): Result<Currency> {
  const s = input.trim();
  const found = /^\d{3}$/.test(s) ? byNumeric.get(Number(s)) : byAlpha.get(s.toUpperCase());
  return found === undefined
    ? err({ code: 'CURRENCY_UNKNOWN', message: `unknown or unsupported ISO 4217 currency "${s.slice(0, 8)}"` })
    : ok(found);
}

/** The currency with this alphabetic code; throws on an unknown code (a programming error). */
export function currency(code: string): Currency {
  const c = byAlpha.get(code);
  if (c === undefined) throw new Error(`unknown currency ${code}`);
  return c;
}

/**
 * Parses an amount in minor units from a bigint, a safe integer or a string of digits. Refuses
 * negatives, fractions, unsafe integers and anything above MINOR_UNITS_MAX.
 */
export function parseMinorUnits(input: bigint | number | string): Result<MinorUnits> {
  let value: bigint;
  if (typeof input === 'bigint') value = input;
  else if (typeof input === 'number') {
    if (!Number.isSafeInteger(input)) return err({ code: 'AMOUNT_INVALID', message: 'amount is not a safe integer' });
    value = BigInt(input);
  } else {
    if (!/^\d{1,19}$/.test(input)) return err({ code: 'AMOUNT_INVALID', message: 'amount is not a digit string' });
    value = BigInt(input);
  }
  if (value < 0n) return err({ code: 'AMOUNT_INVALID', message: 'amount is negative' });
  if (value > MINOR_UNITS_MAX) return err({ code: 'AMOUNT_INVALID', message: 'amount exceeds 2^63 - 1' });
  return ok(value as MinorUnits);
}

/** `12345n` CNY → `123.45`; for display only. */
export function formatMinorUnits(amount: bigint, c: Currency): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(c.exponent + 1, '0');
  const whole = c.exponent === 0 ? digits : digits.slice(0, -c.exponent);
  const fraction = c.exponent === 0 ? '' : `.${digits.slice(-c.exponent)}`;
  return `${negative ? '-' : ''}${whole}${fraction}`;
}
