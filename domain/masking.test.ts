import { HIDDEN, luhnValid, maskDeep, maskPan, scrubText } from './masking';

describe('masking', () => {
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
});
