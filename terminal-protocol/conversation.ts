/**
 * Conversations on the terminal protocol (ADR 0018, docs/protocols/terminal-messages.md): what
 * field 59 carries in a menu answer, a service request, a screen, a prompt reply and a receipt,
 * and the text rules for anything shown or printed (fitted to the profile, no control or bidi
 * characters, card numbers masked). Pure functions over bytes and plain data; shared by the host
 * and the terminal simulator.
 */
import { FixpayError } from '../domain/errors';
import { looksLikePan, maskPan, scrubText } from '../domain/masking';
import { decodeTlv, encodeTlv } from '../gateways/iso8583';
import type { TlvItem } from '../gateways/iso8583';
import { REPLY_STATUS, SERVICE_DATA_BYTES_MAX, SERVICE_TAGS as T } from './spec';

export type InputKind = 'digits' | 'amount' | 'choice';

/** What the phone collects for one input (menu entry before the call, screen during it). */
export interface InputSpec {
  readonly name: string;
  readonly kind: InputKind;
  readonly label: string;
  /** Digits: least and most digits; amount: least and most minor units; choice: unused. */
  readonly min?: number;
  readonly max?: number;
  readonly masked?: boolean;
  /** Digits only: the last digit is a Luhn check digit (a card number). */
  readonly luhn?: boolean;
  readonly choices?: readonly { readonly key: string; readonly label: string }[];
}

export interface MenuEntry {
  /** Menu item code: the service id. */
  readonly code: string;
  readonly path: readonly string[];
  readonly title: string;
  readonly inputs: readonly InputSpec[];
  /** The phone reads the card and its PIN and sends them with the request (ADR 0024). */
  readonly card?: boolean;
}

export interface Menu {
  readonly version: string;
  readonly entries: readonly MenuEntry[];
  /** A multi-block menu answer: the block it carries and the block count (absent: one block). */
  readonly block?: number;
  readonly blocks?: number;
}

export interface Screen {
  readonly promptId: string;
  readonly lines: readonly string[];
  readonly input: InputSpec;
  readonly timeoutSeconds: number;
}

export interface PromptReply {
  readonly promptId: string;
  readonly status: 'answered' | 'cancelled';
  readonly value: string;
}

export interface ServiceRequestData {
  readonly code: string;
  readonly menuVersion: string;
  readonly inputs: Readonly<Record<string, string>>;
}

/** Service ids and input names as they may appear in field 59. */
export const ITEM_CODE = /^[a-z][a-z0-9-]{0,39}$/;
export const INPUT_NAME = /^[a-zA-Z][a-zA-Z0-9_]{0,31}$/;
/** Longest collected value (digits or a choice key). */
export const INPUT_VALUE_CHARS_MAX = 32;
/** Most inputs one service collects before the call. */
export const INPUTS_MAX = 8;
/** Most lines one screen or receipt holds before fitting to the profile. */
export const TEXT_LINES_MAX = 40;

const bad = (detail: string): FixpayError => new FixpayError('ISO8583_FIELD_INVALID', `field 59: ${detail}`);
const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const text = (v: Uint8Array): string => Buffer.from(v).toString('latin1');
const item = (tag: string, value: string | Uint8Array): TlvItem => ({
  tag,
  value: typeof value === 'string' ? ascii(value) : value,
});

// ---- text for people -------------------------------------------------------------------------

/** Control (C0, DEL, C1), zero-width, bidi embedding/override/isolate, line/paragraph separators, BOM. */
function unsafeChar(c: number): boolean {
  return (
    c <= 0x1f ||
    (c >= 0x7f && c <= 0x9f) ||
    (c >= 0x200b && c <= 0x200f) ||
    (c >= 0x2028 && c <= 0x202e) ||
    (c >= 0x2060 && c <= 0x206f) ||
    c === 0xfeff
  );
}
/** 13–19 digits, possibly grouped by single spaces or dashes. */
const GROUPED_DIGITS = /(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])/g;

