/**
 * The network MAC (docs/protocols/iso8583.md, "Message authentication"): which field, which
 * bytes, the verdicts on hostile answers, agreement between the gateway (HSM port) and the bank
 * simulator (clear key), and the documented test vectors, regenerated from this code with
 * UPDATE_PROTOCOL_VECTORS=1.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FixpayError } from '../../domain/errors';
import { SoftwareHsm } from '../../hsm/software/software-hsm';
import { SIM_ZAK_HEX } from '../../simulator/bank/accounts';
import { SimulatorMac } from '../../simulator/bank/mac';
import type { IsoMessage } from '../iso8583';
import { isoMessage, MessageCodec, networkSpec } from '../iso8583';
import type { MessageAuthenticator } from './mac';
import { hsmMessageAuthenticator, macFieldFor, NetworkMac } from './mac';
import type { MessageTransport, TransportHandlers } from './channel';
import { CardNetworkGateway } from './gateway';
import { InMemoryRequestJournal } from './journal';
import { Mux } from './mux';
import { InMemoryReversalQueue } from './reversal-queue';

const LMK = Buffer.alloc(32, 7);
const codec = new MessageCodec(networkSpec);
const hsm = new SoftwareHsm({ lmk: LMK });
const zak = hsm.importClearKey('ZAK', 'tdes2', SIM_ZAK_HEX);
const mac = new NetworkMac(codec, hsmMessageAuthenticator(hsm, zak.handle));
const bank = new SimulatorMac(Buffer.from(SIM_ZAK_HEX, 'hex'));

/** The vector messages: a purchase (primary bitmap only) and a sign-on (field 70: secondary bitmap). */
const PURCHASE = isoMessage('0200', {
  2: '6225880000000001',
  3: '000000',
  4: '000000001000',
  7: '1203104500',
  11: '000123',
  25: '00',
  32: '1234',
  33: '5678',
  41: 'TERM0001',
  42: 'MERCHANT0000001',
  49: '156',
});
const SIGN_ON = isoMessage('0800', { 7: '1203104500', 11: '000124', 33: '5678', 70: '001' });

function packed(msg: IsoMessage): Buffer {
  return Buffer.from(codec.pack(msg));
}

