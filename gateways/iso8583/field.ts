/**
 * Field codecs: one per spec field, built once from the spec's parts. A codec writes a value into
 * a buffer and reads it back, checking lengths and character sets; errors name the field but never
 * carry its value.
 */
import { FixpayError, resultCode } from '../../domain/errors';
import type { Padding, TextEncoding } from './encoding';
import { bcd, fromHex, toHex, track } from './encoding';
import type { Prefixer } from './prefix';
import { prefixes } from './prefix';
import type { FieldSpec, FieldType, SubfieldSpec, SubfieldType } from './spec';
import { textEncodings } from './spec';
import type { TlvItem } from './tlv';
import { decodeTlvView, measureTlv, writeTlvMeasured } from './tlv';

/** Positional sub-field values by sub-field id (`'1'`, `'2'`, …); binary sub-fields as uppercase hex. */
export type Subfields = Readonly<Record<string, string>>;
/** A field value: text, raw bytes, positional sub-fields, or a TLV list (field 55). */
export type FieldValue = string | Uint8Array | Subfields | readonly TlvItem[];

/** A read position inside a buffer; `end` bounds the message. */
export interface Cursor {
  readonly buf: Buffer;
  pos: number;
  readonly end: number;
}

export interface FieldCodec {
  readonly spec: FieldSpec;
  /** Largest number of bytes the field can take, prefix included. */
  readonly bytesMax: number;
  /** Writes `value` at `offset`; returns the offset after it. Throws ISO8583_FIELD_INVALID. */
  encode(value: FieldValue, buf: Buffer, offset: number): number;
  /** Reads the field at `cursor.pos` and advances it. Throws ISO8583_MALFORMED. */
  decode(cursor: Cursor): FieldValue;
}

