/**
 * `npm run chaos -- [--topology roles|dev] [--kills 100] [--terminals 2] [--pause-s 3..8] [--budget-min 60]`:
 * live load (terminal simulators looping sign-on and purchases over TCP PCM, every purchase a unique
 * amount so it can be followed), kill -9's at random intervals spread over weighted targets, each
 * restarted, then the invariants once everything is quiet:
 *
 * - the ledger is balanced (debits = credits, posted and pending, per ledger);
 * - every purchase the terminal saw approved is posted exactly once and charged once at the bank;
 *   one that was reversed by the host while the terminal showed APPROVED is counted apart as an
 *   outcome disagreement (ADR 0012, until the phone is the authority on the outcome);
 * - nothing is posted twice, nothing moves money that the terminal did not see approved, nothing is
 *   charged at the bank that is not posted, and the reverse: the bank's settlement (approved, not
 *   reversed) equals the ledger's posted purchases;
 * - every reversal is acknowledged (none left armed, pending or expired).
 *
 * After the load stops each terminal makes one last call (sign-on and a balance inquiry), so a
 * phone that owes a verdict or a reversal delivers it before the books are read.
 *
 * Topologies: `roles` (default; test/attack/role-targets.ts) runs a private PostgreSQL, the Temporal
 * dev server, `fixpay hsm serve`, two `fixpay worker`, one `fixpay access-node` and one `fixpay api`
 * as separate process groups, each a target; `dev` (the attack suite's test/attack/targets.ts) runs
 * `fixpay dev --no-demo` as one process. Both put the bank simulator in this process (so its record
 * survives its "kills") behind the tampering proxy. Linux only. See docs/testing.md, "Chaos".
 */
import { Client as PgClient } from 'pg';
import { DEMO } from '../demo/seed';
import { SIM_ZAK_HEX } from '../simulator/bank/accounts';
import type { Bank } from '../simulator/bank/bank';
import { BankServer } from '../simulator/bank/server';
import type { MemoryStateStore, TerminalConfig } from '../simulator/terminal/config';
import type { ScriptStep } from '../simulator/terminal/script';
import type { TransactionResult } from '../simulator/terminal/terminal';
import { RoleTargets } from '../test/attack/role-targets';
import type { RoleName } from '../test/attack/role-targets';
import { Targets } from '../test/attack/targets';
import { alive, childPids, cmdline, LOOPBACK, sleep } from '../test/attack/support';

/** Purchases per call of a load loop. */
const PURCHASES_PER_CALL = 3;
/** Longest wait for reversals and reservations to settle after the last kill, ms. */
const QUIET_TIMEOUT_MS = 180_000;
/** Longest bank outage, ms. */
const BANK_OUTAGE_MS_MAX = 8_000;
/** Tries of each terminal's last call (the platform may still be settling). */
const FINAL_CALL_TRIES = 5;

/**
 * The demo terminals the load dials with (indexes into DEMO.terminals): those whose device profile
 * is the simulator's default modem (V.23); a Bell 202 terminal would never hear the host's EST.
 */
const LOAD_TERMINALS = DEMO.terminals.flatMap((t, i) => (t.deviceProfileId === 'es201912-v23' ? [i] : []));

/** What can be killed: kill -9 (or the equivalent) and a restart. */
interface ChaosTarget {
  readonly name: string;
  readonly weight: number;
  /** Kills it and brings it back; returns what happened. */
  killAndRestart(): Promise<string>;
}

/** One topology under chaos: its targets, its terminals, its books. */
interface ChaosWorld {
  readonly targets: readonly ChaosTarget[];
  readonly bank: Bank;
  terminal(demoTerminal: number): TerminalConfig;
  freshState(): MemoryStateStore;
  script(
    config: TerminalConfig,
    steps: readonly ScriptStep[],
    state: MemoryStateStore,
  ): Promise<readonly TransactionResult[]>;
  databaseUrl(): string;
  /** Waits until everything is up again; what had to be waited for. */
  ensureUp(): Promise<readonly string[]>;
  /** Lines for the report (processes that exited on their own). */
  notes(): string[];
  stop(): Promise<void>;
}

function bankOutageMs(): number {
  return 1_000 + Math.floor(Math.random() * BANK_OUTAGE_MS_MAX);
}

