/**
 * Interop with SIPp (Debian package `sip-tester`): SIPp calls the SIP driver on 127.0.0.1 and
 * streams terminal FSK audio (raw μ-law, `rtp_stream`) over RTP. The engine answers, decodes the
 * request frame, asks the handler, sends the response; the recorded terminal audio ACKs it and
 * sends REL; the engine hangs up with BYE and SIPp answers 200. Skipped when `sipp` is absent.
 */
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulawEncode } from '../../audio/g711';
import { ChannelEngine } from '../../engine';
import type { TerminalRequest } from '../../engine';
import { encodeFrame } from '../../link';
import type { Frame } from '../../link';
import { createModulator } from '../../modem';
import { loadProfiles, requireProfile } from '../../profiles';
import { SipLineDriver } from './uas';

const sippAvailable = spawnSync('sipp', ['-v'], { encoding: 'utf8' }).error === undefined;
if (!sippAvailable) console.warn('sipp not found: skipping the SIPp interop test (apt-get install -y sip-tester)');
const describeIfSipp = sippAvailable ? describe : describe.skip;

const profiles = loadProfiles();
const profile = requireProfile(profiles, 'es201912-v23');
const RATE = 8000;

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

describeIfSipp('SIPp calls the SIP driver and streams terminal FSK over RTP', () => {
  jest.setTimeout(40000);
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fixpay-sipp-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('decodes the request, answers it, and ends with BYE/200; SIP garbage is counted, not fatal', async () => {
    const request = new TextEncoder().encode('0200 purchase 000001'); // a stand-in terminal message
    const audio = terminalAudio(
      [
        [1000, { kind: 'data', seq: 0, more: false, payload: request }],
        [3000, { kind: 'ack', seq: 0 }],
        [3600, { kind: 'rel' }],
      ],
      4400,
    );
    const audioFile = join(dir, 'terminal.ulaw');
    writeFileSync(audioFile, mulawEncode(audio));
    const scenario = join(dir, 'terminal-uac.xml');
    writeFileSync(
      scenario,
      readFileSync(join(__dirname, '__fixtures__', 'terminal-uac.xml'), 'utf8').replaceAll('@AUDIO_FILE@', audioFile),
    );

    const seen: TerminalRequest[] = [];
    const driver = new SipLineDriver({ host: '127.0.0.1', port: 0 });
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
      // Garbage on the SIP port first: counted and dropped, the driver keeps serving.
      const junk = dgram.createSocket('udp4');
      for (const g of ['hello', 'INVITE sip:x SIP/2.0\r\n\r\n', '\u0000\u0001\u0002'])
        await new Promise<void>((resolve) => junk.send(g, driver.port, '127.0.0.1', () => resolve()));
      junk.close();

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
      expect(seen[0]?.callerNumber).toBe('057188880000');
      expect(seen[0]?.calledNumber).toBe('95105');
      expect(m.responses).toBe(1);
      expect(m.outcomes).toEqual({ OK: 1 });
      expect(m.drivers['sip.sipMalformed']).toBe(3);
      expect(m.drivers['sip.rtpPacketsIn']).toBeGreaterThan(150); // ~3.9 s of 20 ms frames before our BYE
    } finally {
      await engine.stop();
    }
  });
});
