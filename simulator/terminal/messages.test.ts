/**
 * Terminal message building against the conventions and vectors of payments.md: TPDU + application
 * header framing (§2.1), field formats (§2.3), the UnionPay ECB MAC (§2.5, §4 vectors), the PBOC
 * PSAM session key (§3.2, §4 vectors) and ISO 9564 format 0 PIN blocks (§4 vectors, [S47]).
 */
import fc from 'fast-check';
import { isoMessage } from '../../gateways/iso8583';
import { blockCipher } from '../../hsm/crypto/block-cipher';
import { fromHex, toHex } from '../../hsm/crypto/bytes';
import { keyCheckValue, unionPayEcbMac } from '../../hsm/crypto/mac';
import { pbocDiversify, pbocSessionKey } from '../../hsm/crypto/pboc';
import { buildField62 } from '../../hsm/terminal-keys';
import { PsamEmulator } from '../psam/psam';
import { TerminalSecureElement } from '../psam/terminal-secure-element';
import { EXAMPLE_CONFIG, parseTerminalConfig, parseTerminalState } from './config';
import {
  buildFinancialRequest,
  buildSignOnRequest,
  closeAndSignResponse,
  decodePsamBlock,
  encodePsamBlock,
  formatBalance,
  macInput,
  openTerminalRequest,
  parseBalance,
  parseResponse,
  parseTrack2,
} from './messages';
import type { MacSigner, TerminalIdentity } from './messages';
import { parseAmount, parseScript } from './script';

const MK = '0123456789ABCDEFFEDCBA9876543210';
const SERIAL = '1122334455667788';
const TMK = '404142434445464748494A4B4C4D4E4F';
const TPK = '0123456789ABCDEFFEDCBA9876543210';
const TAK = '0123456789ABCDEF';

const identity: TerminalIdentity = {
  terminalId: '10000001',
  merchantId: '898100000000001',
  tpdu: { id: 0x60, destination: '0003', source: '0000' },
  applicationHeader: '603100000000',
  currency: '156',
  operatorCode: '001',
};

function psamSigner(random = 'AABBCCDD', counter = 0): { signer: MacSigner; psam: PsamEmulator } {
  const psam = PsamEmulator.issue(MK, {
    serial: SERIAL,
    terminalNumber: '000000000001',
    counter,
    random: () => fromHex(random),
  });
  const tx = psam.beginTransaction();
  return {
    psam,
    signer: {
      psam: { serial: SERIAL, terminalNumber: '000000000001', random: toHex(tx.random), counter: tx.counter },
      mac: (d) => tx.mac(d, 'unionpay-ecb'),
    },
  };
}

/** A secure element holding TPK/TAK, loaded the way a terminal does: field 62 under the TMK. */
function secureElement(): TerminalSecureElement {
  const tmk = blockCipher('tdes', fromHex(TMK));
  const field62 = buildField62('003', {
    tpk: { cryptogram: tmk.encrypt(fromHex(TPK)), checkValue: keyCheckValue(blockCipher('tdes', fromHex(TPK)), 4) },
    tak: {
      cryptogram: tmk.encrypt(fromHex(TAK + TAK)),
      checkValue: keyCheckValue(blockCipher('tdes', fromHex(TAK + TAK)), 4),
    },
  });
  const se = new TerminalSecureElement(TMK);
  se.loadWorkingKeys('003', field62);
  return se;
}

const track2 = parseTrack2('5432101234567891=30122011234567890');

describe('PIN block (field 52)', () => {
  it('is ISO 9564 format 0 under the TPK: PIN 1234, PAN 5432101234567891 → 041215FEDCBA9876 [S47]', () => {
    const block = secureElement().encryptPin('1234', track2.pan);
    expect(toHex(blockCipher('tdes', fromHex(TPK)).decrypt(block))).toBe('041215FEDCBA9876');
  });
});

describe('MAC (field 64) with the PSAM per-transaction key', () => {
  it('the algorithm matches the UnionPay ECB MAC vector (payments.md §4: 1E7AAB78)', () => {
    const mac = unionPayEcbMac(
      blockCipher('des', fromHex('0123456789ABCDEF')),
      Buffer.from('Now is the time for all '),
    );
    expect(mac.toString('latin1')).toBe('1E7AAB78');
  });

  it('field 64 = UnionPay ECB MAC over MTI..field 63 under SK = D106C17403CA778A (payments.md §4 PBOC vector)', () => {
    expect(toHex(pbocSessionKey(pbocDiversify(fromHex(MK), fromHex(SERIAL)), fromHex('AABBCCDD'), 1))).toBe(
      'D106C17403CA778A',
    );
    const { signer } = psamSigner('AABBCCDD', 0);
    const built = buildFinancialRequest(
      identity,
      { kind: 'purchase', stan: 42, amountMinor: 1250, track2, pinBlock: Buffer.alloc(8, 0x11), batch: '000001' },
      signer,
    );
    const session = blockCipher('des', fromHex('D106C17403CA778A'));
    const body = built.body;
    expect(body.subarray(body.length - 8).toString('latin1')).toBe(
      unionPayEcbMac(session, body.subarray(0, body.length - 8)).toString('latin1'),
    );
    expect(body.subarray(body.length - 8).toString('latin1')).toMatch(/^[0-9A-F]{8}$/);
    // The PSAM random and counter travel in 63.2 so the host can derive the same key.
    const opened = openTerminalRequest(built.payload);
    expect(opened.psam).toEqual({ serial: SERIAL, terminalNumber: '000000000001', random: 'AABBCCDD', counter: 1 });
  });
});

