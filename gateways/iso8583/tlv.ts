/**
 * BER-TLV (EMV field 55): tags of one or more bytes, definite lengths in short or long form.
 * Values stay opaque bytes; constructed tags are not expanded (the issuer reads them as a whole).
 */
import { FixpayError } from '../../domain/errors';
import { byteHex } from './encoding';

export interface TlvItem {
  /** Tag as uppercase hex, e.g. `9F26`. */
  readonly tag: string;
  readonly value: Uint8Array;
}

/** Longest tag we accept, in bytes (EMV uses at most 3; BER allows more, which we refuse). */
export const TLV_TAG_BYTES_MAX = 4;

const tagCache = new Map<string, Uint8Array>();
/** Distinct tags remembered; EMV uses a few dozen. */
const TAG_CACHE_MAX = 1024;

function parseTag(tag: string): Uint8Array {
  if (!/^([0-9A-F]{2}){1,4}$/.test(tag)) throw new FixpayError('ISO8583_FIELD_INVALID', `TLV tag ${tag} is not hex`);
  const bytes = Buffer.from(tag, 'hex');
  // The first byte says whether more follow (low five bits all set); each further byte has bit 8 set except the last.
  const multi = ((bytes[0] ?? 0) & 0x1f) === 0x1f;
  const ok = multi
    ? bytes.length > 1 && bytes.subarray(1, -1).every((b) => (b & 0x80) !== 0) && ((bytes.at(-1) ?? 0) & 0x80) === 0
    : bytes.length === 1;
  if (!ok) throw new FixpayError('ISO8583_FIELD_INVALID', `TLV tag ${tag} is not a well-formed BER tag`);
  return bytes;
}

function tagBytes(tag: string): Uint8Array {
  let bytes = tagCache.get(tag);
  if (bytes === undefined) {
    bytes = parseTag(tag);
    if (tagCache.size < TAG_CACHE_MAX) tagCache.set(tag, bytes);
  }
  return bytes;
}

function lengthBytes(n: number, tag: string): number {
  if (n < 0x80) return 1;
  if (n <= 0xff) return 2;
  if (n <= 0xffff) return 3;
  throw new FixpayError('ISO8583_FIELD_INVALID', `TLV ${tag} value is too long`);
}

/**
 * Encoded size of `items`, bytes, remembering each item's tag bytes in `tags` for `writeTlvMeasured`.
 * Throws ISO8583_FIELD_INVALID on a malformed tag or a value over 65535 bytes.
 */
export function measureTlv(items: readonly TlvItem[], tags: Uint8Array[]): number {
  let n = 0;
  let i = 0;
  for (const item of items) {
    const tag = tagBytes(item.tag);
    tags[i++] = tag;
    n += tag.length + lengthBytes(item.value.length, item.tag) + item.value.length;
  }
  return n;
}

/** Encoded size of `items`, bytes. Throws ISO8583_FIELD_INVALID on a malformed tag or a value over 65535 bytes. */
export function tlvSize(items: readonly TlvItem[]): number {
  return measureTlv(items, []);
}

/** Values up to this many bytes are copied by a loop; longer ones by `set` (a native call). */
const SHORT_VALUE_BYTES = 16;

/**
 * Writes `items` at `offset` with the tag bytes `measureTlv` just found for them (the caller made
 * room with its result); returns the offset after them.
 */
export function writeTlvMeasured(
  items: readonly TlvItem[],
  tags: readonly Uint8Array[],
  buf: Buffer,
  offset: number,
): number {
  let pos = offset;
  let i = 0;
  for (const item of items) {
    const tag = tags[i++] ?? tagBytes(item.tag);
    for (let j = 0; j < tag.length; j++) buf[pos++] = tag[j] ?? 0;
    const value = item.value;
    const n = value.length;
    if (n < 0x80) buf[pos++] = n;
    else if (n <= 0xff) {
      buf[pos++] = 0x81;
      buf[pos++] = n;
    } else {
      buf[pos++] = 0x82;
      buf[pos++] = n >> 8;
      buf[pos++] = n & 0xff;
    }
    if (n <= SHORT_VALUE_BYTES) for (let j = 0; j < n; j++) buf[pos++] = value[j] ?? 0;
    else {
      buf.set(value, pos);
      pos += n;
    }
  }
  return pos;
}

