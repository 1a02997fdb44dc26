import fc from 'fast-check';
import {
  ledgerIdToUuid,
  parseAni,
  parseLedgerId,
  parsePsamNo,
  parseStan,
  parseTerminalId,
  UINT128_MAX,
  uuidToLedgerId,
} from './ids';

describe('ids', () => {
  it('round-trips 128-bit ledger ids through UUID text', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: UINT128_MAX }), (id) => {
        expect(uuidToLedgerId(ledgerIdToUuid(id))).toBe(id);
      }),
    );
    expect(ledgerIdToUuid(1n)).toBe('00000000-0000-0000-0000-000000000001');
    expect(parseLedgerId((UINT128_MAX + 1n).toString()).ok).toBe(false);
  });

  it('keeps only the digits of a caller number', () => {
    const r = parseAni('+86 21-5000 0001');
    expect(r.ok && r.value).toBe('862150000001');
    expect(parseAni('anonymous').ok).toBe(false);
  });

  it('checks the ISO 8583 formats', () => {
    expect(parseStan('000123').ok).toBe(true);
    expect(parseStan('12345').ok).toBe(false);
    expect(parseTerminalId('T0000001').ok).toBe(true);
    expect(parseTerminalId('T-1').ok).toBe(false);
    const psam = parsePsamNo('a1b2c3d4e5f6');
    expect(psam.ok && psam.value).toBe('A1B2C3D4E5F6');
  });
});
