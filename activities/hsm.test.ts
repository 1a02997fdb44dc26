/**
 * HSM and terminal-message activities against requests built by the terminal simulator (its PSAM
 * MAC is the UnionPay ECB MAC under the PBOC per-transaction key, payments.md §2.5 and §3.2) and
 * a software HSM: MAC accepted, forged MAC and replayed counter refused, a retry of the same call
 * accepted, PIN translated TPK → ZPK (checked by decrypting under the test ZPK), answers the
 * terminal parses. The summary never carries card data.
 */
import { blockCipher } from '../hsm/crypto/block-cipher';
import { fromHex } from '../hsm/crypto/bytes';
import { decodePinBlock, encodePinBlock } from '../hsm/crypto/pin-block';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { InMemoryTerminalKeyStore, parseField62, TerminalKeyManager } from '../hsm/terminal-keys';
import { EXAMPLE_CONFIG } from '../simulator/terminal/config';
import type { BuiltRequest, TerminalIdentity } from '../simulator/terminal/messages';
import { buildFinancialRequest, buildSignOnRequest, parseResponse, parseTrack2 } from '../simulator/terminal/messages';
import { createHsmActivities, InMemoryPsamCounterStore } from './hsm';
import { summarizeTerminalRequest } from '../terminal-protocol/messages';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const ZPK_HEX = '0123456789ABCDEFFEDCBA9876543210';
const TRACK2 = '6225880000000001=30122011234567890';
const PAN = '6225880000000001';

const identity: TerminalIdentity = {
  terminalId: 'T0000001',
  merchantId: EXAMPLE_CONFIG.merchantId,
  tpdu: { id: 0x60, destination: '0003', source: '0000' },
  applicationHeader: EXAMPLE_CONFIG.applicationHeader,
  currency: '156',
  operatorCode: '001',
};

async function setup() {
  const hsm = new SoftwareHsm({ lmk: LMK });
  const mk = hsm.importClearKey('PBOC_MK', 'tdes2', EXAMPLE_CONFIG.psam.masterKey).handle;
  const zpk = hsm.importClearKey('ZPK', 'tdes2', ZPK_HEX).handle;
  const store = new InMemoryTerminalKeyStore();
  await store.put({ terminalId: 'T0000001', tmk: hsm.importClearKey('TMK', 'tdes2', EXAMPLE_CONFIG.keys.tmk) });
  const terminalKeys = new TerminalKeyManager({ hsm, store, layout: '004' });
  const acts = createHsmActivities({
    hsm,
    psamMasterKey: (serial) => (serial === EXAMPLE_CONFIG.psam.serial ? mk : undefined),
    zpk,
    terminalKeys,
    counters: new InMemoryPsamCounterStore(),
  });
  /** The PSAM's MAC as the terminal computes it (same HSM, same master key). */
  const signer = (counter: number, random = '0A0B0C0D') => {
    const psam = { serial: EXAMPLE_CONFIG.psam.serial, terminalNumber: '000000000001', random, counter };
    let pending: Uint8Array | undefined;
    return {
      psam,
      mac: (d: Uint8Array): Uint8Array => {
        pending = d;
        return new Uint8Array(8); // replaced below: the simulator's signer is synchronous
      },
      async sign(req: BuiltRequest): Promise<Buffer> {
        const mac = await hsm.generatePsamMac({
          masterKey: mk,
          factors: [fromHex(psam.serial)],
          random: fromHex(random),
          counter,
          algorithm: 'unionpay-ecb',
          data: pending ?? new Uint8Array(0),
        });
        const out = Buffer.from(req.payload);
        out.set(mac, out.length - 8);
        return out;
      },
    };
  };
  return { hsm, acts, terminalKeys, signer };
}

async function signOnRequest(s: Awaited<ReturnType<typeof setup>>, counter: number) {
  const sg = s.signer(counter);
  const built = buildSignOnRequest(identity, { stan: counter, batch: '000001', layout: '004' }, sg);
  return { built, hex: (await sg.sign(built)).toString('hex') };
}

