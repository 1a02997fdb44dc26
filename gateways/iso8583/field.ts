/**
 * Field codecs: one per spec field, built once from the spec's parts. A codec writes a value into
 * a buffer and reads it back, checking lengths and character sets; errors name the field but never
 * carry its value.
 */
import { FixpayError } from '../../domain/errors';
import type { Padding, TextEncoding } from './encoding';
import { fromHex, toHex } from './encoding';
import type { Prefixer } from './prefix';
import { prefixes } from './prefix';
import type { FieldSpec, FieldType, SubfieldSpec, SubfieldType } from './spec';
import { textEncodings } from './spec';
import type { TlvItem } from './tlv';
import { decodeTlv, tlvSize, writeTlv } from './tlv';

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
const isAlnum: CharCheck = (c) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 32;
const isAns: CharCheck = (c) => c >= 32 && c <= 0xff && c !== 0x7f;
const isTrack: CharCheck = (c) => isDigit(c) || c === 61 || c === 68;
const charChecks: Record<FieldType | SubfieldType, CharCheck> = {
  n: isDigit,
  an: isAlnum,
  ans: isAns,
  z: isTrack,
  b: () => true,
};

function allChars(value: string, check: CharCheck): boolean {
  for (let i = 0; i < value.length; i++) if (!check(value.charCodeAt(i))) return false;
  return true;
}

function invalid(detail: string): FixpayError {
  return new FixpayError('ISO8583_FIELD_INVALID', detail);
}
function malformed(detail: string): FixpayError {
  return new FixpayError('ISO8583_MALFORMED', detail);
}

/** Content layer: the bytes between the prefix and the next field. */
interface Content<T> {
  /** Length in the field's units (digits, characters or bytes) of `value`; validates the value. */
  units(value: T): number;
  write(value: T, units: number, buf: Buffer, offset: number): number;
  read(buf: Buffer, offset: number, units: number): T;
  byteLength(units: number): number;
}

function textContent(spec: FieldSpec, encoding: TextEncoding, padding: Padding): Content<string> {
  const check = charChecks[spec.type];
  const strictDecode = encoding.name === 'ASCII';
  return {
    units(value) {
      if (!allChars(value, check)) throw invalid(`field ${spec.id}: value has characters outside type ${spec.type}`);
      return value.length;
    },
    write: (value, _units, buf, offset) => encoding.encode(value, buf, offset, padding),
    read(buf, offset, units) {
      const value = encoding.decode(buf, offset, units, padding);
      if (strictDecode && !allChars(value, check))
        throw malformed(`field ${spec.id}: characters outside type ${spec.type}`);
      return value;
    },
    byteLength: (units) => encoding.byteLength(units),
  };
}

const binaryContent: Content<Uint8Array> = {
  units: (value) => value.length,
  write(value, _units, buf, offset) {
    buf.set(value, offset);
    return offset + value.length;
  },
  read: (buf, offset, units) => Buffer.copyBytesFrom(buf, offset, units),
  byteLength: (units) => units,
};

/** Builds the codec for one field. Assumes the spec passed `parseSpec`. */
export function buildFieldCodec(spec: FieldSpec): FieldCodec {
  const prefixer = prefixes[spec.prefix];
  const lengthMax = Math.min(spec.length, prefixer.lengthMax);
  if (spec.type === 'b') {
    const base = binaryContent;
    if (spec.tlv === true) return assemble(spec, prefixer, lengthMax, tlvLayer(spec));
    if (spec.subfields !== undefined)
      return assemble(spec, prefixer, lengthMax, binarySubfieldLayer(spec, spec.subfields, base));
    return assemble(
      spec,
      prefixer,
      lengthMax,
      guard(spec, base, (v): v is Uint8Array => v instanceof Uint8Array, 'bytes'),
    );
  }
  if (spec.encoding === 'Binary') throw new Error(`field ${spec.id}: text type with Binary encoding`);
  const padding: Padding = spec.padding ?? (spec.prefix === 'Fixed' ? 'left' : 'right');
  const text = textContent(spec, textEncodings[spec.encoding], padding);
  if (spec.subfields !== undefined)
    return assemble(spec, prefixer, lengthMax, textSubfieldLayer(spec, spec.subfields, text));
  return assemble(
    spec,
    prefixer,
    lengthMax,
    guard(spec, text, (v): v is string => typeof v === 'string', 'text'),
  );
}

/** Content over any FieldValue, checking the value's kind first. */
type ValueContent = Content<FieldValue>;

function guard<T extends FieldValue>(
  spec: FieldSpec,
  inner: Content<T>,
  is: (v: FieldValue) => v is T,
  kind: string,
): ValueContent {
  return {
    units(value) {
      if (!is(value)) throw invalid(`field ${spec.id}: expects ${kind}`);
      return inner.units(value);
    },
    write(value, units, buf, offset) {
      if (!is(value)) throw invalid(`field ${spec.id}: expects ${kind}`);
      return inner.write(value, units, buf, offset);
    },
    read: (buf, offset, units) => inner.read(buf, offset, units),
    byteLength: (units) => inner.byteLength(units),
  };
}

/** True when `v` is a sub-field record. */
export function isSubfields(v: FieldValue): v is Subfields {
  return typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v);
}