describe('framing (payments.md §2.1) and fields (§2.3)', () => {
  it('0200 purchase: TPDU 60 0003 0000, header 603100000000, BCD MTI, bitmap and field formats', () => {
    const { signer } = psamSigner();
    const pinBlock = secureElement().encryptPin('1234', track2.pan);
    const built = buildFinancialRequest(
      identity,
      { kind: 'purchase', stan: 123, amountMinor: 1250, track2, pinBlock, batch: '000001' },
      signer,
    );
    const p = built.payload;
    expect(toHex(p.subarray(0, 5))).toBe('6000030000');
    expect(toHex(p.subarray(5, 11))).toBe('603100000000');
    expect(toHex(p.subarray(11, 13))).toBe('0200');
    const bitmap = p.subarray(13, 21);
    const fields: number[] = [];
    for (let i = 1; i <= 64; i++) if (((bitmap[(i - 1) >> 3] ?? 0) & (0x80 >> ((i - 1) & 7))) !== 0) fields.push(i);
    expect(fields).toEqual([2, 3, 4, 11, 14, 22, 25, 26, 35, 41, 42, 49, 52, 53, 60, 63, 64]);
    // Field 2: BCD length 16, then the PAN in BCD.
    expect(toHex(p.subarray(21, 30))).toBe('165432101234567891');
    // Field 3 processing code 000000, field 4 amount n12 BCD in fen, field 11 STAN n6 BCD.
    expect(toHex(p.subarray(30, 33))).toBe('000000');
    expect(toHex(p.subarray(33, 39))).toBe('000000001250');
    expect(toHex(p.subarray(39, 42))).toBe('000123');
    const msg = openTerminalRequest(p).message;
    expect(msg.fields.get(35)).toBe('5432101234567891=30122011234567890');
    expect(msg.fields.get(22)).toBe('021');
    expect(msg.fields.get(49)).toBe('156');
    expect(msg.fields.get(60)).toEqual({ '1': '22', '2': '000001', '3': '000' });
    expect(toHex(msg.fields.get(52) as Uint8Array)).toBe(toHex(pinBlock));
    // Track 2 in BCD with '=' coded as D (§2.3).
    expect(toHex(p)).toContain('5432101234567891D3012201123456789');
  });

  it('0200 balance inquiry has processing code 310000, type 01 and no amount', () => {
    const { signer } = psamSigner();
    const built = buildFinancialRequest(
      identity,
      { kind: 'balance', stan: 7, track2, pinBlock: Buffer.alloc(8), batch: '000001' },
      signer,
    );
    const msg = openTerminalRequest(built.payload).message;
    expect(msg.mti).toBe('0200');
    expect(msg.fields.get(3)).toBe('310000');
    expect(msg.fields.has(4)).toBe(false);
    expect(msg.fields.get(60)).toEqual({ '1': '01', '2': '000001', '3': '000' });
  });

  it('0800 sign-on carries 60.3 (key layout), 63 and a MAC', () => {
    const { signer } = psamSigner();
    const built = buildSignOnRequest(identity, { stan: 1, batch: '000001', layout: '004' }, signer);
    const msg = openTerminalRequest(built.payload).message;
    expect(msg.mti).toBe('0800');
    expect([...msg.fields.keys()].sort((a, b) => a - b)).toEqual([11, 41, 42, 60, 63, 64]);
    expect(msg.fields.get(60)).toEqual({ '1': '00', '2': '000001', '3': '004' });
  });

  it('the same inputs give the same bytes (a repeated request is byte-identical)', () => {
    const build = (): Buffer =>
      buildFinancialRequest(
        identity,
        { kind: 'purchase', stan: 9, amountMinor: 500, track2, pinBlock: Buffer.alloc(8, 7), batch: '000001' },
        psamSigner('01020304', 5).signer,
      ).payload;
    expect(build().equals(build())).toBe(true);
  });
});