describe('network MAC', () => {
  it('goes in field 64 without a secondary bitmap and in field 128 with one', async () => {
    expect(macFieldFor(PURCHASE.fields)).toBe(64);
    expect(macFieldFor(SIGN_ON.fields)).toBe(128);
    const p = await mac.sign(PURCHASE);
    const s = await mac.sign(SIGN_ON);
    expect([p.fields.has(64), p.fields.has(128)]).toEqual([true, false]);
    expect([s.fields.has(64), s.fields.has(128)]).toEqual([false, true]);
  });

  it('covers the packed message from the MTI up to the MAC field: the same bytes on both sides', async () => {
    for (const msg of [PURCHASE, SIGN_ON]) {
      const signed = packed(await mac.sign(msg));
      expect(signed.equals(bank.pack(codec, msg))).toBe(true);
      expect(bank.verify(codec.unpack(signed), signed)).toBe(true);
      const fromBank = bank.pack(codec, msg);
      await expect(mac.check(codec.unpack(fromBank), fromBank)).resolves.toBe('ok');
    }
  });

  it('refuses answers with the MAC missing, wrong, misplaced or doubled, and any byte changed', async () => {
    const good = packed(await mac.sign(PURCHASE));
    await expect(mac.check(PURCHASE, packed(PURCHASE))).resolves.toBe('missing-mac');
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] = (bad[i] ?? 0) ^ 0x01;
      const decoded = codec.tryUnpack(bad);
      if (decoded.ok) await expect(mac.check(decoded.message, bad)).resolves.toBe('bad-mac');
    }
    // The right MAC moved to field 128 (a secondary bitmap with nothing else in it) is not accepted.
    const signed = await mac.sign(PURCHASE);
    const moved = new Map(signed.fields);
    moved.set(128, moved.get(64) ?? new Uint8Array(8));
    moved.delete(64);
    const movedBytes = packed({ mti: '0200', fields: moved });
    await expect(mac.check(codec.unpack(movedBytes), movedBytes)).resolves.toBe('bad-mac');
    const both = new Map(signed.fields);
    both.set(128, new Uint8Array(8));
    const bothBytes = packed({ mti: '0200', fields: both });
    await expect(mac.check(codec.unpack(bothBytes), bothBytes)).resolves.toBe('bad-mac');
  });

  it('an HSM that cannot check gives mac-unverified, never ok; one that cannot sign rejects', async () => {
    const broken: MessageAuthenticator = {
      generate: () => Promise.reject(new FixpayError('HSM_UNAVAILABLE')),
      verify: () => Promise.reject(new FixpayError('HSM_UNAVAILABLE')),
    };
    const m = new NetworkMac(codec, broken);
    const fromBank = bank.pack(codec, PURCHASE);
    await expect(m.check(codec.unpack(fromBank), fromBank)).resolves.toBe('mac-unverified');
    await expect(m.sign(PURCHASE)).rejects.toMatchObject({ codeName: 'HSM_UNAVAILABLE' });
  });

  it('the mux logs a rejected answer as bad-mac and keeps waiting for the genuine one', async () => {
    const mux = new Mux(() => undefined);
    const pending = mux.request(PURCHASE, 5_000);
    const answer = isoMessage('0210', { 11: '000123', 39: '00', 41: 'TERM0001' });
    mux.reject(answer, 'bad-mac');
    expect(mux.unmatched.map((u) => u.reason)).toEqual(['bad-mac']);
    expect(mux.inFlight).toBe(1);
    expect(mux.deliver(isoMessage('0210', { 11: '000123', 39: '51', 41: 'TERM0001' }))).toBe(true);
    await expect(pending).resolves.toMatchObject({ mti: '0210' });
  });

  it("the gateway answers the network's own 0800 with a MACed 0810 only when the 0800's MAC is good", async () => {
    const sent: IsoMessage[] = [];
    let handlers: TransportHandlers | undefined;
    const transport: MessageTransport = {
      connected: true,
      send: (m) => void sent.push(m),
      setHandlers: (h) => void (handlers = h),
      start: () => undefined,
      stop: () => Promise.resolve(),
    };
    const gateway = new CardNetworkGateway(
      { transport, mac, reversals: new InMemoryReversalQueue(), journal: new InMemoryRequestJournal() },
      { acquirerId: '1234', forwardingId: '5678', echoIntervalMs: 0, signOnOnConnect: false },
    );
    gateway.start();
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
    const unsigned = packed(SIGN_ON);
    handlers?.onMessage(codec.unpack(unsigned), {}, unsigned);
    const forged = Buffer.from(bank.pack(codec, SIGN_ON));
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 0x80;
    handlers?.onMessage(codec.unpack(forged), {}, forged);
    await settle();
    expect(sent).toEqual([]);
    const genuine = bank.pack(codec, SIGN_ON);
    handlers?.onMessage(codec.unpack(genuine), {}, genuine);
    await settle();
    expect(sent.map((m) => m.mti)).toEqual(['0810']);
    const answer = packed(sent[0]!);
    expect(bank.verify(codec.unpack(answer), answer)).toBe(true);
    await gateway.stop();
  });

  describe('documented vectors', () => {
    const DOC = join(__dirname, '..', '..', 'docs', 'protocols', 'iso8583.md');
    const BEGIN = '<!-- mac-vectors:begin -->';
    const END = '<!-- mac-vectors:end -->';

    function hexLines(bytes: Uint8Array): string {
      const hex = Buffer.from(bytes).toString('hex').toUpperCase();
      return (hex.match(/.{1,64}/g) ?? []).map((l) => `    ${l}`).join('\n');
    }

    async function render(): Promise<string> {
      const lines = [
        '```',
        `ZAK (test key, clear)   ${SIM_ZAK_HEX}   KCV ${zak.kcv}`,
        'algorithm               ANSI X9.19 = ISO/IEC 9797-1 MAC algorithm 3, padding method 1, IV 0',
      ];
      for (const [title, msg] of [
        ['0200 purchase, no secondary bitmap: MAC in field 64', PURCHASE],
        ['0800 sign-on, field 70 needs the secondary bitmap: MAC in field 128', SIGN_ON],
      ] as const) {
        const signed = packed(await mac.sign(msg));
        const input = signed.subarray(0, signed.length - 8);
        lines.push('', title, `  MAC input (${input.length} bytes, hex):`, hexLines(input));
        lines.push(
          `  MAC: ${Buffer.from(signed.subarray(signed.length - 8))
            .toString('hex')
            .toUpperCase()}`,
        );
      }
      lines.push('```');
      return lines.join('\n');
    }

    it('are in docs/protocols/iso8583.md exactly (UPDATE_PROTOCOL_VECTORS=1 rewrites them)', async () => {
      const doc = readFileSync(DOC, 'utf8');
      const start = doc.indexOf(BEGIN);
      const end = doc.indexOf(END);
      expect(start).toBeGreaterThanOrEqual(0);
      expect(end).toBeGreaterThan(start);
      const expected = await render();
      const current = doc.slice(start + BEGIN.length, end).trim();
      if (current !== expected && process.env['UPDATE_PROTOCOL_VECTORS'] === '1') {
        writeFileSync(DOC, `${doc.slice(0, start + BEGIN.length)}\n${expected}\n${doc.slice(end)}`);
        return;
      }
      expect(current).toBe(expected);
    });
  });
});
