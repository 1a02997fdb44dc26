/**
 * One set of masking helpers for logs, `describe()` output, error messages and the database.
 * PAN shows at most BIN (first six) + last four; track data, PIN blocks, CVV and keys never show.
 * Pure: safe inside workflows.
 */

/** Field names whose values are always fully hidden, wherever they appear (case-insensitive). */
export const SECRET_FIELD_NAMES: readonly string[] = [
  'track2',
  'track2Data',
  'track1',
  'track3',
  'pinBlock',
  'pin',
  'cvv',
  'cvv2',
  'cvc',
  'key',
  'keyValue',
  'clearKey',
  'lmk',
  'tpk',
  'tak',
  'tdk',
  'zpk',
  'zmk',
  'tmk',
  'bdk',
  'ipek',
  'password',
  'secret',
  'apiKey',
  'authorization',
  'token',
  'field35',
  'field36',
  'field52',
  'field45',
  'field55',
  // HSM and payload-encryption material (issue 5): PINs under the LMK, key cryptograms and
  // components, session keys, the codec keys and the codec endpoint's operator token.
  'lmkPin',
  'pinUnderLmk',
  'component',
  'components',
  'sessionKey',
  'codecKey',
  'codecKeys',
  'operatorToken',
];
/** Field names holding a PAN: shown as BIN + last four. */
export const PAN_FIELD_NAMES: readonly string[] = ['pan', 'cardNumber', 'primaryAccountNumber', 'field2'];

const secretSet = new Set(SECRET_FIELD_NAMES.map((n) => n.toLowerCase()));
const panSet = new Set(PAN_FIELD_NAMES.map((n) => n.toLowerCase()));

export const HIDDEN = '[REDACTED]';

/** `6225881234567890` → `622588******7890`. Short or non-digit input is hidden whole. */
export function maskPan(pan: string): string {
  const digits = pan.replace(/\s/g, '');
  if (!/^\d{12,19}$/.test(digits)) return HIDDEN;
  return `${digits.slice(0, 6)}${'*'.repeat(digits.length - 10)}${digits.slice(-4)}`;
}

/** Luhn check digit test, used to tell a PAN from any other long number. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

// Track 2 equivalent data: PAN, separator (= or D), expiry and service code, discretionary data.
const TRACK2 = /;?\d{12,19}[=Dd]\d{4,}[0-9A-Fa-f]*\??/g;
const PAN_LIKE = /(?<![0-9A-Fa-f])\d{13,19}(?![0-9A-Fa-f])/g;

/**
 * Scrubs free text (error messages, peer replies): hides track data and masks every Luhn-valid
 * 13–19 digit run. Use on any string that may echo card data before it is logged or stored.
 */
export function scrubText(text: string): string {
  return text.replace(TRACK2, HIDDEN).replace(PAN_LIKE, (m) => (luhnValid(m) ? maskPan(m) : m));
}

/** Masks one value by its field name; other strings are scrubbed. */
export function maskField(name: string, value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  const lower = name.toLowerCase();
  if (secretSet.has(lower)) return value === undefined || value === null ? value : HIDDEN;
  if (panSet.has(lower) && typeof value === 'string') return maskPan(value);
  return maskDeep(value, seen);
}

/**
 * Returns a copy of `value` with every secret field hidden, PANs masked and strings scrubbed.
 * Byte arrays are shown only by length. Cycles are cut.
 */
export function maskDeep(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, seen));
  if (value instanceof Error) return { name: value.name, message: scrubText(value.message) };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = maskField(k, v, seen);
  return out;
}
