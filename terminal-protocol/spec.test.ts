/**
 * The terminal protocol has one description (terminal-protocol/spec.ts): what the terminal
 * simulator builds from it, the host module opens and routes to the service the spec names; the
 * host's answer the simulator parses; and nothing else routes.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { buildFinancialRequest, buildSignOnRequest, parseResponse, parseTrack2 } from '../simulator/terminal/messages';
import type { MacSigner, TerminalIdentity } from '../simulator/terminal/messages';
import { closeUnsignedDecline, openTerminalRequest } from './messages';
import { MAC_BYTES, serviceFor, TRANSACTION_CODES } from './spec';

const identity: TerminalIdentity = {
  terminalId: 'T0000001',
  merchantId: '898100000000001',
  tpdu: { id: 0x60, destination: '0001', source: '0000' },
  applicationHeader: '603100000000',
  currency: '156',
  operatorCode: '001',
};
const signer: MacSigner = {
  psam: { serial: 'A1B2C3D4E5F60001', terminalNumber: '000000000001', random: '01020304', counter: 7 },
  mac: () => randomBytes(MAC_BYTES),
};
const track2 = parseTrack2('6225880000000001=30122011234567890');

describe('the terminal protocol spec', () => {
  it('routes what the simulator builds to the service the spec names, and the simulator reads the host answer', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('purchase' as const, 'balance' as const, 'sign-on' as const),
        fc.integer({ min: 1, max: 999_999 }),
        (kind, stan) => {
          const built =
            kind === 'sign-on'
              ? buildSignOnRequest(identity, { stan, batch: '000001', layout: '004' }, signer)
              : buildFinancialRequest(
                  identity,
                  { kind, stan, amountMinor: 100, track2, pinBlock: new Uint8Array(8), batch: '000001' },
                  signer,
                );
          const opened = openTerminalRequest(built.payload);
          expect(opened.summary.serviceId).toBe(TRANSACTION_CODES[kind].serviceId);
          expect(opened.summary.stan).toBe(built.stan);
          expect(opened.mac.length).toBe(MAC_BYTES);
          const answer = parseResponse(closeUnsignedDecline(opened, '05'), built, identity);
          expect(answer.responseCode).toBe('05');
        },
      ),
      { numRuns: 30 },
    );
  });

  it('routes nothing else', () => {
    expect(serviceFor('0200', '200000')).toBeUndefined();
    expect(serviceFor('0400', '310000')).toBeUndefined();
    expect(serviceFor('0420', '000000')).toBeUndefined();
    expect(serviceFor('0800', null)).toBe('sign-on');
    // The phone's reversal and its repeat (ADR 0012).
    expect(serviceFor('0400', '000000')).toBe('reversal');
    expect(serviceFor('0401', '000000')).toBe('reversal');
  });
});
