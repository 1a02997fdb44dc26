/**
 * A peer that packetises as the answer asks (ADR 0015, amendment 2026-12-05): SIPp calls a SIP
 * driver configured for 60 ms, checks the 200 OK's SDP carries a=ptime:60, and replays a capture
 * of terminal FSK audio in 60 ms RTP packets (`play_pcap_audio`) from the port its offer names.
 * Three packets in the idle audio before the request have payloads no G.711 sender uses (484,
 * 1000 and 100 bytes): they are counted and dropped, the gap they leave is filled with silence,
 * and the request still gets through and is answered; the call ends with BYE/200. Skipped when
 * `sipp` is absent.
 */
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { g711Packets, rtpPcap } from '../../../test/support/rtp-pcap';
import type { PcapRtpPacket } from '../../../test/support/rtp-pcap';
import { mulawEncode } from '../../audio/g711';
import { ChannelEngine } from '../../engine';
import type { TerminalRequest } from '../../engine';
import { encodeFrame } from '../../link';
import type { Frame } from '../../link';
import { createModulator } from '../../modem';
import { loadProfiles, requireProfile } from '../../profiles';
import { SipLineDriver } from './uas';

const sippAvailable = spawnSync('sipp', ['-v'], { encoding: 'utf8' }).error === undefined;
if (!sippAvailable) console.warn('sipp not found: skipping the SIPp ptime test (apt-get install -y sip-tester)');
const describeIfSipp = sippAvailable ? describe : describe.skip;

const profiles = loadProfiles();
const profile = requireProfile(profiles, 'es201912-v23');
const RATE = 8000;
const PTIME_MS = 60;

/** Terminal audio on a timeline: [startMs, frame] bursts, silence elsewhere. */
function terminalAudio(bursts: readonly (readonly [number, Frame])[], totalMs: number): Int16Array {
  const modulator = createModulator({
    modulation: profile.modem.modulation,
    levelDbm0: profile.modem.levelDbm0,
    leadInMarkBits: profile.modem.leadInMarkBits,
    trailMarkBits: profile.modem.trailMarkBits,
  });
  const out = new Int16Array((totalMs * RATE) / 1000);
  for (const [atMs, frame] of bursts) {
    const bytes = encodeFrame(profile.link, frame);
    if (!bytes.ok) throw new Error(bytes.error.codeName);
    out.set(modulator.modulate(bytes.value), (atMs * RATE) / 1000);
  }
  return out;
}

/** A UDP port free a moment ago (SIPp binds its media port itself). */
async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describeIfSipp('a SIP peer sending 60 ms RTP packets', () => {
  jest.setTimeout(40000);
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fixpay-sipp-ptime-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets a=ptime:60 in the answer, and its request through; odd payload sizes are counted, not fatal', async () => {
    const request = new TextEncoder().encode('0200 purchase 000001'); // a stand-in terminal message
    const audio = terminalAudio(
      [
        [1200, { kind: 'data', seq: 0, more: false, payload: request }],
        [3000, { kind: 'ack', seq: 0 }],
        [3600, { kind: 'rel' }],
      ],
      4800,
    );
    // Packets 4, 6 and 8 (240–540 ms, silence before the request) carry payloads no G.711
    // packetisation has, with their own sequence numbers and timestamps.
    const odd = new Map([
      [4, 484],
      [6, 1000],
      [8, 100],
    ]);
    const packets = [...g711Packets(mulawEncode(audio), PTIME_MS)].map((p, i): PcapRtpPacket => ({
      ...p,
      payload: new Uint8Array(odd.get(i) ?? p.payload.length).fill(0xff),
    }));
    // The others keep their audio.
    packets.forEach((p, i) => {
      if (!odd.has(i)) p.payload.set(mulawEncode(audio).subarray(i * PTIME_MS * 8, (i + 1) * PTIME_MS * 8));
    });
    const pcapFile = join(dir, 'terminal-60ms.pcap');
    writeFileSync(pcapFile, rtpPcap(packets));
    const scenario = join(dir, 'terminal-uac-pcap.xml');
    writeFileSync(
      scenario,
      readFileSync(join(__dirname, '__fixtures__', 'terminal-uac-pcap.xml'), 'utf8')
        .replaceAll('@PCAP_FILE@', pcapFile)
        .replaceAll('@ANSWER_PTIME@', String(PTIME_MS))
        .replaceAll('@PTIME@', String(PTIME_MS)),
    );
    // The media port the offer names: SIPp binds it (the engine's response audio lands there) and
    // sends the capture from it through a raw socket.
    const mediaPort = await freeUdpPort();

    const seen: TerminalRequest[] = [];
    const driver = new SipLineDriver({ host: '127.0.0.1', port: 0, ptimeMs: PTIME_MS });
    const engine = new ChannelEngine({
      profiles,
      defaultProfileId: profile.id,
      handler: (req) => {
        seen.push(req);
        return Promise.resolve(new TextEncoder().encode('0210 approved 00'));
      },
    }).addDriver(driver);
    await engine.start();
    try {
      const sipp = spawn(
        'sipp',
        [
          '127.0.0.1:' + String(driver.port),
          '-sf',
          scenario,
          '-s',
          '95105',
          '-i',
          '127.0.0.1',
          '-mi',
          '127.0.0.1',
          '-mp',
          String(mediaPort),
          '-p',
          '0',
          '-m',
          '1',
          '-l',
          '1',
          '-nostdin',
          '-timeout',
          '30s',
          '-timeout_error',
          '-trace_err',
          '-error_file',
          join(dir, 'errors.log'),
        ],
        { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      sipp.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => sipp.on('exit', resolve));
      if (code !== 0) {
        let errors = '';
        try {
          errors = readFileSync(join(dir, 'errors.log'), 'utf8');
        } catch {
          // no error file
        }
        throw new Error(`sipp exited ${String(code)}: ${stderr}\n${errors}\n${JSON.stringify(engine.metrics())}`);
      }
      const m = engine.metrics();
      expect(seen.map((r) => new TextDecoder().decode(r.payload))).toEqual(['0200 purchase 000001']);
      expect(m.responses).toBe(1);
      expect(m.outcomes).toEqual({ OK: 1 });
      expect(m.drivers['sip.rtpPayloadRefused']).toBe(3);
      expect(m.drivers['sip.rtpMalformed']).toBe(0);
      // Every packet the node took was 60 ms: the audio it carried is 60 ms per packet.
      const packetsIn = m.drivers['sip.rtpPacketsIn'] ?? 0;
      expect(packetsIn).toBeGreaterThan(40); // ~3.6 s of 60 ms packets before our BYE
      expect(m.drivers['sip.rtpAudioMsIn']).toBe(packetsIn * PTIME_MS);
      expect(m.drivers['sip.rtpLost']).toBe(3);
    } finally {
      await engine.stop();
    }
  });
});
