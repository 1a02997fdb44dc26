/**
 * Partner API load (`npm run bench:api [-- --rate 200] [-- --seconds 60] [-- --pg <url>] [-- --quick]`):
 * an open-loop load over loopback — requests leave on a fixed schedule whether or not earlier ones
 * were answered — against the partner API on a real database (the embedded PGlite served from a
 * child process as `fixpay dev` serves it, or the PostgreSQL given with --pg), with the default
 * per-key rate limit, 8 sandbox keys in turn. The mix: 50 % GET /v1/bills, 25 % GET /v1/account,
 * 25 % POST /v1/bills (each with its own Idempotency-Key).
 *
 * Reports p50/p99 latency, lost requests (no answer within 10 s or a connection error), 503 answers
 * (load shed past the in-flight limit), other 5xx and 429 answers, and whether the bills stored
 * equal the 201 answers. Baseline, measured in the same run at
 * the same rate: GET /health (no database), for a quarter of the time. Timings are noisy on a shared
 * machine; compare the ratio, not the milliseconds.
 */
import { performance } from 'node:perf_hooks';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';
import { migrate } from '../infra/database/migrate';
import { spawnEmbeddedDatabase } from '../test/support/database';
import { startPartnerApi } from '../test/support/partner-api';
import { ALL_SCOPES } from '../partners/keys';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const RATE = Number(arg('--rate') ?? 200);
const SECONDS = Number(arg('--seconds') ?? (quick ? 10 : 60));
const BASELINE_SECONDS = Math.max(5, Math.round(SECONDS / 4));
const KEYS = 8;
const ANSWER_TIMEOUT_MS = 10_000;

const line = (s: string): void => void process.stdout.write(`${s}\n`);

interface Outcome {
  readonly latencyMs: number;
  readonly status: number;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Sends `next()` requests at `rate` per second for `seconds`, open loop; resolves once all are answered or lost. */
async function openLoop(
  rate: number,
  seconds: number,
  next: (i: number) => Promise<number>,
): Promise<{ outcomes: Outcome[]; lost: number; sent: number }> {
  const total = Math.round(rate * seconds);
  const outcomes: Outcome[] = [];
  let lost = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const sentAt = performance.now();
    inFlight.push(
      next(i).then(
        (status) => void outcomes.push({ latencyMs: performance.now() - sentAt, status }),
        () => {
          lost++;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  return { outcomes, lost, sent: total };
}

async function send(url: string, init: RequestInit): Promise<number> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
  await res.arrayBuffer();
  return res.status;
}

function report(name: string, r: { outcomes: Outcome[]; lost: number; sent: number }, seconds: number): number {
  const lat = r.outcomes.map((o) => o.latencyMs);
  const p99 = percentile(lat, 99);
  const count = (f: (s: number) => boolean): number => r.outcomes.filter((o) => f(o.status)).length;
  line(
    `${name.padEnd(9)} sent ${r.sent} in ${seconds} s (${(r.sent / seconds).toFixed(0)}/s): answered ${r.outcomes.length}, ` +
      `lost ${r.lost}, 503 shed ${count((s) => s === 503)}, other 5xx ${count((s) => s >= 500 && s !== 503)}, 429 ${count((s) => s === 429)}, other 4xx ${count((s) => s >= 400 && s < 500 && s !== 429)}; ` +
      `p50 ${percentile(lat, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`,
  );
  return p99;
}

async function main(): Promise<void> {
  const pg = arg('--pg');
  const embedded = pg === undefined ? await spawnEmbeddedDatabase() : undefined;
  const url = pg ?? embedded?.url ?? '';
  await migrate(url);
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: embedded ? 1 : 8 }) });
  const api = await startPartnerApi({ prisma });
  try {
    line(`bench:api — ${pg === undefined ? 'embedded PGlite' : 'PostgreSQL'}, ${RATE}/s open loop, loopback`);
    const signUp = await fetch(`${api.base}/v1/partners`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `bench-${Date.now()}` },
      body: JSON.stringify({ name: 'Bench Co', email: 'bench@bench.example' }),
    });
    const first = ((await signUp.json()) as { key: { secret: string } }).key.secret;
    const keys = [first];
    for (let i = 1; i < KEYS; i++) {
      const r = await fetch(`${api.base}/v1/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${first}`, 'idempotency-key': `k-${i}` },
        body: JSON.stringify({ mode: 'test', scopes: ALL_SCOPES }),
      });
      keys.push(((await r.json()) as { secret: string }).secret);
    }

    const baseline = await openLoop(RATE, BASELINE_SECONDS, () => send(`${api.base}/health`, {}));
    const baseP99 = report('baseline', baseline, BASELINE_SECONDS);

    const runId = Date.now();
    const customerRef = `bench-${runId}`;
    const body = JSON.stringify({ customerRef, amount: { minor: 100, currency: 'CNY' }, description: 'load' });
    const mixed = await openLoop(RATE, SECONDS, (i) => {
      const auth = { authorization: `Bearer ${keys[i % KEYS] ?? first}` };
      switch (i % 4) {
        case 0:
          return send(`${api.base}/v1/bills`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': `b-${runId}-${i}` },
            body,
          });
        case 1:
          return send(`${api.base}/v1/account`, { headers: auth });
        default:
          return send(`${api.base}/v1/bills`, { headers: auth });
      }
    });
    const p99 = report('partner', mixed, SECONDS);
    const created = mixed.outcomes.filter((o) => o.status === 201).length;
    const stored = await prisma.partnerBill.count({ where: { customerRef } });
    line(`bills: ${created} answered 201, ${stored} stored ${created === stored ? '(equal)' : '(DIFFERENT)'}`);
    line(`p99 ratio partner / baseline: ${(p99 / baseP99).toFixed(1)}x`);
  } finally {
    await api.close();
    await prisma.$disconnect();
    await embedded?.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
