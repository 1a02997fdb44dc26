/**
 * The attack chains of issue #10 (defect 2) against the software HSM through its port
 * (__fixtures__/attack-chains.ts; the same chains run over the wire in
 * host-protocol/attacks.int.test.ts), the key ceremony's operator mode, and the audit lines.
 */
import { attackChains, refusal } from '../__fixtures__/attack-chains';
import { blockCipher } from '../crypto/block-cipher';
import { fromHex, toHex, xor } from '../crypto/bytes';
import { keyCheckValue } from '../crypto/mac';
import type { HsmAuditRecord } from '../audit';
import type { KeyHandle } from '../port';
import { SoftwareHsm } from './software-hsm';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');

attackChains('software HSM', () => {
  const soft = new SoftwareHsm({ lmk: LMK });
  return { hsm: soft, soft };
});

describe('key ceremony (operator mode)', () => {
  const soft = new SoftwareHsm({ lmk: LMK });
  const ceremony = soft.forCaller({ clientId: 'console', operatorMode: true });
  const kcv = (hex: string): string => toHex(keyCheckValue(blockCipher('tdes', fromHex(hex)))).slice(0, 6);

  it('forms a key from distinct components, never from one component twice (a known key)', async () => {
    const a = '1111111111111111' + '1111111111111111';
    const b = toHex(xor(fromHex(a), fromHex('0123456789ABCDEFFEDCBA9876543210')));
    const c1 = soft.importClearComponent('tdes2', a);
    const c2 = soft.importClearComponent('tdes2', b);
    const formed = await ceremony.formKeyFromComponents({
      type: 'ZMK',
      algorithm: 'tdes2',
      components: [c1.handle, c2.handle],
    });
    expect(formed.kcv).toBe(kcv('0123456789ABCDEFFEDCBA9876543210'));
    const twice = await refusal(
      ceremony.formKeyFromComponents({ type: 'ZMK', algorithm: 'tdes2', components: [c1.handle, c1.handle] }),
    );
    expect(twice).toBe('HSM_KEY_POLICY_REFUSED');
    const c1Again = soft.importClearComponent('tdes2', a);
    expect(
      await refusal(
        ceremony.formKeyFromComponents({ type: 'ZMK', algorithm: 'tdes2', components: [c1.handle, c1Again.handle] }),
      ),
    ).toBe('HSM_KEY_POLICY_REFUSED');
    const zmkHandle: KeyHandle = formed.handle;
    expect(
      await refusal(
        ceremony.formKeyFromComponents({ type: 'ZMK', algorithm: 'tdes2', components: [zmkHandle, c1.handle] }),
      ),
    ).toBe('HSM_KEY_USAGE_MISMATCH');
  });
});

describe('clear key entry (chosen-key planting)', () => {
  it('is the console only: a view made for a network client cannot enter a clear key or component', () => {
    const soft = new SoftwareHsm({ lmk: LMK });
    const client = soft.forCaller({ clientId: 'switch-1' });
    expect(() => client.importClearKey('TMK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210')).toThrow(
      expect.objectContaining({ codeName: 'HSM_OPERATOR_MODE_REQUIRED' }) as Error,
    );
    expect(() => client.importClearComponent('tdes2', '1111111111111111' + '1111111111111111')).toThrow(
      expect.objectContaining({ codeName: 'HSM_OPERATOR_MODE_REQUIRED' }) as Error,
    );
    const console = soft.forCaller({ clientId: 'console', operatorMode: true });
    expect(console.importClearKey('TMK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').kcv).toBe('08D7B4');
  });
});

describe('audit', () => {
  it('writes one line per key command, accepted or refused, with the caller and no key material', async () => {
    const lines: HsmAuditRecord[] = [];
    const soft = new SoftwareHsm({ lmk: LMK, audit: { info: (obj) => lines.push(obj as HsmAuditRecord) } });
    const clear = '0123456789ABCDEFFEDCBA9876543210';
    const tmk = soft.importClearKey('TMK', 'tdes2', clear);
    const client = soft.forCaller({ clientId: 'switch-1' });
    const tak = await client.generateKey({
      type: 'TAK',
      algorithm: 'des',
      exportUnder: { kek: tmk.handle, scheme: 'ecb' },
    });
    await client.exportKey({ key: tmk.handle, kek: tmk.handle, scheme: 'ecb' }).catch(() => undefined);
    await client.generateMac({ key: tak.handle, algorithm: 'iso9797-1-alg1', data: Buffer.alloc(8) });
    expect(lines.map((l) => [l.command, l.client, l.outcome, l.result])).toEqual([
      ['generate', 'switch-1', 'ok', undefined],
      ['export', 'switch-1', 'refused', 'HSM_KEY_POLICY_REFUSED'],
    ]);
    expect(lines[0]?.keys.map((k) => [k.role, k.type, k.kcv])).toEqual([
      ['kek', 'TMK', tmk.kcv],
      ['result', 'TAK', tak.kcv],
    ]);
    expect(lines[0]?.params).toEqual({ scheme: 'ecb' });
    const text = JSON.stringify(lines);
    expect(text).not.toContain(clear.slice(0, 16));
    expect(text).not.toContain(tmk.handle);
    expect(text).not.toContain(tak.exported ?? 'none');
  });
});
