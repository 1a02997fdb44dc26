/**
 * `npm run chaos -- [--kills 100] [--terminals 2] [--pause-s 5..15]`: live load (terminal simulators
 * looping sign-on and purchases over TCP PCM, every purchase a unique amount so it can be followed),
 * kill -9's at random intervals spread over the processes in CHAOS_TARGETS, each restarted, then the
 * invariants once everything is quiet:
 *
 * - the ledger is balanced (debits = credits, posted and pending, per ledger);
 * - every purchase the terminal saw approved is posted exactly once and charged once at the bank;
 * - nothing is posted twice, nothing is charged at the bank that is not posted, and the reverse: the
 *   bank's settlement (approved, not reversed) equals the ledger's posted purchases;
 * - every reversal is acknowledged (none left armed, pending or expired).
 *
 * The targets come from the attack suite (test/attack/targets.ts): `fixpay dev --no-demo` with its
 * bank simulator off, the bank simulator in this process (so its record survives its "kills") behind
 * the proxy. Linux only. See docs/testing.md, "Chaos".
 */
import { Client as PgClient } from 'pg';
import { SIM_ZAK_HEX } from '../simulator/bank/accounts';
import { BankServer } from '../simulator/bank/server';
import { Targets } from '../test/attack/targets';
import { alive, childPids, cmdline, LOOPBACK, sleep } from '../test/attack/support';
import type { TransactionResult } from '../simulator/terminal/terminal';

/** Purchases per call of a load loop. */
const PURCHASES_PER_CALL = 3;
/** Longest wait for reversals and reservations to settle after the last kill, ms. */
const QUIET_TIMEOUT_MS = 180_000;
/** Longest bank outage, ms. */
const BANK_OUTAGE_MS_MAX = 8_000;

interface ChaosContext {
  readonly targets: Targets;
}

/**
 * What can be killed. `fixpay dev` holds the worker, the access node, the API and the embedded
 * database today; add rows here as roles become their own processes (`fixpay worker`,
 * `fixpay access-node`, `fixpay api`).
 */
interface ChaosTarget {
  readonly name: string;
  readonly weight: number;
  /** Kills it (kill -9 or the equivalent) and brings it back; returns what happened. */
  killAndRestart(ctx: ChaosContext): Promise<string>;
}

export const CHAOS_TARGETS: readonly ChaosTarget[] = [
  {
    name: 'platform (worker + access node + API + database)',
    weight: 4,
    async killAndRestart({ targets }) {
      const pid = targets.platform?.pid;
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
      await sleep(500);
      await targets.restartPlatform();
      return `kill -9 fixpay dev ${pid ?? '?'}; restarted`;
    },
  },
  {
    name: 'temporal server',
    weight: 3,
    async killAndRestart({ targets }) {
      const pid = targets.temporalPid;
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
      // Wait for the platform to bring it back; without supervision, restart the platform.
      const until = Date.now() + 20_000;
      while (Date.now() < until) {
        await sleep(1_000);
        const root = targets.platform?.pid ?? 0;
        const again = childPids(root).find((p) => p !== pid && /temporal/.test(cmdline(p)));
        if (again !== undefined && alive(root)) {
          targets.temporalPid = again;
          return `kill -9 temporal ${pid ?? '?'}; restarted by the platform`;
        }
      }
      await targets.restartPlatform();
      return `kill -9 temporal ${pid ?? '?'}; not restarted by the platform in 20 s: restarted it all`;
    },
  },
  {
    name: 'bank simulator',
    weight: 3,
    async killAndRestart({ targets }) {
      const outageMs = 1_000 + Math.floor(Math.random() * BANK_OUTAGE_MS_MAX);
      await targets.bankServer.close(); // every connection dropped, the port closed
      await sleep(outageMs);
      targets.bankServer = new BankServer(targets.bank, {
        zak: Buffer.from(SIM_ZAK_HEX, 'hex'),
        host: LOOPBACK,
        port: targets.ports.bank,
      });
      await targets.bankServer.listen();
      return `bank down ${outageMs} ms; back (its ledger survives: a bank does not lose its books)`;
    },
  },
  // The network HSM (`fixpay hsm serve`) is not used by fixpay dev today (software HSM in process).
];

interface Purchase {
  readonly terminalId: string;
  readonly amountMinor: number;
  readonly result: TransactionResult;
}

