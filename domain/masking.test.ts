import fc from 'fast-check';
import {
  HIDDEN,
  inCardRange,
  looksLikePan,
  luhnValid,
  maskDeep,
  maskForDisplayDeep,
  maskPan,
  scrubEmbeddedPans,
  scrubText,
} from './masking';

describe('masking', () => {
  // A purchase 0200 in hex as a run's input holds it: field 2 in BCD (length 16, the PAN) sits
  // inside one digit run with the processing code and amount (found through the Temporal UI).
  const FRAME = '60000300006031000000000200702404c020c0981316622588000000000100000000000000059065641230120021001';

  it('masks a card number inside a longer digit run (a raw frame in hex) for displays', () => {
    expect(scrubText(FRAME)).not.toContain('6225880000000001');
    const shown = scrubEmbeddedPans(FRAME);
    expect(shown).not.toContain('6225880000000001');
    // Overlapping windows that also look like cards are starred too: a display errs on the safe side.
    expect(shown).toMatch(/^60000300006031000000000200702404c020c09813166\*+100000000000000059065641230120021001$/);
    expect(shown).toHaveLength(FRAME.length);
    expect(scrubEmbeddedPans('amount 000000000590, id 20261126030000')).toBe('amount 000000000590, id 20261126030000');
    expect(maskForDisplayDeep({ input: { request: FRAME, pan: '6225880000000001', nested: [FRAME] } })).toEqual({
      input: { request: shown, pan: maskPan('6225880000000001'), nested: [shown] },
    });
  });

  it('masks a card number in a raw frame in logs and errors, whatever run it sits in', () => {
    // Length prefix and PAN make an 18-digit run that ends at a hex letter: not a card number as a
    // whole, yet it holds one.
    const short = '0200702404c020c0a166225880000000001a0000000000059065641230120021001';
    for (const text of [FRAME, short, short.toUpperCase(), `frame=${short} peer=10.0.0.1`]) {
      expect(scrubText(text)).not.toContain('6225880000000001');
      expect(JSON.stringify(maskDeep({ msg: text, err: new Error(`bad frame ${text}`) }))).not.toContain(
        '6225880000000001',
      );
    }
    // A 20+ digit run outside hex is scanned too (a frame's fields written as decimal digits).
    expect(scrubText('digits 1662258800000000010000')).not.toContain('6225880000000001');
    // Hex that holds no card-like window and short ids stay as they are.
    const hash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    expect(scrubText(`sha256 ${hash}`)).toBe(`sha256 ${hash}`);
    expect(scrubText('run purchase-T0000001-000701 at 20261126030000')).toBe(
      'run purchase-T0000001-000701 at 20261126030000',
    );
  });

  it('no Luhn-valid card number in range survives scrubEmbeddedPans, whatever digits surround it', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{0,30}$/), fc.stringMatching(/^\d{0,30}$/), (before, after) => {
        const pan = '6225880000000019';
        const shown = scrubEmbeddedPans(`${before}${pan}${after}`);
        return !shown.includes(pan);
      }),
    );
  });

  it('shows at most BIN and last four of a PAN', () => {
    expect(maskPan('6225880137706587')).toBe('622588******6587');
    expect(maskPan('4761739001010010')).toBe('476173******0010');
    expect(maskPan('12345')).toBe(HIDDEN);
  });

  it('tells Luhn-valid numbers apart', () => {
    expect(luhnValid('4761739001010010')).toBe(true);
    expect(luhnValid('4761739001010011')).toBe(false);
  });

  it('scrubs PANs and track 2 out of free text', () => {
    const text = 'declined card 4761739001010010 track ;4761739001010010=25122011143804400000? stan 123456';
    const out = scrubText(text);
    expect(out).not.toContain('4761739001010010');
    expect(out).toContain('stan 123456');
    expect(out).toContain(HIDDEN);
  });

  it('leaves non-card numbers alone', () => {
    expect(scrubText('rrn 000000000001 amount 1000')).toBe('rrn 000000000001 amount 1000');
  });

  it('masks nested objects by field name', () => {
    const out = maskDeep({ pan: '4761739001010010', pinBlock: '0123456789ABCDEF', nested: { track2: 'x', amount: 5 } });
    expect(out).toEqual({ pan: '476173******0010', pinBlock: HIDDEN, nested: { track2: HIDDEN, amount: 5 } });
  });

  it('cuts cycles and hides bytes', () => {
    const a: Record<string, unknown> = { key: new Uint8Array(16) };
    a['self'] = a;
    a['data'] = new Uint8Array(3);
    expect(maskDeep(a)).toEqual({ key: HIDDEN, self: '[Circular]', data: '<3 bytes>' });
  });

  it('hides HSM and codec secrets by field name', () => {
    const out = maskDeep({ lmkPin: 'P0123', components: ['0123456789ABCDEF'], operatorToken: 't', kcv: '08D7B4' });
    expect(out).toEqual({ lmkPin: HIDDEN, components: HIDDEN, operatorToken: HIDDEN, kcv: '08D7B4' });
  });

  describe('card numbers by what they are, not by length (issue #10 defect 12)', () => {
    it('leaves Luhn-valid numbers that are not card numbers alone: migration ids, timestamps, epochs, phones', () => {
      // 20261126030000 passes Luhn but no card scheme issues numbers starting with 20.
      expect(luhnValid('20261126030000')).toBe(true);
      expect(scrubText('applied migration 20261126030000_init')).toBe('applied migration 20261126030000_init');
      expect(maskDeep({ migration: '20261126030000', at: 1764745200000 })).toEqual({
        migration: '20261126030000',
        at: 1764745200000,
      });
      for (const text of [
        '20261203104512', // YYYYMMDDhhmmss
        '19991231235959',
        '1764745200000', // epoch ms
        '1764745200000000', // epoch µs
        '8613800138000', // phone number with country code 86
        'stan 000123 rrn 000000000123 amount 000000090000',
        '000000090000156', // amount + currency
      ])
        expect(scrubText(text)).toBe(text);
    });

    it('masks card numbers of every scheme, in text and in any field', () => {
      for (const pan of [
        '6225880000000001', // UnionPay test PAN
        '6225880000000019',
        '4761739001010010', // Visa
        '4012345678909', // Visa, 13 digits
        '5555555555554444', // Mastercard
        '2223000048400011', // Mastercard 2-series
        '378282246310005', // Amex
        '6011111111111117', // Discover
        '3530111333300000', // JCB
        '6212345678901265', // UnionPay
      ]) {
        expect(looksLikePan(pan)).toBe(true);
        const out = scrubText(`declined card ${pan}.`);
        expect(out).not.toContain(pan);
        expect(out).toContain(maskPan(pan));
      }
    });

    it('hides track data written with = or D, spaced or not', () => {
      for (const t of ['6225880000000001=30121011000', '6225880000000001D30121011000', '6225880000000001 D 3012101']) {
        const out = scrubText(`track ${t} end`);
        expect(out).toBe(`track ${HIDDEN} end`);
      }
    });

    it('masks values of fields named like pan / track / card number / PIN block, whatever they hold', () => {
      expect(
        maskDeep({
          targetPan: 6225880000000001,
          originalPan: 'not digits',
          card_number: '6225880000000001',
          'card-no': '6225880000000001',
          trackData: '123',
          track_2: 'abc',
          targetTrack2: 'x',
          encryptedPinBlock: '0123',
          pinBlockUnderZpk: 'x',
          maskedPan: '622588******0001',
          timeSpan: '1000',
          trackingId: 'T-1',
          stan: '000123',
        }),
      ).toEqual({
        targetPan: '622588******0001',
        originalPan: HIDDEN,
        card_number: '622588******0001',
        'card-no': '622588******0001',
        trackData: HIDDEN,
        track_2: HIDDEN,
        targetTrack2: HIDDEN,
        encryptedPinBlock: HIDDEN,
        pinBlockUnderZpk: HIDDEN,
        maskedPan: '622588******0001',
        timeSpan: '1000',
        trackingId: 'T-1',
        stan: '000123',
      });
    });

    it('knows the IIN ranges by length: Amex is 15 digits, Mastercard 16, UATP 15', () => {
      expect(inCardRange('378282246310005')).toBe(true);
      expect(inCardRange('3782822463100051')).toBe(false);
      expect(inCardRange('5555555555554444')).toBe(true);
      expect(inCardRange('55555555555544440')).toBe(false);
      expect(inCardRange('176474520000000')).toBe(true);
      expect(inCardRange('1764745200000')).toBe(false);
    });

    /** A Luhn-valid PAN in a card range: a scheme prefix, random digits, and the check digit. */
    const cardPan = fc
      .tuple(
        fc.constantFrom(
          { prefix: '62', lengths: [16, 17, 18, 19] },
          { prefix: '4', lengths: [13, 16, 19] },
          { prefix: '51', lengths: [16] },
          { prefix: '2221', lengths: [16] },
          { prefix: '37', lengths: [15] },
          { prefix: '6011', lengths: [16] },
          { prefix: '3528', lengths: [16, 19] },
          { prefix: '81', lengths: [16, 19] },
        ),
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 18, maxLength: 18 }),
        fc.nat(),
      )
      .map(([scheme, digits, pick]) => {
        const length = scheme.lengths[pick % scheme.lengths.length] ?? 16;
        const body = (scheme.prefix + digits.join('')).slice(0, length - 1);
        for (let check = 0; check <= 9; check++) if (luhnValid(body + String(check))) return body + String(check);
        throw new Error('no check digit');
      });
    /** Text around the PAN, ending (and starting) with a non-digit so the PAN stays a number of its own. */
    const notDigit = fc.string({ maxLength: 20 }).map((t) => t.replace(/\d/g, 'x'));

    it('property: any card number embedded in arbitrary text is masked', () => {
      fc.assert(
        fc.property(
          fc.string({ maxLength: 30 }),
          notDigit,
          cardPan,
          notDigit,
          fc.string({ maxLength: 30 }),
          (a, b, pan, c, d) => {
            const text = `${a}${b}|${pan}|${c}${d}`;
            const out = scrubText(text);
            expect(out).not.toContain(pan);
          },
        ),
      );
    });

    // Up to mid-2096: from October 2096 epoch milliseconds are 13 digits starting with 4, the length and range
    // of the old 13-digit Visa cards, and are masked when Luhn-valid (harmless, and far away).
    it('property: timestamps and migration ids of any date to mid-2096 are left alone', () => {
      fc.assert(
        fc.property(fc.date({ min: new Date('1970-01-01'), max: new Date('2096-06-30'), noInvalidDate: true }), (d) => {
          const stamp = d
            .toISOString()
            .replace(/[^0-9]/g, '')
            .slice(0, 14);
          expect(scrubText(`migration ${stamp}_x`)).toBe(`migration ${stamp}_x`);
          const ms = String(d.getTime());
          expect(scrubText(`at ${ms}`)).toBe(`at ${ms}`);
        }),
      );
    });
  });
});
