/**
 * Length prefixes for variable fields: LL (up to 99) and LLL (up to 999) written as BCD or ASCII
 * digits, or as a binary count. `Binary.LL` is one byte (0–255) and `Binary.LLL` two bytes big-endian
 * (0–65535), as in NAC-style binary packagers.
 */
import { FixpayError } from '../../domain/errors';

export interface Prefixer {
  readonly name: string;
  /** Bytes the prefix itself takes; 0 for fixed-length fields. */
  readonly bytes: number;
  /** Largest length the prefix can express; the field spec may set a smaller one. */
  readonly lengthMax: number;
  /** Writes `length` at `offset`; returns the offset after it. */
  write(length: number, buf: Buffer, offset: number): number;
  /** Reads a length at `offset`. Throws ISO8583_MALFORMED when the prefix is not a number. */
  read(buf: Buffer, offset: number): number;
}

function bcdPrefix(name: string, digits: 2 | 3): Prefixer {
  const bytes = 2 === digits ? 1 : 2;
  return {
    name,
    bytes,
    lengthMax: digits === 2 ? 99 : 999,
    write(length, buf, offset) {
      if (digits === 2) {
        buf[offset] = (((length / 10) | 0) << 4) | (length % 10);
        return offset + 1;
      }
      buf[offset] = (length / 100) | 0;
      const rest = length % 100;
      buf[offset + 1] = (((rest / 10) | 0) << 4) | (rest % 10);
      return offset + 2;
    },
    read(buf, offset) {
      let value = 0;
      for (let i = 0; i < bytes; i++) {
        const b = buf[offset + i] ?? 0;
        const hi = b >> 4;
        const lo = b & 0x0f;
        if (hi > 9 || lo > 9) throw new FixpayError('ISO8583_MALFORMED', `${name} length prefix is not BCD`);
        value = value * 100 + hi * 10 + lo;
      }
      return value;
    },
  };
}

function asciiPrefix(name: string, digits: 2 | 3): Prefixer {
  return {
    name,
    bytes: digits,
    lengthMax: digits === 2 ? 99 : 999,
    write(length, buf, offset) {
      let rest = length;
      for (let i = digits - 1; i >= 0; i--) {
        buf[offset + i] = 48 + (rest % 10);
        rest = (rest / 10) | 0;
      }
      return offset + digits;
    },
    read(buf, offset) {
      let value = 0;
      for (let i = 0; i < digits; i++) {
        const d = (buf[offset + i] ?? 0) - 48;
        if (d < 0 || d > 9) throw new FixpayError('ISO8583_MALFORMED', `${name} length prefix is not ASCII digits`);
        value = value * 10 + d;
      }
      return value;
    },
  };
}

function binaryPrefix(name: string, bytes: 1 | 2): Prefixer {
  return {
    name,
    bytes,
    lengthMax: bytes === 1 ? 0xff : 0xffff,
    write(length, buf, offset) {
      if (bytes === 1) buf[offset] = length;
      else buf.writeUInt16BE(length, offset);
      return offset + bytes;
    },
    read(buf, offset) {
      return bytes === 1 ? (buf[offset] ?? 0) : buf.readUInt16BE(offset);
    },
  };
}

/** A fixed-length field has no prefix; its length comes from the spec. */
export const fixed: Prefixer = {
  name: 'Fixed',
  bytes: 0,
  lengthMax: Number.MAX_SAFE_INTEGER,
  write: (_length, _buf, offset) => offset,
  read: () => {
    throw new Error('a fixed-length field has no prefix to read');
  },
};

/** The typed registry of prefixes: spec files name them by these keys. */
export const prefixes = {
  Fixed: fixed,
  'BCD.LL': bcdPrefix('BCD.LL', 2),
  'BCD.LLL': bcdPrefix('BCD.LLL', 3),
  'ASCII.LL': asciiPrefix('ASCII.LL', 2),
  'ASCII.LLL': asciiPrefix('ASCII.LLL', 3),
  'Binary.LL': binaryPrefix('Binary.LL', 1),
  'Binary.LLL': binaryPrefix('Binary.LLL', 2),
} as const satisfies Record<string, Prefixer>;

export type PrefixName = keyof typeof prefixes;
