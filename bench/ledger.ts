/**
 * Ledger benchmark (`npm run bench:ledger [-- --quick] [-- --pg <url>]`): transfers per second
 * through PrismaLedgerStore on the embedded PGlite (served from a child process over the wire
 * protocol, as `fixpay dev` serves it) and on a real PostgreSQL (default
 * postgresql://postgres@127.0.0.1:5432/test; skipped when it does not answer), in the same run.
 * The baseline is the pure posting rules on the in-memory ledger, measured in the same run.
 *
 * Workloads, each on fresh accounts:
 * - single: one transfer per call (one database transaction each), sequential;
 * - batch: 100 transfers per call;
 * - two-phase: reserve then post, 8 payments in flight, all on one hot customer account.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { PrismaPg } from '@prisma/adapter-pg';
import { Client } from 'pg';
import { currency } from '../domain/money';
import { PrismaClient } from '../generated/prisma/client';
import { migrate } from '../infra/database/migrate';
import type { AccountEvent, LedgerPort, TransferEvent } from '../ledger/model';
import { MemoryLedgerStore } from '../ledger/memory';
import { PrismaLedgerStore } from '../ledger/store';
import { spawnEmbeddedDatabase } from '../test/support/database';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const pgIdx = args.indexOf('--pg');
const pgUrl = (pgIdx >= 0 ? args[pgIdx + 1] : undefined) ?? 'postgresql://postgres@127.0.0.1:5432/test';
const SINGLE = quick ? 200 : 1000;
const BATCHES = quick ? 10 : 40;
const BATCH_SIZE = 100;
const PAYMENTS = quick ? 200 : 1000;
const IN_FLIGHT = 8;
const POOL_MAX = 8;
const CNY = currency('CNY');

const line = (s: string): void => void process.stdout.write(`${s}\n`);
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

let nextId = BigInt(`0x${randomBytes(8).toString('hex')}`) << 32n;
const id = (): bigint => ++nextId;

async function accounts(
  ledger: LedgerPort,
  n: number,
): Promise<{ funding: bigint; customers: bigint[]; merchant: bigint }> {
  const funding = id();
  const merchant = id();
  const customers = Array.from({ length: n }, () => id());
  const acct = (a: bigint, flags = {}): AccountEvent => ({
    id: a,
    ledger: CNY.numeric,
    code: 1,
    currency: CNY.code,
    flags,
  });
  await ledger.createAccounts([
    acct(funding),
    acct(merchant),
    ...customers.map((c) => acct(c, { debitsMustNotExceedCredits: true })),
  ]);
  await ledger.createTransfers(
    customers.map((c) => ({
      id: id(),
      debitAccountId: funding,
      creditAccountId: c,
      amount: 10n ** 12n,
      ledger: 156,
      code: 4,
    })),
  );
  return { funding, customers, merchant };
}

const pay = (from: bigint, to: bigint, extra: Partial<TransferEvent> = {}): TransferEvent => ({
  id: id(),
  debitAccountId: from,
  creditAccountId: to,
  amount: 100n,
  ledger: 156,
  code: 1,
  ...extra,
});

interface Figures {
  single: number;
  batch: number;
  twoPhase: number;
}

async function run(ledger: LedgerPort): Promise<Figures> {
  const { customers, merchant } = await accounts(ledger, 100);
  const pick = (i: number): bigint => customers[i % customers.length] ?? merchant;

  let t = performance.now();
  for (let i = 0; i < SINGLE; i++) await ledger.createTransfers([pay(pick(i), merchant)]);
  const single = SINGLE / ((performance.now() - t) / 1000);

  t = performance.now();
  for (let b = 0; b < BATCHES; b++) {
    await ledger.createTransfers(Array.from({ length: BATCH_SIZE }, (_, i) => pay(pick(b * BATCH_SIZE + i), merchant)));
  }
  const batch = (BATCHES * BATCH_SIZE) / ((performance.now() - t) / 1000);

  const hot = pick(0);
  let started = 0;
  t = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (started < PAYMENTS) {
        started++;
        const reserve = pay(hot, merchant, { flags: { pending: true }, timeoutSeconds: 60 });
        const [r] = await ledger.createTransfers([reserve]);
        if (r !== 'ok') throw new Error(`reserve: ${r ?? 'no result'}`);
        const [p] = await ledger.createTransfers([
          { id: id(), pendingId: reserve.id, flags: { postPendingTransfer: true } },
        ]);
        if (p !== 'ok') throw new Error(`post: ${p ?? 'no result'}`);
      }
    }),
  );
  const twoPhase = PAYMENTS / ((performance.now() - t) / 1000);
  return { single, batch, twoPhase };
}

async function withPrisma<T>(
  url: string,
  schema: string | undefined,
  fn: (prisma: PrismaClient) => Promise<T>,
): Promise<T> {
  const prisma = new PrismaClient({
    adapter: new PrismaPg({ connectionString: url, max: POOL_MAX }, schema === undefined ? undefined : { schema }),
  });
  try {
    return await fn(prisma);
  } finally {
    await prisma.$disconnect();
  }
}

async function pglite(): Promise<Figures> {
  const db = await spawnEmbeddedDatabase();
  try {
    await migrate(db.url);
    return await withPrisma(db.url, undefined, (prisma) => run(new PrismaLedgerStore(prisma)));
  } finally {
    await db.stop();
  }
}

async function postgres(): Promise<Figures | undefined> {
  const admin = new Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch {
    return undefined;
  }
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE SCHEMA "${schema}"`);
  try {
    const u = new URL(pgUrl);
    u.searchParams.set('options', `-c search_path=${schema}`);
    await migrate(u.toString());
    return await withPrisma(u.toString(), schema, (prisma) => run(new PrismaLedgerStore(prisma)));
  } finally {
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    await admin.end();
  }
}

async function main(): Promise<void> {
  line(
    `ledger bench${quick ? ' (quick)' : ''}: single ${SINGLE}, batch ${BATCHES}×${BATCH_SIZE}, two-phase ${PAYMENTS} payments × ${IN_FLIGHT} in flight, pool ${POOL_MAX}`,
  );
  await run(new MemoryLedgerStore()); // warm-up: JIT the posting rules before the baseline
  const memory = await run(new MemoryLedgerStore());
  const lite = await pglite();
  const pg = await postgres();
  const rows: [string, keyof Figures, string][] = [
    ['single transfer per call', 'single', 'transfers/s'],
    ['batches of 100', 'batch', 'transfers/s'],
    ['two-phase reserve+post, hot account', 'twoPhase', 'payments/s'],
  ];
  for (const [label, key, unit] of rows) {
    const parts = [
      `in-memory rules ${fmt(memory[key])}`,
      `PGlite ${fmt(lite[key])} (${(lite[key] / memory[key]).toFixed(4)}× rules)`,
      pg === undefined
        ? 'PostgreSQL skipped (no server)'
        : `PostgreSQL ${fmt(pg[key])} (${(pg[key] / lite[key]).toFixed(2)}× PGlite)`,
    ];
    line(`${label}: ${parts.join(', ')} ${unit}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
