import type { ResultCodeName } from '../domain/errors';
import { checkBinding, type BindingCheckInput } from './binding';
import type { PhoneBinding, Psam, Terminal } from './model';

const terminal: Terminal = {
  id: 'T0000001',
  customerId: 'M0001',
  deviceProfileId: 'es201912-v23',
  state: 'in_service',
};
const binding: PhoneBinding = { terminalId: 'T0000001', psamNo: 'A1B2C3D4E5F60001', ani: '862150000001' };
const psam: Psam = { psamNo: 'A1B2C3D4E5F60001', status: 'active', keyHandle: 'psam-mk-1' };
const good: BindingCheckInput = { terminal, binding, psam, ani: '+86 21 5000 0001', psamNo: 'a1b2c3d4e5f60001' };

// One row per result the check can give, in the order it checks.
const CASES: readonly (readonly [ResultCodeName, Partial<BindingCheckInput>])[] = [
  ['OK', {}],
  ['TERMINAL_UNKNOWN', { terminal: undefined }],
  ['BINDING_ANI_MISSING', { ani: undefined }],
  ['BINDING_ANI_MISSING', { ani: 'anonymous' }],
  ['BINDING_NOT_FOUND', { binding: undefined }],
  ['BINDING_ANI_MISMATCH', { ani: '862150000002' }],
  ['BINDING_ANI_MISMATCH', { ani: '862150000002', aniBoundElsewhere: true }],
  ['BINDING_REBIND_PENDING', { ani: '862150000099', aniBoundElsewhere: false }],
  ['BINDING_PSAM_MISMATCH', { psamNo: 'A1B2C3D4E5F60002' }],
  ['BINDING_PSAM_MISMATCH', { psamNo: 'A1B2C3D4E5F60002', psamBoundTo: 'T0000001' }],
  ['BINDING_PSAM_ELSEWHERE', { psamNo: 'A1B2C3D4E5F60002', psamBoundTo: 'T0000002' }],
  ['PSAM_NOT_ACTIVE', { psam: { ...psam, status: 'blocked' } }],
  ['PSAM_NOT_ACTIVE', { psam: undefined }],
  ['TERMINAL_NOT_IN_SERVICE', { terminal: { ...terminal, state: 'suspended' } }],
  ['TERMINAL_NOT_IN_SERVICE', { terminal: { ...terminal, state: 'activated' } }],
  ['OK', { terminal: { ...terminal, state: 'activated' }, purpose: 'sign-on' }],
  ['TERMINAL_NOT_IN_SERVICE', { terminal: { ...terminal, state: 'suspended' }, purpose: 'sign-on' }],
  ['TERMINAL_NOT_IN_SERVICE', { terminal: { ...terminal, state: 'bound' }, purpose: 'sign-on' }],
  ['TERMINAL_NOT_IN_SERVICE', { terminal: { ...terminal, state: 'retired' }, purpose: 'sign-on' }],
];

describe('checkBinding', () => {
  it.each(CASES)('%s', (code, change) => {
    const r = checkBinding({ ...good, ...change });
    if (code === 'OK') expect(r).toEqual({ ok: true, value: binding });
    else expect(r).toMatchObject({ ok: false, code });
  });

  it('accepts a terminal that reports no PSAM number', () => {
    expect(checkBinding({ ...good, psamNo: undefined }).ok).toBe(true);
  });

  it('refuses a wrong line before it looks at anything else', () => {
    const r = checkBinding({
      ...good,
      ani: '862150000009',
      psamNo: 'FFFFFFFFFFFF',
      terminal: { ...terminal, state: 'retired' },
    });
    expect(r).toMatchObject({ ok: false, code: 'BINDING_ANI_MISMATCH' });
    // A free line is a pending move, still before the PSAM and state are looked at.
    expect(
      checkBinding({ ...good, ani: '862150000009', psamNo: 'FFFFFFFFFFFF', aniBoundElsewhere: false }),
    ).toMatchObject({ ok: false, code: 'BINDING_REBIND_PENDING' });
  });
});
