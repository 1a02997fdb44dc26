/**
 * The key-usage policy as a table: every KEK type × key type × scheme × operation, and every
 * algorithm pair, against the rules docs/security.md states.
 */
import { checkForm, checkUnwrap, checkWrap, ECB_GENERATE_WRAPS, KEY_STRENGTH_BITS, WRAPS } from './key-policy';
import { KEY_ALGORITHMS, KEY_TYPES } from './port';
import type { KeyAlgorithm, KeyType } from './port';

const attrs = (type: KeyType, algorithm: KeyAlgorithm = 'tdes2', exportable = true) => ({
  type,
  algorithm,
  exportable,
});

describe('key-usage policy tables', () => {
  it('no KEK wraps a session key or a component, and a TMK wraps only terminal working keys', () => {
    for (const kek of KEY_TYPES) {
      expect(WRAPS[kek]).not.toContain('PSAM_SESSION');
      expect(WRAPS[kek]).not.toContain('COMPONENT');
    }
    expect([...WRAPS.TMK].sort()).toEqual(['TAK', 'TDK', 'TPK']);
  });

  it('allows a wrap exactly when the table says so, ECB only for a generated key under a TMK', () => {
    for (const kek of KEY_TYPES) {
      for (const key of KEY_TYPES) {
        for (const scheme of ['tr31', 'ecb'] as const) {
          for (const operation of ['export', 'generate-export'] as const) {
            const verdict = checkWrap({ operation, key: attrs(key), kek: attrs(kek), scheme, sameValue: false });
            const tableAllows =
              WRAPS[kek].includes(key) &&
              (scheme === 'tr31' || (operation === 'generate-export' && (ECB_GENERATE_WRAPS[kek] ?? []).includes(key)));
            expect([kek, key, scheme, operation, verdict === undefined]).toEqual([
              kek,
              key,
              scheme,
              operation,
              tableAllows,
            ]);
          }
        }
      }
    }
  });

  it('never wraps a key under itself, a non-exportable key, or a key under a weaker one', () => {
    expect(
      checkWrap({ operation: 'export', key: attrs('ZMK'), kek: attrs('ZMK'), scheme: 'tr31', sameValue: true })?.code,
    ).toBe('HSM_KEY_POLICY_REFUSED');
    expect(
      checkWrap({
        operation: 'export',
        key: attrs('ZPK', 'tdes2', false),
        kek: attrs('ZMK'),
        scheme: 'tr31',
        sameValue: false,
      })?.code,
    ).toBe('HSM_KEY_NOT_EXPORTABLE');
    for (const k of KEY_ALGORITHMS) {
      for (const w of KEY_ALGORITHMS) {
        const verdict = checkWrap({
          operation: 'export',
          key: attrs('ZPK', k),
          kek: attrs('KBPK', w),
          scheme: 'tr31',
          sameValue: false,
        });
        expect([k, w, verdict === undefined]).toEqual([k, w, KEY_STRENGTH_BITS[k] <= KEY_STRENGTH_BITS[w]]);
      }
    }
  });

  it('import: ECB never; a bound type wins over the caller; a foreign block takes a type of its usage', () => {
    const base = {
      kek: attrs('KBPK'),
      algorithm: 'tdes2' as const,
      blockUsage: 'P0',
      typesForUsage: ['ZPK', 'TPK'] as KeyType[],
    };
    expect(checkUnwrap({ ...base, scheme: 'ecb' })).toMatchObject({ code: 'HSM_KEY_POLICY_REFUSED' });
    expect(checkUnwrap({ ...base, scheme: 'tr31', boundType: 'TPK', requestedType: 'ZPK' })).toMatchObject({
      code: 'HSM_KEY_POLICY_REFUSED',
    });
    expect(checkUnwrap({ ...base, scheme: 'tr31', boundType: 'TPK' })).toEqual({ type: 'TPK' });
    expect(checkUnwrap({ ...base, scheme: 'tr31' })).toEqual({ type: 'ZPK' });
    expect(checkUnwrap({ ...base, scheme: 'tr31', requestedType: 'TPK' })).toEqual({ type: 'TPK' });
    expect(checkUnwrap({ ...base, scheme: 'tr31', requestedType: 'TAK' })).toMatchObject({
      code: 'HSM_KEY_USAGE_MISMATCH',
    });
    expect(checkUnwrap({ ...base, kek: attrs('TMK'), scheme: 'tr31', boundType: 'ZPK' })).toMatchObject({
      code: 'HSM_KEY_POLICY_REFUSED',
    });
    expect(checkUnwrap({ ...base, kek: attrs('TAK'), scheme: 'tr31' })).toMatchObject({
      code: 'HSM_KEY_USAGE_MISMATCH',
    });
  });

  it('forms keys only in operator mode, from two or more distinct components', () => {
    const ok = { operatorMode: true, type: 'ZMK' as const, componentCount: 2, repeatedComponent: false };
    expect(checkForm(ok)).toBeUndefined();
    expect(checkForm({ ...ok, operatorMode: false })?.code).toBe('HSM_OPERATOR_MODE_REQUIRED');
    expect(checkForm({ ...ok, componentCount: 1 })?.code).toBe('HSM_KEY_POLICY_REFUSED');
    expect(checkForm({ ...ok, repeatedComponent: true })?.code).toBe('HSM_KEY_POLICY_REFUSED');
    expect(checkForm({ ...ok, type: 'PSAM_SESSION' })?.code).toBe('HSM_KEY_USAGE_MISMATCH');
  });
});