/** `fixpay dev` as one process: the platform, its Temporal child and the bank. */
function devWorld(targets: Targets): ChaosWorld {
  const chaosTargets: ChaosTarget[] = [
    {
      name: 'platform (worker + access node + API + database)',
      weight: 4,
      async killAndRestart() {
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
      async killAndRestart() {
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
      async killAndRestart() {
        const outageMs = bankOutageMs();
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
  ];
  return {
    targets: chaosTargets,
    get bank() {
      return targets.bank;
    },
    terminal: (demoTerminal) => targets.terminal({ demoTerminal }),
    freshState: () => targets.freshState(),
    script: (config, steps, state) => targets.script(config, steps, state),
    databaseUrl() {
      const m = /Database\s+(?:embedded PGlite|PostgreSQL)\s+(\S+)/.exec(targets.platformOutput);
      if (m?.[1] === undefined) throw new Error('no database URL in the fixpay dev output');
      return m[1];
    },
    ensureUp: () => targets.ensureUp(),
    notes: () => [],
    stop: () => targets.stop(),
  };
}

/** Kill weights of the role processes (the bank simulator's outage is a target too). */
const ROLE_WEIGHTS: Readonly<Record<RoleName, number>> = {
  'worker-1': 2,
  'worker-2': 2,
  'access-node': 2,
  api: 1,
  temporal: 2,
  database: 2,
  hsm: 1,
};
const BANK_WEIGHT = 2;

/** The platform as role processes, each a target (kill -9 of its process group, then a start). */
function rolesWorld(rt: RoleTargets): ChaosWorld {
  const chaosTargets: ChaosTarget[] = rt.names.map((name) => ({
    name,
    weight: ROLE_WEIGHTS[name],
    async killAndRestart() {
      const { pid, downMs } = await rt.killAndRestart(name);
      return `kill -9 -${pid ?? '?'}; ready again after ${(downMs / 1000).toFixed(1)} s`;
    },
  }));
  chaosTargets.push({
    name: 'bank simulator',
    weight: BANK_WEIGHT,
    async killAndRestart() {
      const outageMs = bankOutageMs();
      await rt.bankOutage(outageMs);
      return `bank down ${outageMs} ms; back (its ledger survives: a bank does not lose its books)`;
    },
  });
  return {
    targets: chaosTargets,
    get bank() {
      return rt.bank;
    },
    terminal: (demoTerminal) => rt.terminal({ demoTerminal }),
    freshState: () => rt.freshState(),
    script: (config, steps, state) => rt.script(config, steps, state),
    databaseUrl: () => rt.databaseUrl,
    ensureUp: () => rt.ensureUp(),
    notes: () =>
      [...rt.exitsOnOwn()].map(([name, e]) => `${name} exited on its own ${e.n} time(s), restarted; last: ${e.last}`),
    stop: () => rt.stop(),
  };
}

interface Purchase {
  readonly terminalId: string;
  readonly amountMinor: number;
  readonly result: TransactionResult;
}

interface LoadTerminal {
  readonly config: TerminalConfig;
  readonly state: MemoryStateStore;
}

async function loadLoop(
  world: ChaosWorld,
  terminal: LoadTerminal,
  nextAmount: () => number,
  running: { value: boolean },
  purchases: Purchase[],
  undialled: { value: number },
  signOns: Map<string, number>,
): Promise<void> {
  const { config, state } = terminal;
  while (running.value) {
    const amounts = Array.from({ length: PURCHASES_PER_CALL }, nextAmount);
    let results: readonly TransactionResult[];
    try {
      results = await world.script(
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
      // A call that never got through (the access node is down) sent nothing: not a purchase tried.
      if (result.failure?.codeName === 'TERMINAL_SIM_DIAL_FAILED') undialled.value++;
      else if (amountMinor !== undefined) purchases.push({ terminalId: config.terminalId, amountMinor, result });
    });
    const signOn = results[0];
    if (signOn !== undefined && signOn.failure?.codeName !== 'TERMINAL_SIM_DIAL_FAILED') {
      const k = `${signOn.outcome} ${signOn.responseCode ?? signOn.failure?.codeName ?? ''}`.trim();
      signOns.set(k, (signOns.get(k) ?? 0) + 1);
    }
    // A phone whose sign-on failed waits before it dials again.
    if (signOn?.outcome !== 'approved') await sleep(1_000);
  }
}

/** The last call of a terminal once the load stopped: sign-on and a balance inquiry, retried. */
async function finalCall(world: ChaosWorld, terminal: LoadTerminal): Promise<string> {
  let last = 'not tried';
  for (let i = 0; i < FINAL_CALL_TRIES; i++) {
    try {
      const r = await world.script(
        terminal.config,
        [{ step: 'sign-on' }, { step: 'balance' }, { step: 'hang-up' }],
        terminal.state,
      );
      last = r.map((t) => `${t.outcome} ${t.responseCode ?? t.failure?.codeName ?? ''}`.trim()).join(' / ');
      if (r[1]?.outcome === 'approved') return `${terminal.config.terminalId}: ${last}`;
    } catch (e) {
      last = e instanceof Error ? e.message.slice(0, 100) : String(e);
    }
    await sleep(3_000);
  }
  return `${terminal.config.terminalId}: ${last} after ${FINAL_CALL_TRIES} tries`;
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

/** Counts per amount (each purchase has its own amount). */
function countBy(amounts: Iterable<number>): Map<number, number> {
  const m = new Map<number, number>();
  for (const a of amounts) m.set(a, (m.get(a) ?? 0) + 1);
  return m;
}

export type Verdict =
  'posted' | 'lost' | 'double-posted' | 'outcome-disagreement (ADR 0012)' | 'not posted' | 'moved without approval';

/**
 * What became of one purchase, from what the terminal showed and what the ledger and the bank
 * hold for its amount: `posted` (approved, posted once, charged once), `double-posted`,
 * `outcome-disagreement (ADR 0012)` (approved at the terminal, reversed by the host at the network
 * and in the ledger), `lost` (approved at the terminal and otherwise not posted once and charged
 * once), `not posted` (declined or failed, no money moved), `moved without approval` (declined or
 * failed at the terminal, yet posted or charged).
 */
export function verdict(
  approvedAtTerminal: boolean,
  books: { posted: number; charged: number; voided: number; reversedAtBank: number },
): Verdict {
  const { posted, charged, voided, reversedAtBank } = books;
  if (!approvedAtTerminal) return posted === 0 && charged === 0 ? 'not posted' : 'moved without approval';
  if (posted > 1 || charged > 1) return 'double-posted';
  if (posted === 1 && charged === 1) return 'posted';
  if (posted === 0 && charged === 0 && (voided > 0 || reversedAtBank > 0)) return 'outcome-disagreement (ADR 0012)';
  return 'lost';
}

function row(label: string, value: string | number): string {
  return `  ${label.padEnd(58, '.')} ${value}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const arg = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 ? (argv[i + 1] ?? fallback) : fallback;
  };
  if (argv.includes('--help')) {
    console.log(
      'usage: npm run chaos -- [--topology roles|dev] [--kills 100] [--terminals 2] [--pause-s 3..8] [--budget-min 60]',
    );
    return 0;
  }
  const topology = arg('--topology', 'roles');
  const kills = Number(arg('--kills', '100'));
  const terminals = Number(arg('--terminals', '2'));
  const [pauseMin, pauseMax] = arg('--pause-s', '3..8').split('..').map(Number);
  const budgetMin = Number(arg('--budget-min', '60'));
  if (topology !== 'roles' && topology !== 'dev') throw new Error('bad --topology (roles or dev)');
  if (
    !(kills >= 0) ||
    !(terminals >= 1 && terminals <= LOAD_TERMINALS.length) ||
    pauseMin === undefined ||
    pauseMax === undefined ||
    !(pauseMin >= 0 && pauseMax >= pauseMin) ||
    !(budgetMin > 0)
  )
    throw new Error(`bad --kills, --terminals (1-${LOAD_TERMINALS.length}), --pause-s (a..b) or --budget-min`);
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 60_000).toFixed(1)} min`;
  console.log(
    topology === 'roles'
      ? 'starting a private PostgreSQL, Temporal, fixpay hsm serve, 2 workers, an access node, the API and the bank simulator behind its proxy...'
      : 'starting fixpay dev --no-demo and the bank simulator behind its proxy...',
  );
  const world = topology === 'roles' ? rolesWorld(await RoleTargets.start()) : devWorld(await Targets.start());
  console.log(`up after ${elapsed()}; load: ${terminals} terminal(s), ${kills} kills every ${pauseMin}..${pauseMax} s`);
  const stop = (): void => void world.stop().then(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    const before = world.bank.settlementRecords().length;
    let seq = 0;
    const nextAmount = (): number => 100 + ++seq; // unique: each purchase can be followed by its amount
    const purchases: Purchase[] = [];
    const running = { value: true };
    const undialled = { value: 0 };
    const phones: LoadTerminal[] = LOAD_TERMINALS.slice(0, terminals).map((i) => ({
      config: world.terminal(i),
      state: world.freshState(),
    }));
    const signOns = new Map<string, number>();
    const loops = phones.map((p) => loadLoop(world, p, nextAmount, running, purchases, undialled, signOns));
    const killed = new Map<string, number>();
    const total = world.targets.reduce((a, t) => a + t.weight, 0);
    const budgetEnd = started + budgetMin * 60_000;
    let done = 0;
    for (let k = 1; k <= kills; k++) {
      if (Date.now() > budgetEnd) {
        console.log(`time budget of ${budgetMin} min spent after ${done} kills: stopping the kills`);
        break;
      }
      await sleep((pauseMin + Math.random() * (pauseMax - pauseMin)) * 1000);
      let r = Math.random() * total;
      const target = world.targets.find((t) => (r -= t.weight) < 0) ?? world.targets[0];
      if (target === undefined) break;
      const t0 = Date.now();
      let what: string;
      try {
        what = await target.killAndRestart();
      } catch (e) {
        what = `restart failed: ${e instanceof Error ? e.message.slice(0, 200) : String(e)}`;
        await world.ensureUp().catch(() => undefined);
      }
      done++;
      killed.set(target.name, (killed.get(target.name) ?? 0) + 1);
      const approved = purchases.filter((p) => p.result.outcome === 'approved').length;
      console.log(
        `[${elapsed()}] [kill ${k}/${kills}] ${target.name}: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s); purchases ${purchases.length}, approved ${approved}`,
      );
    }
    await sleep(5_000);
    running.value = false;
    await Promise.all(loops);
    const late = await world.ensureUp();
    if (late.length > 0) console.log(`waited for ${late.join(', ')} to be up again`);
    console.log(`[${elapsed()}] load stopped; each terminal's last call (sign-on, balance inquiry):`);
    for (const p of phones) console.log(`  ${await finalCall(world, p)}`);
    const url = world.databaseUrl();

    // Quiet: reversals acknowledged and reservations settled (or the time is up).
    const quietUntil = Date.now() + QUIET_TIMEOUT_MS;
    let open = { reversals: -1, pending: -1 };
    while (Date.now() < quietUntil) {
      try {
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
      } catch {
        // the database is still coming back
      }
      await sleep(2_000);
    }
    console.log(`[${elapsed()}] quiet: open reversals ${open.reversals}, pending ${open.pending}`);

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
    const voidedRows = await query<{ amount: string }>(
      url,
      `SELECT p.amount::text AS amount FROM ledger_transfer p
        WHERE p.pending AND p.code = 1 AND p.pending_status IN ('voided', 'expired')`,
    );
    const [reversals] = await query<{ armed: string; done: string; cancelled: string; open: string; expired: string }>(
      url,
      `SELECT count(*)::text AS armed,
              count(*) FILTER (WHERE status = 'done')::text AS done,
              count(*) FILTER (WHERE status = 'cancelled')::text AS cancelled,
              count(*) FILTER (WHERE status IN ('armed', 'pending'))::text AS open,
              count(*) FILTER (WHERE status = 'expired')::text AS expired FROM card_network_reversal`,
    );
    const posted = countBy(postedRows.map((r) => Number(r.amount)));
    const voided = countBy(voidedRows.map((r) => Number(r.amount)));
    const bankRecords = world.bank.settlementRecords().slice(before);
    const charged = countBy(bankRecords.map((r) => r.amountMinor));
    const ours = new Set(purchases.map((p) => p.amountMinor));
    const verdicts = purchases.map((p) => ({
      p,
      v: verdict(p.result.outcome === 'approved', {
        posted: posted.get(p.amountMinor) ?? 0,
        charged: charged.get(p.amountMinor) ?? 0,
        voided: voided.get(p.amountMinor) ?? 0,
        reversedAtBank: p.result.stan === undefined ? 0 : world.bank.reversalsOf(p.terminalId, p.result.stan),
      }),
    }));
    const count = (v: Verdict): number => verdicts.filter((x) => x.v === v).length;
    const doublePosted = [...posted].filter(([a, n]) => ours.has(a) && n > 1);
    const doubleCharged = [...charged].filter(([a, n]) => ours.has(a) && n > 1);
    const chargedNotPosted = [...charged.keys()].filter((a) => ours.has(a) && !posted.has(a));
    const postedNotCharged = [...posted.keys()].filter((a) => ours.has(a) && !charged.has(a));
    const settlementEqualsLedger =
      chargedNotPosted.length === 0 && postedNotCharged.length === 0 && doubleCharged.length === 0;
    const outcomes = new Map<string, number>();
    for (const p of purchases) {
      const k = `${p.result.outcome}${p.result.outcome === 'failed' ? ` ${p.result.failure?.codeName ?? ''}` : p.result.responseCode === undefined ? '' : ` ${p.result.responseCode}`}`;
      outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    }
    const byOutcome = (o: string): number => purchases.filter((p) => p.result.outcome === o).length;

    console.log(`\nchaos (${topology}): ${done} kills in ${elapsed()}`);
    console.log('kills per target:');
    for (const t of world.targets) console.log(row(t.name, killed.get(t.name) ?? 0));
    for (const n of world.notes()) console.log(`  note: ${n}`);
    console.log('purchases:');
    console.log(row('attempted (dialled)', purchases.length));
    console.log(row('not dialled (access node down)', undialled.value));
    console.log(row('approved at the terminal', byOutcome('approved')));
    console.log(row('declined at the terminal', byOutcome('declined')));
    console.log(row('failed at the terminal', byOutcome('failed')));
    console.log(`    (${[...outcomes].map(([k, n]) => `${n} ${k}`).join(', ')})`);
    console.log(`    sign-ons: ${[...signOns].map(([k, n]) => `${n} ${k}`).join(', ')}`);
    console.log(row('posted in the ledger (ours)', [...posted].filter(([a]) => ours.has(a)).length));
    console.log(row('reversed (reservation voided or expired)', [...voided].filter(([a]) => ours.has(a)).length));
    console.log(row('approved and posted once, charged once', count('posted')));
    console.log(row('double-posted', doublePosted.length));
    console.log(row('double-charged at the bank', doubleCharged.length));
    console.log(row('lost (approved, not posted once, not host-reversed)', count('lost')));
    console.log(row('outcome-disagreement (ADR 0012)', count('outcome-disagreement (ADR 0012)')));
    console.log(row('moved without approval at the terminal', count('moved without approval')));
    console.log('books:');
    console.log(row('ledger balanced', balanced ? 'yes' : `NO ${JSON.stringify(balance)}`));
    console.log(row('pending left', open.pending));
    console.log(
      row(
        'bank settlement = ledger',
        `${settlementEqualsLedger ? 'yes' : 'NO'} (bank ${bankRecords.length}, ledger ${postedRows.length}; charged not posted ${chargedNotPosted.length}, posted not charged ${postedNotCharged.length})`,
      ),
    );
    console.log(row('reversals armed (one per authorization sent)', reversals?.armed ?? '?'));
    console.log(row('reversals acknowledged (sent, 0410 received)', reversals?.done ?? '?'));
    console.log(row('reversals disarmed (answer ACKed: none owed)', reversals?.cancelled ?? '?'));
    console.log(row('reversals open / expired', `${reversals?.open ?? '?'} / ${reversals?.expired ?? '?'}`));
    for (const { p, v } of verdicts.filter((x) => x.v !== 'posted' && x.v !== 'not posted').slice(0, 20))
      console.log(
        `  ${v}: ${p.terminalId} STAN ${p.result.stan ?? '?'} amount ${p.amountMinor} (terminal ${p.result.outcome} ${p.result.responseCode ?? p.result.failure?.codeName ?? ''}): posted ${posted.get(p.amountMinor) ?? 0}, charged ${charged.get(p.amountMinor) ?? 0}, voided ${voided.get(p.amountMinor) ?? 0}`,
      );
    for (const a of chargedNotPosted.slice(0, 10)) console.log(`  charged at the bank, not posted: amount ${a}`);
    for (const a of postedNotCharged.slice(0, 10)) console.log(`  posted, not charged at the bank: amount ${a}`);
    const ok =
      balanced &&
      count('lost') === 0 &&
      count('moved without approval') === 0 &&
      doublePosted.length === 0 &&
      settlementEqualsLedger &&
      Number(reversals?.open ?? 1) === 0 &&
      Number(reversals?.expired ?? 1) === 0;
    console.log(
      `chaos: ${ok ? 'OK' : 'INVARIANTS BROKEN'}: ${count('lost')} lost, ${doublePosted.length} double-posted, ${count('outcome-disagreement (ADR 0012)')} outcome disagreements (ADR 0012) over ${done} kills`,
    );
    return ok ? 0 : 1;
  } finally {
    await world.stop();
  }
}

if (require.main === module)
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(2);
    },
  );