describe('responses', () => {
  function respond(fields: Record<number, string | Uint8Array>, mac: ((d: Uint8Array) => Uint8Array) | undefined) {
    const { signer, psam } = psamSigner('AABBCCDD', 0);
    const request = buildFinancialRequest(
      identity,
      { kind: 'balance', stan: 55, track2, pinBlock: Buffer.alloc(8), batch: '000001' },
      signer,
    );
    const msg = isoMessage('0210', { 11: '000055', 41: identity.terminalId, ...fields });
    const payload = closeAndSignResponse(msg, { id: 0x60, destination: '0000', source: '0003' }, '603100000000', mac);
    return { request, payload, psam };
  }

  it('parses 0210 with balance, auth code and a MAC the PSAM session verifies', () => {
    const session = blockCipher('des', fromHex('D106C17403CA778A'));
    const { request, payload } = respond(
      {
        39: '00',
        38: 'A1B2C3',
        37: '000000000001',
        54: formatBalance({ accountType: '10', amountType: '02', currency: '156', amountMinor: 123456 }),
      },
      (d) => unionPayEcbMac(session, d),
    );
    const r = parseResponse(payload, request, identity);
    expect(r.responseCode).toBe('00');
    expect(r.authorizationCode).toBe('A1B2C3');
    expect(r.balance?.amountMinor).toBe(123456);
    expect(r.macData).toBeDefined();
    expect(unionPayEcbMac(session, r.macData ?? new Uint8Array()).equals(Buffer.from(r.mac ?? []))).toBe(true);
    expect(Buffer.from(macInput(Buffer.concat([r.macData ?? Buffer.alloc(0), Buffer.alloc(8)])))).toEqual(
      Buffer.from(r.macData ?? []),
    );
  });

  it('refuses a response for another STAN or MTI', () => {
    const { request } = respond({ 39: '00' }, undefined);
    const other = closeAndSignResponse(
      isoMessage('0210', { 11: '000056', 39: '00' }),
      identity.tpdu,
      '603100000000',
      undefined,
    );
    expect(() => parseResponse(other, request, identity)).toThrow(/STAN/);
    const wrongMti = closeAndSignResponse(
      isoMessage('0810', { 11: '000055', 39: '00' }),
      identity.tpdu,
      '603100000000',
      undefined,
    );
    expect(() => parseResponse(wrongMti, request, identity)).toThrow(/MTI/);
  });

  it('field 54 balance: C/D sign and round trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: -999_999_999_999, max: 999_999_999_999 }), (amountMinor) => {
        const b = { accountType: '10', amountType: '02', currency: '156', amountMinor };
        expect(parseBalance(formatBalance(b))).toEqual(b);
      }),
    );
  });
});

describe('PSAM block (field 63.2)', () => {
  it('round-trips and fills 60 characters', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.uint8Array({ minLength: 6, maxLength: 6 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 0xffff }),
        (serial, terminalNumber, random, counter) => {
          const block = {
            serial: toHex(serial),
            terminalNumber: toHex(terminalNumber),
            random: toHex(random),
            counter,
          };
          const text = encodePsamBlock(block);
          expect(text).toHaveLength(60);
          expect(decodePsamBlock({ '1': '001', '2': text })).toEqual(block);
        },
      ),
    );
  });

  it('request round trip through the terminal spec for any STAN and amount', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 999_999 }),
        fc.integer({ min: 1, max: 999_999_999_999 }),
        (stan, amount) => {
          const built = buildFinancialRequest(
            identity,
            { kind: 'purchase', stan, amountMinor: amount, track2, pinBlock: Buffer.alloc(8), batch: '000001' },
            psamSigner().signer,
          );
          const msg = openTerminalRequest(built.payload).message;
          expect(Number(msg.fields.get(11))).toBe(stan);
          expect(Number(msg.fields.get(4))).toBe(amount);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('config, state and scripts', () => {
  it('parses the example config and refuses unknown keys without echoing values', () => {
    const c = parseTerminalConfig(EXAMPLE_CONFIG, '/tmp');
    expect(c.card.track2.pan).toBe('6225880000000000001');
    expect(c.statePath).toBe('/tmp/terminal-state.json');
    expect(() => parseTerminalConfig({ ...EXAMPLE_CONFIG, pan: '6225880000000000001' }, '/tmp')).toThrow(
      /unknown key pan/,
    );
    expect(() => parseTerminalConfig({ ...EXAMPLE_CONFIG, keys: { tmk: 'XYZ', signOnLayout: '004' } }, '/tmp')).toThrow(
      /FP7800|configuration/,
    );
    expect(parseTerminalState({ stan: 5, batch: '000002', psamCounter: 3 })).toEqual({
      stan: 5,
      batch: '000002',
      psamCounter: 3,
    });
  });

  it('parses script steps and amounts', () => {
    const s = parseScript({
      options: { snrDb: 15, callerNumber: '057188880000' },
      steps: [
        'sign-on',
        { purchase: 12.5 },
        { purchase: { amount: '0.01', pin: '1234', dropAfterSend: true } },
        'repeat',
        { balance: { pin: '1234' } },
        { wait: 100 },
        'hang-up',
      ],
    });
    expect(s.options).toEqual({ snrDb: 15, callerNumber: '057188880000' });
    expect(s.steps).toEqual([
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 1250 },
      { step: 'purchase', amountMinor: 1, pin: '1234', dropAfterSend: true },
      { step: 'repeat' },
      { step: 'balance', pin: '1234' },
      { step: 'wait', ms: 100 },
      { step: 'hang-up' },
    ]);
    expect(parseAmount({ minor: 99 }, 'x')).toBe(99);
    expect(() => parseAmount('1.234', 'x')).toThrow(/FP7801|script/);
    expect(() => parseScript({ steps: ['refund'] })).toThrow(/unknown step/);
  });
});
