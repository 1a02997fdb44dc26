/**
 * `npm run soak -- [--minutes 60] [--interval-s 10] [--csv <file>] [--demo-terminals 4]
 * [--heap-snapshots <dir>]`: runs `fixpay dev` with its live demo (simulated POS phones looping
 * purchases and balance inquiries over FSK) on a temporary data folder and free ports and samples,
 * every interval:
 * - every process of its tree from /proc: RSS, open descriptors, threads (the Temporal dev server's
 *   RSS; the worker's Rust core runs inside fixpay dev and shows in its RSS);
 * - inside fixpay dev, through the inspector on a free loopback port (scripts/soak-probe.ts): heap
 *   used/total, external, arrayBuffers, active handles and resources, and the size of every
 *   WebAssembly memory (the embedded PGlite's heap is the largest);
 * - the embedded database: live and dead rows and bytes per table, the data files on disk.
 * Writes a CSV (and `<csv>.tables.csv`) and prints, per series, first, last, max, the slope per hour
 * after warm-up and a verdict flat/NOT FLAT against the threshold in scripts/soak-summary.ts.
 * Exit code 1 when fixpay dev died or a series is not flat. Linux only. See docs/testing.md, "Soak".
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { processEnv } from '../config';
import { alive, childPids, cmdline, fdCount, freePort, rssBytes, sleep } from '../test/attack/support';
import { InspectorProbe, type NodeSample } from './soak-probe';
import { summarise, WARM_UP_SHARE, type SeriesKind } from './soak-summary';

export { slope, WARM_UP_SHARE } from './soak-summary';

/** Longest wait for `fixpay dev` to come up, ms. */
const START_TIMEOUT_MS = 180_000;

interface Sample {
  readonly t: number;
  readonly role: string;
  readonly pid: number;
  readonly rssMb: number;
  readonly fds: number;
  readonly threads: number;
  readonly node?: NodeSample;
  /** Bytes of this role's data files on disk (PGlite's folder; temporal.sqlite and its WAL). */
  readonly diskMb?: number;
}

interface TableSample {
  readonly t: number;
  readonly table: string;
  readonly live: number;
  readonly dead: number;
  readonly bytes: number;
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
  if (/temporal/.test(cmd) && /start-dev/.test(cmd)) return 'temporal';
  if (/^\S*sh /.test(cmd)) return 'watchdog';
  if (/esbuild/.test(cmd)) return 'esbuild';
  const m = /fixpay\.js (\S+)/.exec(cmd);
  return m?.[1] ?? `pid-${pid}`;
}

function treeBytes(path: string): number {
  let total = 0;
  try {
    const st = statSync(path);
    if (!st.isDirectory()) return st.size;
    for (const e of readdirSync(path)) total += treeBytes(join(path, e));
  } catch {
    // gone meanwhile
  }
  return total;
}

const TABLES_SQL = `select relname as table, n_live_tup as live, n_dead_tup as dead,
  pg_total_relation_size(relid) as bytes from pg_stat_user_tables order by relname`;

