import { Writable } from 'node:stream';
import { createLogger } from './logging';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, stream };
}

describe('logging', () => {
  it('never writes card data in clear', () => {
    const { lines, stream } = capture();
    const log = createLogger('test', { destination: stream });
    log.info({ pan: '4761739001010010', pinBlock: '1234567890ABCDEF', amount: 100 }, 'paid with 4761739001010010');
    log.error({ err: new Error('issuer said card 4761739001010010 declined') }, 'decline');
    const text = lines.join('');
    expect(text).not.toContain('4761739001010010');
    expect(text).not.toContain('1234567890ABCDEF');
    expect(text).toContain('476173******0010');
    expect(text).toContain('"amount":100');
    expect(lines).toHaveLength(2);
  });
});
