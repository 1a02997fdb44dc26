/**
 * The packager: MTI + bitmap + fields ⇄ bytes, driven by a resolved spec. It knows nothing about
 * length headers, TPDUs or sockets (see `envelope.ts` and `gateways/card-network/framing.ts`).
 */
import { FixpayError } from '../../domain/errors';
import { bcd, HEX_CODES } from './encoding';
import type { Cursor, FieldCodec, FieldValue, Subfields } from './field';
import { buildFieldCodec, isSubfields, isTlvList } from './field';
import type { MessageSpec } from './spec';
import type { TlvItem } from './tlv';

/** A message: its MTI and field values by field number (2–128; field 1 is derived from the values). */
export interface IsoMessage {
  mti: string;
  fields: Map<number, FieldValue>;
}

/** Largest packed message, bytes, before any envelope; the channel's frame limit should match. */
export const MESSAGE_BYTES_MAX_DEFAULT = 8192;

export interface MessageCodecOptions {
  readonly messageBytesMax?: number;
}

function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Value of each hex digit by character code (either case); -1 for other bytes. */
const HEX_VALUES: Int8Array = Int8Array.from({ length: 256 }, (_, c) => {
  const d = String.fromCharCode(c);
  return /^[0-9A-Fa-f]$/.test(d) ? parseInt(d, 16) : -1;
});

/** A new Buffer with the content of `bytes` (`allocUnsafe` + `set` measured faster than `Buffer.copyBytesFrom`). */
function copyOf(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  out.set(bytes);
  return out;
}

/** For values from untyped callers, which the types say cannot be undefined. */
function isUndefined(value: unknown): boolean {
  return value === undefined;
}

/** Builds a message from a plain record, e.g. `isoMessage('0200', { 3: '000000', 11: '000123' })`. */
export function isoMessage(mti: string, fields: Readonly<Record<number, FieldValue>>): IsoMessage {
  const map = new Map<number, FieldValue>();
  for (const [k, v] of Object.entries(fields)) map.set(Number(k), v);
  return { mti, fields: map };
}

/** Packs and unpacks messages for one spec. Instances are reusable and not shared across threads. */
export class MessageCodec {
  readonly spec: MessageSpec;
  /** Field codecs by field number, built once from the spec. */
  private readonly codecs: (FieldCodec | undefined)[] = [];
  private readonly scratch: Buffer;
  /** `scratch` as a plain Uint8Array, whose `subarray` is cheaper than a Buffer's. */
  private readonly scratchBytes: Uint8Array;
  /** Values of the message being packed, by field number; cleared after each pack. */
  private readonly packValues: (FieldValue | undefined)[] = new Array<FieldValue | undefined>(129).fill(undefined);
  private readonly bitmapIn = Buffer.alloc(16);
  private readonly messageBytesMax: number;
  private readonly mtiBytes: number;
  private readonly bitmapHex: boolean;

  constructor(spec: MessageSpec, options: MessageCodecOptions = {}) {
    this.spec = spec;
    const order = spec.fields.map(buildFieldCodec).sort((a, b) => a.spec.id - b.spec.id);
    for (const c of order) this.codecs[c.spec.id] = c;
    this.messageBytesMax = options.messageBytesMax ?? MESSAGE_BYTES_MAX_DEFAULT;
    // Room for every field at its largest, so packing needs no bounds checks per field.
    const worst = order.reduce((n, c) => n + c.bytesMax, 4 + 32);
    this.scratch = Buffer.alloc(Math.max(this.messageBytesMax, worst));
    this.scratchBytes = new Uint8Array(this.scratch.buffer, this.scratch.byteOffset, this.scratch.length);
    this.mtiBytes = spec.mti.encoding === 'BCD' ? 2 : 4;
    this.bitmapHex = spec.bitmap.encoding === 'HexASCII';
  }

  /** The codec of field `id`, if the spec defines it. */
  field(id: number): FieldCodec | undefined {
    return this.codecs[id];
  }

