/**
 * The phone's reversal message (ADR 0012, docs/protocols/terminal-messages.md#reversal-0400--0410):
 * what the simulator builds from a kept purchase, what the host opens and routes, the host's 0410
 * (only 11, 39, 41, 42 and 64), and the pending record and owed reversal in the state file.
 */
import { MessageCodec, openEnvelope, terminalSpec, textField, subfieldsField } from '../../gateways/iso8583';
import { closeAnswer, openTerminalRequest as openHostRequest } from '../../terminal-protocol/messages';
import { REVERSAL_FIELDS, TERMINAL_ENVELOPE } from '../../terminal-protocol/spec';
import { parseTerminalState } from './config';
import {
  buildFinancialRequest,
  buildReversalRequest,
  MAC_BYTES,
  parseResponse,
  parseTrack2,
  reversalRecord,
} from './messages';
import type { MacSigner, TerminalIdentity } from './messages';
import { parseScript } from './script';

const identity: TerminalIdentity = {
  terminalId: 'T0000001',
  merchantId: '898100000000001',
  tpdu: { id: 0x60, destination: '0001', source: '0000' },
  applicationHeader: '603100000000',
  currency: '156',
  operatorCode: '001',
};
const signer = (counter: number): MacSigner => ({
  psam: { serial: 'A1B2C3D4E5F60001', terminalNumber: '000000000001', random: '0A0B0C0D', counter },
  mac: () => new Uint8Array(MAC_BYTES).fill(counter),
});
const track2 = parseTrack2('6225880000000001=30122011234567890');
const codec = new MessageCodec(terminalSpec);
const unpack = (payload: Uint8Array) => codec.unpack(openEnvelope(Buffer.from(payload), TERMINAL_ENVELOPE).body);

describe('the phone’s reversal (0400 / 0401)', () => {
  const purchase = buildFinancialRequest(
    identity,
    { kind: 'purchase', stan: 4711, amountMinor: 1250, track2, pinBlock: new Uint8Array(8).fill(7), batch: '000003' },
    signer(20),
  );

  it('copies the original’s fields, carries the reason and the original data, and no PIN block or track 2', () => {
    const r = buildReversalRequest(
      identity,
      purchase.payload,
      { reason: 'A0', repeat: false, originalDate: '1203' },
      signer(21),
    );
    expect(r).toMatchObject({ mti: '0400', stan: '004711' });
    const msg = unpack(r.payload);
    const orig = unpack(purchase.payload);
    for (const f of REVERSAL_FIELDS.copied) expect(msg.fields.get(f)).toEqual(orig.fields.get(f));
    expect(textField(msg, 39)).toBe('A0');
    expect(subfieldsField(msg, 60)).toMatchObject({ '1': '22', '2': '000003' });
    expect(subfieldsField(msg, 61)).toMatchObject({ '1': '000003', '2': '004711', '3': '1203' });
    expect(msg.fields.has(35)).toBe(false);
    expect(msg.fields.has(52)).toBe(false);
    const expected = new Set<number>([...REVERSAL_FIELDS.copied, ...REVERSAL_FIELDS.own]);
    expect([...msg.fields.keys()].filter((k) => !expected.has(k))).toEqual([]);
  });

  it('is opened by the host, routed to the reversal service under the original STAN and a new PSAM session', () => {
    const r = buildReversalRequest(
      identity,
      purchase.payload,
      { reason: '98', repeat: true, originalDate: '1203' },
      signer(22),
    );
    expect(r.mti).toBe('0401');
    const opened = openHostRequest(r.payload);
    expect(opened.summary).toMatchObject({ serviceId: 'reversal', mti: '0401', stan: '004711', psamCounter: 22 });
    expect(opened.track2).toBeNull();
    expect(opened.pinBlock).toBeNull();
  });

  it('the host answers 0410 with 11, 39, 41, 42 and 64 only, which the phone accepts for a 0400 and a 0401', async () => {
    for (const repeat of [false, true]) {
      const r = buildReversalRequest(
        identity,
        purchase.payload,
        { reason: '98', repeat, originalDate: '1203' },
        signer(23),
      );
      const answer = await closeAnswer(openHostRequest(r.payload), { responseCode: '25', amountMinor: 1250 }, () =>
        Promise.resolve(new Uint8Array(MAC_BYTES).fill(1)),
      );
      const msg = unpack(answer);
      expect(msg.mti).toBe('0410');
      expect([...msg.fields.keys()].sort((a, b) => a - b)).toEqual([...REVERSAL_FIELDS.answer]);
      expect(parseResponse(answer, r, identity)).toMatchObject({ mti: '0410', stan: '004711', responseCode: '25' });
    }
  });

  it('the kept record holds what the reversal copies, never track 2 or the PIN block, and builds the same 0400', () => {
    const record = reversalRecord(purchase.payload);
    const kept = unpack(record);
    expect(kept.fields.has(35)).toBe(false);
    expect(kept.fields.has(52)).toBe(false);
    expect(kept.fields.has(64)).toBe(false);
    // Track 2 is BCD: its digits would show as they are in the hex of the record.
    expect(purchase.payload.toString('hex')).toContain('30122011234567890');
    expect(record.toString('hex')).not.toContain('30122011234567890');
    const req = { reason: '98', repeat: false, originalDate: '1203' } as const;
    expect(buildReversalRequest(identity, record, req, signer(30)).payload).toEqual(
      buildReversalRequest(identity, purchase.payload, req, signer(30)).payload,
    );
  });

  it('refuses a kept request that does not unpack', () => {
    expect(() =>
      buildReversalRequest(
        identity,
        Buffer.from('00'),
        { reason: '98', repeat: false, originalDate: '1203' },
        signer(1),
      ),
    ).toThrow();
  });
});

describe('the pending record and the owed reversal in the state file', () => {
  const request = 'ab'.repeat(40);
  it('round-trip and are checked', () => {
    const state = parseTerminalState({
      stan: 5,
      batch: '000001',
      psamCounter: 9,
      pending: { stan: '000005', amountMinor: 100, request },
      owedReversal: { stan: '000004', amountMinor: 50, request, reason: 'A0', sent: true },
    });
    expect(state.pending).toEqual({ stan: '000005', amountMinor: 100, request });
    expect(state.owedReversal).toEqual({ stan: '000004', amountMinor: 50, request, reason: 'A0', sent: true });
    expect(() =>
      parseTerminalState({ stan: 1, owedReversal: { stan: '000001', amountMinor: 1, request, reason: '05' } }),
    ).toThrow(/reason/);
    expect(() => parseTerminalState({ stan: 1, pending: { stan: '1', amountMinor: 1, request } })).toThrow(/stan/);
    expect(() => parseTerminalState({ stan: 1, pending: { stan: '000001', amountMinor: 1, request: 'xyz' } })).toThrow(
      /request/,
    );
  });

  it('scripts take settle and drop steps', () => {
    expect(parseScript({ steps: ['settle', 'drop', { settle: null }] }).steps).toEqual([
      { step: 'settle' },
      { step: 'drop' },
      { step: 'settle' },
    ]);
  });
});
