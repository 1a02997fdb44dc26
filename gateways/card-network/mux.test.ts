import { FixpayError } from '../../domain/errors';
import { isoMessage } from '../iso8583';
import { isResponseMti, Mux } from './mux';

const request = isoMessage('0200', { 11: '000001', 41: 'TERM0001' });
const response = isoMessage('0210', { 11: '000001', 41: 'TERM0001', 39: '00' });

describe('Mux', () => {
  it('matches a response on MTI class + terminal id + STAN', async () => {
    const sent: string[] = [];
    const mux = new Mux((m) => sent.push(m.mti));
    const pending = mux.request(request, 1000);
    expect(mux.deliver(isoMessage('0410', { 11: '000001', 41: 'TERM0001' }))).toBe(false); // other class
    expect(mux.deliver(isoMessage('0210', { 11: '000001', 41: 'TERM0002' }))).toBe(false); // other terminal
    expect(mux.deliver(response)).toBe(true);
    await expect(pending).resolves.toBe(response);
    expect(sent).toEqual(['0200']);
    expect(mux.unmatched.map((u) => u.reason)).toEqual(['unknown', 'unknown']);
  });

  it('times out, then logs the late response as late', async () => {
    const mux = new Mux(() => undefined);
    await expect(mux.request(request, 10)).rejects.toMatchObject({ codeName: 'CARD_NETWORK_NO_RESPONSE' });
    expect(mux.deliver(response)).toBe(false);
    expect(mux.unmatched.at(-1)).toMatchObject({ reason: 'late', summary: { mti: '0210', stan: '000001' } });
  });

  it('refuses duplicates and too many in flight before sending, and passes send failures through', async () => {
    let sends = 0;
    const mux = new Mux(() => sends++, { inFlightMax: 1 });
    const first = mux.request(request, 1000);
    await expect(mux.request(request, 1000)).rejects.toMatchObject({ codeName: 'MUX_LIMIT_REACHED' });
    mux.deliver(response);
    await first;
    const dup = new Mux(() => undefined);
    const a = dup.request(request, 1000);
    await expect(dup.request(request, 1000)).rejects.toMatchObject({ codeName: 'MUX_DUPLICATE_KEY' });
    dup.failAll('test');
    await expect(a).rejects.toMatchObject({ codeName: 'CARD_NETWORK_NO_RESPONSE' });
    const down = new Mux(() => {
      throw new FixpayError('CARD_NETWORK_UNAVAILABLE');
    });
    await expect(down.request(request, 1000)).rejects.toMatchObject({ codeName: 'CARD_NETWORK_UNAVAILABLE' });
    expect(down.inFlight).toBe(0);
    expect(sends).toBe(1);
  });

  it('fails a request at once when its response is malformed but its key was readable', async () => {
    const mux = new Mux(() => undefined);
    const pending = mux.request(request, 1000);
    expect(
      mux.deliverMalformed(
        isoMessage('0210', { 11: '000001', 41: 'TERM0001' }),
        new FixpayError('ISO8583_MALFORMED', 'x'),
      ),
    ).toBe(true);
    await expect(pending).rejects.toMatchObject({ codeName: 'CARD_NETWORK_RESPONSE_MALFORMED' });
    expect(mux.deliverMalformed({ mti: '', fields: new Map() }, new FixpayError('ISO8583_MALFORMED'))).toBe(false);
  });

  it('uses configurable key fields', async () => {
    const mux = new Mux(() => undefined, { keyFields: [11] });
    const pending = mux.request(request, 1000);
    expect(mux.deliver(isoMessage('0210', { 11: '000001' }))).toBe(true);
    await pending;
  });

  it.each([
    ['0200', false],
    ['0210', true],
    ['0230', true],
    ['0400', false],
    ['0401', false],
    ['0410', true],
    ['0810', true],
  ])('knows %s is a response: %s', (mti, expected) => {
    expect(isResponseMti(mti)).toBe(expected);
  });
});