async function loadLoop(
  targets: Targets,
  demoTerminal: number,
  nextAmount: () => number,
  running: { value: boolean },
  purchases: Purchase[],
  undialled: { value: number },
): Promise<void> {
  const config = targets.terminal({ demoTerminal });
  const state = targets.freshState();
  while (running.value) {
    const amounts = Array.from({ length: PURCHASES_PER_CALL }, nextAmount);
    let results: readonly TransactionResult[];
    try {
      results = await targets.script(
        config,
        [
          { step: 'sign-on' },
          ...amounts.map((a) => ({ step: 'purchase' as const, amountMinor: a })),
          { step: 'hang-up' },
        ],
        state,
      );
    } catch {
      await sleep(1_000);
      continue;
    }
    results.slice(1).forEach((result, i) => {
      const amountMinor = amounts[i];
      // A call that never got through (the platform is down) sent nothing: not a purchase tried.
      if (result.failure?.codeName === 'TERMINAL_SIM_DIAL_FAILED') undialled.value++;
      else if (amountMinor !== undefined) purchases.push({ terminalId: config.terminalId, amountMinor, result });
    });
    if (results[0]?.outcome !== 'approved') await sleep(1_000);
  }
  // The phone's verdict (ADR 0012): its next call sends any owed reversal first, then a request
  // that confirms its last purchases; only then is "approved at the terminal = posted" decided.
  for (let attempt = 0; attempt < FLUSH_ATTEMPTS; attempt++) {
    try {
      const [signOn] = await targets.script(config, [{ step: 'sign-on' }, { step: 'hang-up' }], state);
      if (signOn?.outcome === 'approved') return;
    } catch {
      // the platform is still coming back: try again
    }
    await sleep(1_000);
  }
}

/** Calls a terminal makes at the end to settle its last purchases (its owed reversal, its confirmation). */
const FLUSH_ATTEMPTS = 10;

function databaseUrl(output: string): string {
  const m = /Database\s+(?:embedded PGlite|PostgreSQL)\s+(\S+)/.exec(output);
  if (m?.[1] === undefined) throw new Error('no database URL in the fixpay dev output');
  return m[1];
}

