/**
 * `fixpay dev` as a user runs it: everything comes up on embedded defaults, the Temporal UI and
 * the API answer, the live demo's terminals get a purchase approved over FSK audio with the ledger
 * balanced, and Ctrl-C (SIGINT) exits 0 within 10 s leaving no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
      const timer = setTimeout(() => reject(new Error(`not up in 90 s:\n${out}`)), 90_000);
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

    // The live demo (on by default): simulated POS phones sign on and buy over FSK audio.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no demo purchase approved in 90 s:\n${out}`)), 90_000);
      const poll = setInterval(() => {
        const approved = [...out.matchAll(/\(purchases (\d+)\)/g)].map((m) => Number(m[1]));
        if (approved.some((n) => n > 0)) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        }
      }, 200);
    });
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
  }, 240_000);
});