  /** Packs `msg`. Throws ISO8583_FIELD_INVALID when a value does not fit its field or the message is too long. */
  pack(msg: IsoMessage): Buffer {
    const buf = this.scratch;
    const mti = msg.mti;
    if (mti.length !== 4 || !isDigits(mti)) throw new FixpayError('ISO8583_FIELD_INVALID', 'MTI must be four digits');
    let pos = this.mtiBytes === 2 ? bcd.encode(mti, buf, 0, 'left') : buf.write(mti, 0, 'latin1');
    // One pass over the values: which fields are present (the bitmap) and whether any is unknown.
    const values = this.packValues;
    const bitmapAt = pos;
    for (let i = bitmapAt; i < bitmapAt + 16; i++) buf[i] = 0;
    let secondary = false;
    let unknown = false;
    for (const [id, value] of msg.fields) {
      if (id > 64) secondary = true;
      // A key that is not a field number of the spec, or (from untyped callers) holds undefined,
      // fails the message after the values that are there have been checked, as before.
      if (!Number.isInteger(id) || this.codecs[id] === undefined || isUndefined(value)) {
        unknown = true;
        continue;
      }
      values[id] = value;
      const at = bitmapAt + ((id - 1) >> 3);
      buf[at] = (buf[at] ?? 0) | (0x80 >> ((id - 1) & 7));
    }
    const bitmapBytes = secondary ? 16 : 8;
    if (secondary) buf[bitmapAt] = (buf[bitmapAt] ?? 0) | 0x80;
    pos += this.bitmapHex ? bitmapBytes * 2 : bitmapBytes;
    try {
      // Fields in ascending order, walking the bitmap; each slot of `values` is cleared once used.
      for (let byteIndex = 0; byteIndex < bitmapBytes; byteIndex++) {
        const byte = buf[bitmapAt + byteIndex] ?? 0;
        if (byte === 0) continue;
        for (let bit = byteIndex === 0 ? 1 : 0; bit < 8; bit++) {
          if ((byte & (0x80 >> bit)) === 0) continue;
          const id = byteIndex * 8 + bit + 1;
          const codec = this.codecs[id];
          const value = values[id];
          values[id] = undefined;
          if (codec !== undefined && value !== undefined) pos = codec.encode(value, buf, pos);
        }
      }
    } catch (e) {
      values.fill(undefined);
      throw e;
    }
    if (unknown) {
      const ids = [...msg.fields.keys()].filter((id) => this.codecs[id] === undefined);
      throw new FixpayError('ISO8583_FIELD_INVALID', `fields not in spec ${this.spec.name}: ${ids.join(', ')}`);
    }
    if (pos > this.messageBytesMax) {
      throw new FixpayError('ISO8583_FIELD_INVALID', `message of ${pos} bytes exceeds ${this.messageBytesMax}`);
    }
    if (this.bitmapHex) {
      // The bitmap was built as bytes in the first half of its hex area: expand it in place from the end.
      for (let i = bitmapBytes - 1; i >= 0; i--) {
        const b = buf[bitmapAt + i] ?? 0;
        buf[bitmapAt + 2 * i] = HEX_CODES[b >> 4] ?? 0;
        buf[bitmapAt + 2 * i + 1] = HEX_CODES[b & 15] ?? 0;
      }
    }
    return copyOf(this.scratchBytes.subarray(0, pos));
  }

  /**
   * Unpacks one message (no envelope). Throws ISO8583_MALFORMED naming the field for a bad bitmap,
   * a field the spec does not define, a bad length, a truncated value or trailing bytes.
   */
  unpack(bytes: Uint8Array): IsoMessage {
    return this.unpackInto(bytes, { mti: '', fields: new Map<number, FieldValue>() });
  }

  /**
   * Like `unpack`, but never throws a catalogue error: on failure it returns the error and what was
   * decoded before it (MTI and leading fields), so a channel can still match a broken response to
   * its request by STAN and terminal id.
   */
  tryUnpack(
    bytes: Uint8Array,
  ): { ok: true; message: IsoMessage } | { ok: false; error: FixpayError; partial: IsoMessage } {
    const partial: IsoMessage = { mti: '', fields: new Map<number, FieldValue>() };
    try {
      return { ok: true, message: this.unpackInto(bytes, partial) };
    } catch (e) {
      if (e instanceof FixpayError) return { ok: false, error: e, partial };
      throw e;
    }
  }

  private unpackInto(bytes: Uint8Array, out: IsoMessage): IsoMessage {
    // One copy of the whole message: binary values are views of it, never of the caller's buffer.
    const buf = copyOf(bytes);
    const cursor: Cursor = { buf, pos: 0, end: buf.length };
    const mti = this.readMti(cursor);
    out.mti = mti;
    const bitmapBytes = this.readBitmap(cursor);
    const bitmap = this.bitmapIn;
    const fields = out.fields;
    const bits = bitmapBytes * 8;
    let id = 0;
    try {
      for (let byteIndex = 0; byteIndex < bitmapBytes; byteIndex++) {
        const byte = bitmap[byteIndex] ?? 0;
        if (byte === 0) continue;
        for (let bit = 0; bit < 8; bit++) {
          if ((byte & (0x80 >> bit)) === 0) continue;
          id = byteIndex * 8 + bit + 1;
          if (id === 1 || id > bits) continue;
          const codec = this.codecs[id];
          if (codec === undefined)
            throw new FixpayError(
              'ISO8583_MALFORMED',
              `bitmap sets field ${id}, which spec ${this.spec.name} does not define`,
            );
          fields.set(id, codec.decode(cursor));
        }
      }
    } catch (e) {
      if (e instanceof FixpayError) throw e;
      throw new FixpayError('ISO8583_MALFORMED', `field ${id}: undecodable`, { cause: e });
    }
    if (cursor.pos !== cursor.end) {
      throw new FixpayError('ISO8583_MALFORMED', `${cursor.end - cursor.pos} bytes after the last field (MTI ${mti})`);
    }
    return out;
  }

