/**
 * The software HSM through its port, with the payments.md §4 vectors (sources named per test) and
 * the result codes for wrong keys, wrong MACs, wrong PINs and replayed PSAM counters.
 */
import { randomBytes } from 'node:crypto';
import { isFixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import { blockCipher } from '../crypto/block-cipher';
import { fromHex, toHex, withOddParity, xor } from '../crypto/bytes';
import { aesInitialKey, aesTransactionKey, aesWorkingKey } from '../crypto/dukpt';
import { gcmOpen } from '../crypto/data-sealing';
import { keyCheckValue } from '../crypto/mac';
import { decipherFormat4, decodePinBlock, encipherFormat4, encodePinBlock } from '../crypto/pin-block';
import type { KeyHandle } from '../port';
import { SoftwareHsm } from './software-hsm';

export const TEST_LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');

async function expectCode(promise: Promise<unknown>, name: ResultCodeName): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFixpayError(error, name) ? name : error).toBe(name);
}

const ascii = (s: string): Buffer => Buffer.from(s, 'ascii');
const kcvOf = (hex: string): string =>
  toHex(keyCheckValue(blockCipher(hex.length === 16 ? 'des' : 'tdes', fromHex(hex))));

describe('SoftwareHsm', () => {
  const hsm = new SoftwareHsm({ lmk: TEST_LMK });
  const tak = hsm.importClearKey('TAK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
  const zpkClear = '89ABCDEF01234567FEDCBA9876543210';
  const zpk = hsm.importClearKey('ZPK', 'tdes2', zpkClear);
  const tpkClear = '0123456789ABCDEFFEDCBA9876543210';
  const tpk = hsm.importClearKey('TPK', 'tdes2', tpkClear);

  it('keeps keys under the LMK: handles are key blocks, KCV 08D7B4 [payments.md §4, S46]', async () => {
    expect(tak.kcv).toBe('08D7B4');
    expect(tak.handle.startsWith('SD')).toBe(true);
    expect(tak.handle).not.toContain('0123456789ABCDEF');
    expect(await hsm.describeKey(tak.handle)).toEqual(tak);
    expect(hsm.describe()).toMatch(/software/);
    expect(hsm.describe()).not.toContain('0123456789ABCDEF');
  });

  it('refuses a handle from another LMK, a corrupted handle and a key used for the wrong purpose', async () => {
    const other = new SoftwareHsm({ lmk: randomBytes(32) });
    const data = ascii('Now is the time for all ');
    await expectCode(other.generateMac({ key: tak.handle, algorithm: 'x9.19', data }), 'HSM_KEY_INVALID');
    const corrupted = (tak.handle.slice(0, -1) + (tak.handle.endsWith('0') ? '1' : '0')) as KeyHandle;
    await expectCode(hsm.generateMac({ key: corrupted, algorithm: 'x9.19', data }), 'HSM_KEY_INVALID');
    await expectCode(hsm.generateMac({ key: tpk.handle, algorithm: 'x9.19', data }), 'HSM_KEY_USAGE_MISMATCH');
    // Relabelling a TPK as a TAK breaks the key block MAC.
    const relabelled = tpk.handle.replace('P0', 'M3') as KeyHandle;
    await expectCode(hsm.generateMac({ key: relabelled, algorithm: 'x9.19', data }), 'HSM_KEY_INVALID');
  });

  it('refuses a DES key without odd parity', () => {
    expect(() => hsm.importClearKey('TAK', 'tdes2', '0000000000000000FFFFFFFFFFFFFFFF')).toThrow('odd parity');
  });

  describe('MAC', () => {
    const data = ascii('Now is the time for all ');

    it('X9.19 → A1C72E74EA3FA9B6 [payments.md §4, S53] and verifies; a wrong MAC gives HSM_MAC_INVALID', async () => {
      const mac = await hsm.generateMac({ key: tak.handle, algorithm: 'x9.19', data });
      expect(toHex(mac)).toBe('A1C72E74EA3FA9B6');
      await hsm.verifyMac({ key: tak.handle, algorithm: 'x9.19', data, mac });
      await hsm.verifyMac({ key: tak.handle, algorithm: 'x9.19', data, mac: mac.subarray(0, 4) });
      await expectCode(
        hsm.verifyMac({ key: tak.handle, algorithm: 'x9.19', data, mac: fromHex('A1C72E74EA3FA9B7') }),
        'HSM_MAC_INVALID',
      );
      await expectCode(
        hsm.verifyMac({ key: tak.handle, algorithm: 'x9.19', data: ascii('Now is the time for alL '), mac }),
        'HSM_MAC_INVALID',
      );
    });

    it('ISO 9797-1 alg 1 with 3DES → 93462A6DB9B4A4D1 and padding 2 → E9086230CA3BE796 [payments.md §4]', async () => {
      expect(toHex(await hsm.generateMac({ key: tak.handle, algorithm: 'iso9797-1-alg1', data }))).toBe(
        '93462A6DB9B4A4D1',
      );
      expect(toHex(await hsm.generateMac({ key: tak.handle, algorithm: 'x9.19', data, padding: 2 }))).toBe(
        'E9086230CA3BE796',
      );
    });

    it('UnionPay ECB MAC with a single-DES MAK → 1E7AAB78 [payments.md §4 (unpublished), S32/S36]', async () => {
      const mak = hsm.importClearKey('TAK', 'des', '0123456789ABCDEF');
      const mac = await hsm.generateMac({ key: mak.handle, algorithm: 'unionpay-ecb', data });
      expect(mac.toString('ascii')).toBe('1E7AAB78');
      await hsm.verifyMac({ key: mak.handle, algorithm: 'unionpay-ecb', data, mac });
    });
  });

  describe('PIN translation', () => {
    const pan = '4012345678909';

    it('TPK → ZPK, format 0 → 0 and 0 → 3, and decodes under the ZPK', async () => {
      const block = blockCipher('tdes', fromHex(tpkClear)).encrypt(encodePinBlock(0, '1234', pan));
      const out = await hsm.translatePin({
        source: { key: tpk.handle, format: 0 },
        target: { key: zpk.handle, format: 0 },
        pinBlock: block,
        pan,
      });
      expect(toHex(blockCipher('tdes', fromHex(zpkClear)).decrypt(out))).toBe('041274EDCBA9876F');
      const out3 = await hsm.translatePin({
        source: { key: tpk.handle, format: 0 },
        target: { key: zpk.handle, format: 3 },
        pinBlock: block,
        pan,
      });
      expect(decodePinBlock(3, blockCipher('tdes', fromHex(zpkClear)).decrypt(out3), pan)).toBe('1234');
    });

    it('a block under another key gives HSM_PIN_BLOCK_INVALID; a TAK as PIN key HSM_KEY_USAGE_MISMATCH', async () => {
      const block = blockCipher('tdes', fromHex(zpkClear)).encrypt(encodePinBlock(0, '1234', pan));
      await expectCode(
        hsm.translatePin({
          source: { key: tpk.handle, format: 0 },
          target: { key: zpk.handle, format: 0 },
          pinBlock: block,
          pan,
        }),
        'HSM_PIN_BLOCK_INVALID',
      );
      await expectCode(
        hsm.translatePin({
          source: { key: tak.handle, format: 0 },
          target: { key: zpk.handle, format: 0 },
          pinBlock: block,
          pan,
        }),
        'HSM_KEY_USAGE_MISMATCH',
      );
      await expectCode(
        hsm.translatePin({
          source: { key: tpk.handle, format: 0 },
          target: { key: zpk.handle, format: 4 },
          pinBlock: blockCipher('tdes', fromHex(tpkClear)).encrypt(encodePinBlock(0, '1234', pan)),
          pan,
        }),
        'HSM_PIN_FORMAT_UNSUPPORTED',
      );
    });

    it('TDES DUKPT → ZPK: KSN …E00001, block 1B9C1845EB993A7A → PIN 1234 [payments.md §4, X9.24-1 A.4, S41]', async () => {
      const bdk = hsm.importClearKey('BDK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
      const out = await hsm.translateDukptPin({
        bdk: bdk.handle,
        ksn: fromHex('FFFF9876543210E00001'),
        pinBlock: fromHex('1B9C1845EB993A7A'),
        sourceFormat: 0,
        target: { key: zpk.handle, format: 0 },
        pan,
      });
      expect(toHex(blockCipher('tdes', fromHex(zpkClear)).decrypt(out))).toBe('041274EDCBA9876F');
      await hsm.verifyDukptMac({
        bdk: bdk.handle,
        ksn: fromHex('FFFF9876543210E00001'),
        direction: 'request',
        data: ascii('4012345678909D987'),
        mac: fromHex('9CCC7817'),
      });
      expect(
        toHex(
          await hsm.generateDukptMac({
            bdk: bdk.handle,
            ksn: fromHex('FFFF9876543210E00002'),
            direction: 'response',
            data: ascii('4012345678909D987'),
          }),
        ),
      ).toBe('D1FCA6BEF05D24D2');
      await expectCode(
        hsm.verifyDukptMac({
          bdk: bdk.handle,
          ksn: fromHex('FFFF9876543210E00001'),
          direction: 'request',
          data: ascii('4012345678909D988'),
          mac: fromHex('9CCC7817'),
        }),
        'HSM_MAC_INVALID',
      );
      await expectCode(
        hsm.translateDukptPin({
          bdk: bdk.handle,
          ksn: fromHex('FFFF9876543210E00000'),
          pinBlock: fromHex('1B9C1845EB993A7A'),
          sourceFormat: 0,
          target: { key: zpk.handle, format: 0 },
          pan,
        }),
        'HSM_KSN_INVALID',
      );
    });

    it('AES DUKPT → AES ZPK, format 4, PIN key from the X9.24-3 vector [payments.md §4, S41]', async () => {
      const bdkClear = 'FEDCBA9876543210F1F1F1F1F1F1F1F1';
      const bdk = hsm.importClearKey('BDK', 'aes128', bdkClear);
      const ksn = fromHex('123456789012345600000001');
      const pinKey = aesWorkingKey(
        aesTransactionKey(aesInitialKey(fromHex(bdkClear), ksn.subarray(0, 8)), ksn),
        ksn,
        'pinEncryption',
      );
      expect(toHex(pinKey)).toBe('AF8CB133A78F8DC2D1359F18527593FB');
      const block = encipherFormat4(blockCipher('aes', pinKey), '1234', '4111111111111111');
      const zpkAesClear = '00112233445566778899AABBCCDDEEFF';
      const zpkAes = hsm.importClearKey('ZPK', 'aes128', zpkAesClear);
      const out = await hsm.translateDukptPin({
        bdk: bdk.handle,
        ksn,
        pinBlock: block,
        sourceFormat: 4,
        target: { key: zpkAes.handle, format: 4 },
        pan: '4111111111111111',
      });
      expect(decipherFormat4(blockCipher('aes', fromHex(zpkAesClear)), out, '4111111111111111')).toBe('1234');
    });

    it('verifies a PIN against the reference under the LMK; a wrong PIN gives HSM_PIN_INVALID', async () => {
      const tpkCipher = blockCipher('tdes', fromHex(tpkClear));
      const reference = await hsm.encryptPinUnderLmk({
        source: { key: tpk.handle, format: 0 },
        pinBlock: tpkCipher.encrypt(encodePinBlock(0, '1234', pan)),
        pan,
      });
      expect(reference).toMatch(/^P[0-9A-F]{32}$/);
      await hsm.verifyPin({
        source: { key: tpk.handle, format: 3 },
        pinBlock: tpkCipher.encrypt(encodePinBlock(3, '1234', pan)),
        pan,
        reference,
      });
      await expectCode(
        hsm.verifyPin({
          source: { key: tpk.handle, format: 0 },
          pinBlock: tpkCipher.encrypt(encodePinBlock(0, '4321', pan)),
          pan,
          reference,
        }),
        'HSM_PIN_INVALID',
      );
    });
  });

  describe('PBOC / PSAM', () => {
    const masterKey = hsm.importClearKey('PBOC_MK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
    const session = {
      masterKey: masterKey.handle,
      factors: [fromHex('1122334455667788')],
      random: fromHex('AABBCCDD'),
      counter: 1,
    };

    it('session key D106C17403CA778A from MK, factor 1122334455667788, R AABBCCDD, counter 1 [payments.md §4 (unpublished), S40]', async () => {
      const key = await hsm.derivePsamSessionKey(session);
      expect(key.type).toBe('PSAM_SESSION');
      expect(key.kcv).toBe(kcvOf('D106C17403CA778A'));
      const data = ascii('Now is the time for all ');
      const viaHandle = await hsm.generateMac({ key: key.handle, algorithm: 'x9.19', data });
      expect(toHex(await hsm.generatePsamMac({ ...session, algorithm: 'x9.19', data }))).toBe(toHex(viaHandle));
      await expectCode(
        hsm.exportKey({ key: key.handle, kek: masterKey.handle, scheme: 'tr31' }),
        'HSM_KEY_NOT_EXPORTABLE',
      );
    });

    it('verifies the PSAM MAC; a replayed counter gives HSM_PSAM_COUNTER_REPLAYED, a bad MAC HSM_MAC_INVALID', async () => {
      const data = fromHex('0200702406C020C0BA93');
      const mac = await hsm.generatePsamMac({ ...session, counter: 7, algorithm: 'unionpay-ecb', data });
      await hsm.verifyPsamMac({ ...session, counter: 7, lastCounter: 6, algorithm: 'unionpay-ecb', data, mac });
      await expectCode(
        hsm.verifyPsamMac({ ...session, counter: 7, lastCounter: 7, algorithm: 'unionpay-ecb', data, mac }),
        'HSM_PSAM_COUNTER_REPLAYED',
      );
      await expectCode(
        hsm.verifyPsamMac({ ...session, counter: 8, lastCounter: 7, algorithm: 'unionpay-ecb', data, mac }),
        'HSM_MAC_INVALID',
      );
    });
  });

  describe('key exchange and ceremonies', () => {
    it('exports under a KBPK as TR-31 and imports back with the same check value; tampering is refused', async () => {
      const kbpk = await hsm.generateKey({ type: 'KBPK', algorithm: 'aes256' });
      const key = await hsm.generateKey({
        type: 'ZPK',
        algorithm: 'tdes2',
        exportUnder: { kek: kbpk.handle, scheme: 'tr31' },
      });
      expect(key.exported?.startsWith('D')).toBe(true);
      const imported = await hsm.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: key.exported ?? '' });
      expect(imported).toMatchObject({ type: 'ZPK', kcv: key.kcv });
      const tampered = (key.exported ?? '').replace('P0', 'M3');
      await expectCode(
        hsm.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: tampered }),
        'HSM_KEY_BLOCK_INVALID',
      );
      await expectCode(
        hsm.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: key.exported ?? '', expectedKcv: '000000' }),
        'HSM_KEY_CHECK_VALUE_MISMATCH',
      );
    });

    it('imports the TR-31:2018 A.7.3 block under its KBPK, parity-adjusted (DES ignores parity bits)', async () => {
      const kbpk = hsm.importClearKey(
        'KBPK',
        'tdes2',
        toHex(withOddParity(fromHex('DD7515F2BFC17F85CE48F3CA25CB21F6'))),
      );
      const block = 'B0080P0TE00E000094B420079CC80BA3461F86FE26EFC4A3B8E4FA4C5F5341176EED7B727B8A248E';
      const key = await hsm.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: block, type: 'TPK' });
      expect(key.kcv).toBe(kcvOf('3F419E1CB7079442AA37474C2EFBF8B8'));
    });

    it('exports working keys under a TMK in ECB for field 62 and refuses wrapping across roles', async () => {
      const tmkClear = '0123456789ABCDEFFEDCBA9876543210';
      const tmk = hsm.importClearKey('TMK', 'tdes2', tmkClear);
      const tpkNew = await hsm.generateKey({
        type: 'TPK',
        algorithm: 'tdes2',
        exportUnder: { kek: tmk.handle, scheme: 'ecb' },
      });
      const clear = blockCipher('tdes', fromHex(tmkClear)).decrypt(fromHex(tpkNew.exported ?? ''));
      expect(kcvOf(toHex(clear))).toBe(tpkNew.kcv);
      await expectCode(
        hsm.generateKey({ type: 'ZPK', algorithm: 'tdes2', exportUnder: { kek: tmk.handle, scheme: 'ecb' } }),
        'HSM_KEY_POLICY_REFUSED',
      );
      // ECB never comes back in: it binds neither the key's type nor its halves (key-policy.ts).
      await expectCode(
        hsm.importKey({
          kek: tmk.handle,
          scheme: 'ecb',
          cryptogram: tpkNew.exported ?? '',
          type: 'TPK',
          algorithm: 'tdes2',
          expectedKcv: tpkNew.kcv,
        }),
        'HSM_KEY_POLICY_REFUSED',
      );
    });

    it('forms a key from two components (split knowledge) and checks each component KCV', async () => {
      const a = '1111111111111111' + '1111111111111111';
      const b = toHex(xor(fromHex(a), fromHex('0123456789ABCDEFFEDCBA9876543210')));
      const c1 = hsm.importClearComponent('tdes2', a, kcvOf(a).slice(0, 4));
      const c2 = hsm.importClearComponent('tdes2', b);
      const ceremony = hsm.forCaller({ clientId: 'console', operatorMode: true });
      const key = await ceremony.formKeyFromComponents({
        type: 'ZMK',
        algorithm: 'tdes2',
        components: [c1.handle, c2.handle],
      });
      expect(key.kcv).toBe('08D7B4');
      expect(() => hsm.importClearComponent('tdes2', a, '000000')).toThrow('check value');
      await expectCode(
        ceremony.formKeyFromComponents({ type: 'ZMK', algorithm: 'tdes2', components: [c1.handle] }),
        'HSM_KEY_POLICY_REFUSED',
      );
    });
  });
});

