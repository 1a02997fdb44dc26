/**
 * `fixpay sim terminal` as a user runs it, against a real channel engine (TCP PCM) whose handler is
 * the fake issuer: scripted mode as a child process (JSON lines, exit code, state file), and the
 * interactive menu driven through tmux (send-keys / capture-pane). The tmux test skips when tmux
 * is not installed (Debian package `tmux`).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { ChannelEngine } from '../../channel-engine/engine';
import { TcpPcmLineDriver } from '../../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../../channel-engine/profiles';
import { FakeIssuer } from './__fixtures__/fake-issuer';
import { EXAMPLE_CONFIG } from './config';

const FIXPAY = join(__dirname, '..', '..', 'bin', 'fixpay.js');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe('fixpay sim terminal', () => {
  jest.setTimeout(120_000);
  let engine: ChannelEngine;
  let issuer: FakeIssuer;
  let dir: string;
  let configPath: string;

  beforeAll(async () => {
    issuer = new FakeIssuer();
    await issuer.ready;
    const tcp = new TcpPcmLineDriver({ port: 0, pace: false });
    engine = new ChannelEngine({
      profiles: loadProfiles(),
      defaultProfileId: 'es201912-v23',
      handler: issuer.handler,
      nodeId: 'cli-test',
    }).addDriver(tcp);
    await engine.start();
    dir = mkdtempSync(join(tmpdir(), 'fixpay-sim-terminal-'));
    configPath = join(dir, 'terminal.yaml');
    writeFileSync(
      configPath,
      toYaml({
        ...EXAMPLE_CONFIG,
        line: { ...EXAMPLE_CONFIG.line, port: tcp.port, pace: false },
        statePath: 'state.json',
      }),
    );
  });

  afterAll(async () => {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--script runs the steps, prints one JSON line per transaction, persists the STAN', async () => {
    const scriptPath = join(dir, 'script.yaml');
    writeFileSync(
      scriptPath,
      toYaml({
        options: { callerNumber: '057199990000' },
        steps: ['sign-on', { purchase: '3.00' }, 'balance', 'hang-up'],
      }),
    );
    const child = spawn(process.execPath, [FIXPAY, 'sim', 'terminal', '-c', configPath, '--script', scriptPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    const results = lines.slice(0, -1).map((l) => JSON.parse(l) as { kind: string; outcome: string; stan: string });
    expect(results.map((r) => [r.kind, r.outcome])).toEqual([
      ['sign-on', 'approved'],
      ['purchase', 'approved'],
      ['balance', 'approved'],
    ]);
    expect(lines.at(-1)).toMatch(/^summary: 3 transactions .* ok$/);
    expect(out).not.toContain(EXAMPLE_CONFIG.card.track2.slice(0, 19)); // no PAN in the output
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { stan: number; psamCounter: number };
    expect(state.stan).toBe(3);
    expect(state.psamCounter).toBe(3);
    expect(issuer.callers).toContain('057199990000');
  });

  (hasTmux ? it : it.skip)('interactive: menu, sign-on, purchase with a masked PIN, exit (tmux)', async () => {
    const session = `fixpay-sim-${process.pid}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
    const screen = (): string => tmux('capture-pane', '-p', '-t', session);
    const until = async (pred: (s: string) => boolean, what: string, ms = 30_000): Promise<string> => {
      const end = Date.now() + ms;
      for (;;) {
        const s = screen();
        if (pred(s)) return s;
        if (Date.now() > end) throw new Error(`timeout waiting for ${what}; screen:\n${s}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const command = [process.execPath, FIXPAY, 'sim', 'terminal', '-c', configPath].map((a) => `'${a}'`).join(' ');
    tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '40', `${command}; echo SIM-EXITED $?; sleep 30`);
    try {
      await until((s) => s.includes('[1] Purchase'), 'the menu');
      tmux('send-keys', '-t', session, '3', 'Enter');
      await until((s) => s.includes('SIGN ON') && s.includes('APPROVED'), 'sign-on');
      tmux('send-keys', '-t', session, '1', 'Enter');
      await until((s) => s.includes('Amount'), 'the amount prompt');
      tmux('send-keys', '-t', session, '12.50', 'Enter');
      await until((s) => s.includes('PIN:'), 'the PIN prompt');
      tmux('send-keys', '-t', session, '123456');
      const typed = await until((s) => s.includes('PIN: ******'), 'the masked PIN');
      expect(typed).not.toContain('PIN: 123456');
      tmux('send-keys', '-t', session, 'Enter');
      const done = await until((s) => s.includes('AUTH AB1234'), 'the approval');
      expect(done).toContain('| PURCHASE');
      expect(done).toMatch(/purchase: approved \| STAN 000005/);
      tmux('send-keys', '-t', session, '0', 'Enter');
      await until((s) => s.includes('SIM-EXITED 0'), 'exit', 10_000);
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  });
});
