/**
 * The push dialer against real loopback sockets: a phone that takes the push (paced and unpaced),
 * and every way a far end can fail it — nobody listening, silence, busy, refused, garbage, a cut
 * call, a garbled receipt — each an outcome, never an exception; and the node's line budget.
 */
import net from 'node:net';
import { PushPhoneGateway, simulatedPhone } from '../../simulator/terminal/push-phones';
import { encodeTcpPcm, TCP_PCM_TYPE } from '../lines/tcp-pcm';
import { PushDialer } from './dialer';
import { pushAudio } from './onhook-push';

jest.setTimeout(120_000);

const AUDIO = pushAudio(
  { text: 'Hello from fixpay', sender: '95566', atMs: Date.UTC(2026, 11, 3) },
  { modulation: 'v23' },
);

/** A far end that runs `onConnection` for every call. */
async function farEnd(onConnection: (s: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const dialerTo = (port: number, o: Partial<ConstructorParameters<typeof PushDialer>[0]> = {}): PushDialer =>
  new PushDialer({
    gatewayHost: '127.0.0.1',
    gatewayPort: port,
    pace: false,
    answerTimeoutMs: 2_000,
    receiptTimeoutMs: 2_000,
    ...o,
  });

describe('push dialer', () => {
  it.each([false, true])('delivers to a phone that decodes the FSK (paced: %p)', async (pace) => {
    const phone = simulatedPhone('862150000001', 'v23');
    const gw = new PushPhoneGateway([phone]);
    await gw.start();
    try {
      const d = dialerTo(gw.port, { pace, receiptTimeoutMs: 10_000 });
      expect(await d.dial({ calledNumber: '862150000001', sender: '95566', audio: AUDIO })).toBe('delivered');
      expect(phone.received).toEqual(['Hello from fixpay']);
      expect(d.metrics()).toMatchObject({ pushCalls: 1, pushDelivered: 1, pushLinesInUse: 0 });
    } finally {
      await gw.stop();
    }
  });

  it('says no-answer when nobody listens', async () => {
    const end = await farEnd(() => undefined);
    const port = end.port;
    await end.close();
    expect(await dialerTo(port).dial({ calledNumber: '123', audio: AUDIO })).toBe('no-answer');
  });

  it('says no-answer when the far end stays silent', async () => {
    const end = await farEnd(() => undefined);
    try {
      expect(await dialerTo(end.port, { answerTimeoutMs: 500 }).dial({ calledNumber: '123', audio: AUDIO })).toBe(
        'no-answer',
      );
    } finally {
      await end.close();
    }
  });

  it.each([
    ['busy', 'busy'],
    ['no-answer', 'no-answer'],
    ['refused', 'refused'],
    ['FP3621', 'busy'],
    ['\u202Esomething else', 'failed'],
  ])('maps REJECT %j to %s', async (reason, outcome) => {
    const end = await farEnd((s) =>
      s.once('data', () => s.end(encodeTcpPcm(TCP_PCM_TYPE.reject, Buffer.from(reason)))),
    );
    try {
      expect(await dialerTo(end.port).dial({ calledNumber: '123', audio: AUDIO })).toBe(outcome);
    } finally {
      await end.close();
    }
  });

  it.each([
    ['an oversized length', Buffer.from([0x81, 0xff, 0xff])],
    ['random bytes', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
  ])('fails (never throws) on %s from the far end', async (_what, bytes) => {
    const end = await farEnd((s) => s.once('data', () => s.write(bytes)));
    try {
      expect(await dialerTo(end.port).dial({ calledNumber: '123', audio: AUDIO })).toBe('failed');
    } finally {
      await end.close();
    }
  });

  it('says no-receipt when the far end answers then hangs up, or reports the message garbled', async () => {
    const cut = await farEnd((s) =>
      s.once('data', () => s.write(encodeTcpPcm(TCP_PCM_TYPE.answer), () => s.destroy())),
    );
    const garbled = await farEnd((s) =>
      s.once('data', () => {
        s.write(encodeTcpPcm(TCP_PCM_TYPE.answer));
        s.once('data', () => s.end(encodeTcpPcm(TCP_PCM_TYPE.byeOut, Buffer.from('garbled'))));
      }),
    );
    try {
      expect(await dialerTo(cut.port).dial({ calledNumber: '123', audio: AUDIO })).toBe('no-receipt');
      expect(await dialerTo(garbled.port).dial({ calledNumber: '123', audio: AUDIO })).toBe('no-receipt');
    } finally {
      await cut.close();
      await garbled.close();
    }
  });

  it('refuses a malformed number or sender without dialling', async () => {
    let connections = 0;
    const end = await farEnd(() => connections++);
    try {
      const d = dialerTo(end.port);
      expect(await d.dial({ calledNumber: '12\r\nINVITE', audio: AUDIO })).toBe('refused');
      expect(await d.dial({ calledNumber: '', audio: AUDIO })).toBe('refused');
      expect(await d.dial({ calledNumber: '123', sender: 'x\0y', audio: AUDIO })).toBe('refused');
      expect(connections).toBe(0);
    } finally {
      await end.close();
    }
  });

  it('keeps to its line budget: a call beyond it is told `budget` at once', async () => {
    const end = await farEnd(() => undefined); // never answers: calls hold their line
    try {
      const d = dialerTo(end.port, { maxLines: 2, answerTimeoutMs: 1_500 });
      const held = [d.dial({ calledNumber: '1', audio: AUDIO }), d.dial({ calledNumber: '2', audio: AUDIO })];
      expect(d.linesInUse).toBe(2);
      expect(await d.dial({ calledNumber: '3', audio: AUDIO })).toBe('budget');
      expect(await Promise.all(held)).toEqual(['no-answer', 'no-answer']);
      expect(d.linesInUse).toBe(0);
      expect(d.metrics()).toMatchObject({ pushBudget: 1, pushNoAnswer: 2 });
    } finally {
      await end.close();
    }
  });
});