function joinSubfields(spec: FieldSpec, subs: readonly SubfieldSpec[], value: FieldValue, hex: boolean): string {
  if (!isSubfields(value)) throw invalid(`field ${spec.id}: expects sub-fields`);
  let out = '';
  let ended = false;
  for (const s of subs) {
    const v = value[s.id];
    if (v === undefined) {
      if (s.optional !== true) throw invalid(`field ${spec.id}.${s.id} is missing`);
      ended = true;
      continue;
    }
    if (ended) throw invalid(`field ${spec.id}.${s.id} follows a missing optional sub-field`);
    const expected = hex ? s.length * 2 : s.length;
    if (v.length !== expected) throw invalid(`field ${spec.id}.${s.id}: length ${v.length}, expected ${expected}`);
    if (!hex && !allChars(v, charChecks[s.type]))
      throw invalid(`field ${spec.id}.${s.id}: characters outside type ${s.type}`);
    out += v;
  }
  for (const k of Object.keys(value)) {
    if (!subs.some((s) => s.id === k)) throw invalid(`field ${spec.id}: unknown sub-field ${k}`);
  }
  return out;
}

function splitSubfields(spec: FieldSpec, subs: readonly SubfieldSpec[], content: string, hex: boolean): Subfields {
  const out: Record<string, string> = {};
  let pos = 0;
  for (const s of subs) {
    const n = hex ? s.length * 2 : s.length;
    if (pos === content.length && s.optional === true) break;
    if (pos + n > content.length) throw malformed(`field ${spec.id}.${s.id} is truncated`);
    const v = content.slice(pos, pos + n);
    if (!hex && !allChars(v, charChecks[s.type]))
      throw malformed(`field ${spec.id}.${s.id}: characters outside type ${s.type}`);
    out[s.id] = v;
    pos += n;
  }
  if (pos !== content.length)
    throw malformed(`field ${spec.id}: ${content.length - pos} units after the last sub-field`);
  return out;
}

/** `units` then `write` see the same value back to back: remember the last join instead of redoing it. */
function joinCache(spec: FieldSpec, subs: readonly SubfieldSpec[], hex: boolean): (value: FieldValue) => string {
  let lastValue: FieldValue | undefined;
  let lastJoined = '';
  return (value) => {
    if (value !== lastValue) {
      lastJoined = joinSubfields(spec, subs, value, hex);
      lastValue = value;
    }
    return lastJoined;
  };
}

function textSubfieldLayer(spec: FieldSpec, subs: readonly SubfieldSpec[], text: Content<string>): ValueContent {
  const join = joinCache(spec, subs, false);
  return {
    units: (value) => text.units(join(value)),
    write: (value, units, buf, offset) => text.write(join(value), units, buf, offset),
    read: (buf, offset, units) => splitSubfields(spec, subs, text.read(buf, offset, units), false),
    byteLength: (units) => text.byteLength(units),
  };
}

function binarySubfieldLayer(spec: FieldSpec, subs: readonly SubfieldSpec[], bin: Content<Uint8Array>): ValueContent {
  const join = joinCache(spec, subs, true);
  return {
    units: (value) => join(value).length / 2,
    write: (value, units, buf, offset) => bin.write(fromHex(join(value)), units, buf, offset),
    read: (buf, offset, units) => splitSubfields(spec, subs, toHex(bin.read(buf, offset, units)), true),
    byteLength: (units) => units,
  };
}

/** True when `v` is a TLV list. */
export function isTlvList(v: FieldValue): v is readonly TlvItem[] {
  return Array.isArray(v);
}

function tlvLayer(spec: FieldSpec): ValueContent {
  const list = (value: FieldValue): readonly TlvItem[] => {
    if (!isTlvList(value)) throw invalid(`field ${spec.id}: expects a TLV list`);
    return value;
  };
  return {
    units: (value) => tlvSize(list(value)),
    write: (value, _units, buf, offset) => writeTlv(list(value), buf, offset),
    read(buf, offset, units) {
      try {
        // The items are copied out; the container itself need not be.
        return decodeTlv(buf.subarray(offset, offset + units));
      } catch (e) {
        if (e instanceof FixpayError) throw malformed(`field ${spec.id}: ${e.message}`);
        throw e;
      }
    },
    byteLength: (units) => units,
  };
}

function assemble(spec: FieldSpec, prefixer: Prefixer, lengthMax: number, content: ValueContent): FieldCodec {
  const isFixed = prefixer.bytes === 0;
  return {
    spec,
    bytesMax: prefixer.bytes + content.byteLength(lengthMax),
    encode(value, buf, offset) {
      const units = content.units(value);
      if (isFixed ? units !== spec.length : units > lengthMax) {
        throw invalid(
          `field ${spec.id}: length ${units}, ${isFixed ? 'expected' : 'maximum'} ${isFixed ? spec.length : lengthMax}`,
        );
      }
      return content.write(value, units, buf, prefixer.write(units, buf, offset));
    },
    decode(cursor) {
      let units = spec.length;
      if (!isFixed) {
        if (cursor.pos + prefixer.bytes > cursor.end) throw malformed(`field ${spec.id}: length prefix is truncated`);
        units = prefixer.read(cursor.buf, cursor.pos);
        cursor.pos += prefixer.bytes;
        if (units > lengthMax) throw malformed(`field ${spec.id}: length ${units} exceeds maximum ${lengthMax}`);
      }
      const bytes = content.byteLength(units);
      if (cursor.pos + bytes > cursor.end) throw malformed(`field ${spec.id}: value is truncated`);
      const value = content.read(cursor.buf, cursor.pos, units);
      cursor.pos += bytes;
      return value;
    },
  };
}
