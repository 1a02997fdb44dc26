import fc from 'fast-check';
import { isFixpayError } from '../../domain/errors';
import { addNoise, Rng } from '../audio';
import {
  buildNotice,
  decodeMessage,
  demodulateMessages,
  encodeMessage,
  MESSAGE_TYPE,
  modulateMessage,
  PARAM_TYPE,
  type CallerIdMessage,
} from './index';

const hex = (s: string): Uint8Array => Uint8Array.from(s.split(/\s+/).map((h) => parseInt(h, 16)));

// The SDMF example reproduced in caller-ID receiver application notes (Bellcore format):
// 09/30 12:24, number 609-555-1212, checksum 0x51.
const SDMF_EXAMPLE = hex('04 12 30 39 33 30 31 32 32 34 36 30 39 35 35 35 31 32 31 32 51');

describe('caller-ID messages', () => {
  it('decodes the SDMF reference example and re-encodes it byte for byte', () => {
    const m = decodeMessage(SDMF_EXAMPLE);
    expect(m).toEqual({ format: 'sdmf', type: 0x04, body: SDMF_EXAMPLE.subarray(2, 20) });
    expect(new TextDecoder().decode(m.format === 'sdmf' ? m.body : new Uint8Array())).toBe('093012246095551212');
    expect([...encodeMessage(m)]).toEqual([...SDMF_EXAMPLE]);
  });

  it('builds an MDMF call set-up with date, number and name (EN 300 659-3 layout)', () => {
    const bytes = encodeMessage(buildNotice({ dateTime: '09301224', callingNumber: '6095551212', name: 'FIXPAY' }));
    expect(bytes[0]).toBe(MESSAGE_TYPE.callSetup);
    expect(bytes[1]).toBe(bytes.length - 3);
    expect([...bytes.subarray(2, 4)]).toEqual([PARAM_TYPE.dateTime, 8]);
    expect([...bytes.subarray(12, 14)]).toEqual([PARAM_TYPE.callingNumber, 10]);
    expect([...bytes.subarray(24, 26)]).toEqual([PARAM_TYPE.name, 6]);
    expect(bytes.reduce((a, b) => a + b, 0) & 0xff).toBe(0); // checksum makes the sum zero
  });

  it('encodes a 16-byte parameter without an extra byte (the spandsp adsi_add_field quirk)', () => {
    const bytes = encodeMessage({
      format: 'mdmf',
      type: 0x80,
      params: [{ type: 2, value: new Uint8Array(16).fill(0x31) }],
    });
    expect(bytes.length).toBe(2 + 2 + 16 + 1);
  });

  it('round-trips arbitrary MDMF messages', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0x80, max: 0xff }),
        fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 40 }) }), {
          maxLength: 5,
        }),
        (type, params) => {
          const m: CallerIdMessage = { format: 'mdmf', type, params };
          expect(decodeMessage(encodeMessage(m))).toEqual(m);
        },
      ),
    );
  });

  it('rejects bad checksums, lengths and oversize bodies with catalogue errors', () => {
    const bad = Uint8Array.from(SDMF_EXAMPLE);
    bad[5] = 0x38;
    const codeOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return isFixpayError(e) ? e.codeName : 'other';
      }
      return 'none';
    };
    expect(codeOf(() => decodeMessage(bad))).toBe('CALLERID_CHECKSUM');
    expect(codeOf(() => decodeMessage(SDMF_EXAMPLE.subarray(0, 10)))).toBe('CALLERID_BAD_MESSAGE');
    expect(codeOf(() => decodeMessage(hex('80 03 02 05 31 45')))).toBe('CALLERID_BAD_MESSAGE');
    expect(codeOf(() => encodeMessage(buildNotice({ display: 'x'.repeat(300) })))).toBe('CALLERID_TOO_LONG');
    expect(codeOf(() => buildNotice({ dateTime: '2024' }))).toBe('CALLERID_BAD_MESSAGE');
    expect(codeOf(() => buildNotice({ display: 'héllo' }))).toBe('CALLERID_BAD_MESSAGE');
  });

  it('never crashes on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          decodeMessage(b);
        } catch (e) {
          expect(isFixpayError(e)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe.each(['v23', 'bell202'] as const)('on-hook transmission over %s', (modulation) => {
  const notice = buildNotice({
    dateTime: '11260830',
    callingNumber: '95566',
    display: 'Your bill of 123.40 is due on 30 Nov',
  });

  it.each([180, 80])('round-trips a notice through the modem with %p mark bits', (markBits) => {
    const pcm = modulateMessage(notice, { modulation, markBits });
    const padded = new Int16Array(pcm.length + 1600);
    padded.set(pcm, 800);
    const got = demodulateMessages(padded, modulation);
    expect(got).toHaveLength(1);
    expect(got[0]?.ok && got[0].message).toEqual(notice);
  });

  it('round-trips at 15 dB SNR and at -35 dBm0', () => {
    const pcm = modulateMessage(notice, { modulation, levelDbm0: -35 });
    const padded = new Int16Array(pcm.length + 1600);
    padded.set(pcm, 800);
    const got = demodulateMessages(addNoise(padded, -35, 15, new Rng(3)), modulation);
    expect(got[0]?.ok && got[0].message).toEqual(notice);
  });

  it('takes about as long on air as the reference says (37-byte MDMF ≈ 0.64 s with 80 marks)', () => {
    const m = buildNotice({ dateTime: '01011200', callingNumber: '0123456789', name: 'ABCDEFGHIJKLM' });
    const bytes = encodeMessage(m).length;
    const seconds = modulateMessage(m, { modulation, markBits: 80 }).length / 8000;
    expect(seconds).toBeCloseTo((300 + 80 + bytes * 10 + 5) / 1200, 2);
  });
});