async function query<T extends object>(url: string, sql: string): Promise<T[]> {
  const c = new PgClient({ connectionString: url, connectionTimeoutMillis: 5_000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const arg = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 ? (argv[i + 1] ?? fallback) : fallback;
  };
  if (argv.includes('--help')) {
    console.log('usage: npm run chaos -- [--kills 100] [--terminals 2] [--pause-s 5..15]');
    return 0;
  }
  const kills = Number(arg('--kills', '100'));
  const terminals = Number(arg('--terminals', '2'));
  const [pauseMin, pauseMax] = arg('--pause-s', '5..15').split('..').map(Number);
  if (!(kills >= 0) || !(terminals >= 1 && terminals <= 4) || pauseMin === undefined || pauseMax === undefined)
    throw new Error('bad --kills, --terminals (1-4) or --pause-s (a..b)');
  const started = Date.now();
  console.log('starting fixpay dev --no-demo and the bank simulator behind its proxy...');
  const targets = await Targets.start();
  const stop = (): void => void targets.stop().then(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    const before = targets.bank.settlementRecords().length;
    let seq = 0;
    const nextAmount = (): number => 100 + ++seq; // unique: each purchase can be followed by its amount
    const purchases: Purchase[] = [];
    const running = { value: true };
    const undialled = { value: 0 };
    const loops = Array.from({ length: terminals }, (_, i) =>
      loadLoop(targets, i, nextAmount, running, purchases, undialled),
    );
    const killed = new Map<string, number>();
    const total = CHAOS_TARGETS.reduce((a, t) => a + t.weight, 0);
    for (let k = 1; k <= kills; k++) {
      await sleep((pauseMin + Math.random() * (pauseMax - pauseMin)) * 1000);
      let r = Math.random() * total;
      const target = CHAOS_TARGETS.find((t) => (r -= t.weight) < 0) ?? CHAOS_TARGETS[0];
      if (target === undefined) break;
      const t0 = Date.now();
      let what: string;
      try {
        what = await target.killAndRestart({ targets });
      } catch (e) {
        what = `restart failed: ${e instanceof Error ? e.message.slice(0, 200) : String(e)}`;
        await targets.ensureUp().catch(() => undefined);
      }
      killed.set(target.name, (killed.get(target.name) ?? 0) + 1);
      const approved = purchases.filter((p) => p.result.outcome === 'approved').length;
      console.log(
        `[kill ${k}/${kills}] ${target.name}: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s); purchases ${purchases.length}, approved ${approved}`,
      );
    }
    await sleep(5_000);
    running.value = false;
    await Promise.all(loops);
    await targets.ensureUp();
    const url = databaseUrl(targets.platformOutput);

    // Quiet: reversals acknowledged and reservations settled (or the time is up).
    const quietUntil = Date.now() + QUIET_TIMEOUT_MS;
    let open = { reversals: -1, pending: -1 };
    while (Date.now() < quietUntil) {
      const [rev] = await query<{ n: string }>(
        url,
        "SELECT count(*)::text AS n FROM card_network_reversal WHERE status IN ('armed', 'pending')",
      );
      const [pend] = await query<{ n: string }>(
        url,
        'SELECT COALESCE(sum(debits_pending), 0)::text AS n FROM ledger_account',
      );
      open = { reversals: Number(rev?.n ?? -1), pending: Number(pend?.n ?? -1) };
      if (open.reversals === 0 && open.pending === 0) break;
      await sleep(2_000);
    }

    const balance = await query<{ ledger: number; dp: string; cp: string; dpe: string; cpe: string }>(
      url,
      'SELECT ledger, sum(debits_posted)::text AS dp, sum(credits_posted)::text AS cp, sum(debits_pending)::text AS dpe, sum(credits_pending)::text AS cpe FROM ledger_account GROUP BY ledger',
    );
    const balanced = balance.every((b) => b.dp === b.cp && b.dpe === b.cpe);
    const postedRows = await query<{ amount: string }>(
      url,
      `SELECT (CASE WHEN t.amount = 0 THEN p.amount ELSE t.amount END)::text AS amount
         FROM ledger_transfer t JOIN ledger_transfer p ON p.id = t.pending_id
        WHERE t.post_pending_transfer AND p.code = 1`,
    );
    const [reversals] = await query<{ done: string; open: string; expired: string }>(
      url,
      `SELECT count(*) FILTER (WHERE status = 'done')::text AS done,
              count(*) FILTER (WHERE status IN ('armed', 'pending'))::text AS open,
              count(*) FILTER (WHERE status = 'expired')::text AS expired FROM card_network_reversal`,
    );
    const posted = new Map<number, number>();
    for (const r of postedRows) posted.set(Number(r.amount), (posted.get(Number(r.amount)) ?? 0) + 1);
    const charged = new Map<number, number>();
    const bankRecords = targets.bank.settlementRecords().slice(before);
    for (const r of bankRecords) charged.set(r.amountMinor, (charged.get(r.amountMinor) ?? 0) + 1);
    const ours = new Set(purchases.map((p) => p.amountMinor));
    const approved = purchases.filter((p) => p.result.outcome === 'approved');
    const lost = approved.filter((p) => posted.get(p.amountMinor) !== 1 || charged.get(p.amountMinor) !== 1);
    const doublePosted = [...posted].filter(([a, n]) => ours.has(a) && n > 1);
    const doubleCharged = [...charged].filter(([a, n]) => ours.has(a) && n > 1);
    const chargedNotPosted = [...charged.keys()].filter((a) => ours.has(a) && !posted.has(a));
    const postedNotCharged = [...posted.keys()].filter((a) => ours.has(a) && !charged.has(a));
    const settlementEqualsLedger =
      chargedNotPosted.length === 0 && postedNotCharged.length === 0 && doubleCharged.length === 0;

    console.log(`\nchaos: ${kills} kills in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
    for (const [name, n] of killed) console.log(`  ${String(n).padStart(3)} × ${name}`);
    const outcomes = new Map<string, number>();
    for (const p of purchases) {
      const k = `${p.result.outcome}${p.result.outcome === 'failed' ? ` ${p.result.failure?.codeName ?? ''}` : p.result.responseCode === undefined ? '' : ` ${p.result.responseCode}`}`;
      outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    }
    console.log(
      `purchases: ${purchases.length} tried (${undialled.value} more not dialled: platform down); ${[...outcomes].map(([k, n]) => `${n} ${k}`).join(', ')}`,
    );
    console.log(`ledger balanced: ${balanced ? 'yes' : `NO ${JSON.stringify(balance)}`}; pending left ${open.pending}`);
    console.log(
      `approved at the terminal: ${approved.length}; lost (not posted once or not charged once): ${lost.length}; double-posted: ${doublePosted.length}; double-charged: ${doubleCharged.length}`,
    );
    console.log(
      `bank settlement = ledger: ${settlementEqualsLedger ? 'yes' : 'NO'} (bank ${bankRecords.length} records, ledger ${postedRows.length} posted; charged not posted ${chargedNotPosted.length}, posted not charged ${postedNotCharged.length})`,
    );
    console.log(
      `reversals: ${reversals?.done ?? '?'} acknowledged, ${reversals?.open ?? '?'} open, ${reversals?.expired ?? '?'} expired`,
    );
    for (const p of lost.slice(0, 10))
      console.log(
        `  lost: ${p.terminalId} STAN ${p.result.stan ?? '?'} amount ${p.amountMinor}: posted ${posted.get(p.amountMinor) ?? 0}, charged ${charged.get(p.amountMinor) ?? 0}`,
      );
    for (const a of chargedNotPosted.slice(0, 10)) console.log(`  charged at the bank, not posted: amount ${a}`);
    for (const a of postedNotCharged.slice(0, 10)) console.log(`  posted, not charged at the bank: amount ${a}`);
    const ok =
      balanced &&
      lost.length === 0 &&
      doublePosted.length === 0 &&
      settlementEqualsLedger &&
      Number(reversals?.open ?? 1) === 0 &&
      Number(reversals?.expired ?? 1) === 0;
    console.log(
      `chaos: ${ok ? 'OK' : 'INVARIANTS BROKEN'}: ${lost.length} lost, ${doublePosted.length} double-posted over ${kills} kills`,
    );
    return ok ? 0 : 1;
  } finally {
    await targets.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