type CharCheck = (code: number) => boolean;
const isDigit: CharCheck = (c) => c >= 48 && c <= 57;
/** Type a: letters A–Z, a–z and space. */
const isAlpha: CharCheck = (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 32;
/** Type an: letters, digits and space. */
const isAlnum: CharCheck = (c) => isDigit(c) || isAlpha(c);
/**
 * Type ans: the printable characters of ISO 8859-1 — 0x20–0x7E and 0xA0–0xFF. C0 controls
 * (0x00–0x1F), DEL (0x7F) and C1 controls (0x80–0x9F) are refused both ways.
 */
const isAns: CharCheck = (c) => (c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xff);
const isTrack: CharCheck = (c) => isDigit(c) || c === 61 || c === 68;

/** The characters a type allows, as a 256-entry table (1 = allowed); codes above 0xFF read undefined: refused. */
type CharTable = Uint8Array;
function charTable(check: CharCheck): CharTable {
  return Uint8Array.from({ length: 256 }, (_, c) => (check(c) ? 1 : 0));
}
const charTables: Record<Exclude<FieldType | SubfieldType, 'b'>, CharTable> = {
  n: charTable(isDigit),
  a: charTable(isAlpha),
  an: charTable(isAlnum),
  ans: charTable(isAns),
  z: charTable(isTrack),
};

function allChars(value: string, table: CharTable): boolean {
  for (let i = 0; i < value.length; i++) if (table[value.charCodeAt(i)] !== 1) return false;
  return true;
}

function allBytes(buf: Buffer, start: number, end: number, table: CharTable): boolean {
  for (let i = start; i < end; i++) if (table[buf[i] ?? 0] !== 1) return false;
  return true;
}

const MALFORMED_PREFIX = `${resultCode('ISO8583_MALFORMED').message}: `;
/** The detail of an ISO8583_MALFORMED error (its message without the catalogue text). */
function detailOf(e: FixpayError): string {
  return e.message.startsWith(MALFORMED_PREFIX) ? e.message.slice(MALFORMED_PREFIX.length) : e.message;
}

function invalid(detail: string): FixpayError {
  return new FixpayError('ISO8583_FIELD_INVALID', detail);
}
function malformed(detail: string): FixpayError {
  return new FixpayError('ISO8583_MALFORMED', detail);
}

/** Builds the codec for one field, choosing its content layer once. Assumes the spec passed `parseSpec`. */
export function buildFieldCodec(spec: FieldSpec): FieldCodec {
  const prefixer = prefixes[spec.prefix];
  if (spec.type === 'b') {
    if (spec.tlv === true) return new TlvField(spec, prefixer);
    if (spec.subfields !== undefined) return new BinarySubfieldsField(spec, prefixer, spec.subfields);
    return new BinaryField(spec, prefixer);
  }
  if (spec.encoding === 'Binary') throw new Error(`field ${spec.id}: text type with Binary encoding`);
  const encoding = textEncodings[spec.encoding];
  const padding: Padding = spec.padding ?? (spec.prefix === 'Fixed' ? 'left' : 'right');
  const chars = charTables[spec.type];
  if (spec.subfields !== undefined)
    return new TextSubfieldsField(spec, prefixer, encoding, padding, chars, spec.subfields);
  return new TextField(spec, prefixer, encoding, padding, chars);
}

/**
 * What every field shares: the length prefix (or fixed length), its limits and bounds checks.
 * Subclasses hold one content layer each, chosen when the codec is built, so packing and unpacking
 * a field is one method call with no registry lookups or layers in between.
 */
abstract class LengthPrefixed implements FieldCodec {
  readonly bytesMax: number;
  protected readonly id: number;
  protected readonly isFixed: boolean;
  /** The spec's length: the length of a fixed field, the upper bound of a variable one. */
  protected readonly fixedLength: number;
  protected readonly lengthMax: number;

  constructor(
    readonly spec: FieldSpec,
    protected readonly prefixer: Prefixer,
    byteLength: (units: number) => number,
  ) {
    this.id = spec.id;
    this.isFixed = prefixer.bytes === 0;
    this.fixedLength = spec.length;
    this.lengthMax = Math.min(spec.length, prefixer.lengthMax);
    this.bytesMax = prefixer.bytes + byteLength(this.lengthMax);
  }

  abstract encode(value: FieldValue, buf: Buffer, offset: number): number;
  abstract decode(cursor: Cursor): FieldValue;

  /** Checks `units` against the spec and writes the prefix; returns where the content starts. */
  protected writeLength(units: number, buf: Buffer, offset: number): number {
    if (this.isFixed) {
      if (units !== this.fixedLength) throw invalid(`field ${this.id}: length ${units}, expected ${this.fixedLength}`);
      return offset;
    }
    if (units > this.lengthMax) throw invalid(`field ${this.id}: length ${units}, maximum ${this.lengthMax}`);
    return this.prefixer.write(units, buf, offset);
  }

  /** Reads the prefix at `cursor.pos` (advancing past it) and checks it; returns the length in units. */
  protected readLength(cursor: Cursor): number {
    if (this.isFixed) return this.fixedLength;
    const prefixBytes = this.prefixer.bytes;
    if (cursor.pos + prefixBytes > cursor.end) throw malformed(`field ${this.id}: length prefix is truncated`);
    const units = this.prefixer.read(cursor.buf, cursor.pos);
    cursor.pos += prefixBytes;
    if (units > this.lengthMax) throw malformed(`field ${this.id}: length ${units} exceeds maximum ${this.lengthMax}`);
    return units;
  }

  /** Checks that `bytes` of content remain; returns where they start. */
  protected contentAt(cursor: Cursor, bytes: number): number {
    const at = cursor.pos;
    if (at + bytes > cursor.end) throw malformed(`field ${this.id}: value is truncated`);
    return at;
  }
}

/** Text in BCD, Track or ASCII (types n, an, ans, z). */
class TextField extends LengthPrefixed {
  /** ASCII can carry any byte, so its characters are checked on the way in too. */
  private readonly strictDecode: boolean;
  /**
   * BCD refuses exactly what type n refuses, Track exactly what type z refuses: for those the
   * encoder's own check stands in for the type check (one pass over the value instead of two).
   */
  private readonly encoderChecksType: boolean;
  /** Bytes of a fixed field's content. */
  private readonly fixedBytes: number;

  constructor(
    spec: FieldSpec,
    prefixer: Prefixer,
    private readonly encoding: TextEncoding,
    private readonly padding: Padding,
    private readonly chars: CharTable,
  ) {
    super(spec, prefixer, (units) => encoding.byteLength(units));
    this.strictDecode = encoding.name === 'ASCII';
    this.encoderChecksType = (encoding === bcd && spec.type === 'n') || (encoding === track && spec.type === 'z');
    this.fixedBytes = encoding.byteLength(spec.length);
  }

  encode(value: FieldValue, buf: Buffer, offset: number): number {
    if (typeof value !== 'string') throw invalid(`field ${this.id}: expects text`);
    return this.encodeText(value, buf, offset);
  }

  encodeText(value: string, buf: Buffer, offset: number): number {
    const n = value.length;
    const lengthOk = this.isFixed ? n === this.fixedLength : n <= this.lengthMax;
    // Characters are checked before the length, so a value wrong in both reports its characters.
    if (!this.encoderChecksType || !lengthOk) {
      if (!allChars(value, this.chars)) throw this.charsInvalid();
      return this.encoding.encode(value, buf, this.writeLength(n, buf, offset), this.padding);
    }
    const at = this.writeLength(n, buf, offset);
    try {
      return this.encoding.encode(value, buf, at, this.padding);
    } catch (e) {
      if (e instanceof FixpayError) throw this.charsInvalid();
      throw e;
    }
  }

  private charsInvalid(): FixpayError {
    return invalid(`field ${this.id}: value has characters outside type ${this.spec.type}`);
  }

  decode(cursor: Cursor): string {
    const units = this.readLength(cursor);
    const bytes = this.isFixed ? this.fixedBytes : this.encoding.byteLength(units);
    const at = this.contentAt(cursor, bytes);
    // ASCII is one byte per character (latin1), so its bytes are checked before a string is made.
    if (this.strictDecode && !allBytes(cursor.buf, at, at + bytes, this.chars))
      throw malformed(`field ${this.id}: characters outside type ${this.spec.type} at bytes ${at}–${at + bytes - 1}`);
    let value: string;
    try {
      value = this.encoding.decode(cursor.buf, at, units, this.padding);
    } catch (e) {
      // BCD and track decoders report the nibble and byte; the field id is added here.
      if (e instanceof FixpayError) throw malformed(`field ${this.id}: ${detailOf(e)}`);
      throw e;
    }
    cursor.pos = at + bytes;
    return value;
  }
}

/**
 * Raw bytes (type b). Unpacked values are views of `cursor.buf`: `MessageCodec` decodes from its own
 * copy of the message, so they never share memory with the caller's buffer.
 */
class BinaryField extends LengthPrefixed {
  constructor(spec: FieldSpec, prefixer: Prefixer) {
    super(spec, prefixer, (units) => units);
  }

  encode(value: FieldValue, buf: Buffer, offset: number): number {
    if (!(value instanceof Uint8Array)) throw invalid(`field ${this.id}: expects bytes`);
    const pos = this.writeLength(value.length, buf, offset);
    buf.set(value, pos);
    return pos + value.length;
  }

  decode(cursor: Cursor): Buffer {
    const units = this.readLength(cursor);
    const at = this.contentAt(cursor, units);
    cursor.pos = at + units;
    return cursor.buf.subarray(at, at + units);
  }
}

/** True when `v` is a TLV list. */
export function isTlvList(v: FieldValue): v is readonly TlvItem[] {
  return Array.isArray(v);
}

/** BER-TLV (field 55); item values unpack as views of `cursor.buf` (see `BinaryField`). */
class TlvField extends LengthPrefixed {
  /** Tag bytes found while measuring the value being packed (packing is synchronous). */
  private readonly tags: Uint8Array[] = [];

  constructor(spec: FieldSpec, prefixer: Prefixer) {
    super(spec, prefixer, (units) => units);
  }

  encode(value: FieldValue, buf: Buffer, offset: number): number {
    if (!isTlvList(value)) throw invalid(`field ${this.id}: expects a TLV list`);
    const tags = this.tags;
    const pos = this.writeLength(measureTlv(value, tags), buf, offset);
    return writeTlvMeasured(value, tags, buf, pos);
  }

  decode(cursor: Cursor): TlvItem[] {
    const units = this.readLength(cursor);
    const at = this.contentAt(cursor, units);
    let items: TlvItem[];
    try {
      items = decodeTlvView(cursor.buf, at, at + units);
    } catch (e) {
      if (e instanceof FixpayError) throw malformed(`field ${this.id}: ${detailOf(e)}`);
      throw e;
    }
    cursor.pos = at + units;
    return items;
  }
}

/** True when `v` is a sub-field record. */
export function isSubfields(v: FieldValue): v is Subfields {
  return typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v);
}

