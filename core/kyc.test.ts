import { validateKyc } from './kyc';

const household = {
  legalName: 'Li Wei',
  idType: 'national-id',
  idNumber: '11010519491231002X',
  address: '1 Demo Road, Shanghai',
  contactPhone: '+862150000099',
};
const merchant = { ...household, idType: 'business-licence', registrationNo: '91310000-1', mcc: '5411' };

describe('validateKyc', () => {
  it('accepts the fields of each kind', () => {
    expect(validateKyc('household', household)).toEqual({ ok: true, value: household });
    expect(validateKyc('merchant', merchant)).toEqual({ ok: true, value: merchant });
  });

  it.each([
    ['not an object', 'x'],
    ['null', null],
    ['an array', []],
    ['a missing field', { ...household, address: undefined }],
    ['a number for a string', { ...household, idNumber: 12345 }],
    ['a control character', { ...household, legalName: 'Li\nWei' }],
    ['an unknown id type', { ...household, idType: 'library-card' }],
    ['an unknown field (a card number smuggled in)', { ...household, note: '6225880000000001' }],
    ['a too long name', { ...household, legalName: 'x'.repeat(129) }],
  ])('refuses %s', (_what, kyc) => {
    expect(validateKyc('household', kyc)).toMatchObject({ ok: false, code: 'KYC_INVALID' });
  });

  it('asks a merchant for its registration and category code', () => {
    expect(validateKyc('merchant', household)).toMatchObject({
      ok: false,
      code: 'KYC_INVALID',
      detail: /registrationNo/,
    });
    expect(validateKyc('merchant', { ...merchant, mcc: '54' })).toMatchObject({ ok: false, detail: /mcc/ });
    expect(validateKyc('household', merchant)).toMatchObject({ ok: false, detail: /unknown field/ });
  });
});
