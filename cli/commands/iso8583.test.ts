import { decodeHex } from './iso8583';

const options = { spec: 'terminal', framing: 'spec', lri: 'auto' };

describe('fixpay iso8583 decode', () => {
  it('prints the framing of the public example of payments.md §2.1 and stops where the dump is cut', () => {
    const lines: string[] = [];
    const ok = decodeHex('019D 6000040000 602200000000 0200 702406C020C0BA93', options, (l) => lines.push(l));
    expect(ok).toBe(false);
    const text = lines.join('\n');
    expect(text).toContain('length        413 bytes (0x019D)');
    expect(text).toContain('TPDU          id 60 destination 0004 source 0000');
    expect(text).toContain('app header    602200000000');
    expect(text).toContain('MTI           0200');
    expect(text).toContain('fields 2, 3, 4, 11, 14, 22, 23, 25, 26, 35, 41, 42, 49, 51, 52, 53, 55, 57, 60, 63, 64');
    expect(text).toMatch(/error FP5002 .*field 2: length prefix is truncated/);
  });

  it('masks the PAN of a complete network message', () => {
    const lines: string[] = [];
    // 0200 with field 2 = 6225880000000001 on the network spec (ASCII, 4-digit length).
    const body = Buffer.concat([
      Buffer.from('0200'),
      Buffer.from('4000000000000000', 'hex'),
      Buffer.from('166225880000000001'),
    ]);
    const frame = Buffer.concat([Buffer.from(String(body.length).padStart(4, '0')), body]);
    expect(decodeHex(frame.toString('hex'), { ...options, spec: 'network' }, (l) => lines.push(l))).toBe(true);
    expect(lines.join('\n')).toContain('622588******0001');
    expect(lines.join('\n')).not.toContain('6225880000000001');
  });
});