async function main(argv: readonly string[]): Promise<number> {
  const arg = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 ? (argv[i + 1] ?? fallback) : fallback;
  };
  if (argv.includes('--help')) {
    console.log(
      'usage: npm run soak -- [--minutes 60] [--interval-s 10] [--csv <file>] [--demo-terminals 4] [--heap-snapshots <dir>]',
    );
    return 0;
  }
  const minutes = Number(arg('--minutes', '60'));
  const intervalS = Number(arg('--interval-s', '10'));
  const terminals = arg('--demo-terminals', '4');
  const snapshotDir = arg('--heap-snapshots', '');
  if (!(minutes > 0) || !(intervalS > 0)) throw new Error('--minutes and --interval-s must be positive');
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-soak-'));
  const platformDir = join(dataDir, 'platform');
  const csv = arg('--csv', join('.fixpay', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`));
  mkdirSync(dirname(csv), { recursive: true });
  const [temporal, ui, db, api, codec, tcpPcm, sip, inspect] = await Promise.all(
    Array.from({ length: 8 }, () => freePort()),
  );
  const env = {
    ...processEnv(),
    FIXPAY_DATA_DIR: platformDir,
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
    [`--inspect=127.0.0.1:${inspect}`, join(__dirname, '..', 'bin', 'fixpay.js'), 'dev', '--demo-terminals', terminals],
    { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
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
  const tables: TableSample[] = [];
  let probe: InspectorProbe | undefined;
  let pg: Client | undefined;
  const stopAll = async (): Promise<void> => {
    probe?.close();
    await pg?.end().catch(() => undefined);
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
    probe = await InspectorProbe.connect(inspect ?? 0);
    const secrets = JSON.parse(readFileSync(join(platformDir, 'secrets.json'), 'utf8')) as {
      databasePassword?: string;
    };
    pg = new Client({ host: '127.0.0.1', port: db, user: 'postgres', password: secrets.databasePassword ?? '' });
    pg.on('error', () => undefined);
    await pg.connect();
    console.log(`fixpay dev up (pid ${root}); soaking ${minutes} min, a sample every ${intervalS} s; CSV ${csv}`);
    const started = Date.now();
    const end = started + minutes * 60_000;
    let lost = false;
    let snapshotted = false;
    const snapshot = async (name: string): Promise<void> => {
      if (snapshotDir === '' || probe === undefined) return;
      mkdirSync(snapshotDir, { recursive: true });
      const file = join(snapshotDir, `${name}.heapsnapshot`);
      await probe.heapSnapshot(file);
      console.log(`heap snapshot ${file}`);
    };
    while (Date.now() < end) {
      const t = (Date.now() - started) / 1000;
      if (!snapshotted && t >= minutes * 60 * WARM_UP_SHARE) {
        snapshotted = true;
        await snapshot('after-warm-up');
      }
      const tree = [root];
      for (let i = 0; i < tree.length; i++) tree.push(...childPids(tree[i] ?? 0));
      const node = await probe.sample().catch((e: unknown) => {
        console.error(`inspector: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      });
      for (const pid of tree) {
        const rss = rssBytes(pid);
        if (rss === undefined) continue;
        const role = roleOf(pid, root);
        if (role === 'watchdog') continue;
        samples.push({
          t,
          role,
          pid,
          rssMb: rss / 1e6,
          fds: fdCount(pid) ?? 0,
          threads: threads(pid),
          ...(role === 'fixpay-dev' && node !== undefined ? { node } : {}),
          ...(role === 'fixpay-dev' ? { diskMb: treeBytes(join(platformDir, 'pglite')) / 1e6 } : {}),
          ...(role === 'temporal' ? { diskMb: treeBytes(join(platformDir, 'temporal')) / 1e6 } : {}),
        });
      }
      try {
        const r = await pg.query<{ table: string; live: string; dead: string; bytes: string }>(TABLES_SQL);
        for (const row of r.rows)
          tables.push({
            t,
            table: row.table,
            live: Number(row.live),
            dead: Number(row.dead),
            bytes: Number(row.bytes),
          });
      } catch (e) {
        console.error(`database: ${e instanceof Error ? e.message : String(e)}`);
      }
      const now = samples.filter((s) => s.t === t);
      console.log(
        `${t.toFixed(0).padStart(6)} s  ${now
          .map(
            (s) =>
              `${s.role} ${s.rssMb.toFixed(0)} MB ${s.fds} fds` +
              (s.node === undefined
                ? ''
                : ` heap ${s.node.heapUsedMb.toFixed(0)} ab ${s.node.arrayBuffersMb.toFixed(0)} ext ${s.node.externalMb.toFixed(0)} wasm ${(s.node.wasmMemoriesMb[0] ?? 0).toFixed(0)} h ${s.node.activeHandles}`),
          )
          .join(' | ')}  ${lastDemo.slice(0, 60)}`,
      );
      if (!alive(root)) {
        lost = true;
        console.error(`fixpay dev died:\n${out.slice(-3000)}`);
        break;
      }
      await sleep(intervalS * 1000);
    }
    await snapshot('end');
    const f = (v: number | undefined): string => (v === undefined ? '' : v.toFixed(1));
    writeFileSync(
      csv,
      'elapsed_s,role,pid,rss_mb,fds,threads,heap_used_mb,heap_total_mb,external_mb,array_buffers_mb,wasm_mb,active_handles,disk_mb,resources\n' +
        samples
          .map((s) =>
            [
              s.t.toFixed(1),
              s.role,
              s.pid,
              f(s.rssMb),
              s.fds,
              s.threads,
              f(s.node?.heapUsedMb),
              f(s.node?.heapTotalMb),
              f(s.node?.externalMb),
              f(s.node?.arrayBuffersMb),
              f(s.node?.wasmMemoriesMb[0]),
              s.node?.activeHandles ?? '',
              f(s.diskMb),
              s.node === undefined
                ? ''
                : Object.entries(s.node.resources)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(';'),
            ].join(','),
          )
          .join('\n') +
        '\n',
    );
    writeFileSync(
      `${csv}.tables.csv`,
      `elapsed_s,table,live,dead,bytes\n${tables.map((r) => `${r.t.toFixed(1)},${r.table},${r.live},${r.dead},${r.bytes}`).join('\n')}\n`,
    );
    const total = (Date.now() - started) / 1000;
    console.log(`\nsoak: ${(total / 60).toFixed(1)} min, ${samples.length} samples, CSV ${csv}`);
    console.log(`last demo line: ${lastDemo}`);
    console.log(`slopes after the first ${WARM_UP_SHARE * 100} % (warm-up); flat = slope within the limit`);
    let notFlat = 0;
    const report = (role: string, name: string, kind: SeriesKind, pick: (s: Sample) => number | undefined): void => {
      const points = samples
        .filter((s) => s.role === role)
        .flatMap((s) => {
          const v = pick(s);
          return v === undefined ? [] : [[s.t, v] as const];
        });
      const sum = summarise(points, total, kind);
      if (sum === undefined) return;
      if (!sum.flat) notFlat++;
      const n = (v: number): string => (kind === 'mb' ? v.toFixed(1) : v.toFixed(0));
      console.log(
        `${role.padEnd(11)} ${name.padEnd(15)} first ${n(sum.first).padStart(7)} last ${n(sum.last).padStart(7)} max ${n(sum.max).padStart(7)}` +
          ` slope ${sum.slopePerHour.toFixed(1).padStart(7)}/h (limit ${sum.limitPerHour.toFixed(1)}) ${sum.flat ? 'flat' : 'NOT FLAT'}`,
      );
    };
    for (const role of [...new Set(samples.map((s) => s.role))]) {
      report(role, 'rss MB', 'mb', (s) => s.rssMb);
      report(role, 'fds', 'count', (s) => s.fds);
      report(role, 'threads', 'count', (s) => s.threads);
      report(role, 'disk MB', 'mb', (s) => s.diskMb);
      report(role, 'heap used MB', 'mb', (s) => s.node?.heapUsedMb);
      report(role, 'external MB', 'mb', (s) => s.node?.externalMb);
      report(role, 'arrayBuffers MB', 'mb', (s) => s.node?.arrayBuffersMb);
      report(role, 'wasm MB', 'mb', (s) => s.node?.wasmMemoriesMb[0]);
      report(role, 'active handles', 'count', (s) => s.node?.activeHandles);
    }
    const firstT = tables[0]?.t;
    const lastT = tables[tables.length - 1]?.t;
    const grown = [...new Set(tables.map((r) => r.table))]
      .map((name) => {
        const a = tables.find((r) => r.table === name && r.t === firstT);
        const b = tables.find((r) => r.table === name && r.t === lastT);
        return { name, a, b, grew: (b?.bytes ?? 0) - (a?.bytes ?? 0) };
      })
      .filter((x) => x.grew > 0)
      .sort((x, y) => y.grew - x.grew);
    console.log('database tables that grew (bytes, live rows, dead rows: first → last):');
    for (const g of grown.slice(0, 12))
      console.log(
        `  ${g.name.padEnd(28)} ${((g.a?.bytes ?? 0) / 1e3).toFixed(0)} → ${((g.b?.bytes ?? 0) / 1e3).toFixed(0)} kB, live ${g.a?.live ?? 0} → ${g.b?.live ?? 0}, dead ${g.a?.dead ?? 0} → ${g.b?.dead ?? 0}`,
      );
    console.log(`soak verdict: ${lost ? 'fixpay dev DIED' : notFlat === 0 ? 'flat' : `NOT FLAT (${notFlat} series)`}`);
    return lost || notFlat > 0 ? 1 : 0;
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
