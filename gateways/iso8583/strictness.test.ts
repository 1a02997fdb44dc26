/**
 * Issue #10 defect 12: character classes and filler nibbles are checked exactly as
 * docs/protocols/iso8583.md states, both when packing and when unpacking hostile bytes.
 */
import fc from 'fast-check';
import { FixpayError } from '../../domain/errors';
import { MessageCodec } from './message';
import type { IsoMessage } from './message';
import { parseSpec } from './spec';

const codec = new MessageCodec(
  parseSpec({
    name: 'strictness',
    version: '1',
    mti: { encoding: 'BCD' },
    bitmap: { encoding: 'Binary', secondary: false },
    fields: [
      { id: 2, name: 'pan', type: 'n', encoding: 'BCD', prefix: 'BCD.LL', length: 19 },
      { id: 22, name: 'posEntryMode', type: 'n', encoding: 'BCD', prefix: 'Fixed', length: 3 },
      { id: 35, name: 'track2', type: 'z', encoding: 'Track', prefix: 'BCD.LL', length: 37 },
      { id: 36, name: 'track3', type: 'z', encoding: 'Track', prefix: 'BCD.LLL', length: 103, padding: 'left' },
      { id: 43, name: 'nameLocation', type: 'ans', encoding: 'ASCII', prefix: 'Fixed', length: 8 },
      { id: 44, name: 'alpha', type: 'a', encoding: 'ASCII', prefix: 'ASCII.LL', length: 10 },
      { id: 45, name: 'alnum', type: 'an', encoding: 'ASCII', prefix: 'ASCII.LL', length: 10 },
    ],
  }),
);

function one(id: number, value: string): IsoMessage {
  return { mti: '0200', fields: new Map([[id, value]]) };
}

function unpackError(bytes: Buffer): FixpayError {
  try {
    codec.unpack(bytes);
  } catch (e) {
    if (e instanceof FixpayError) return e;
    throw e;
  }
  throw new Error('unpacked without error');
}

/** MTI (2 BCD bytes) + primary bitmap (8 bytes): where the first field starts. */
const FIRST_FIELD = 10;

describe('ISO 8583 strictness (issue #10 defect 12)', () => {
  describe('ans is ISO 8859-1 printable: 0x20–0x7E and 0xA0–0xFF', () => {
    const controls = [0x00, 0x09, 0x1f, 0x7f, 0x80, 0x85, 0x9b, 0x9f].map(
      (c) => [c.toString(16).padStart(2, '0'), c] as const,
    );

    it.each(controls)('refuses 0x%s when packing', (_, c) => {
      expect(() => codec.pack(one(43, `ABC${String.fromCharCode(c)}DEFG`))).toThrow(
        expect.objectContaining({ codeName: 'ISO8583_FIELD_INVALID' }) as Error,
      );
    });

    it.each(controls)('refuses byte 0x%s when unpacking, naming field and bytes', (_, c) => {
      const bytes = Buffer.from(codec.pack(one(43, 'ABCDEFGH')));
      bytes[FIRST_FIELD + 3] = c;
      const e = unpackError(bytes);
      expect(e.codeName).toBe('ISO8583_MALFORMED');
      expect(e.message).toContain('field 43');
      expect(e.message).toContain(`bytes ${FIRST_FIELD}–${FIRST_FIELD + 7}`);
    });

    it('property: a control byte (C0, DEL, C1) anywhere in an ans value is refused both ways', () => {
      const printable = fc
        .integer({ min: 0x20, max: 0xff })
        .filter((c) => c < 0x7f || c >= 0xa0)
        .map((c) => String.fromCharCode(c));
      const control = fc.oneof(fc.integer({ min: 0x00, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f }));
      fc.assert(
        fc.property(
          fc.array(printable, { minLength: 8, maxLength: 8 }),
          fc.nat({ max: 7 }),
          control,
          (chars, at, c) => {
            const value = chars.join('');
            const bytes = Buffer.from(codec.pack(one(43, value)));
            expect(codec.unpack(bytes).fields.get(43)).toBe(value);
            const hostile = [...chars];
            hostile[at] = String.fromCharCode(c);
            expect(() => codec.pack(one(43, hostile.join('')))).toThrow(
              expect.objectContaining({ codeName: 'ISO8583_FIELD_INVALID' }) as Error,
            );
            bytes[FIRST_FIELD + at] = c;
            expect(unpackError(bytes).codeName).toBe('ISO8583_MALFORMED');
          },
        ),
      );
    });

    it('takes space, tilde, NBSP and Latin-1 letters', () => {
      const value = ' ~\u00a0\u00e9\u00ff\u00c0AZ';
      expect(codec.unpack(codec.pack(one(43, value))).fields.get(43)).toBe(value);
    });
  });

  it('a is letters and space; an adds digits; neither takes punctuation or controls', () => {
    expect(codec.unpack(codec.pack(one(44, 'Abc Xyz'))).fields.get(44)).toBe('Abc Xyz');
    for (const bad of ['Abc1', 'Abc-', 'A\u0085'])
      expect(() => codec.pack(one(44, bad))).toThrow(
        expect.objectContaining({ codeName: 'ISO8583_FIELD_INVALID' }) as Error,
      );
    expect(codec.unpack(codec.pack(one(45, 'Ab 12'))).fields.get(45)).toBe('Ab 12');
    for (const bad of ['Ab-1', 'A\u00e9', 'A\u0085'])
      expect(() => codec.pack(one(45, bad))).toThrow(
        expect.objectContaining({ codeName: 'ISO8583_FIELD_INVALID' }) as Error,
      );
  });

  describe('BCD and track filler nibbles are 0 (written) or F (accepted), nothing else', () => {
    const PAN13 = '4012345678909'; // odd: right filler in the last byte

    it('writes 0 as the right filler of an odd BCD value', () => {
      const bytes = codec.pack(one(2, PAN13));
      expect((bytes[bytes.length - 1] ?? 0) & 0x0f).toBe(0);
    });

    it.each([
      ['BCD right (field 2)', 2, PAN13, 'last'],
      ['BCD left (field 22)', 22, '021', 'first'],
      ['track right (field 35)', 35, '4012345678909=3012101', 'last'],
      ['track left (field 36)', 36, '4012345678909=3012101', 'first'],
    ] as const)('%s: F is accepted, 1–E refused with the byte position', (_, id, value, where) => {
      const packed = Buffer.from(codec.pack(one(id, value)));
      const prefixBytes = id === 2 || id === 35 ? 1 : id === 36 ? 2 : 0;
      const at = where === 'last' ? packed.length - 1 : FIRST_FIELD + prefixBytes;
      const setFiller = (nibble: number): Buffer => {
        const b = Buffer.from(packed);
        const byte = b[at] ?? 0;
        b[at] = where === 'last' ? (byte & 0xf0) | nibble : (byte & 0x0f) | (nibble << 4);
        return b;
      };
      expect(codec.unpack(setFiller(0x0f)).fields.get(id)).toBe(value);
      for (let nibble = 1; nibble < 0x0f; nibble++) {
        const e = unpackError(setFiller(nibble));
        expect(e.codeName).toBe('ISO8583_MALFORMED');
        expect(e.message).toContain(`field ${id}: filler nibble ${nibble.toString(16).toUpperCase()} at byte ${at}`);
      }
    });
  });
});
