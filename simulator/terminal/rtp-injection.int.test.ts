/**
 * Issue 10, defect 8: RTP injected into live calls' media ports from a foreign source port (the
 * attack broke three demo transactions). The terminal simulator pays over SIP/RTP through the
 * real FSK modem while an attacker on the same host sprays loud μ-law noise at every media port
 * the engine has open; the driver hears only the negotiated address:port, so the transactions
 * complete and the injected packets are counted.
 */
import dgram from 'node:dgram';
import { ChannelEngine } from '../../channel-engine/engine';
import { buildRtp } from '../../channel-engine/lines/rtp';
import { SipLineDriver } from '../../channel-engine/lines/sip/uas';
import { loadProfiles } from '../../channel-engine/profiles';
import { FakeIssuer } from './__fixtures__/fake-issuer';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from './config';
import { runTerminalScript } from './script';

/** Injection period per port: faster than the 20 ms voice frames, so every jitter window is hit. */
const INJECT_EVERY_MS = 10;

describe('RTP injection into a live SIP call', () => {
  jest.setTimeout(120_000);

  it('packets from a foreign port are dropped and counted; sign-on and purchase still complete', async () => {
    const issuer = new FakeIssuer();
    await issuer.ready;
    const sip = new SipLineDriver({ port: 0, host: '127.0.0.1' });
    const engine = new ChannelEngine({ profiles: loadProfiles(), handler: issuer.handler, nodeId: 'test' }).addDriver(
      sip,
    );
    await engine.start();
    const attacker = dgram.createSocket('udp4');
    await new Promise<void>((r) => attacker.bind(0, '127.0.0.1', () => r()));
    let seq = 0;
    let sent = 0;
    const noise = new Uint8Array(160);
    const injector = setInterval(() => {
      for (const port of sip.mediaPorts()) {
        for (let i = 0; i < noise.length; i++) noise[i] = (Math.random() * 256) | 0;
        const packet = buildRtp({
          payloadType: 0,
          marker: false,
          sequenceNumber: seq & 0xffff,
          timestamp: (seq * 160) >>> 0,
          ssrc: 0xbad,
          payload: noise,
        });
        seq++;
        sent++;
        attacker.send(packet, port, '127.0.0.1');
      }
    }, INJECT_EVERY_MS);
    try {
      const config = parseTerminalConfig(
        { ...EXAMPLE_CONFIG, line: { ...EXAMPLE_CONFIG.line, transport: 'sip', port: sip.port, pace: false } },
        '/tmp',
      );
      const r = await runTerminalScript({ config, stateStore: new MemoryStateStore(), callerNumber: '057122223333' }, [
        { step: 'sign-on' },
        { step: 'purchase', amountMinor: 1250 },
        { step: 'hang-up' },
      ]);
      clearInterval(injector);
      const m = sip.metrics();
      console.log(
        `RTP injection: ${sent} foreign packets sent, ${m['rtpWrongSource']} dropped as wrong source; outcomes ${r.transactions.map((t) => t.outcome).join(',')}`,
      );
      expect(sent).toBeGreaterThan(0);
      expect(m['rtpWrongSource']).toBeGreaterThan(0);
      expect(r.transactions.map((t) => t.outcome)).toEqual(['approved', 'approved']);
      expect(issuer.balance).toBe(100_000 - 1250);
    } finally {
      clearInterval(injector);
      attacker.close();
      await engine.stop();
    }
  });
});
