/**
 * `fixpay sim terminal` takes information push on its own line (docs/simulator.md, "Pushed
 * notices"): the access node's push dialers (TCP PCM and SIP, channel-engine/push/) call the
 * simulator with real FSK on-hook audio; the simulator shows RING, demodulates the notice, shows it
 * on its display, and acknowledges it only when the caller-ID checksum checked. Scripted mode as a
 * child process, the library over SIP, and the interactive mode with piped keys.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { stringify as toYaml } from 'yaml';
import { loadProfiles, requireProfile } from '../../channel-engine/profiles';
import { PushDialer } from '../../channel-engine/push/dialer';
import { pushAudioFor } from '../../channel-engine/push/onhook-push';
import { SipPushDialer } from '../../channel-engine/push/sip-dialer';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from './config';
import { runInteractive } from './interactive';
import { noticeLines } from './push-receiver';
import { runTerminalScript } from './script';

jest.setTimeout(120_000);

const FIXPAY = join(__dirname, '..', '..', 'bin', 'fixpay.js');
const NUMBER = EXAMPLE_CONFIG.line.callerNumber;
const TEXT = 'Bills due 30 Nov. Pay on this phone: menu 3.';
const profiles = loadProfiles();
const v23 = requireProfile(profiles, 'es201912-v23');
const at = Date.UTC(2026, 11, 3, 16, 45);
const audio = (text = TEXT): Int16Array => pushAudioFor({ text, sender: '95566', utcOffsetMinutes: 480 }, v23, at);

const tcpDialer = (port: number): PushDialer =>
  new PushDialer({
    gatewayHost: '127.0.0.1',
    gatewayPort: port,
    maxLines: 2,
    pace: false,
    answerTimeoutMs: 10_000,
    receiptTimeoutMs: 3_000,
  });

async function until(what: string, pred: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const portIn = (out: string): number => Number(/push: listening on \S+ [0-9.]+:(\d+) for/.exec(out)?.[1] ?? 0);

describe('the terminal simulator rings and shows pushed notices', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fixpay-sim-push-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('noticeLines wraps at word boundaries within the 4 x 20 display, cutting a word only when it must', () => {
    expect(noticeLines(TEXT)).toEqual(['Bills due 30 Nov.', 'Pay on this phone:', 'menu 3.']);
    expect(noticeLines('X'.repeat(45))).toEqual(['X'.repeat(20), 'X'.repeat(20), 'X'.repeat(5)]);
    expect(noticeLines('a '.repeat(100)).length).toBe(4);
  });

  it('script mode (child process, TCP PCM): RING, the notice on the display, acknowledged (delivered); refuses a push for another number', async () => {
    const configPath = join(dir, 'terminal.yaml');
    writeFileSync(configPath, toYaml({ ...EXAMPLE_CONFIG, statePath: 'state.json' }));
    const scriptPath = join(dir, 'push.yaml');
    writeFileSync(scriptPath, toYaml({ steps: [{ 'await-push': 60_000 }] }));
    const child = spawn(
      process.execPath,
      [FIXPAY, 'sim', 'terminal', '-c', configPath, '--script', scriptPath, '--push-port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await until('the listening line', () => portIn(out) > 0 || child.exitCode !== null);
    const dialer = tcpDialer(portIn(out));
    try {
      // Another phone's number, and a call that is not on-hook data: refused, nothing shown.
      expect(await dialer.dial({ calledNumber: '0571999', audio: audio() })).toBe('refused');
      expect(await dialer.dial({ calledNumber: NUMBER, sender: '95566', audio: audio() })).toBe('delivered');
    } finally {
      dialer.close();
    }
    expect(await closed).toBe(0);
    expect(err).toBe('');
    expect(out).toContain('display: Bills due 30 Nov. | Pay on this phone: | menu 3.\n');
    const line = out.split('\n').find((l) => l.startsWith('{"push"'));
    expect(JSON.parse(line ?? '{}')).toEqual({ push: 'received', sender: '95566', dateTime: '12040045', text: TEXT });
    expect(out).toMatch(/summary: 0 transactions \{\}, last STAN \d+, ok/);
  });

  it('library over SIP: the SIP dialer INVITEs the phone, RTP carries the FSK, the BYE carries the receipt; a garbled burst is not acknowledged', async () => {
    const config = parseTerminalConfig(EXAMPLE_CONFIG, dir);
    let port = 0;
    const displays: string[][] = [];
    const run = runTerminalScript(
      {
        config,
        stateStore: new MemoryStateStore(),
        push: { transport: 'sip', host: '127.0.0.1', port: 0 },
        onPushListening: (o) => (port = o.port),
        onDisplay: (l) => displays.push([...l]),
      },
      [
        { step: 'await-push', timeoutMs: 60_000 },
        { step: 'await-push', timeoutMs: 60_000 },
      ],
    );
    await until('the SIP push line', () => port > 0);
    const dialer = new SipPushDialer({
      trunkHost: '127.0.0.1',
      trunkPort: port,
      localHost: '127.0.0.1',
      maxLines: 2,
      answerTimeoutMs: 10_000,
      receiptTimeoutMs: 3_000,
    });
    try {
      // The carrier drops for 50 ms in the middle of the message's bytes (after the 100 ms of silence,
      // 300 seizure and 180 mark bits): whatever the receiver makes of it, it is not a checked message.
      const garbled = audio('Garbled notice text');
      garbled.fill(0, 4_800, 5_200);
      expect(await dialer.dial({ calledNumber: NUMBER, audio: garbled })).toBe('no-receipt');
      expect(await dialer.dial({ calledNumber: NUMBER, sender: '95566', audio: audio('Line check at 10:00') })).toBe(
        'delivered',
      );
      expect(await dialer.dial({ calledNumber: NUMBER, sender: '95566', audio: audio() })).toBe('delivered');
    } finally {
      dialer.close();
    }
    const r = await run;
    expect(r.ok).toBe(true);
    expect(r.pushes.map((p) => p.text)).toEqual(['Line check at 10:00', TEXT]);
    expect(r.pushes.map((p) => p.display.filter((l) => l !== ''))).toEqual([
      ['Line check at 10:00'],
      ['Bills due 30 Nov.', 'Pay on this phone:', 'menu 3.'],
    ]);
    // Each call woke the display with RING before the notice.
    const rings = displays.filter((d) => d[0] === 'RING').length;
    expect(rings).toBeGreaterThanOrEqual(3);
    expect(displays.findIndex((d) => d[0] === 'RING')).toBeLessThan(
      displays.findIndex((d) => d[0] === 'Line check at 10:00'),
    );
  });

  it('an await-push that gets nothing fails the script; without a push line it is refused (FP7801)', async () => {
    const config = parseTerminalConfig(EXAMPLE_CONFIG, dir);
    const r = await runTerminalScript(
      { config, stateStore: new MemoryStateStore(), push: { transport: 'tcp-pcm', host: '127.0.0.1', port: 0 } },
      [{ step: 'await-push', timeoutMs: 300 }],
    );
    expect(r).toMatchObject({ ok: false, pushes: [] });
    await expect(
      runTerminalScript({ config, stateStore: new MemoryStateStore() }, [{ step: 'await-push', timeoutMs: 300 }]),
    ).rejects.toMatchObject({ code: 'FP7801' });
  });

  it('interactive with piped keys: the menu waits, a push rings the phone, the notice is drawn and acknowledged, 0 exits', async () => {
    const config = parseTerminalConfig({ ...EXAMPLE_CONFIG, push: { port: 0 } }, dir);
    let printed = '';
    const output = new Writable({
      write(chunk: Buffer, _enc, done) {
        printed += chunk.toString();
        done();
      },
    });
    const input = new PassThrough();
    const session = runInteractive(config, { stateStore: new MemoryStateStore() }, { input, output });
    await until('the push line', () => portIn(printed) > 0);
    await until('the menu', () => printed.includes('> '));
    const dialer = tcpDialer(portIn(printed));
    try {
      expect(await dialer.dial({ calledNumber: NUMBER, sender: '95566', audio: audio() })).toBe('delivered');
    } finally {
      dialer.close();
    }
    await until('the notice', () => printed.includes('received and acknowledged'));
    expect(printed).toContain('| RING');
    expect(printed).toContain('| Bills due 30 Nov.    |');
    expect(printed).toContain('| Pay on this phone:   |');
    expect(printed).toContain('push from 95566 received and acknowledged');
    expect(printed.indexOf('| RING')).toBeLessThan(printed.indexOf('| Bills due 30 Nov.'));
    input.end('0\n');
    await session;
  });
});