  /** The field numbers the bitmap of `bytes` announces (field 1 excluded). Throws ISO8583_MALFORMED. */
  bitmapFields(bytes: Uint8Array): number[] {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const cursor: Cursor = { buf, pos: 0, end: buf.length };
    this.readMti(cursor);
    const bitmap = this.bitmapIn;
    const bytes8 = this.readBitmap(cursor);
    const ids: number[] = [];
    for (let i = 1; i < bytes8 * 8; i++) if (((bitmap[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0) ids.push(i + 1);
    return ids;
  }

  private readMti(cursor: Cursor): string {
    if (cursor.end < this.mtiBytes) throw new FixpayError('ISO8583_MALFORMED', 'message is shorter than an MTI');
    const mti = this.mtiBytes === 2 ? bcd.decode(cursor.buf, 0, 4, 'left') : cursor.buf.toString('latin1', 0, 4);
    if (!isDigits(mti)) throw new FixpayError('ISO8583_MALFORMED', 'MTI is not four digits');
    cursor.pos = this.mtiBytes;
    return mti;
  }

  /** Reads the bitmap into `this.bitmapIn` (reused); returns its length in bytes (8 or 16). */
  private readBitmap(cursor: Cursor): number {
    const out = this.bitmapIn;
    this.readBitmapHalf(cursor, 0);
    if (((out[0] ?? 0) & 0x80) === 0) return 8;
    if (!this.spec.bitmap.secondary) {
      throw new FixpayError(
        'ISO8583_MALFORMED',
        `bitmap sets a secondary bitmap, which spec ${this.spec.name} does not allow`,
      );
    }
    this.readBitmapHalf(cursor, 8);
    return 16;
  }

  private readBitmapHalf(cursor: Cursor, at: number): void {
    const width = this.bitmapHex ? 16 : 8;
    const buf = cursor.buf;
    const start = cursor.pos;
    if (start + width > cursor.end) throw new FixpayError('ISO8583_MALFORMED', 'bitmap is truncated');
    const out = this.bitmapIn;
    if (this.bitmapHex) {
      for (let i = 0; i < 8; i++) {
        const hi = HEX_VALUES[buf[start + 2 * i] ?? 0] ?? -1;
        const lo = HEX_VALUES[buf[start + 2 * i + 1] ?? 0] ?? -1;
        if (hi < 0 || lo < 0) throw new FixpayError('ISO8583_MALFORMED', 'bitmap is not hex');
        out[at + i] = (hi << 4) | lo;
      }
    } else for (let i = 0; i < 8; i++) out[at + i] = buf[start + i] ?? 0;
    cursor.pos += width;
  }
}

/** Reads a text field; undefined when absent. Throws when the field holds another kind of value. */
export function textField(msg: IsoMessage, id: number): string | undefined {
  const v = msg.fields.get(id);
  if (v === undefined || typeof v === 'string') return v;
  throw new FixpayError('ISO8583_MALFORMED', `field ${id} is not text`);
}

/** Reads a binary field; undefined when absent. */
export function bytesField(msg: IsoMessage, id: number): Uint8Array | undefined {
  const v = msg.fields.get(id);
  if (v === undefined || v instanceof Uint8Array) return v;
  throw new FixpayError('ISO8583_MALFORMED', `field ${id} is not binary`);
}

/** Reads a field with sub-fields; undefined when absent. */
export function subfieldsField(msg: IsoMessage, id: number): Subfields | undefined {
  const v = msg.fields.get(id);
  if (v === undefined) return undefined;
  if (isSubfields(v)) return v;
  throw new FixpayError('ISO8583_MALFORMED', `field ${id} has no sub-fields`);
}

/** Reads a TLV field; undefined when absent. */
export function tlvField(msg: IsoMessage, id: number): readonly TlvItem[] | undefined {
  const v = msg.fields.get(id);
  if (v === undefined) return undefined;
  if (isTlvList(v)) return v;
  throw new FixpayError('ISO8583_MALFORMED', `field ${id} is not a TLV list`);
}
