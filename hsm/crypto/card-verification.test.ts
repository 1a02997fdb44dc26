import { CardVerificationError, decimalise, visaCvv } from './card-verification';

const key = (hex: string): Buffer => Buffer.from(hex, 'hex');

describe('Visa CVV (published test vectors)', () => {
  it.each([
    // CVK A‖B, PAN, expiry, service code, value
    ['0123456789ABCDEFFEDCBA9876543210', '4123456789012345', '8701', '101', '561'],
    ['0123456789ABCDEFFEDCBA9876543210', '1234567890123456', '9912', '220', '170'],
    ['99999999999999998888888888888888', '2222222222222222', '3333', '111', '361'],
  ])('CVK %s, PAN %s, expiry %s, service code %s → %s', (cvk, pan, expiry, sc, expected) => {
    expect(visaCvv(key(cvk), pan, expiry, sc)).toBe(expected);
  });

  it('changes with the service code (CVV, CVV2 and iCVV differ)', () => {
    const cvk = key('0123456789ABCDEFFEDCBA9876543210');
    const values = ['101', '000', '999'].map((sc) => visaCvv(cvk, '4123456789012345', '8701', sc));
    expect(new Set(values).size).toBe(3);
  });

  it.each([
    ['a single-length key', '0123456789ABCDEF', '4123456789012345', '8701', '101'],
    ['a short PAN', '0123456789ABCDEFFEDCBA9876543210', '41234567890', '8701', '101'],
    ['a PAN with letters', '0123456789ABCDEFFEDCBA9876543210', '41234567890123A5', '8701', '101'],
    ['a 20-digit PAN', '0123456789ABCDEFFEDCBA9876543210', '41234567890123456789', '8701', '101'],
    ['a 3-digit expiry', '0123456789ABCDEFFEDCBA9876543210', '4123456789012345', '870', '101'],
    ['a service code with a letter', '0123456789ABCDEFFEDCBA9876543210', '4123456789012345', '8701', '1O1'],
  ])('refuses %s', (_what, cvk, pan, expiry, sc) => {
    expect(() => visaCvv(key(cvk), pan, expiry, sc)).toThrow(CardVerificationError);
  });

  it('decimalises digits first, then letters', () => {
    expect(decimalise('ABCDEF12', 3)).toBe('120');
    expect(decimalise('FFFFFFFF', 3)).toBe('555');
  });
});