interface SubfieldSlot {
  readonly id: string;
  /** The property key to read: the id as a number when it is an array index (a faster lookup, same property). */
  readonly key: string | number;
  readonly type: SubfieldType;
  readonly optional: boolean;
  /** Length in the joined content: characters, or hex digits when binary. */
  readonly width: number;
  /** Allowed characters; undefined for hex (binary) sub-fields. */
  readonly chars: CharTable | undefined;
}

/** Positional sub-fields over a text or binary field (hex text per sub-field when binary). */
class SubfieldLayout {
  private readonly ids: ReadonlySet<string>;
  private readonly slots: readonly SubfieldSlot[];
  /**
   * `templates[k]`: a record of the first k + 1 sub-field ids in order. Unpacking clones one and
   * fills it, which V8 does several times faster than adding integer-like keys one by one.
   */
  private readonly templates: readonly Readonly<Record<string, string>>[];

  constructor(
    private readonly fieldId: number,
    subs: readonly SubfieldSpec[],
    hex: boolean,
  ) {
    this.ids = new Set(subs.map((s) => s.id));
    this.slots = subs.map((s) => ({
      id: s.id,
      key: String(Number(s.id)) === s.id ? Number(s.id) : s.id,
      type: s.type,
      optional: s.optional === true,
      width: hex ? s.length * 2 : s.length,
      chars: hex || s.type === 'b' ? undefined : charTables[s.type],
    }));
    const template: Record<string, string> = {};
    this.templates = subs.map((s) => {
      template[s.id] = '';
      return { ...template };
    });
  }