describe('SoftwareHsm card issuance (CVV, PIN generation)', () => {
  const hsm = new SoftwareHsm({ lmk: TEST_LMK });
  const cvk = hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
  const printerClear = '1323456789ABCDEF0123456789ABCDEF';
  const printer = hsm.importClearKey('ZEK', 'tdes2', printerClear);
  const tpkClear = '0123456789ABCDEFFEDCBA9876543210';
  const tpk = hsm.importClearKey('TPK', 'tdes2', tpkClear);
  const pan = '4123456789012345';

  it('computes the CVV under the CVK pair (Visa vector: 561) and refuses other key types', async () => {
    await expect(
      hsm.generateCardVerificationValue({ cvk: cvk.handle, pan, expiry: '8701', serviceCode: '101' }),
    ).resolves.toBe('561');
    await expectCode(
      hsm.generateCardVerificationValue({ cvk: tpk.handle, pan, expiry: '8701', serviceCode: '101' }),
      'HSM_KEY_USAGE_MISMATCH',
    );
    await expectCode(
      hsm.generateCardVerificationValue({ cvk: cvk.handle, pan: '41234X', expiry: '8701', serviceCode: '101' }),
      'HSM_INPUT_INVALID',
    );
  });

  it('generates a PIN only the printer and the LMK can read; it verifies, a wrong PIN does not', async () => {
    const generated = await hsm.generatePin({ pan, length: 4, printerKey: printer.handle });
    const pin = decodePinBlock(1, blockCipher('tdes', fromHex(printerClear)).decrypt(fromHex(generated.mailer)));
    expect(pin).toMatch(/^\d{4}$/);
    expect(JSON.stringify(generated)).not.toMatch(new RegExp(`(^|[^0-9A-F])${pin}`));
    const tpkCipher = blockCipher('tdes', fromHex(tpkClear));
    const block = (p: string): Buffer => tpkCipher.encrypt(encodePinBlock(0, p, pan));
    await hsm.verifyPin({
      source: { key: tpk.handle, format: 0 },
      pinBlock: block(pin),
      pan,
      reference: generated.reference,
    });
    const wrong = pin === '0000' ? '1111' : '0000';
    await expectCode(
      hsm.verifyPin({
        source: { key: tpk.handle, format: 0 },
        pinBlock: block(wrong),
        pan,
        reference: generated.reference,
      }),
      'HSM_PIN_INVALID',
    );
    // The reference is bound to the account: another card's PIN check fails.
    await expectCode(
      hsm.verifyPin({
        source: { key: tpk.handle, format: 0 },
        pinBlock: tpkCipher.encrypt(encodePinBlock(0, pin, '4123456789012346')),
        pan: '4123456789012346',
        reference: generated.reference,
      }),
      'HSM_INPUT_INVALID',
    );
  });

  it('refuses a PIN length outside 4–12, a bad account and a printer key that is not a ZEK', async () => {
    await expectCode(hsm.generatePin({ pan, length: 3, printerKey: printer.handle }), 'HSM_INPUT_INVALID');
    await expectCode(hsm.generatePin({ pan, length: 13, printerKey: printer.handle }), 'HSM_INPUT_INVALID');
    await expectCode(hsm.generatePin({ pan: '12', printerKey: printer.handle }), 'HSM_INPUT_INVALID');
    await expectCode(hsm.generatePin({ pan, printerKey: tpk.handle }), 'HSM_KEY_USAGE_MISMATCH');
  });

  it('two PINs for the same card differ in their mailer blocks and references', async () => {
    const a = await hsm.generatePin({ pan, printerKey: printer.handle });
    const b = await hsm.generatePin({ pan, printerKey: printer.handle });
    expect(a.reference).not.toBe(b.reference);
  });
});