/**
 * Makes one line safe to show or print: unsafe characters removed, tracks hidden, anything that
 * reads as a card number (also grouped as `6225 8800 0000 0001`) masked, characters outside
 * Latin-1 replaced by `?` (the displays' charset), and runs of spaces kept.
 */
export function sanitizeText(line: string): string {
  let clean = '';
  for (let i = 0; i < line.length; i++) if (!unsafeChar(line.charCodeAt(i))) clean += line.charAt(i);
  const masked = scrubText(clean).replace(GROUPED_DIGITS, (m) => {
    const digits = m.replace(/[ -]/g, '');
    return looksLikePan(digits) ? maskPan(digits) : m;
  });
  let out = '';
  for (const c of masked) out += c.charCodeAt(0) > 0xff ? '?' : c;
  return out;
}

/**
 * Fits text to a display or printer: each line sanitised, then wrapped at `columns` (on a space
 * when there is one), and at most `lines` lines (the last one ends in `>` when text was cut). `lines` undefined: no line limit (a printer).
 */
export function fitText(input: readonly string[], columns: number, lines?: number): string[] {
  if (!Number.isInteger(columns) || columns < 1) throw new RangeError('columns must be a positive integer');
  const out: string[] = [];
  for (const raw of input.slice(0, TEXT_LINES_MAX)) {
    let rest = sanitizeText(raw).trimEnd();
    if (rest === '') out.push('');
    while (rest.length > 0) {
      if (rest.length <= columns) {
        out.push(rest);
        break;
      }
      const cut = rest.lastIndexOf(' ', columns);
      const at = cut > 0 ? cut : columns;
      out.push(rest.slice(0, at).trimEnd());
      rest = rest.slice(at).trimStart();
    }
  }
  if (lines !== undefined && out.length > lines) {
    const kept = out.slice(0, lines);
    const last = kept[lines - 1] ?? '';
    kept[lines - 1] = `${last.slice(0, columns - 1)}>`;
    return kept;
  }
  return out;
}

