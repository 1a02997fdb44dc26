/**
 * The attack chains of issue #10 (defect 2), as a suite any HSM port runs: the software HSM in
 * software/key-policy-attacks.test.ts, the network client against `fixpay hsm serve` in
 * host-protocol/attacks.int.test.ts. Each chain is what an attacker holding only key handles could
 * try, and the test shows the step where the key-usage policy (key-policy.ts) stops it.
 */
import { isFixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import { blockCipher } from '../crypto/block-cipher';
import { fromHex, toHex } from '../crypto/bytes';
import type { HsmPort } from '../port';
import type { SoftwareHsm } from '../software/software-hsm';

/** The result code a promise rejects with, or `accepted`. */
export async function refusal(promise: Promise<unknown>): Promise<ResultCodeName | 'accepted' | 'thrown'> {
  return promise.then(
    () => 'accepted' as const,
    (e: unknown) => (isFixpayError(e) ? e.codeName : 'thrown'),
  );
}

/** Runs the chains against the port `setup` gives (`soft` is the engine, for console-only steps). */
export function attackChains(name: string, setup: () => { hsm: HsmPort; soft: SoftwareHsm }): void {
  describe(`key-usage policy against attack chains (${name})`, () => {
    const REFUSED: readonly string[] = [
      'HSM_KEY_POLICY_REFUSED',
      'HSM_KEY_USAGE_MISMATCH',
      'HSM_KEY_NOT_EXPORTABLE',
      'HSM_OPERATOR_MODE_REQUIRED',
    ];

    it('export-under-self: a TMK never leaves under itself, in any scheme', async () => {
      const { hsm } = setup();
      const tmk = await hsm.generateKey({ type: 'TMK', algorithm: 'tdes2' });
      for (const scheme of ['ecb', 'tr31'] as const) {
        expect(REFUSED).toContain(await refusal(hsm.exportKey({ key: tmk.handle, kek: tmk.handle, scheme })));
      }
      const zmk = await hsm.generateKey({ type: 'ZMK', algorithm: 'tdes2' });
      expect(REFUSED).toContain(await refusal(hsm.exportKey({ key: zmk.handle, kek: zmk.handle, scheme: 'tr31' })));
    });

    it('a key never leaves under a KEK holding the same value (another handle of itself)', async () => {
      const { hsm, soft } = setup();
      const clear = '0123456789ABCDEFFEDCBA9876543210';
      const asZmk = soft.importClearKey('ZMK', 'tdes2', clear);
      const asTmk = soft.importClearKey('TMK', 'tdes2', clear);
      expect(REFUSED).toContain(await refusal(hsm.exportKey({ key: asTmk.handle, kek: asZmk.handle, scheme: 'tr31' })));
    });

    it('ECB export of an existing key is refused (field 62 ECB only for a freshly generated working key)', async () => {
      const { hsm } = setup();
      const tmk = await hsm.generateKey({ type: 'TMK', algorithm: 'tdes2' });
      const tpk = await hsm.generateKey({ type: 'TPK', algorithm: 'tdes2' });
      expect(REFUSED).toContain(await refusal(hsm.exportKey({ key: tpk.handle, kek: tmk.handle, scheme: 'ecb' })));
      // The sign-on path keeps working: a new TPK/TAK/TDK under the TMK, ECB, with its check value.
      const fresh = await hsm.generateKey({
        type: 'TAK',
        algorithm: 'des',
        exportUnder: { kek: tmk.handle, scheme: 'ecb' },
      });
      expect(fresh.exported).toMatch(/^[0-9A-F]{16}$/);
      // …but never a KEK in ECB, nor a key under a weaker KEK.
      const zmk = await hsm.generateKey({ type: 'ZMK', algorithm: 'tdes2' });
      expect(REFUSED).toContain(
        await refusal(
          hsm.generateKey({ type: 'TMK', algorithm: 'tdes2', exportUnder: { kek: zmk.handle, scheme: 'ecb' } }),
        ),
      );
      const singleTmk = await hsm.generateKey({ type: 'TMK', algorithm: 'des' });
      expect(REFUSED).toContain(
        await refusal(
          hsm.generateKey({ type: 'TPK', algorithm: 'tdes2', exportUnder: { kek: singleTmk.handle, scheme: 'ecb' } }),
        ),
      );
    });

    it('type confusion: an ECB cryptogram never comes back in (not as a TAK, not as anything)', async () => {
      const { hsm } = setup();
      const tmk = await hsm.generateKey({ type: 'TMK', algorithm: 'tdes2' });
      const tpk = await hsm.generateKey({
        type: 'TPK',
        algorithm: 'tdes2',
        exportUnder: { kek: tmk.handle, scheme: 'ecb' },
      });
      for (const type of ['TAK', 'TPK', 'TMK'] as const) {
        expect(REFUSED).toContain(
          await refusal(
            hsm.importKey({ kek: tmk.handle, scheme: 'ecb', cryptogram: tpk.exported ?? '', type, algorithm: 'tdes2' }),
          ),
        );
      }
      // Half-swap (E(L)‖E(L)): the classic ECB attack on double-length keys, refused with the rest.
      const left = (tpk.exported ?? '').slice(0, 16);
      expect(REFUSED).toContain(
        await refusal(
          hsm.importKey({ kek: tmk.handle, scheme: 'ecb', cryptogram: left + left, type: 'TPK', algorithm: 'tdes2' }),
        ),
      );
    });

    it('type confusion: a TR-31 block keeps the type it was exported as (a TPK never imports as a ZPK)', async () => {
      const { hsm } = setup();
      const kbpk = await hsm.generateKey({ type: 'KBPK', algorithm: 'aes256' });
      const tpk = await hsm.generateKey({
        type: 'TPK',
        algorithm: 'tdes2',
        exportUnder: { kek: kbpk.handle, scheme: 'tr31' },
      });
      expect(
        await refusal(hsm.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: tpk.exported ?? '', type: 'ZPK' })),
      ).toBe('HSM_KEY_POLICY_REFUSED');
      const back = await hsm.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: tpk.exported ?? '' });
      expect(back).toMatchObject({ type: 'TPK', kcv: tpk.kcv });
      const tak = await hsm.generateKey({
        type: 'TAK',
        algorithm: 'tdes2',
        exportUnder: { kek: kbpk.handle, scheme: 'tr31' },
      });
      expect(
        await refusal(hsm.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: tak.exported ?? '', type: 'ZAK' })),
      ).toBe('HSM_KEY_POLICY_REFUSED');
    });

    it('encryption oracle: the issue #10 chain (TMK under itself → imported as a TAK → M6) breaks at its first step', async () => {
      const { hsm } = setup();
      const tmk = await hsm.generateKey({ type: 'TMK', algorithm: 'tdes2' });
      const exported = await hsm.exportKey({ key: tmk.handle, kek: tmk.handle, scheme: 'ecb' }).catch(() => undefined);
      expect(exported).toBeUndefined();
      // Even with a cryptogram of the TMK's value in hand (from a TMK-holding terminal, say), it
      // cannot become a MAC key: no ECB import, and no TR-31 import as another type.
      const oracleTak = await hsm
        .importKey({ kek: tmk.handle, scheme: 'ecb', cryptogram: '00'.repeat(16), type: 'TAK', algorithm: 'tdes2' })
        .catch(() => undefined);
      expect(oracleTak).toBeUndefined();
    });

    it('planting a chosen TMK: no key-encrypting key imports under a TMK, and a TMK never wraps a TMK', async () => {
      const { hsm, soft } = setup();
      const tmk = await hsm.generateKey({ type: 'TMK', algorithm: 'tdes2' });
      const chosen = '0123456789ABCDEFFEDCBA9876543210';
      const cryptogram = toHex(
        blockCipher('tdes', fromHex('1111111111111111' + '2222222222222222')).encrypt(fromHex(chosen)),
      );
      expect(REFUSED).toContain(
        await refusal(hsm.importKey({ kek: tmk.handle, scheme: 'ecb', cryptogram, type: 'TMK', algorithm: 'tdes2' })),
      );
      const kbpk = await hsm.generateKey({ type: 'KBPK', algorithm: 'aes256' });
      const otherTmk = await hsm.generateKey({
        type: 'TMK',
        algorithm: 'tdes2',
        exportUnder: { kek: kbpk.handle, scheme: 'tr31' },
      });
      const underTmk = await refusal(hsm.exportKey({ key: otherTmk.handle, kek: tmk.handle, scheme: 'tr31' }));
      expect(REFUSED).toContain(underTmk);
      // A known TMK loaded at the console cannot be used to take existing ZPKs out either: a TMK
      // wraps terminal working keys only.
      const known = soft.importClearKey('TMK', 'tdes2', chosen);
      const zpk = await hsm.generateKey({ type: 'ZPK', algorithm: 'tdes2' });
      expect(REFUSED).toContain(await refusal(hsm.exportKey({ key: zpk.handle, kek: known.handle, scheme: 'tr31' })));
    });

    it('key-component formation: refused through the port outside the operator (ceremony) mode', async () => {
      const { hsm, soft } = setup();
      const c1 = soft.importClearComponent('tdes2', '1111111111111111' + '1111111111111111');
      const c2 = soft.importClearComponent('tdes2', '2222222222222222' + '2222222222222222');
      expect(
        await refusal(
          hsm.formKeyFromComponents({ type: 'TMK', algorithm: 'tdes2', components: [c1.handle, c2.handle] }),
        ),
      ).toBe('HSM_OPERATOR_MODE_REQUIRED');
    });

    it('DUKPT/PSAM derivation misuse: derivation keys neither MAC, wrap, nor leave; session keys never leave', async () => {
      const { hsm } = setup();
      const bdk = await hsm.generateKey({ type: 'BDK', algorithm: 'tdes2' });
      const mk = await hsm.generateKey({ type: 'PBOC_MK', algorithm: 'tdes2' });
      const tmk = await hsm.generateKey({ type: 'TMK', algorithm: 'tdes2' });
      const data = Buffer.alloc(8);
      expect(REFUSED).toContain(await refusal(hsm.generateMac({ key: bdk.handle, algorithm: 'iso9797-1-alg1', data })));
      expect(REFUSED).toContain(await refusal(hsm.generateMac({ key: mk.handle, algorithm: 'iso9797-1-alg1', data })));
      expect(REFUSED).toContain(await refusal(hsm.exportKey({ key: bdk.handle, kek: tmk.handle, scheme: 'tr31' })));
      expect(REFUSED).toContain(await refusal(hsm.exportKey({ key: tmk.handle, kek: bdk.handle, scheme: 'tr31' })));
      // A TMK is not a PBOC master key: no diversification oracle under a KEK.
      const asMaster = { masterKey: tmk.handle, factors: [Buffer.alloc(8)], random: Buffer.alloc(4), counter: 1 };
      expect(REFUSED).toContain(await refusal(hsm.derivePsamSessionKey(asMaster)));
      const session = await hsm.derivePsamSessionKey({ ...asMaster, masterKey: mk.handle });
      const zmk = await hsm.generateKey({ type: 'ZMK', algorithm: 'tdes2' });
      expect(REFUSED).toContain(await refusal(hsm.exportKey({ key: session.handle, kek: zmk.handle, scheme: 'tr31' })));
      expect(REFUSED).toContain(
        await refusal(hsm.importKey({ kek: session.handle, scheme: 'tr31', cryptogram: 'D0000' })),
      );
      // The DUKPT base key is not a PIN key, nor a MAC key through DUKPT's own commands for a TMK.
      expect(REFUSED).toContain(
        await refusal(
          hsm.translatePin({
            source: { key: bdk.handle, format: 0 },
            target: { key: bdk.handle, format: 0 },
            pinBlock: Buffer.alloc(8),
            pan: '4012345678909',
          }),
        ),
      );
      expect(REFUSED).toContain(
        await refusal(hsm.generateDukptMac({ bdk: tmk.handle, ksn: Buffer.alloc(10), direction: 'request', data })),
      );
    });

    it('a zone MAC key and terminal key paths keep working under the rules (ZAK MAC, TAK/TPK import under TMK)', async () => {
      const { hsm } = setup();
      const zmk = await hsm.generateKey({ type: 'ZMK', algorithm: 'tdes2' });
      const zak = await hsm.generateKey({
        type: 'ZAK',
        algorithm: 'tdes2',
        exportUnder: { kek: zmk.handle, scheme: 'tr31' },
      });
      const zakBack = await hsm.importKey({ kek: zmk.handle, scheme: 'tr31', cryptogram: zak.exported ?? '' });
      expect(zakBack).toMatchObject({ type: 'ZAK', kcv: zak.kcv });
      const data = Buffer.from('0200 message');
      const mac = await hsm.generateMac({ key: zakBack.handle, algorithm: 'x9.19', data });
      await hsm.verifyMac({ key: zak.handle, algorithm: 'x9.19', data, mac });
      const tmk = await hsm.generateKey({ type: 'TMK', algorithm: 'tdes2' });
      for (const type of ['TAK', 'TPK'] as const) {
        const k = await hsm.generateKey({ type, algorithm: 'tdes2', exportUnder: { kek: tmk.handle, scheme: 'tr31' } });
        expect(
          await hsm.importKey({ kek: tmk.handle, scheme: 'tr31', cryptogram: k.exported ?? '', type }),
        ).toMatchObject({
          type,
          kcv: k.kcv,
        });
      }
    });
  });
}