describe('SoftwareHsm data sealing under a bureau key and card numbers under the LMK', () => {
  const hsm = new SoftwareHsm({ lmk: TEST_LMK });
  const console = hsm.forCaller({ clientId: 'console', operatorMode: true });
  // GCM specification test case 16's key, as a bureau key: sealing is AES-256-GCM under it.
  const bureauClear = 'FEFFE9928665731C6D6A8F9467308308FEFFE9928665731C6D6A8F9467308308';
  const bureau = hsm.importClearKey('BUREAU', 'aes256', bureauClear);
  const printer = hsm.importClearKey('ZEK', 'tdes2', '1323456789ABCDEF0123456789ABCDEF');
  const zmk = hsm.importClearKey('ZMK', 'aes256', '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF');
  const pan = '4123456789012345';

  it('seals with a fresh IV under the bureau key; anyone holding the key opens it with AES-GCM', async () => {
    const data = ascii('{"pan":"4123456789012345","cvv":"561"}');
    const aad = ascii('card-1');
    const a = await hsm.sealData({ key: bureau.handle, data, aad });
    const b = await hsm.sealData({ key: bureau.handle, data, aad });
    expect(a.format).toBe('AES-GCM');
    expect(a.kcv).toBe(bureau.kcv);
    expect(a.iv).not.toBe(b.iv);
    expect(JSON.stringify(a)).not.toContain(pan);
    // The bureau's side: plain AES-256-GCM with its copy of the key (tag at the end of `data`).
    const raw = fromHex(a.data);
    expect(gcmOpen(fromHex(bureauClear), fromHex(a.iv), raw.subarray(0, -16), raw.subarray(-16), aad)).toEqual(data);
    await expect(console.openSealedData({ key: bureau.handle, sealed: a, aad })).resolves.toEqual(data);
  });

  it('opens only for the console in operator mode, with the right key, data and associated data', async () => {
    const sealed = await hsm.sealData({ key: bureau.handle, data: ascii('x'), aad: ascii('card-1') });
    await expectCode(
      hsm.openSealedData({ key: bureau.handle, sealed, aad: ascii('card-1') }),
      'HSM_OPERATOR_MODE_REQUIRED',
    );
    await expectCode(
      hsm.forCaller({ clientId: 'worker' }).openSealedData({ key: bureau.handle, sealed, aad: ascii('card-1') }),
      'HSM_OPERATOR_MODE_REQUIRED',
    );
    await expectCode(console.openSealedData({ key: bureau.handle, sealed, aad: ascii('card-2') }), 'HSM_INPUT_INVALID');
    const flipped = { ...sealed, data: `${sealed.data.slice(0, -1)}${sealed.data.endsWith('0') ? '1' : '0'}` };
    await expectCode(
      console.openSealedData({ key: bureau.handle, sealed: flipped, aad: ascii('card-1') }),
      'HSM_INPUT_INVALID',
    );
    const other = hsm.importClearKey('BUREAU', 'aes256', `${'11'.repeat(31)}22`);
    await expectCode(
      console.openSealedData({ key: other.handle, sealed, aad: ascii('card-1') }),
      'HSM_KEY_CHECK_VALUE_MISMATCH',
    );
    await expectCode(
      console.openSealedData({ key: bureau.handle, sealed: { ...sealed, iv: 'zz' }, aad: ascii('card-1') }),
      'HSM_INPUT_INVALID',
    );
  });

  it('seals only under a BUREAU key of AES, and not more than the limit', async () => {
    await expectCode(hsm.sealData({ key: printer.handle, data: ascii('x') }), 'HSM_KEY_USAGE_MISMATCH');
    await expectCode(hsm.sealData({ key: zmk.handle, data: ascii('x') }), 'HSM_KEY_USAGE_MISMATCH');
    const tdesBureau = hsm.importClearKey('BUREAU', 'tdes2', '1323456789ABCDEF0123456789ABCDEF');
    await expectCode(hsm.sealData({ key: tdesBureau.handle, data: ascii('x') }), 'HSM_KEY_USAGE_MISMATCH');
    await expectCode(hsm.sealData({ key: bureau.handle, data: new Uint8Array(16_385) }), 'HSM_INPUT_INVALID');
  });

  it('the bureau key leaves only wrapped under a ZMK (TR-31 D0) and comes back a BUREAU key', async () => {
    const generated = await hsm.generateKey({
      type: 'BUREAU',
      algorithm: 'aes256',
      exportUnder: { kek: zmk.handle, scheme: 'tr31' },
    });
    expect(generated.exported).toMatch(/^D\d{4}D0AB/);
    const exported = await hsm.exportKey({ key: bureau.handle, kek: zmk.handle, scheme: 'tr31' });
    expect(exported.cryptogram).not.toContain(bureauClear);
    const other = new SoftwareHsm({ lmk: randomBytes(32) });
    const zmkThere = other.importClearKey(
      'ZMK',
      'aes256',
      '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF',
    );
    const imported = await other.importKey({ kek: zmkThere.handle, scheme: 'tr31', cryptogram: exported.cryptogram });
    expect(imported.type).toBe('BUREAU');
    expect(imported.kcv).toBe(bureau.kcv);
    await expectCode(
      hsm.exportKey({ key: bureau.handle, kek: printer.handle, scheme: 'tr31' }),
      'HSM_KEY_USAGE_MISMATCH',
    );
    await expectCode(hsm.exportKey({ key: bureau.handle, kek: zmk.handle, scheme: 'ecb' }), 'HSM_KEY_POLICY_REFUSED');
  });

  it('keeps a card number under the LMK and generates its PIN from it without the clear number', async () => {
    const lmkPan = await hsm.encryptPanUnderLmk(pan);
    expect(lmkPan).toMatch(/^Q[0-9A-F]+$/);
    expect(lmkPan).not.toContain(pan);
    expect(await hsm.encryptPanUnderLmk(pan)).not.toBe(lmkPan);
    const fromStored = await hsm.generatePin({ lmkPan, printerKey: printer.handle });
    const tpkClear = '0123456789ABCDEFFEDCBA9876543210';
    const tpk = hsm.importClearKey('TPK', 'tdes2', tpkClear);
    const pin = decodePinBlock(
      1,
      blockCipher('tdes', fromHex('1323456789ABCDEF0123456789ABCDEF')).decrypt(fromHex(fromStored.mailer)),
    );
    // The reference is bound to the card's real number: a PIN block for that number verifies.
    await hsm.verifyPin({
      source: { key: tpk.handle, format: 0 },
      pinBlock: blockCipher('tdes', fromHex(tpkClear)).encrypt(encodePinBlock(0, pin, pan)),
      pan,
      reference: fromStored.reference,
    });
    await expectCode(hsm.encryptPanUnderLmk('41234X'), 'HSM_INPUT_INVALID');
    const elsewhere = await new SoftwareHsm({ lmk: randomBytes(32) }).encryptPanUnderLmk(pan);
    await expectCode(hsm.generatePin({ lmkPan: elsewhere, printerKey: printer.handle }), 'HSM_INPUT_INVALID');
    await expectCode(
      hsm.generatePin({ lmkPan: 'Qnope' as typeof lmkPan, printerKey: printer.handle }),
      'HSM_INPUT_INVALID',
    );
  });
});
