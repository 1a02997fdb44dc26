/**
 * A small fake issuer for the terminal simulator's integration tests: the channel engine's
 * RequestHandler. It opens the request with the ISO 8583 terminal spec, verifies the PSAM MAC in
 * the software HSM (with replay protection), checks the PIN by translating it under a known ZPK,
 * and answers 0210/0810 MACed with the same PSAM session key. A repeated request (same bytes)
 * gets the stored answer, as the platform's update-with-start would.
 */
import type { RequestHandler } from '../../../channel-engine/engine';
import { bytesField, isoMessage, subfieldsField, textField } from '../../../gateways/iso8583';
import type { FieldValue } from '../../../gateways/iso8583';
import { blockCipher } from '../../../hsm/crypto/block-cipher';
import { fromHex } from '../../../hsm/crypto/bytes';
import { decodePinBlock } from '../../../hsm/crypto/pin-block';
import type { KeyHandle } from '../../../hsm/port';
import { SoftwareHsm } from '../../../hsm/software/software-hsm';
import { InMemoryTerminalKeyStore, TerminalKeyManager } from '../../../hsm/terminal-keys';
import { EXAMPLE_CONFIG } from '../config';
import {
  closeAndSignResponseAsync,
  field62Subfields,
  formatBalance,
  macInput,
  openTerminalRequest,
  parseTrack2,
} from '../messages';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const ZPK = '1C1C1C1C1C1C1C1C2A2A2A2A2A2A2A2A';

export class FakeIssuer {
  readonly hsm = new SoftwareHsm({ lmk: LMK });
  readonly mk = this.hsm.importClearKey('PBOC_MK', 'tdes2', EXAMPLE_CONFIG.psam.masterKey).handle;
  readonly zpk = this.hsm.importClearKey('ZPK', 'tdes2', ZPK).handle;
  readonly store = new InMemoryTerminalKeyStore();
  readonly keys = new TerminalKeyManager({ hsm: this.hsm, store: this.store, layout: '004' });
  tpk: KeyHandle | undefined;
  balance = 100_000;
  lastCounter = 0;
  readonly answered = new Map<string, Uint8Array>();
  readonly requests: Buffer[] = [];
  readonly callers: (string | undefined)[] = [];
  replays = 0;
  ready: Promise<void>;

  constructor() {
    const tmk = this.hsm.importClearKey('TMK', 'tdes2', EXAMPLE_CONFIG.keys.tmk);
    this.ready = this.store.put({ terminalId: EXAMPLE_CONFIG.terminalId, tmk });
  }

  readonly handler: RequestHandler = async (req) => {
    this.requests.push(Buffer.from(req.payload));
    this.callers.push(req.callerNumber);
    const key = Buffer.from(req.payload).toString('hex');
    const seen = this.answered.get(key);
    if (seen !== undefined) {
      this.replays++;
      return seen; // a repeated request attaches to the first answer
    }
    const opened = openTerminalRequest(req.payload);
    const msg = opened.message;
    const psam = opened.psam;
    const mac = bytesField(msg, 64);
    if (psam === undefined || mac === undefined) throw new Error('no PSAM block or MAC');
    const psamRequest = {
      masterKey: this.mk,
      factors: [fromHex(psam.serial)],
      random: fromHex(psam.random),
      counter: psam.counter,
      algorithm: 'unionpay-ecb' as const,
    };
    const reply = async (fields: Record<number, FieldValue>): Promise<Uint8Array> => {
      const out = isoMessage(msg.mti === '0800' ? '0810' : '0210', {
        11: textField(msg, 11) ?? '',
        41: textField(msg, 41) ?? '',
        ...fields,
      });
      const tpdu = opened.tpdu ?? { id: 0x60, destination: '0000', source: '0000' };
      const bytes = await closeAndSignResponseAsync(
        out,
        { id: tpdu.id, destination: tpdu.source, source: tpdu.destination },
        opened.applicationHeader ?? '603100000000',
        (data) => this.hsm.generatePsamMac({ ...psamRequest, data }),
      );
      this.answered.set(key, bytes);
      return bytes;
    };
    try {
      await this.hsm.verifyPsamMac({ ...psamRequest, data: macInput(opened.body), mac, lastCounter: this.lastCounter });
    } catch {
      return reply({ 39: 'A0' });
    }
    this.lastCounter = psam.counter;
    if (msg.mti === '0800') {
      const { field62, keys } = await this.keys.signOn(textField(msg, 41) ?? '');
      this.tpk = keys.tpk.handle;
      const f60 = subfieldsField(msg, 60);
      return reply({
        39: '00',
        60: { '1': '00', '2': '000002', '3': f60?.['3'] ?? '004' },
        62: field62Subfields(field62),
      });
    }
    const track2 = parseTrack2(textField(msg, 35) ?? '');
    const pinBlock = bytesField(msg, 52) ?? new Uint8Array(8);
    if (this.tpk === undefined) return reply({ 39: 'A0' });
    const underZpk = await this.hsm.translatePin({
      source: { key: this.tpk, format: 0 },
      target: { key: this.zpk, format: 0 },
      pinBlock,
      pan: track2.pan,
    });
    const pin = decodePinBlock(0, blockCipher('tdes', fromHex(ZPK)).decrypt(underZpk), track2.pan);
    if (pin !== EXAMPLE_CONFIG.card.pin) return reply({ 39: '55' });
    const bal = (minor: number): string =>
      formatBalance({ accountType: '10', amountType: '02', currency: '156', amountMinor: minor });
    if (textField(msg, 3) === '310000') return reply({ 39: '00', 37: '000000000001', 54: bal(this.balance) });
    const amount = Number(textField(msg, 4));
    if (amount > this.balance) return reply({ 39: '51' });
    this.balance -= amount;
    return reply({ 4: textField(msg, 4) ?? '', 37: '000000000002', 38: 'AB1234', 39: '00', 54: bal(this.balance) });
  };
}