describe('HSM activities for terminal traffic', () => {
  it('accepts a good PSAM MAC, refuses a forged one and a replayed counter, accepts a retry of the same call', async () => {
    const s = await setup();
    const first = await signOnRequest(s, 10);
    expect(await s.acts.verifyTerminalMac({ request: first.hex, idempotencyKey: 'k1' })).toEqual({
      valid: true,
      reason: 'OK',
      psamCounter: 10,
    });
    expect((await s.acts.verifyTerminalMac({ request: first.hex, idempotencyKey: 'k1' })).valid).toBe(true);
    expect(await s.acts.verifyTerminalMac({ request: first.hex, idempotencyKey: 'k2' })).toMatchObject({
      valid: false,
      reason: 'HSM_PSAM_COUNTER_REPLAYED',
    });
    const next = await signOnRequest(s, 11);
    const forged = Buffer.from(next.hex, 'hex');
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0x01;
    expect(await s.acts.verifyTerminalMac({ request: forged.toString('hex'), idempotencyKey: 'k3' })).toMatchObject({
      valid: false,
      reason: 'HSM_MAC_INVALID',
    });
  });

  it('tells a counter that went backwards (a restored or cloned PSAM) from a replay of the last one', async () => {
    const s = await setup();
    const later = await signOnRequest(s, 50);
    expect((await s.acts.verifyTerminalMac({ request: later.hex, idempotencyKey: 'a' })).valid).toBe(true);
    const earlier = await signOnRequest(s, 40);
    expect(await s.acts.verifyTerminalMac({ request: earlier.hex, idempotencyKey: 'b' })).toEqual({
      valid: false,
      reason: 'PSAM_COUNTER_REWOUND',
      psamCounter: 40,
    });
    expect(await s.acts.verifyTerminalMac({ request: later.hex, idempotencyKey: 'c' })).toMatchObject({
      valid: false,
      reason: 'HSM_PSAM_COUNTER_REPLAYED',
    });
    const next = await signOnRequest(s, 51);
    expect((await s.acts.verifyTerminalMac({ request: next.hex, idempotencyKey: 'd' })).valid).toBe(true);
  });

  it('signs on, translates the PIN block TPK → ZPK, and answers with an 0810/0210 the terminal parses (its MAC check runs in the e2e tests)', async () => {
    const s = await setup();
    const signOn = await signOnRequest(s, 20);
    const { field62 } = await s.acts.signOnTerminal({ terminalId: 'T0000001' });
    const answer = await s.acts.answerTerminal({ request: signOn.hex, responseCode: '00', field62 });
    const parsed = parseResponse(Buffer.from(answer.response, 'hex'), signOn.built, identity);
    expect(parsed).toMatchObject({ mti: '0810', responseCode: '00' });
    expect(parsed.field62?.toString('hex').toUpperCase()).toBe(field62);
    // The terminal's TPK: field 62 decrypted under the TMK (the simulator's way).
    const tpk = blockCipher('tdes', fromHex(EXAMPLE_CONFIG.keys.tmk)).decrypt(
      parseField62('004', Buffer.from(field62, 'hex')).tpk.cryptogram,
    );
    const pinBlock = blockCipher('tdes', tpk).encrypt(encodePinBlock(0, '123456', PAN));
    const sg = s.signer(21);
    const built = buildFinancialRequest(
      identity,
      { kind: 'purchase', stan: 21, amountMinor: 1250, track2: parseTrack2(TRACK2), pinBlock, batch: '000001' },
      sg,
    );
    const hex = (await sg.sign(built)).toString('hex');
    expect((await s.acts.verifyTerminalMac({ request: hex, idempotencyKey: 'p' })).valid).toBe(true);
    const { pinBlock: underZpk } = await s.acts.translateTerminalPin({ request: hex, terminalId: 'T0000001' });
    const clear = blockCipher('tdes', fromHex(ZPK_HEX)).decrypt(fromHex(underZpk));
    expect(decodePinBlock(0, clear, PAN)).toBe('123456');

    const summary = summarizeTerminalRequest(Buffer.from(hex, 'hex'));
    expect(summary).toMatchObject({ serviceId: 'purchase', terminalId: 'T0000001', stan: '000021', amountMinor: 1250 });
    expect(JSON.stringify(summary)).not.toContain(PAN);
    expect(summary.maskedPan).toBe('622588******0001');

    const reply = await s.acts.answerTerminal({ request: hex, responseCode: '51' });
    expect(parseResponse(Buffer.from(reply.response, 'hex'), built, identity)).toMatchObject({
      mti: '0210',
      responseCode: '51',
    });
  });
});
