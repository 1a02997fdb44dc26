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

/** The words of a camelCase, snake_case or kebab-case name, lower case (`track2Data` → track2, data). */
function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/**
 * Names *like* a secret card field, beyond the exact list: any word `track1`–`track3`, `track`
 * followed by `data`, or `pin` followed by `block` (`targetTrack2`, `track_data`, `encryptedPinBlock`).
 */
function isSecretCardName(words: readonly string[]): boolean {
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const next = words[i + 1];
    if (w === 'track1' || w === 'track2' || w === 'track3') return true;
    if (w === 'track' && (next === 'data' || next === '1' || next === '2' || next === '3')) return true;
    if (w === 'pin' && next === 'block') return true;
    if (w === 'pinblock') return true;
  }
  return false;
}

/**
 * Names *like* a PAN field: the last word `pan` or the last words `card number` / `card no` /
 * `account number` after `primary` (`targetPan`, `card_number`). `maskedPan` holds a masked value
 * already and is left to the content rules.
 */
function isPanName(words: readonly string[]): boolean {
  if (words[0] === 'masked') return false;
  const last = words[words.length - 1];
  const before = words[words.length - 2];
  if (last === 'pan' || last === 'cardnumber') return true;
  if (before === 'card' && (last === 'number' || last === 'no')) return true;
  return before === 'account' && last === 'number' && words[words.length - 3] === 'primary';
}

/**
 * Issuer identification number ranges of the card schemes (ISO/IEC 7812 IINs as the schemes
 * publish them), with the PAN lengths each issues. A Luhn-valid digit run is taken for a card
 * number only when it starts in one of these ranges with a matching length: a migration id
 * `20261126030000` or a `YYYYMMDDhhmmss` stamp starts with 20, which no scheme issues.
 */
interface IinRange {
  /** Inclusive bounds over the first `low.length` digits. */
  readonly low: string;
  readonly high: string;
  readonly lengthMin: number;
  readonly lengthMax: number;
}
const IIN_RANGES: readonly IinRange[] = [
  { low: '1', high: '1', lengthMin: 15, lengthMax: 15 }, // UATP
  { low: '2200', high: '2204', lengthMin: 16, lengthMax: 19 }, // Mir
  { low: '2221', high: '2720', lengthMin: 16, lengthMax: 16 }, // Mastercard 2-series
  { low: '30', high: '30', lengthMin: 14, lengthMax: 19 }, // Diners Club International
  { low: '31', high: '31', lengthMin: 19, lengthMax: 19 }, // China T-Union
  { low: '34', high: '34', lengthMin: 15, lengthMax: 15 }, // American Express
  { low: '35', high: '35', lengthMin: 16, lengthMax: 19 }, // JCB (3528–3589), RuPay/JCB co-brands
  { low: '36', high: '36', lengthMin: 14, lengthMax: 19 }, // Diners Club International
  { low: '37', high: '37', lengthMin: 15, lengthMax: 15 }, // American Express
  { low: '38', high: '39', lengthMin: 14, lengthMax: 19 }, // Diners Club / Discover
  { low: '4', high: '4', lengthMin: 13, lengthMax: 19 }, // Visa
  { low: '50', high: '50', lengthMin: 12, lengthMax: 19 }, // Maestro, Verve, Dankort, RuPay 508
  { low: '51', high: '55', lengthMin: 16, lengthMax: 16 }, // Mastercard
  { low: '56', high: '59', lengthMin: 12, lengthMax: 19 }, // Maestro and domestic schemes
  { low: '6', high: '6', lengthMin: 12, lengthMax: 19 }, // Discover, UnionPay 62, Maestro, RuPay, Troy
  { low: '81', high: '82', lengthMin: 16, lengthMax: 19 }, // UnionPay 81, RuPay 81–82
  { low: '95', high: '95', lengthMin: 16, lengthMax: 19 }, // Chinese banks' pre-UnionPay cards (9558…)
  { low: '9792', high: '9792', lengthMin: 16, lengthMax: 16 }, // Troy
];

/** Whether `digits` starts in a card scheme's IIN range with a length that scheme issues. */
export function inCardRange(digits: string): boolean {
  for (const r of IIN_RANGES) {
    if (digits.length < r.lengthMin || digits.length > r.lengthMax) continue;
    const head = digits.slice(0, r.low.length);
    if (head >= r.low && head <= r.high) return true;
  }
  return false;
}

