/**
 * Interop with minimodem (Debian package `minimodem`), a peer no one here wrote: it decodes our
 * audio and we decode its audio, for Bell 202 and V.23. Skips with a message when minimodem is absent.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav, writeWav } from '../audio';
import { createDemodulator, createModulator, ModemBank, type Modulation, type ModemEvent } from './index';

const bytesOf = (ev: readonly ModemEvent[]): number[] => ev.flatMap((e) => (e.type === 'byte' ? [e.value] : []));

const available = spawnSync('minimodem', ['--version'], { encoding: 'utf8' }).status === 0;
if (!available) {
  console.warn('minimodem not found: skipping modem interop tests (apt-get install -y minimodem)');
}
const maybe = available ? describe : describe.skip;

/** minimodem's mode arguments: Bell 202 is its "1200" mode; V.23 needs explicit tones and 100 Hz bins at 8 kHz. */
const MODE: Record<Modulation, { rx: string[]; tx: string[] }> = {
  bell202: { rx: ['1200'], tx: ['1200'] },
  v23: { rx: ['-M', '1300', '-S', '2100', '-b', '100', '1200'], tx: ['-M', '1300', '-S', '2100', '1200'] },
};

const TEXT = 'fixpay interop: 0123456789 The quick brown fox jumps over the lazy dog.\n';

maybe.each<Modulation>(['bell202', 'v23'])('minimodem interop (%s)', (m) => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fixpay-minimodem-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([-14, -30])('minimodem decodes our burst at %p dBm0', (levelDbm0) => {
    const burst = createModulator({ modulation: m, levelDbm0 }).modulate(new TextEncoder().encode(TEXT));
    const pcm = new Int16Array(burst.length + 1600);
    pcm.set(burst, 800);
    const file = join(dir, `ours-${levelDbm0}.wav`);
    writeFileSync(file, writeWav(pcm));
    const r = spawnSync('minimodem', ['--rx', '-q', '-f', file, ...MODE[m].rx], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(TEXT);
  });

  it('we decode minimodem audio (carrier held for 300 ms before the data)', async () => {
    const file = join(dir, 'theirs.wav');
    // --tx-carrier sends mark while minimodem waits for input: the lead-in our receiver needs
    // (minimodem's own leader is only a few bits; see docs/protocols/modem.md).
    const child = spawn('minimodem', ['--tx', '--tx-carrier', '-R', '8000', '-f', file, ...MODE[m].tx], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    const done = new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => {
        resolve(code ?? -1);
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.end(TEXT);
    expect(await done).toBe(0);
    const wav = readWav(readFileSync(file));
    const ev = createDemodulator({ modulation: m }).push(wav.samples);
    const bytes = ev.flatMap((e) => (e.type === 'byte' ? [e.value] : []));
    expect(new TextDecoder().decode(Uint8Array.from(bytes))).toBe(TEXT);
    expect(ev.filter((e) => e.type === 'framing-error')).toHaveLength(0);
    // The steady-mark gate changes nothing on minimodem's audio either (20 ms pushes, as from a line).
    const decode = (steadyGate: boolean): { ev: ModemEvent[]; skipped: number } => {
      const out: ModemEvent[] = [];
      const bank = new ModemBank({ lines: 1, modulation: m, steadyGate }, (_l, e) => out.push(e));
      for (let o = 0; o < wav.samples.length; o += 160)
        bank.push(0, wav.samples, o, Math.min(160, wav.samples.length - o));
      return { ev: out, skipped: bank.steadyBlocksSkipped };
    };
    const gated = decode(true);
    expect(gated.ev).toEqual(decode(false).ev);
    expect(bytesOf(gated.ev)).toEqual(bytes);
  });
});
