import { CRC16_VARIANTS, computeCheck, crc16, sum8 } from './check';
import type { Crc16Variant } from './check';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('crc16 (check values from the reveng Catalogue of parametrised CRC algorithms, input "123456789")', () => {
  it.each(Object.entries(CRC16_VARIANTS))('%s', (_name, params) => {
    expect(crc16(params, ascii('123456789'))).toBe(params.check);
  });
});

describe('sum8 (ES 201 912 / EN 300 659: all bytes sum to 0 mod 256)', () => {
  it('makes the byte sum zero', () => {
    const bytes = Uint8Array.of(0x80, 0x10, 0x01, 0x08, 0x30, 0x31);
    const total = [...bytes, sum8(bytes)].reduce((a, b) => (a + b) & 0xff, 0);
    expect(total).toBe(0);
  });
  it('is 0 for no bytes', () => {
    expect(sum8(new Uint8Array(0))).toBe(0);
  });
});

describe('computeCheck byte order', () => {
  it('writes CRCs big- or little-endian', () => {
    const v: Crc16Variant = 'crc16-ccitt-false';
    expect([...computeCheck(v, ascii('123456789'), 'big')]).toEqual([0x29, 0xb1]);
    expect([...computeCheck(v, ascii('123456789'), 'little')]).toEqual([0xb1, 0x29]);
  });
});
