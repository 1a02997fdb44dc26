/**
 * The SIP push dialer (a user agent client) against a simulated trunk over real UDP: INVITE with
 * the on-hook Alert-Info, 200 + ACK, the notice as G.711 RTP that the far end demodulates, and its
 * BYE with the receipt reason; busy, unavailable, unknown and silent far ends; the line budget.
 */
import dgram from 'node:dgram';
import { simulatedPhone } from '../../simulator/terminal/push-phones';
import { SipPushPhoneGateway } from '../../simulator/terminal/sip-push-phones';
import { pushAudio } from './onhook-push';
import { SipPushDialer } from './sip-dialer';

jest.setTimeout(120_000);

const at = Date.UTC(2026, 11, 3);
const audioFor = (modulation: 'v23' | 'bell202'): Int16Array =>
  pushAudio({ text: 'Hello over SIP', sender: '95566', atMs: at }, { modulation });

describe('SIP push dialer', () => {
  const v23 = simulatedPhone('862150000001', 'v23');
  const bell = simulatedPhone('862150000002', 'bell202');
  const offline = simulatedPhone('862150000003', 'v23', false);
  const busy = simulatedPhone('862150000004', 'v23');
  const gw = new SipPushPhoneGateway([v23, bell, offline, busy]);
  let dialer: SipPushDialer;

  beforeAll(async () => {
    await gw.start();
    dialer = new SipPushDialer({
      trunkHost: '127.0.0.1',
      trunkPort: gw.port,
      localHost: '127.0.0.1',
      maxLines: 4,
      answerTimeoutMs: 5_000,
      receiptTimeoutMs: 10_000,
    });
  });
  afterAll(async () => {
    dialer.close();
    await gw.stop();
  });

  it.each([
    ['v23', v23],
    ['bell202', bell],
  ] as const)('delivers over RTP to a %s phone that demodulates it', async (m, phone) => {
    expect(await dialer.dial({ calledNumber: phone.number, sender: '95566', audio: audioFor(m) })).toBe('delivered');
    expect(phone.received).toEqual(['Hello over SIP']);
  });

  it('maps 480 to no-answer, 486 to busy, 404 to refused', async () => {
    busy.busyCalls = 1;
    expect(await dialer.dial({ calledNumber: offline.number, audio: audioFor('v23') })).toBe('no-answer');
    expect(await dialer.dial({ calledNumber: busy.number, audio: audioFor('v23') })).toBe('busy');
    expect(await dialer.dial({ calledNumber: '999', audio: audioFor('v23') })).toBe('refused');
    expect(offline.received).toEqual([]);
    expect(dialer.linesInUse).toBe(0);
  });

  it('says no-answer when the trunk never answers (garbage and strangers ignored), after resending the INVITE; a call over the budget gets `budget`', async () => {
    const silent = dgram.createSocket('udp4');
    let invites = 0;
    // It answers every packet with garbage, and with a response for another call: both are ignored.
    silent.on('message', (_m, r) => {
      invites++;
      silent.send('SIP/2.0 200 OK\r\nCall-ID: someone-else\r\n\r\n', r.port, r.address);
      silent.send(Buffer.from([0xff, 0x00, 0x13, 0x37]), r.port, r.address);
    });
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    try {
      const d = new SipPushDialer({
        trunkHost: '127.0.0.1',
        trunkPort: silent.address().port,
        localHost: '127.0.0.1',
        maxLines: 1,
        answerTimeoutMs: 2_000,
        receiptTimeoutMs: 1_000,
      });
      const held = d.dial({ calledNumber: '1', audio: audioFor('v23') });
      expect(await d.dial({ calledNumber: '2', audio: audioFor('v23') })).toBe('budget');
      expect(await held).toBe('no-answer');
      expect(invites).toBeGreaterThanOrEqual(2);
      expect(await d.dial({ calledNumber: 'sip:x@y', audio: audioFor('v23') })).toBe('refused');
      d.close();
    } finally {
      silent.close();
    }
  });
});
