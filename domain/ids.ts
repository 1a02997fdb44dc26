/**
 * Branded identifiers: a value becomes one of these only through its parser, at a boundary
 * (STYLE item 7). Pure: safe inside workflows.
 */
import { err, ok, type Result } from './result';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Terminal identification (ISO 8583 field 41): 8 characters, letters and digits. */
export type TerminalId = Brand<string, 'TerminalId'>;
/** System trace audit number (ISO 8583 field 11): 6 digits. */
export type Stan = Brand<string, 'Stan'>;
/** Retrieval reference number (ISO 8583 field 37): 12 characters. */
export type Rrn = Brand<string, 'Rrn'>;
/** Authorisation identification response (ISO 8583 field 38): 6 characters. */
export type AuthCode = Brand<string, 'AuthCode'>;
/** A PSAM serial number as printed on the module: 12 to 20 hexadecimal digits, upper case. */
export type PsamNo = Brand<string, 'PsamNo'>;
/** A caller number (ANI) reduced to its digits, as the line signalling delivered it. */
export type Ani = Brand<string, 'Ani'>;
/** A customer (merchant or household) id, e.g. `M0001`. */
export type CustomerId = Brand<string, 'CustomerId'>;
/** A 128-bit ledger id (account or transfer), as TigerBeetle uses. Zero and 2^128 - 1 are reserved. */
export type LedgerId = Brand<bigint, 'LedgerId'>;

export const UINT128_MAX = 2n ** 128n - 1n;

const bad = (what: string): { ok: false; error: { code: string; message: string } } =>
  err({ code: 'ID_INVALID', message: `${what} is malformed` });

export function parseTerminalId(s: string): Result<TerminalId> {
  return /^[0-9A-Za-z]{8}$/.test(s) ? ok(s as TerminalId) : bad('terminal id');
}
export function parseStan(s: string): Result<Stan> {
  return /^\d{6}$/.test(s) ? ok(s as Stan) : bad('STAN');
}
export function parseRrn(s: string): Result<Rrn> {
  return /^[0-9A-Za-z]{12}$/.test(s) ? ok(s as Rrn) : bad('RRN');
}
export function parseAuthCode(s: string): Result<AuthCode> {
  return /^[0-9A-Za-z ]{6}$/.test(s) ? ok(s as AuthCode) : bad('auth code');
}
export function parsePsamNo(s: string): Result<PsamNo> {
  return /^[0-9A-Fa-f]{12,20}$/.test(s) ? ok(s.toUpperCase() as PsamNo) : bad('PSAM number');
}
/** Keeps the digits of a caller number (`+86 21-5000 0001` → `862150000001`); 3 to 20 digits. */
export function parseAni(s: string): Result<Ani> {
  const digits = s.replace(/[\s+\-().]/g, '');
  return /^\d{3,20}$/.test(digits) ? ok(digits as Ani) : bad('caller number');
}
export function parseCustomerId(s: string): Result<CustomerId> {
  return /^[A-Z][0-9A-Z]{1,31}$/.test(s) ? ok(s as CustomerId) : bad('customer id');
}

/** A ledger id from a bigint, decimal string or UUID text. */
export function parseLedgerId(input: bigint | string): Result<LedgerId> {
  let value: bigint;
  if (typeof input === 'bigint') value = input;
  else if (/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(input))
    value = BigInt(`0x${input.replace(/-/g, '')}`);
  else if (/^\d{1,39}$/.test(input)) value = BigInt(input);
  else return bad('ledger id');
  return value >= 0n && value <= UINT128_MAX ? ok(value as LedgerId) : bad('ledger id');
}

/** A 128-bit id as UUID text (how the database stores it). */
export function ledgerIdToUuid(id: bigint): string {
  const h = id.toString(16).padStart(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** UUID text back to a 128-bit id; throws on malformed text (database rows are trusted). */
export function uuidToLedgerId(uuid: string): LedgerId {
  const r = parseLedgerId(uuid);
  if (!r.ok) throw new Error(`not a UUID: ${uuid}`);
  return r.value;
}