  /** Checks the record and joins its values in order. Throws ISO8583_FIELD_INVALID. */
  join(value: FieldValue): string {
    const id = this.fieldId;
    if (!isSubfields(value)) throw invalid(`field ${id}: expects sub-fields`);
    let out = '';
    let ended = false;
    let present = 0;
    for (const s of this.slots) {
      const v = value[s.key];
      if (v === undefined) {
        if (!s.optional) throw invalid(`field ${id}.${s.id} is missing`);
        ended = true;
        continue;
      }
      if (ended) throw invalid(`field ${id}.${s.id} follows a missing optional sub-field`);
      if (v.length !== s.width) throw invalid(`field ${id}.${s.id}: length ${v.length}, expected ${s.width}`);
      if (s.chars !== undefined && !allChars(v, s.chars))
        throw invalid(`field ${id}.${s.id}: characters outside type ${s.type}`);
      out += v;
      present++;
    }
    const keys = Object.keys(value);
    // Usual case: exactly the present sub-fields, in slot order; otherwise look each key up.
    let usual = keys.length === present;
    for (let i = 0; usual && i < present; i++) usual = keys[i] === this.slots[i]?.id;
    if (!usual) {
      for (const k of keys) if (!this.ids.has(k)) throw invalid(`field ${id}: unknown sub-field ${k}`);
    }
    return out;
  }

  /** Splits joined content into the record. Throws ISO8583_MALFORMED. */
  split(content: string): Subfields {
    const id = this.fieldId;
    // How many sub-fields the content holds; a truncated one is reported after the checks of those before it.
    let count = 0;
    let end = 0;
    let truncated: SubfieldSlot | undefined;
    for (const s of this.slots) {
      if (end === content.length && s.optional) break;
      if (end + s.width > content.length) {
        truncated = s;
        break;
      }
      end += s.width;
      count++;
    }
    const out: Record<string, string> = count === 0 ? {} : { ...this.templates[count - 1] };
    let pos = 0;
    for (let i = 0; i < count; i++) {
      const s = this.slots[i];
      if (s === undefined) break;
      const v = content.slice(pos, pos + s.width);
      if (s.chars !== undefined && !allChars(v, s.chars))
        throw malformed(`field ${id}.${s.id}: characters outside type ${s.type}`);
      out[s.id] = v;
      pos += s.width;
    }
    if (truncated !== undefined) throw malformed(`field ${id}.${truncated.id} is truncated`);
    if (pos !== content.length) throw malformed(`field ${id}: ${content.length - pos} units after the last sub-field`);
    return out;
  }
}

/** Sub-fields of a text field (60, 61, 63 on the terminal link): joined, then packed as the field's text. */
class TextSubfieldsField extends LengthPrefixed {
  private readonly text: TextField;
  private readonly layout: SubfieldLayout;

  constructor(
    spec: FieldSpec,
    prefixer: Prefixer,
    encoding: TextEncoding,
    padding: Padding,
    chars: CharTable,
    subs: readonly SubfieldSpec[],
  ) {
    super(spec, prefixer, (units) => encoding.byteLength(units));
    this.text = new TextField(spec, prefixer, encoding, padding, chars);
    this.layout = new SubfieldLayout(spec.id, subs, false);
  }

  encode(value: FieldValue, buf: Buffer, offset: number): number {
    return this.text.encodeText(this.layout.join(value), buf, offset);
  }

  decode(cursor: Cursor): Subfields {
    return this.layout.split(this.text.decode(cursor));
  }
}

/** Sub-fields of a binary field (62): each an uppercase hex string. */
class BinarySubfieldsField extends LengthPrefixed {
  private readonly layout: SubfieldLayout;

  constructor(spec: FieldSpec, prefixer: Prefixer, subs: readonly SubfieldSpec[]) {
    super(spec, prefixer, (units) => units);
    this.layout = new SubfieldLayout(spec.id, subs, true);
  }

  encode(value: FieldValue, buf: Buffer, offset: number): number {
    const hex = this.layout.join(value);
    const pos = this.writeLength(hex.length / 2, buf, offset);
    const bytes = fromHex(hex);
    buf.set(bytes, pos);
    return pos + bytes.length;
  }

  decode(cursor: Cursor): Subfields {
    const units = this.readLength(cursor);
    const at = this.contentAt(cursor, units);
    cursor.pos = at + units;
    return this.layout.split(toHex(cursor.buf.subarray(at, at + units)));
  }
}
