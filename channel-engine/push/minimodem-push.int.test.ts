/**
 * A caller-ID decoder no one here wrote reads our on-hook push: minimodem's `callerid` mode (Debian
 * package `minimodem`) decodes the audio pushAudio builds — Bell 202 as it is, V.23 with its tones
 * given. Skips with a message when minimodem is absent.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNoise, Rng, writeWav } from '../audio';
import type { Modulation } from '../modem';
import { pushAudio } from './onhook-push';

const available = spawnSync('minimodem', ['--version'], { encoding: 'utf8' }).status === 0;
if (!available) {
  console.warn('minimodem not found: skipping the caller-ID interop test of push (apt-get install -y minimodem)');
}
const maybe = available ? describe : describe.skip;

const TONES: Record<Modulation, string[]> = { bell202: [], v23: ['-M', '1300', '-S', '2100'] };
const TEXT = 'Bills due 30 Nov. Pay on this phone: menu 3.';
const AT = Date.UTC(2026, 11, 3, 16, 45);

maybe.each<Modulation>(['bell202', 'v23'])('minimodem reads our on-hook push (%s)', (modulation) => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fixpay-push-cid-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const decode = (pcm: Int16Array, name: string): string => {
    const file = join(dir, name);
    writeFileSync(file, writeWav(pcm));
    const r = spawnSync('minimodem', ['--rx', '-q', ...TONES[modulation], '-f', file, 'callerid'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(0);
    return r.stdout;
  };

  it.each([-14, -30])('decodes date, sender and text at %p dBm0', (levelDbm0) => {
    const pcm = pushAudio(
      { text: TEXT, sender: '95566', atMs: AT, utcOffsetMinutes: 480 },
      { modulation, levelDbm0, display: { lines: 4, columns: 16 } },
    );
    expect(decode(pcm, `push-${levelDbm0}.wav`)).toBe(`CALLER-ID\nTime:  12/04 00:45\nPhone: 95566\nName:  ${TEXT}\n`);
  });

  it('decodes it under line noise (20 dB SNR)', () => {
    const pcm = pushAudio({ text: 'Line test OK', atMs: AT }, { modulation, levelDbm0: -20 });
    const out = decode(addNoise(pcm, -20, 20, new Rng(7)), 'noisy.wav');
    expect(out).toContain('Name:  Line test OK\n');
  });

  it('finds nothing in a push whose audio was cut in the middle (no false message)', () => {
    const pcm = pushAudio(
      { text: TEXT, sender: '95566', atMs: AT },
      { modulation, display: { lines: 4, columns: 16 } },
    );
    expect(decode(pcm.subarray(0, Math.floor(pcm.length * 0.6)), 'cut.wav')).not.toContain(TEXT);
  });
});