/** A card number by what it is: 13–19 digits, Luhn-valid, in a card scheme's IIN range. */
export function looksLikePan(digits: string): boolean {
  return /^\d{13,19}$/.test(digits) && inCardRange(digits) && luhnValid(digits);
}

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

// Track 2 equivalent data: PAN, separator (`=`, or `D` as BCD track data writes it, optionally
// spaced), expiry YYMM and service code, discretionary data.
const TRACK2 = /;?\d{12,19} ?[=Dd] ?\d{4,}[0-9A-Fa-f]*\??/g;
/** A run of 13 or more digits (global matching takes each run whole, from its first digit). */
const LONG_DIGIT_RUN = /\d{13,}/g;
/**
 * A hex token of 32 or more characters standing on its own: a raw frame or key check written in
 * hex. A card number in BCD sits in it between other fields' digits (a length prefix before it,
 * a processing code after it), so its digit run is not the card number alone.
 */
const HEX_TOKEN = /(?<![0-9A-Za-z])[0-9A-Fa-f]{32,}(?![0-9A-Za-z])/g;

/**
 * Scrubs free text (error messages, peer replies, log lines): hides track data and masks every
 * card number (`looksLikePan`: Luhn-valid and in a card scheme's IIN range). A digit run of 13–19
 * digits is masked when it is a card number as a whole; ids, timestamps, RRNs and amounts of that
 * length are left alone. Where a card number can hide inside a longer run — a run of 20 or more
 * digits, or any run inside a long hex token (a raw frame) — every window that looks like a card
 * number has its middle starred (`scrubEmbeddedPans`). Use on any string that may echo card data
 * before it is logged or stored.
 */
export function scrubText(text: string): string {
  return text
    .replace(TRACK2, HIDDEN)
    .replace(HEX_TOKEN, scrubEmbeddedPans)
    .replace(LONG_DIGIT_RUN, (m) => (m.length > 19 ? scrubEmbeddedPans(m) : looksLikePan(m) ? maskPan(m) : m));
}

/**
 * Masks one value by its field name, whatever the value holds: secret names (exact list, or like
 * track data and PIN blocks) are hidden, PAN-like names show BIN + last four (anything that is not
 * 12–19 digits is hidden whole); other values are masked by content.
 */
export function maskField(name: string, value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === undefined || value === null) return value;
  const lower = name.toLowerCase();
  const words = wordsOf(name);
  if (secretSet.has(lower) || isSecretCardName(words)) return HIDDEN;
  if (panSet.has(lower) || isPanName(words)) {
    if (typeof value === 'string') return maskPan(value);
    if (typeof value === 'number' || typeof value === 'bigint') return maskPan(value.toString());
    return HIDDEN;
  }
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

/**
 * Masks card numbers embedded in longer digit runs, as a raw ISO 8583 frame written in hex holds
 * them (field 2 in BCD right after its length, among other fields' digits): every 13–19 digit
 * window that `looksLikePan` has its middle starred, as `maskPan` does. `scrubText` uses it on runs
 * of 20 or more digits and inside long hex tokens; a display uses it on every run, and may mask a
 * number of 13–19 digits that only happens to hold a window that looks like a card.
 */
export function scrubEmbeddedPans(text: string): string {
  return text.replace(LONG_DIGIT_RUN, (run) => {
    // Every window that looks like a card number has its middle starred (BIN and last four stay),
    // overlapping windows included: no card number in the run survives whole.
    const starred = new Array<boolean>(run.length).fill(false);
    for (let i = 0; i + 13 <= run.length; i++) {
      for (let len = 13; len <= 19 && i + len <= run.length; len++) {
        if (!looksLikePan(run.slice(i, i + len))) continue;
        for (let k = i + 6; k < i + len - 4; k++) starred[k] = true;
      }
    }
    let out = '';
    for (let k = 0; k < run.length; k++) out += starred[k] === true ? '*' : run.charAt(k);
    return out;
  });
}

/** `maskDeep` for displays (the Temporal UI's codec): also masks card numbers inside longer digit runs. */
export function maskForDisplayDeep(value: unknown): unknown {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return scrubEmbeddedPans(v);
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null)
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(maskDeep(value));
}