/** Amount in minor units as the display shows it (`4550` → `45.50`). */
export function formatAmount(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const a = Math.abs(minor);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

// ---- input specs --------------------------------------------------------------------------

function encodeInput(i: InputSpec): Uint8Array {
  const items = [item(T.inputName, i.name), item(T.inputKind, i.kind), item(T.inputLabel, sanitizeText(i.label))];
  if (i.min !== undefined) items.push(item(T.inputMin, String(i.min)));
  if (i.max !== undefined) items.push(item(T.inputMax, String(i.max)));
  if (i.masked === true) items.push(item(T.inputMasked, '1'));
  if (i.luhn === true) items.push(item(T.inputCheck, 'L'));
  for (const c of i.choices ?? []) items.push(item(T.inputChoice, `${c.key}=${sanitizeText(c.label)}`));
  return encodeTlv(items);
}

function decodeInput(value: Uint8Array): InputSpec {
  const items = decodeTlv(value);
  const one = (tag: string): string | undefined => {
    const v = items.find((i) => i.tag === tag)?.value;
    return v === undefined ? undefined : text(v);
  };
  const num = (tag: string): number | undefined => {
    const v = one(tag);
    if (v === undefined) return undefined;
    if (!/^\d{1,15}$/.test(v)) throw bad(`${tag} is not a number`);
    return Number(v);
  };
  const name = one(T.inputName) ?? '';
  const kind = one(T.inputKind) ?? '';
  if (!INPUT_NAME.test(name)) throw bad('input name is malformed');
  if (kind !== 'digits' && kind !== 'amount' && kind !== 'choice') throw bad(`input kind ${kind}`);
  const choices = items
    .filter((i) => i.tag === T.inputChoice)
    .map((i) => {
      const [key = '', ...label] = text(i.value).split('=');
      return { key, label: label.join('=') };
    });
  const min = num(T.inputMin);
  const max = num(T.inputMax);
  return {
    name,
    kind,
    label: one(T.inputLabel) ?? '',
    ...(min === undefined ? {} : { min }),
    ...(max === undefined ? {} : { max }),
    ...(one(T.inputMasked) === '1' ? { masked: true } : {}),
    ...(one(T.inputCheck) === 'L' ? { luhn: true } : {}),
    ...(choices.length === 0 ? {} : { choices }),
  };
}

/** True when the digits end in their Luhn (mod 10) check digit; false for anything but 2+ digits. */
export function luhnValid(digits: string): boolean {
  if (!/^\d{2,}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * Checks one keyed value against its spec; returns the problem or null. Digits: only digits,
 * length within min..max; amount: digits, value within min..max (minor units, > 0); choice: one of
 * the keys.
 */
export function inputProblem(spec: InputSpec, value: string): string | null {
  if (value.length > INPUT_VALUE_CHARS_MAX) return `${spec.name} is too long`;
  switch (spec.kind) {
    case 'digits':
      if (!/^\d+$/.test(value)) return `${spec.name} must be digits`;
      if (spec.min !== undefined && value.length < spec.min) return `${spec.name} needs at least ${spec.min} digits`;
      if (spec.max !== undefined && value.length > spec.max) return `${spec.name} takes at most ${spec.max} digits`;
      if (spec.luhn === true && !luhnValid(value)) return `${spec.name} fails its check digit`;
      return null;
    case 'amount': {
      if (!/^\d{1,12}$/.test(value)) return `${spec.name} must be an amount in minor units`;
      const n = Number(value);
      if (n <= 0) return `${spec.name} must be above zero`;
      if (spec.min !== undefined && n < spec.min) return `${spec.name} is below ${spec.min}`;
      if (spec.max !== undefined && n > spec.max) return `${spec.name} is above ${spec.max}`;
      return null;
    }
    case 'choice':
      return (spec.choices ?? []).some((c) => c.key === value) ? null : `${spec.name} is not one of the choices`;
  }
}

// ---- menu -----------------------------------------------------------------------------------

/** One menu entry as it goes into field 59 (its encoded size counts against the menu memory). */
export function encodeMenuEntry(e: MenuEntry): Uint8Array {
  return encodeTlv([
    item(T.itemCode, e.code),
    item(T.entryPath, e.path.map((p) => sanitizeText(p).replace(/\//g, '-')).join('/')),
    item(T.entryTitle, sanitizeText(e.title)),
    ...(e.card === true ? [item(T.entryCard, '1')] : []),
    ...e.inputs.map((i) => item(T.input, encodeInput(i))),
  ]);
}

/**
 * Field 59 of a menu answer: the version, and the entries when the phone holds another version.
 * `blocks` splits the entries (terminal-protocol/menu.ts `menuBlocks`): with more than one, the
 * answer carries block `block` (1-based) and says which and how many (`DF03`, `DF04`); a block
 * the menu does not have carries no entries.
 */
export function encodeMenu(
  menu: Menu,
  phoneVersion: string | undefined,
  block = 1,
  blocks: readonly (readonly MenuEntry[])[] = [menu.entries],
): Uint8Array {
  const items = [item(T.menuVersion, menu.version)];
  if (phoneVersion !== menu.version) {
    if (blocks.length > 1) items.push(item(T.menuBlock, String(block)), item(T.menuBlocks, String(blocks.length)));
    for (const e of blocks[block - 1] ?? []) items.push(item(T.entry, encodeMenuEntry(e)));
  }
  const out = encodeTlv(items);
  if (out.length > SERVICE_DATA_BYTES_MAX) throw bad(`menu of ${out.length} bytes`);
  return out;
}

/** Reads a menu answer's field 59: the version, and the entries (none when unchanged). */
export function decodeMenu(field59: Uint8Array): Menu {
  const items = decodeTlv(field59);
  const version = items.find((i) => i.tag === T.menuVersion);
  if (version === undefined) throw bad('menu version is absent');
  const entries = items
    .filter((i) => i.tag === T.entry)
    .map((i) => {
      const sub = decodeTlv(i.value);
      const one = (tag: string): string => text(sub.find((s) => s.tag === tag)?.value ?? new Uint8Array());
      const code = one(T.itemCode);
      if (!ITEM_CODE.test(code)) throw bad('menu item code is malformed');
      return {
        code,
        path: one(T.entryPath).split('/'),
        title: one(T.entryTitle),
        inputs: sub.filter((s) => s.tag === T.input).map((s) => decodeInput(s.value)),
        ...(one(T.entryCard) === '1' ? { card: true } : {}),
      };
    });
  const number = (tag: string): number | undefined => {
    const v = items.find((i) => i.tag === tag);
    if (v === undefined) return undefined;
    const n = Number(text(v.value));
    if (!/^\d{1,2}$/.test(text(v.value)) || n < 1) throw bad('menu block is malformed');
    return n;
  };
  const block = number(T.menuBlock);
  const blocks = number(T.menuBlocks);
  if ((block === undefined) !== (blocks === undefined) || (block ?? 0) > (blocks ?? 0))
    throw bad('menu block and block count do not agree');
  return {
    version: text(version.value),
    entries,
    ...(block === undefined || blocks === undefined ? {} : { block, blocks }),
  };
}

// ---- service request --------------------------------------------------------------------------

export function encodeServiceRequest(r: ServiceRequestData): Uint8Array {
  return encodeTlv([
    item(T.itemCode, r.code),
    item(T.menuVersion, r.menuVersion),
    ...Object.entries(r.inputs).map(([k, v]) => item(T.inputValue, `${k}=${v}`)),
  ]);
}

/** Reads a service request's field 59. Throws ISO8583_FIELD_INVALID on anything malformed. */
export function decodeServiceRequest(items: readonly TlvItem[]): ServiceRequestData {
  const code = text(items.find((i) => i.tag === T.itemCode)?.value ?? new Uint8Array());
  if (!ITEM_CODE.test(code)) throw bad('menu item code is absent or malformed');
  const inputs: Record<string, string> = {};
  const values = items.filter((i) => i.tag === T.inputValue);
  if (values.length > INPUTS_MAX) throw bad(`${values.length} inputs`);
  for (const v of values) {
    const s = text(v.value);
    const eq = s.indexOf('=');
    const name = s.slice(0, eq);
    const value = s.slice(eq + 1);
    if (eq < 1 || !INPUT_NAME.test(name)) throw bad('input name is malformed');
    if (Object.hasOwn(inputs, name)) throw bad(`input ${name} given twice`);
    if (value.length > INPUT_VALUE_CHARS_MAX || !/^[\x20-\x7e]*$/.test(value)) throw bad(`input ${name} is malformed`);
    inputs[name] = value;
  }
  const version = items.find((i) => i.tag === T.menuVersion);
  return { code, menuVersion: version === undefined ? '' : text(version.value), inputs };
}

// ---- prompts ----------------------------------------------------------------------------------

/** Field 59 of a screen (lines already fitted to the display). */
export function encodeScreen(s: Screen): Uint8Array {
  return encodeTlv([
    item(T.promptId, s.promptId),
    ...s.lines.map((l) => item(T.screenLine, l)),
    item(T.input, encodeInput(s.input)),
    item(T.promptTimeout, String(Math.max(1, Math.round(s.timeoutSeconds)))),
  ]);
}

export function decodeScreen(field59: Uint8Array): Screen {
  const items = decodeTlv(field59);
  const promptId = items.find((i) => i.tag === T.promptId);
  const input = items.find((i) => i.tag === T.input);
  if (promptId === undefined || input === undefined) throw bad('screen without prompt id or input');
  const timeout = Number(text(items.find((i) => i.tag === T.promptTimeout)?.value ?? ascii('0')));
  return {
    promptId: text(promptId.value),
    lines: items.filter((i) => i.tag === T.screenLine).map((i) => text(i.value)),
    input: decodeInput(input.value),
    timeoutSeconds: Number.isFinite(timeout) ? timeout : 0,
  };
}

/** The prompt id: what the run names its prompt (printable ASCII, 1–40). */
export const PROMPT_ID = /^[\x21-\x7e]{1,40}$/;

export function encodePromptReply(r: PromptReply): Uint8Array {
  return encodeTlv([
    item(T.promptId, r.promptId),
    item(T.replyStatus, r.status === 'answered' ? REPLY_STATUS.answered : REPLY_STATUS.cancelled),
    item(T.replyValue, r.value),
  ]);
}

/** Reads a prompt reply's field 59. Throws ISO8583_FIELD_INVALID. */
export function decodePromptReply(items: readonly TlvItem[]): PromptReply {
  const one = (tag: string): string | undefined => {
    const v = items.find((i) => i.tag === tag)?.value;
    return v === undefined ? undefined : text(v);
  };
  const promptId = one(T.promptId) ?? '';
  if (!PROMPT_ID.test(promptId)) throw bad('prompt id is absent or malformed');
  const status = one(T.replyStatus);
  if (status !== REPLY_STATUS.answered && status !== REPLY_STATUS.cancelled) throw bad('reply status');
  const value = one(T.replyValue) ?? '';
  if (value.length > INPUT_VALUE_CHARS_MAX || !/^[\x20-\x7e]*$/.test(value)) throw bad('reply value is malformed');
  return { promptId, status: status === REPLY_STATUS.answered ? 'answered' : 'cancelled', value };
}

// ---- receipts -----------------------------------------------------------------------------

/** Field 59 of a final answer with a receipt (lines already fitted to the printer). */
export function encodeReceipt(lines: readonly string[]): Uint8Array {
  return encodeTlv(lines.map((l) => item(T.receiptLine, l)));
}

export function decodeReceipt(field59: Uint8Array): string[] {
  return decodeTlv(field59)
    .filter((i) => i.tag === T.receiptLine)
    .map((i) => text(i.value));
}

// ---- in-call notices (ADR 0021) ----------------------------------------------------------------

/** A pushed notice delivered inside a call: the text was checked when the push was stored. */
export interface Notice {
  readonly sender?: string;
  readonly text: string;
}

/** Most notices in one notice answer (the rest stay pending for the next call). */
export const NOTICES_PER_ANSWER_MAX = 5;

/**
 * Field 59 of a notice answer: one `DF60` per notice (sender, text), oldest first; empty when none
 * waits. The notices that fit one field 59 are encoded, at most NOTICES_PER_ANSWER_MAX; returns how
 * many went in, so only those are recorded as delivered.
 */
export function encodeNotices(notices: readonly Notice[]): { field59: Uint8Array; count: number } {
  const items: TlvItem[] = [];
  let count = 0;
  for (const n of notices.slice(0, NOTICES_PER_ANSWER_MAX)) {
    const value = encodeTlv([
      ...(n.sender === undefined ? [] : [item(T.noticeSender, n.sender)]),
      item(T.noticeText, sanitizeText(n.text)),
    ]);
    const next = [...items, { tag: T.notice, value }];
    if (encodeTlv(next).length > SERVICE_DATA_BYTES_MAX) break;
    items.push({ tag: T.notice, value });
    count++;
  }
  return { field59: encodeTlv(items), count };
}

/** Reads a notice answer's field 59. Throws ISO8583_FIELD_INVALID on anything malformed. */
export function decodeNotices(field59: Uint8Array): Notice[] {
  return decodeTlv(field59)
    .filter((i) => i.tag === T.notice)
    .map((i) => {
      const sub = decodeTlv(i.value);
      const sender = sub.find((s) => s.tag === T.noticeSender);
      const body = text(sub.find((s) => s.tag === T.noticeText)?.value ?? new Uint8Array());
      if (body === '' || !/^[\x20-\x7e]*$/.test(body)) throw bad('notice text is absent or not printable');
      return { ...(sender === undefined ? {} : { sender: text(sender.value) }), text: body };
    });
}
