/**
 * The PSAM emulator and the terminal secure element against the host's HSM: a PSAM MAC verifies
 * in the software HSM with replay protection, and sign-on field 62 loads on the terminal side.
 */
import { isFixpayError } from '../../domain/errors';
import { blockCipher } from '../../hsm/crypto/block-cipher';
import { fromHex, toHex } from '../../hsm/crypto/bytes';
import { pbocDiversify } from '../../hsm/crypto/pboc';
import { SoftwareHsm } from '../../hsm/software/software-hsm';
import { field62Length, InMemoryTerminalKeyStore, parseField62, TerminalKeyManager } from '../../hsm/terminal-keys';
import type { SignOnKeyLayout } from '../../hsm/terminal-keys';
import { PsamEmulator } from './psam';
import { KeyLoadError, TerminalSecureElement } from './terminal-secure-element';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const MK = '0123456789ABCDEFFEDCBA9876543210';

describe('PSAM emulator', () => {
  const hsm = new SoftwareHsm({ lmk: LMK });
  const mk = hsm.importClearKey('PBOC_MK', 'tdes2', MK);

  it('derives the payments.md §4 child key and session key D106C17403CA778A (S40, unpublished)', () => {
    expect(toHex(pbocDiversify(fromHex(MK), fromHex('1122334455667788')))).toBe('3EB3B72576BBBE831355AB0EE3123AE8');
    const psam = PsamEmulator.issue(MK, {
      serial: '1122334455667788',
      terminalNumber: '000000000001',
      random: () => fromHex('AABBCCDD'),
    });
    const tx = psam.beginTransaction();
    expect(tx.counter).toBe(1);
    const data = Buffer.from('Now is the time for all ');
    expect(toHex(tx.mac(data, 'iso9797-1-alg1'))).toBe(
      toHex(blockCipher('des', fromHex('D106C17403CA778A')).cbcEncrypt(data).subarray(16)),
    );
    expect(psam.readTerminalNumber()).toBe('000000000001');
  });

  it('one key per transaction: the host HSM verifies each MAC and refuses a replayed counter', async () => {
    const psam = PsamEmulator.issue(MK, { serial: '0102030405060708', terminalNumber: '123456789012' });
    let lastCounter = 0;
    const message = Buffer.from('0200 purchase 000000001000');
    for (let i = 0; i < 3; i++) {
      const tx = psam.beginTransaction();
      const mac = tx.mac(message);
      const request = {
        masterKey: mk.handle,
        factors: [psam.serial],
        random: tx.random,
        counter: tx.counter,
        algorithm: 'unionpay-ecb' as const,
        data: message,
        mac,
        lastCounter,
      };
      await hsm.verifyPsamMac(request);
      const response = Buffer.from('0210 00');
      const hostMac = await hsm.generatePsamMac({ ...request, data: response });
      expect(tx.verify(response, hostMac)).toBe(true);
      lastCounter = tx.counter;
      // The same message again, now that its counter has been accepted: a replay.
      const replay: unknown = await hsm.verifyPsamMac({ ...request, lastCounter }).catch((e: unknown) => e);
      expect(isFixpayError(replay, 'HSM_PSAM_COUNTER_REPLAYED')).toBe(true);
    }
    expect(psam.counter).toBe(3);
  });

  it('a PSAM of another master key fails with HSM_MAC_INVALID', async () => {
    const other = PsamEmulator.issue('FEDCBA98765432100123456789ABCDEF', {
      serial: '0102030405060708',
      terminalNumber: '123456789012',
    });
    const tx = other.beginTransaction();
    const data = Buffer.from('x');
    const e: unknown = await hsm
      .verifyPsamMac({
        masterKey: mk.handle,
        factors: [other.serial],
        random: tx.random,
        counter: tx.counter,
        algorithm: 'unionpay-ecb',
        data,
        mac: tx.mac(data),
      })
      .catch((err: unknown) => err);
    expect(isFixpayError(e, 'HSM_MAC_INVALID')).toBe(true);
  });
});

describe('terminal key management: sign-on field 62 (payments.md §2.4)', () => {
  const tmkClear = '0123456789ABCDEFFEDCBA9876543210';

  it.each(['001', '003', '004'] as const)(
    'layout %s: host generates, terminal loads and uses; host verifies',
    async (layout: SignOnKeyLayout) => {
      const hsm = new SoftwareHsm({ lmk: LMK });
      const store = new InMemoryTerminalKeyStore();
      const tmk = hsm.importClearKey('TMK', 'tdes2', tmkClear);
      await store.put({ terminalId: 'T0000001', tmk });
      const manager = new TerminalKeyManager({ hsm, store, layout, now: () => 0 });
      const { field62, keys } = await manager.signOn('T0000001');
      expect(field62).toHaveLength(field62Length(layout));
      expect([24, 40, 60]).toContain(field62.length);

      const terminal = new TerminalSecureElement(tmkClear);
      terminal.loadWorkingKeys(layout, field62);
      const message = Buffer.from('0200702406C020C0BA93');
      await hsm.verifyMac({
        key: keys.tak.handle,
        algorithm: 'unionpay-ecb',
        data: message,
        mac: terminal.mac(message),
      });
      const zpk = hsm.importClearKey('ZPK', 'tdes2', '89ABCDEF01234567FEDCBA9876543210');
      const pan = '4012345678909';
      const out = await hsm.translatePin({
        source: { key: keys.tpk.handle, format: 0 },
        target: { key: zpk.handle, format: 0 },
        pinBlock: terminal.encryptPin('1234', pan),
        pan,
      });
      expect(toHex(blockCipher('tdes', fromHex('89ABCDEF01234567FEDCBA9876543210')).decrypt(out))).toBe(
        '041274EDCBA9876F',
      );

      // Rotation: a second sign-on is version 2, version 1 is kept as previous.
      const second = await manager.signOn('T0000001');
      expect(second.keys.version).toBe(2);
      expect((await manager.keysFor('T0000001')).map((k) => k.version)).toEqual([2, 1]);
    },
  );

  it('a field 62 under another TMK is refused by its check values', async () => {
    const hsm = new SoftwareHsm({ lmk: LMK });
    const store = new InMemoryTerminalKeyStore();
    await store.put({ terminalId: 'T1', tmk: hsm.importClearKey('TMK', 'tdes2', tmkClear) });
    const { field62 } = await new TerminalKeyManager({ hsm, store }).signOn('T1');
    expect(parseField62('004', field62).tdk).toBeDefined();
    expect(() => new TerminalSecureElement('FEDCBA98765432100123456789ABCDEF').loadWorkingKeys('004', field62)).toThrow(
      KeyLoadError,
    );
  });

  it('injects a master key under a transport key as TR-31, importable by the key-loading side', async () => {
    const hsm = new SoftwareHsm({ lmk: LMK });
    const store = new InMemoryTerminalKeyStore();
    const transport = await hsm.generateKey({ type: 'ZMK', algorithm: 'tdes2' });
    const manager = new TerminalKeyManager({ hsm, store });
    const { tmk, exported } = await manager.injectMasterKey('T2', transport.handle);
    expect(exported.startsWith('B')).toBe(true);
    const back = await hsm.importKey({ kek: transport.handle, scheme: 'tr31', cryptogram: exported, type: 'TMK' });
    expect(back.kcv).toBe(tmk.kcv);
    expect((await store.get('T2'))?.tmk.kcv).toBe(tmk.kcv);
    const e: unknown = await manager.signOn('unknown').catch((err: unknown) => err);
    expect(isFixpayError(e, 'NOT_FOUND')).toBe(true);
  });
});
