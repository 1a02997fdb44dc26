import fc from 'fast-check';
import { FixpayError } from '../../domain/errors';
import { ascii, bcd, fromHex, toHex, track } from './encoding';
import { prefixes } from './prefix';
import { decodeTlv, encodeTlv } from './tlv';
import { tlvItem } from './__fixtures__/arbitrary';

// Byte vectors in the style of moov-io/iso8583 encoding/bcd_test.go: "1234" ⇄ 0x12 0x34, odd
// lengths padded with a zero nibble on the chosen side.
describe('BCD', () => {
  const enc = (v: string, padding: 'left' | 'right'): string => {
    const buf = Buffer.alloc(16);
    return toHex(buf.subarray(0, bcd.encode(v, buf, 0, padding)));
  };
  it('packs two digits per byte', () => {
    expect(enc('1234', 'left')).toBe('1234');
    expect(enc('123', 'left')).toBe('0123');
    expect(enc('123', 'right')).toBe('1230');
    expect(bcd.decode(fromHex('0123'), 0, 3, 'left')).toBe('123');
    expect(bcd.decode(fromHex('1230'), 0, 3, 'right')).toBe('123');
  });
  it('rejects non-digits both ways', () => {
    expect(() => enc('12a4', 'left')).toThrow(FixpayError);
    expect(() => bcd.decode(fromHex('1A'), 0, 2, 'left')).toThrow(/not a digit/);
  });
  it.each(['left', 'right'] as const)('round-trips any digit string (%s padding)', (padding) => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{0,40}$/), (s) => {
        const buf = Buffer.alloc(32);
        const end = bcd.encode(s, buf, 0, padding);
        expect(end).toBe(bcd.byteLength(s.length));
        expect(bcd.decode(buf, 0, s.length, padding)).toBe(s);
      }),
    );
  });
});

describe('Track', () => {
  it('codes the separator as nibble D', () => {
    const buf = Buffer.alloc(8);
    const end = track.encode('1234=56', buf, 0, 'right');
    expect(toHex(buf.subarray(0, end))).toBe('1234D560');
    expect(track.decode(buf, 0, 7, 'right')).toBe('1234=56');
  });
  it('round-trips digits and separators', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9=]{0,37}$/), fc.constantFrom('left' as const, 'right' as const), (s, p) => {
        const buf = Buffer.alloc(20);
        track.encode(s, buf, 0, p);
        expect(track.decode(buf, 0, s.length, p)).toBe(s);
      }),
    );
  });
});

describe('ASCII', () => {
  it('round-trips latin1 text', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 50 }),
        (s) => {
          const buf = Buffer.alloc(50);
          ascii.encode(s, buf, 0, 'left');
          expect(ascii.decode(buf, 0, s.length, 'left')).toBe(s);
        },
      ),
    );
  });
  it('refuses characters above 0xFF', () => {
    expect(() => ascii.encode('€', Buffer.alloc(2), 0, 'left')).toThrow(FixpayError);
  });
});

describe('length prefixes', () => {
  it('writes the reference forms', () => {
    const hex = (name: keyof typeof prefixes, n: number): string => {
      const p = prefixes[name];
      const buf = Buffer.alloc(4);
      return toHex(buf.subarray(0, p.write(n, buf, 0)));
    };
    expect(hex('BCD.LL', 19)).toBe('19');
    expect(hex('BCD.LLL', 255)).toBe('0255');
    expect(hex('ASCII.LL', 7)).toBe('3037');
    expect(hex('ASCII.LLL', 123)).toBe('313233');
    expect(hex('Binary.LL', 200)).toBe('C8');
    expect(hex('Binary.LLL', 300)).toBe('012C');
  });
  it.each(Object.keys(prefixes).filter((k) => k !== 'Fixed') as (keyof typeof prefixes)[])(
    '%s round-trips every length it can express',
    (name) => {
      const p = prefixes[name];
      fc.assert(
        fc.property(fc.integer({ min: 0, max: p.lengthMax }), (n) => {
          const buf = Buffer.alloc(4);
          expect(p.write(n, buf, 0)).toBe(p.bytes);
          expect(p.read(buf, 0)).toBe(n);
        }),
      );
    },
  );
  it('rejects a BCD or ASCII prefix that is not a number', () => {
    expect(() => prefixes['BCD.LL'].read(fromHex('1A'), 0)).toThrow(/not BCD/);
    expect(() => prefixes['ASCII.LL'].read(Buffer.from('1x'), 0)).toThrow(/not ASCII digits/);
  });
});

describe('BER-TLV', () => {
  it('decodes EMV-style tags and long-form lengths', () => {
    const items = decodeTlv(fromHex('9F2608AABBCCDDEEFF0011' + '8281' + '81' + '00'.repeat(0x81)));
    expect(items.map((i) => [i.tag, i.value.length])).toEqual([
      ['9F26', 8],
      ['82', 0x81],
    ]);
  });
  it('round-trips any list of items', () => {
    fc.assert(
      fc.property(fc.array(tlvItem, { maxLength: 8 }), (items) => {
        const back = decodeTlv(encodeTlv(items));
        expect(back.map((i) => [i.tag, toHex(i.value)])).toEqual(items.map((i) => [i.tag, toHex(i.value)]));
      }),
    );
  });
  it('reports truncation as malformed', () => {
    expect(() => decodeTlv(fromHex('9F2608AABB'))).toThrow(/truncated/);
    expect(() => decodeTlv(fromHex('9F'))).toThrow(/truncated/);
  });
});
