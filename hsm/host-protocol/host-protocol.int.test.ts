/**
 * The network HSM over real TCP on 127.0.0.1 (port 0): every command the client and server
 * support round-trips, including the error replies, with payments.md §4 vectors where they apply.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { isFixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import { blockCipher } from '../crypto/block-cipher';
import { fromHex, toHex } from '../crypto/bytes';
import { decodePinBlock, encodePinBlock } from '../crypto/pin-block';
import { SoftwareHsm } from '../software/software-hsm';
import { NetworkHsm } from './client';
import { startHsmServer } from './server';
import type { RunningHsmServer } from './server';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const ascii = (s: string): Buffer => Buffer.from(s, 'ascii');
const CLIENT = { id: 'switch-1', secret: Buffer.alloc(32, 7) };

async function expectCode(promise: Promise<unknown>, name: ResultCodeName): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFixpayError(error, name) ? name : error).toBe(name);
}

describe('network HSM (payShield-style host commands over TCP)', () => {
  const soft = new SoftwareHsm({ lmk: LMK });
  let server: RunningHsmServer;
  let client: NetworkHsm;

  beforeAll(async () => {
    server = await startHsmServer({ hsm: soft, port: 0, clients: [CLIENT] });
    client = new NetworkHsm({ host: server.host, port: server.port, requestTimeoutMs: 2000, credentials: CLIENT });
  });

  afterAll(async () => {
    client.close();
    await server.close();
  });

  const tak = soft.importClearKey('TAK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
  const tpkClear = '0123456789ABCDEFFEDCBA9876543210';
  const tpk = soft.importClearKey('TPK', 'tdes2', tpkClear);
  const zpkClear = '89ABCDEF01234567FEDCBA9876543210';
  const zpk = soft.importClearKey('ZPK', 'tdes2', zpkClear);
  const pan = '4012345678909';

  it('NC diagnostics and B2 echo', async () => {
    expect(await client.diagnostics()).toEqual(await soft.diagnostics());
    expect(await client.echo('hello HSM')).toBe('hello HSM');
    expect(client.describe()).toContain('network');
  });

  it('A0 generate (with TR-31 and ECB export), BU check value, A8 export, A6 import, A4 components', async () => {
    const kbpk = await client.generateKey({ type: 'KBPK', algorithm: 'aes256' });
    expect(kbpk.kcv).toMatch(/^[0-9A-F]{6}$/);
    expect(await client.describeKey(kbpk.handle)).toEqual(await soft.describeKey(kbpk.handle));
    const zpkNew = await client.generateKey({
      type: 'ZPK',
      algorithm: 'tdes2',
      exportUnder: { kek: kbpk.handle, scheme: 'tr31' },
    });
    const imported = await client.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: zpkNew.exported ?? '' });
    expect(imported).toMatchObject({ type: 'ZPK', algorithm: 'tdes2', kcv: zpkNew.kcv });
    const again = await client.exportKey({ key: zpkNew.handle, kek: kbpk.handle, scheme: 'tr31' });
    expect(again.kcv).toBe(zpkNew.kcv);
    const tmk = await client.generateKey({ type: 'TMK', algorithm: 'tdes2' });
    const tak2 = await client.generateKey({
      type: 'TAK',
      algorithm: 'des',
      exportUnder: { kek: tmk.handle, scheme: 'ecb' },
    });
    expect(tak2.exported).toMatch(/^[0-9A-F]{16}$/);
    // ECB never comes back in (F8), and key formation is a console-only ceremony (FA).
    await expectCode(
      client.importKey({
        kek: tmk.handle,
        scheme: 'ecb',
        cryptogram: tak2.exported ?? '',
        type: 'TAK',
        algorithm: 'des',
      }),
      'HSM_KEY_POLICY_REFUSED',
    );
    const a = soft.importClearComponent('tdes2', '11111111111111111111111111111111');
    const b = soft.importClearComponent('tdes2', '1032547698BADCFEEFCDAB8967452301');
    await expectCode(
      client.formKeyFromComponents({ type: 'ZMK', algorithm: 'tdes2', components: [a.handle, b.handle] }),
      'HSM_OPERATOR_MODE_REQUIRED',
    );
  });

  it('error replies: wrong KEK role (04), tampered block (F2), bad check value (F3), not exportable (F6), foreign key (F1)', async () => {
    const tmk = await client.generateKey({ type: 'TMK', algorithm: 'tdes2' });
    await expectCode(
      client.generateKey({ type: 'ZPK', algorithm: 'tdes2', exportUnder: { kek: tmk.handle, scheme: 'ecb' } }),
      'HSM_KEY_POLICY_REFUSED',
    );
    const kbpk = await client.generateKey({ type: 'KBPK', algorithm: 'aes128' });
    const k = await client.generateKey({
      type: 'ZAK',
      algorithm: 'tdes2',
      exportUnder: { kek: kbpk.handle, scheme: 'tr31' },
    });
    const tampered = (k.exported ?? '').replace('M3', 'P0');
    await expectCode(
      client.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: tampered }),
      'HSM_KEY_BLOCK_INVALID',
    );
    await expectCode(
      client.importKey({ kek: kbpk.handle, scheme: 'tr31', cryptogram: k.exported ?? '', expectedKcv: 'ABCDEF' }),
      'HSM_KEY_CHECK_VALUE_MISMATCH',
    );
    const c = soft.importClearComponent('tdes2', '11111111111111111111111111111111');
    await expectCode(client.exportKey({ key: c.handle, kek: kbpk.handle, scheme: 'tr31' }), 'HSM_KEY_NOT_EXPORTABLE');
    const foreign = new SoftwareHsm({ lmk: fromHex('FF'.repeat(32)) }).importClearKey(
      'TAK',
      'tdes2',
      '0123456789ABCDEFFEDCBA9876543210',
    );
    await expectCode(
      client.generateMac({ key: foreign.handle, algorithm: 'x9.19', data: ascii('x') }),
      'HSM_KEY_INVALID',
    );
  });

  it('M6/M8 MAC: X9.19 A1C72E74EA3FA9B6 [payments.md §4, S53]; a wrong MAC answers 01 → HSM_MAC_INVALID', async () => {
    const data = ascii('Now is the time for all ');
    const mac = await client.generateMac({ key: tak.handle, algorithm: 'x9.19', data });
    expect(toHex(mac)).toBe('A1C72E74EA3FA9B6');
    await client.verifyMac({ key: tak.handle, algorithm: 'x9.19', data, mac });
    await expectCode(
      client.verifyMac({ key: tak.handle, algorithm: 'x9.19', data, mac: fromHex('0000000000000000') }),
      'HSM_MAC_INVALID',
    );
    for (const algorithm of ['iso9797-1-alg1', 'cmac', 'unionpay-ecb'] as const) {
      for (const padding of [1, 2, 3] as const) {
        const m = await client.generateMac({ key: tak.handle, algorithm, padding, data });
        expect(toHex(m)).toBe(toHex(await soft.generateMac({ key: tak.handle, algorithm, padding, data })));
      }
    }
    await expectCode(client.generateMac({ key: tpk.handle, algorithm: 'x9.19', data }), 'HSM_KEY_USAGE_MISMATCH');
  });

  it('CA/CC PIN translation, with error replies 20 (bad block) and 23 (format/key mismatch)', async () => {
    const block = blockCipher('tdes', fromHex(tpkClear)).encrypt(encodePinBlock(0, '1234', pan));
    const out = await client.translatePin({
      source: { key: tpk.handle, format: 0 },
      target: { key: zpk.handle, format: 3 },
      pinBlock: block,
      pan,
    });
    expect(decodePinBlock(3, blockCipher('tdes', fromHex(zpkClear)).decrypt(out), pan)).toBe('1234');
    const zz = await client.translatePin({
      source: { key: zpk.handle, format: 3 },
      target: { key: zpk.handle, format: 0 },
      pinBlock: out,
      pan,
    });
    expect(toHex(blockCipher('tdes', fromHex(zpkClear)).decrypt(zz))).toBe('041274EDCBA9876F');
    await expectCode(
      client.translatePin({
        source: { key: tpk.handle, format: 0 },
        target: { key: zpk.handle, format: 0 },
        pinBlock: zz,
        pan,
      }),
      'HSM_PIN_BLOCK_INVALID',
    );
    await expectCode(
      client.translatePin({
        source: { key: tpk.handle, format: 0 },
        target: { key: zpk.handle, format: 4 },
        pinBlock: block,
        pan,
      }),
      'HSM_PIN_FORMAT_UNSUPPORTED',
    );
  });

  it('G0 DUKPT PIN translation and GW DUKPT MAC: KSN …E00001 [payments.md §4, X9.24-1 A.4, S41]; replies F5 and 01', async () => {
    const bdk = soft.importClearKey('BDK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
    const ksn = fromHex('FFFF9876543210E00001');
    const out = await client.translateDukptPin({
      bdk: bdk.handle,
      ksn,
      pinBlock: fromHex('1B9C1845EB993A7A'),
      sourceFormat: 0,
      target: { key: zpk.handle, format: 0 },
      pan,
    });
    expect(toHex(blockCipher('tdes', fromHex(zpkClear)).decrypt(out))).toBe('041274EDCBA9876F');
    const data = ascii('4012345678909D987');
    expect(toHex(await client.generateDukptMac({ bdk: bdk.handle, ksn, direction: 'request', data }))).toBe(
      '9CCC78173FC4FB64',
    );
    await client.verifyDukptMac({
      bdk: bdk.handle,
      ksn,
      direction: 'response',
      data,
      mac: fromHex('20364223C1FF00FA'),
    });
    await expectCode(
      client.verifyDukptMac({ bdk: bdk.handle, ksn, direction: 'request', data, mac: fromHex('20364223') }),
      'HSM_MAC_INVALID',
    );
    await expectCode(
      client.translateDukptPin({
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

  it('JC/JE PIN under LMK and BC/BE verification; a wrong PIN answers 01 → HSM_PIN_INVALID', async () => {
    const tpkCipher = blockCipher('tdes', fromHex(tpkClear));
    const reference = await client.encryptPinUnderLmk({
      source: { key: tpk.handle, format: 0 },
      pinBlock: tpkCipher.encrypt(encodePinBlock(0, '1234', pan)),
      pan,
    });
    await client.verifyPin({
      source: { key: tpk.handle, format: 0 },
      pinBlock: tpkCipher.encrypt(encodePinBlock(0, '1234', pan)),
      pan,
      reference,
    });
    await expectCode(
      client.verifyPin({
        source: { key: tpk.handle, format: 0 },
        pinBlock: tpkCipher.encrypt(encodePinBlock(0, '9999', pan)),
        pan,
        reference,
      }),
      'HSM_PIN_INVALID',
    );
    const zpkCipher = blockCipher('tdes', fromHex(zpkClear));
    const viaZpk = await client.encryptPinUnderLmk({
      source: { key: zpk.handle, format: 0 },
      pinBlock: zpkCipher.encrypt(encodePinBlock(0, '1234', pan)),
      pan,
    });
    await client.verifyPin({
      source: { key: zpk.handle, format: 0 },
      pinBlock: zpkCipher.encrypt(encodePinBlock(0, '1234', pan)),
      pan,
      reference: viaZpk,
    });
  });

  it('CW card verification value (Visa vector 561) and JA PIN generation for a mailer; wrong keys refused', async () => {
    const cvk = soft.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
    await expect(
      client.generateCardVerificationValue({
        cvk: cvk.handle,
        pan: '4123456789012345',
        expiry: '8701',
        serviceCode: '101',
      }),
    ).resolves.toBe('561');
    await expectCode(
      client.generateCardVerificationValue({
        cvk: tak.handle,
        pan: '4123456789012345',
        expiry: '8701',
        serviceCode: '101',
      }),
      'HSM_KEY_USAGE_MISMATCH',
    );
    const printerClear = '0123456789ABCDEF0123456789ABCDEF'.replace(/^01/, '13');
    const printer = soft.importClearKey('ZEK', 'tdes2', printerClear);
    const pin = await client.generatePin({ pan: '4123456789012345', length: 6, printerKey: printer.handle });
    const clearPin = decodePinBlock(1, blockCipher('tdes', fromHex(printerClear)).decrypt(fromHex(pin.mailer)));
    expect(clearPin).toMatch(/^\d{6}$/);
    expect(pin.reference).not.toContain(clearPin);
    const tpkCipher = blockCipher('tdes', fromHex(tpkClear));
    await client.verifyPin({
      source: { key: tpk.handle, format: 0 },
      pinBlock: tpkCipher.encrypt(encodePinBlock(0, clearPin, '4123456789012345')),
      pan: '4123456789012345',
      reference: pin.reference,
    });
    await expectCode(client.generatePin({ pan: '4123456789012345', printerKey: tpk.handle }), 'HSM_KEY_USAGE_MISMATCH');
  });

  it('M0 seals under a bureau key, Y4 keeps a number under the LMK, JA takes it; opening is never remote', async () => {
    const bureau = soft.importClearKey(
      'BUREAU',
      'aes256',
      'FEFFE9928665731C6D6A8F9467308308FEFFE9928665731C6D6A8F9467308308',
    );
    const data = Buffer.from('{"pan":"4123456789012345"}');
    const sealed = await client.sealData({ key: bureau.handle, data, aad: Buffer.from('card-1') });
    expect(sealed.kcv).toBe(bureau.kcv);
    const console = soft.forCaller({ clientId: 'console', operatorMode: true });
    await expect(console.openSealedData({ key: bureau.handle, sealed, aad: Buffer.from('card-1') })).resolves.toEqual(
      data,
    );
    await expectCode(client.openSealedData({ key: bureau.handle, sealed }), 'HSM_OPERATOR_MODE_REQUIRED');
    await expectCode(client.sealData({ key: tak.handle, data }), 'HSM_KEY_USAGE_MISMATCH');
    const lmkPan = await client.encryptPanUnderLmk('4123456789012345');
    expect(lmkPan).not.toContain('4123456789012345');
    const printerClear = '1323456789ABCDEF0123456789ABCDEF';
    const printer = soft.importClearKey('ZEK', 'tdes2', printerClear);
    const pin = await client.generatePin({ lmkPan, length: 6, printerKey: printer.handle });
    const clearPin = decodePinBlock(1, blockCipher('tdes', fromHex(printerClear)).decrypt(fromHex(pin.mailer)));
    await client.verifyPin({
      source: { key: tpk.handle, format: 0 },
      pinBlock: blockCipher('tdes', fromHex(tpkClear)).encrypt(encodePinBlock(0, clearPin, '4123456789012345')),
      pan: '4123456789012345',
      reference: pin.reference,
    });
  });

  it('Y0/Y2 PBOC session key D106C17403CA778A and PSAM MAC [payments.md §4, S40]; replay answers F4', async () => {
    const mk = soft.importClearKey('PBOC_MK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
    const session = {
      masterKey: mk.handle,
      factors: [fromHex('1122334455667788')],
      random: fromHex('AABBCCDD'),
      counter: 1,
    };
    const sk = await client.derivePsamSessionKey(session);
    expect(sk.kcv).toBe(toHex(blockCipher('des', fromHex('D106C17403CA778A')).encrypt(Buffer.alloc(8)).subarray(0, 3)));
    const data = ascii('0200 purchase');
    const mac = await client.generatePsamMac({ ...session, algorithm: 'unionpay-ecb', data });
    await client.verifyPsamMac({ ...session, lastCounter: 0, algorithm: 'unionpay-ecb', data, mac });
    await expectCode(
      client.verifyPsamMac({ ...session, lastCounter: 1, algorithm: 'unionpay-ecb', data, mac }),
      'HSM_PSAM_COUNTER_REPLAYED',
    );
    await expectCode(
      client.verifyPsamMac({ ...session, counter: 2, lastCounter: 1, algorithm: 'unionpay-ecb', data, mac }),
      'HSM_MAC_INVALID',
    );
  });

  it('unknown command → ZZ/68 → HSM_COMMAND_UNSUPPORTED; malformed fields → HSM_PROTOCOL_ERROR; pipelined requests match by header', async () => {
    await expectCode(client.send('QQ', ''), 'HSM_COMMAND_UNSUPPORTED');
    await expectCode(client.send('M6', '3'), 'HSM_PROTOCOL_ERROR');
    const data = ascii('Now is the time for all ');
    const macs = await Promise.all(
      Array.from({ length: 50 }, () => client.generateMac({ key: tak.handle, algorithm: 'x9.19', data })),
    );
    expect(new Set(macs.map(toHex))).toEqual(new Set(['A1C72E74EA3FA9B6']));
  });

  it('a silent HSM gives HSM_TIMEOUT; a closed port HSM_UNAVAILABLE', async () => {
    const held: Socket[] = [];
    const silent: Server = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const slow = new NetworkHsm({ host: '127.0.0.1', port, requestTimeoutMs: 200, transport: 'plain' });
    await expectCode(slow.diagnostics(), 'HSM_TIMEOUT');
    slow.close();
    // Over TLS-PSK a silent peer never finishes the handshake: the connect timeout answers.
    const mute = new NetworkHsm({ host: '127.0.0.1', port, credentials: CLIENT, connectTimeoutMs: 300 });
    await expectCode(mute.diagnostics(), 'HSM_UNAVAILABLE');
    mute.close();
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
    const gone = new NetworkHsm({
      host: '127.0.0.1',
      port,
      requestTimeoutMs: 200,
      connectTimeoutMs: 500,
      credentials: CLIENT,
    });
    await expectCode(gone.diagnostics(), 'HSM_UNAVAILABLE');
    gone.close();
  });
});