/** Writes `items` at `offset` (the caller made room with `tlvSize`); returns the offset after them. */
export function writeTlv(items: readonly TlvItem[], buf: Buffer, offset: number): number {
  return writeTlvMeasured(items, [], buf, offset);
}

/** Encodes items in order. Throws ISO8583_FIELD_INVALID on a malformed tag or a value over 65535 bytes. */
export function encodeTlv(items: readonly TlvItem[]): Buffer {
  const out = Buffer.alloc(tlvSize(items));
  writeTlv(items, out, 0);
  return out;
}

/** Tag strings of one- and two-byte tags, filled as they are met (EMV uses a few dozen). */
const oneByteTags: readonly string[] = Array.from({ length: 256 }, (_, b) => byteHex(b));
/** Two-byte tags by first byte, then second byte; small dense arrays rather than one sparse one. */
const twoByteTags: (string | undefined)[][] = Array.from({ length: 256 }, () => []);

function tagText(bytes: Uint8Array, start: number, end: number): string {
  const first = bytes[start] ?? 0;
  if (end - start === 1) return oneByteTags[first] ?? '';
  if (end - start === 2) {
    const second = bytes[start + 1] ?? 0;
    const row = twoByteTags[first] ?? [];
    let tag = row[second];
    if (tag === undefined) {
      tag = byteHex(first) + byteHex(second);
      row[second] = tag;
    }
    return tag;
  }
  let tag = '';
  for (let i = start; i < end; i++) tag += byteHex(bytes[i] ?? 0);
  return tag;
}

/**
 * Decodes the TLV list in `bytes[start, end)`; values are `subarray` views when `views`, else
 * `slice` results. Throws ISO8583_MALFORMED on a truncated tag, length or value.
 */
function decodeTlvRange(bytes: Uint8Array, start: number, end: number, views: boolean): TlvItem[] {
  const items: TlvItem[] = [];
  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    const first = bytes[pos++] ?? 0;
    if ((first & 0x1f) === 0x1f) {
      let b: number;
      do {
        if (pos >= end) throw new FixpayError('ISO8583_MALFORMED', 'TLV tag is truncated');
        b = bytes[pos++] ?? 0;
        if (pos - tagStart > TLV_TAG_BYTES_MAX) throw new FixpayError('ISO8583_MALFORMED', 'TLV tag is too long');
      } while (b & 0x80);
    }
    const tag = tagText(bytes, tagStart, pos);
    if (pos >= end) throw new FixpayError('ISO8583_MALFORMED', `TLV ${tag} has no length`);
    let length = bytes[pos++] ?? 0;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 2)
        throw new FixpayError('ISO8583_MALFORMED', `TLV ${tag} length form is not supported`);
      if (pos + count > end) throw new FixpayError('ISO8583_MALFORMED', `TLV ${tag} length is truncated`);
      length = 0;
      for (let i = 0; i < count; i++) length = (length << 8) | (bytes[pos++] ?? 0);
    }
    if (pos + length > end) throw new FixpayError('ISO8583_MALFORMED', `TLV ${tag} value is truncated`);
    items.push({ tag, value: views ? bytes.subarray(pos, pos + length) : bytes.slice(pos, pos + length) });
    pos += length;
  }
  return items;
}

/** Decodes a TLV list. Throws ISO8583_MALFORMED on a truncated tag, length or value. */
export function decodeTlv(bytes: Uint8Array): TlvItem[] {
  return decodeTlvRange(bytes, 0, bytes.length, false);
}

/**
 * Decodes the TLV list in `buf[start, end)` with values as views of `buf` (no copies); for callers
 * that own `buf`. Throws ISO8583_MALFORMED like `decodeTlv`.
 */
export function decodeTlvView(buf: Buffer, start: number, end: number): TlvItem[] {
  return decodeTlvRange(buf, start, end, true);
}
