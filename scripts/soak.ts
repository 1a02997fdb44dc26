/**
 * `npm run soak -- [--minutes 60] [--interval-s 10] [--csv <file>] [--demo-terminals 4]`: runs
 * `fixpay dev` with its live demo (simulated POS phones looping purchases and balance inquiries over
 * FSK) on a temporary data folder and free ports, samples every process of its tree (RSS, open
 * descriptors, threads from /proc) every interval, writes a CSV and prints, per process: start, end
 * and max, and the slope per hour after warm-up. Linux only. See docs/testing.md, "Soak".
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processEnv } from '../config';
import { alive, childPids, cmdline, fdCount, freePort, rssBytes, sleep } from '../test/attack/support';

/** Share of the run treated as warm-up (caches filling, JIT) and left out of the slopes. */
export const WARM_UP_SHARE = 0.2;
/** Longest wait for `fixpay dev` to come up, ms. */
const START_TIMEOUT_MS = 180_000;

interface Sample {
  readonly t: number;
  readonly role: string;
  readonly pid: number;
  readonly rssMb: number;
  readonly fds: number;
  readonly threads: number;
}

function threads(pid: number): number {
  try {
    return Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function roleOf(pid: number, root: number): string {
  if (pid === root) return 'fixpay-dev';
  const cmd = cmdline(pid);
  if (/temporal/.test(cmd)) return 'temporal';
  const m = /fixpay\.js (\S+)/.exec(cmd);
  return m?.[1] ?? `pid-${pid}`;
}

/** Least-squares slope of y over x (per unit of x); 0 with fewer than two points. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main(argv: readonly string[]): Promise<number> {
  const arg = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 ? (argv[i + 1] ?? fallback) : fallback;
  };
  if (argv.includes('--help')) {
    console.log('usage: npm run soak -- [--minutes 60] [--interval-s 10] [--csv <file>] [--demo-terminals 4]');
    return 0;
  }
  const minutes = Number(arg('--minutes', '60'));
  const intervalS = Number(arg('--interval-s', '10'));
  const terminals = arg('--demo-terminals', '4');
  if (!(minutes > 0) || !(intervalS > 0)) throw new Error('--minutes and --interval-s must be positive');
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-soak-'));
  const csv = arg('--csv', join('.fixpay', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`));
  const [temporal, ui, db, api, codec, tcpPcm, sip] = await Promise.all(Array.from({ length: 7 }, () => freePort()));
  const env = {
    ...processEnv(),
    FIXPAY_DATA_DIR: join(dataDir, 'platform'),
    FIXPAY_LOG_LEVEL: 'warn',
    FIXPAY_TEMPORAL_PORT: String(temporal),
    FIXPAY_TEMPORAL_UI_PORT: String(ui),
    FIXPAY_DB_PORT: String(db),
    FIXPAY_API_PORT: String(api),
    FIXPAY_CODEC_PORT: String(codec),
    FIXPAY_TCP_PCM_PORT: String(tcpPcm),
    FIXPAY_SIP_PORT: String(sip),
    DATABASE_URL: '',
  };
  const proc = spawn(
    process.execPath,
    [join(__dirname, '..', 'bin', 'fixpay.js'), 'dev', '--demo-terminals', terminals],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  const root = proc.pid ?? 0;
  let out = '';
  let lastDemo = '';
  const onData = (c: Buffer): void => {
    out = (out + c.toString()).slice(-200_000);
    const lines = c
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('demo:'));
    lastDemo = lines[lines.length - 1] ?? lastDemo;
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  const samples: Sample[] = [];
  const stopAll = async (): Promise<void> => {
    if (alive(root)) {
      try {
        process.kill(-root, 'SIGINT');
      } catch {
        // gone
      }
      const until = Date.now() + 20_000;
      while (alive(root) && Date.now() < until) await sleep(200);
      if (alive(root)) process.kill(-root, 'SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    const up = Date.now() + START_TIMEOUT_MS;
    while (!out.includes('Press Ctrl-C to stop.')) {
      if (proc.exitCode !== null || Date.now() > up) {
        console.error(`fixpay dev did not come up:\n${out.slice(-3000)}`);
        return 2;
      }
      await sleep(200);
    }
    console.log(`fixpay dev up (pid ${root}); soaking ${minutes} min, a sample every ${intervalS} s; CSV ${csv}`);
    const started = Date.now();
    const end = started + minutes * 60_000;
    let lost = false;
    while (Date.now() < end) {
      const t = (Date.now() - started) / 1000;
      const tree = [root];
      for (let i = 0; i < tree.length; i++) tree.push(...childPids(tree[i] ?? 0));
      for (const pid of tree) {
        const rss = rssBytes(pid);
        if (rss === undefined) continue;
        samples.push({
          t,
          role: roleOf(pid, root),
          pid,
          rssMb: rss / 1e6,
          fds: fdCount(pid) ?? 0,
          threads: threads(pid),
        });
      }
      const now = samples.filter((s) => s.t === t);
      console.log(
        `${t.toFixed(0).padStart(6)} s  ${now.map((s) => `${s.role} ${s.rssMb.toFixed(0)} MB ${s.fds} fds`).join(' | ')}  ${lastDemo.slice(0, 90)}`,
      );
      if (!alive(root)) {
        lost = true;
        console.error(`fixpay dev died:\n${out.slice(-3000)}`);
        break;
      }
      await sleep(intervalS * 1000);
    }
    writeFileSync(
      csv,
      `elapsed_s,role,pid,rss_mb,fds,threads\n${samples.map((s) => `${s.t.toFixed(1)},${s.role},${s.pid},${s.rssMb.toFixed(1)},${s.fds},${s.threads}`).join('\n')}\n`,
    );
    const total = (Date.now() - started) / 1000;
    console.log(`\nsoak: ${(total / 60).toFixed(1)} min, ${samples.length} samples, CSV ${csv}`);
    console.log(`last demo line: ${lastDemo}`);
    for (const role of [...new Set(samples.map((s) => s.role))]) {
      const rows = samples.filter((s) => s.role === role);
      const warm = rows.filter((s) => s.t >= total * WARM_UP_SHARE);
      const first = rows[0];
      const last = rows[rows.length - 1];
      if (first === undefined || last === undefined) continue;
      const perHour = (pick: (s: Sample) => number): string =>
        (slope(warm.map((s) => [s.t / 3600, pick(s)] as const)) || 0).toFixed(1);
      console.log(
        `${role.padEnd(11)} RSS MB start ${first.rssMb.toFixed(0)} end ${last.rssMb.toFixed(0)} max ${Math.max(...rows.map((s) => s.rssMb)).toFixed(0)} slope ${perHour((s) => s.rssMb)}/h` +
          ` | fds start ${first.fds} end ${last.fds} max ${Math.max(...rows.map((s) => s.fds))} slope ${perHour((s) => s.fds)}/h` +
          ` | threads ${first.threads} → ${last.threads}`,
      );
    }
    return lost ? 1 : 0;
  } finally {
    await stopAll();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
