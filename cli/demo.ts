/**
 * The live demo `fixpay dev` runs by default (`--no-demo` turns it off): simulated POS phones built
 * from the seeded demo data (simulator/terminal/demo.ts) dial the access node over real FSK audio —
 * three over TCP PCM, one over SIP/RTP — sign on, then loop purchases and balance inquiries. A
 * summary per terminal and in total (calls, approved/declined/failed, retransmissions, last
 * response, host latency p50/p99, line time) plus the ledger's balance check is redrawn about once
 * a second on a TTY, or printed as one line every few seconds otherwise.
 */
import { MemoryStateStore } from '../simulator/terminal/config';
import type { TerminalConfig } from '../simulator/terminal/config';
import { DEMO_DRAW_OPEN } from '../simulator/providers/tickets-demo';
import { demoCards, demoTerminalConfig } from '../simulator/terminal/demo';
import { PosTerminal } from '../simulator/terminal/terminal';
import type { ConversationResult, TransactionResult } from '../simulator/terminal/terminal';

/** Demo terminals by default: the first three dial over TCP PCM, the last over SIP/RTP. */
export const DEMO_TERMINALS_DEFAULT = 4;
/** Pause between one terminal's transactions, ms (a shop's pace, not a load test). */
export const DEMO_PAUSE_MS_DEFAULT = 1_500;
/** Wait before a terminal tries to sign on again after a failed sign-on, ms. */
export const DEMO_SIGN_ON_RETRY_MS = 3_000;
/** Share of transactions that are purchases (the rest are menu services and balance inquiries). */
export const DEMO_PURCHASE_SHARE = 0.4;
/** Share that are menu services (every service of the seed, each in turn: see `DEMO_VAS`). */
export const DEMO_VAS_SHARE = 0.45;
/** The draw the demo sells (`addDemoDraws` opens it at start-up for a week). */
export const DEMO_LOTTERY_DRAW = DEMO_DRAW_OPEN;

/** One menu service of the live demo: the inputs the phone keys on its `n`-th turn, or undefined to pass its turn. */
export interface DemoService {
  readonly code: string;
  /** A card service (ADR 0024): the phone reads its card and PIN. */
  readonly card?: boolean;
  readonly inputs: (n: number, ownPan: string) => Readonly<Record<string, string>> | undefined;
  readonly replies: readonly { readonly key: string }[];
}

const pad = (n: number, width: number): string => String(n % 10 ** width).padStart(width, '0');
/** Seat numbers the sandbox cinema sells at once (a key ending 0–3: TICKET_SANDBOX_RULES), 1..93. */
const SEAT_NUMBERS = Array.from({ length: 93 }, (_, i) => i + 1).filter((n) => n % 10 <= 3);
const ROWS = 26;
/** The `n`-th seat of a show as keyed on the pad (row 01 = A, then the seat number): never the same twice in a run. */
export function demoSeat(n: number): string {
  const row = Math.floor(n / SEAT_NUMBERS.length) % ROWS;
  return `${pad(row + 1, 2)}${pad(SEAT_NUMBERS[n % SEAT_NUMBERS.length] ?? 1, 2)}`;
}
/** The bank simulator's credit card: the repayment's target (simulator/bank/accounts.ts). */
const CREDIT_CARD = demoCards().find((c) => c.pan.endsWith('0027'))?.pan ?? '';

/**
 * The menu services the demo phones loop over, every service of the seed. The sandbox providers
 * succeed at once for keys ending 0–3 and references never repeat within a run (a booking, a seat,
 * a bill is sold once). Services with a confirmation prompt get YES.
 */
export const DEMO_VAS: readonly DemoService[] = [
  { code: 'mobile-topup', inputs: () => ({ operator: '1', msisdn: '13800138000', amount: '5000' }), replies: [] },
  { code: 'voucher-topup', inputs: () => ({ operator: '1', msisdn: '900000000001', amount: '10000' }), replies: [] },
  { code: 'bill-payment', inputs: () => ({ billerId: '2', customerRef: '1234567891' }), replies: [{ key: '1' }] },
  {
    code: 'air-ticket',
    inputs: (n) => ({ offer: '1', booking: `1${pad(n, 4)}${n % 4}` }),
    replies: [{ key: '1' }],
  },
  {
    code: 'movie-ticket',
    // Two shows, each seat sold once: show 1 gets the even turns' seats, show 2 the odd ones'.
    inputs: (n) => ({ offer: '1', show: String((n % 2) + 1), seatKeys: demoSeat(Math.floor(n / 2)) }),
    replies: [{ key: '1' }],
  },
  {
    code: 'lottery-ticket',
    inputs: (n) => ({ offer: '1', draw: DEMO_LOTTERY_DRAW, numbers: `0107132235${pad(40 + (n % 4), 2)}` }),
    replies: [{ key: '1' }],
  },
  {
    code: 'transfer',
    card: true,
    // To another of the bank simulator's cards: the first one, or the second from the first.
    inputs: (_n: number, ownPan: string): Readonly<Record<string, string>> | undefined => {
      const target = demoCards().find((c) => c.pan !== ownPan && c.pan !== CREDIT_CARD)?.pan;
      return target === undefined ? undefined : { target, amount: '100' };
    },
    replies: [{ key: '1' }],
  },
  {
    code: 'credit-card-repayment',
    card: true,
    // The credit card cannot repay itself: its phone passes this turn.
    inputs: (_n, ownPan) => (ownPan === CREDIT_CARD ? undefined : { target: CREDIT_CARD, amount: '100' }),
    replies: [{ key: '1' }],
  },
];
/** Purchase amounts, minor units (1.00 to 50.00). */
export const DEMO_AMOUNT_MINOR_MIN = 100;
export const DEMO_AMOUNT_MINOR_MAX = 5_000;
/** Host latencies kept per terminal for the percentiles (the most recent). */
export const LATENCIES_KEPT = 1_000;
/** STANs are 6 digits; a demo run starts each terminal at 10 × the UTC second of the day. */
const STAN_MAX = 999_999;
const STAN_PER_SECOND = 10;

export interface TerminalStats {
  readonly terminalId: string;
  readonly transport: 'tcp-pcm' | 'sip';
  calls: number;
  approved: number;
  /** Purchases approved (of `approved`). */
  purchasesApproved: number;
  declined: number;
  failed: number;
  retransmissions: number;
  /** e.g. `purchase 00 APPROVED`. */
  lastResponse: string;
  /** Host latencies (request demodulated → answer ready), ms, most recent last. */
  readonly latenciesMs: number[];
  lineTimeMs: number;
  /** Calls and approvals per service (purchase, balance, sign-on, and each menu service by its code). */
  readonly byService: Record<string, { calls: number; approved: number }>;
}

export interface DemoSnapshot {
  readonly terminals: readonly TerminalStats[];
  /** undefined until the first check. */
  readonly ledgerBalanced: boolean | undefined;
  readonly temporalUiUrl: string | undefined;
  readonly lastWorkflowId: string | undefined;
}

/** The value at quantile `q` (0..1) of `values`, nearest rank; undefined when empty. */
export function percentile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/** Counts of every terminal added up (latencies pooled). */
export function totalOf(terminals: readonly TerminalStats[]): Omit<TerminalStats, 'terminalId' | 'transport'> {
  return {
    calls: terminals.reduce((n, t) => n + t.calls, 0),
    approved: terminals.reduce((n, t) => n + t.approved, 0),
    purchasesApproved: terminals.reduce((n, t) => n + t.purchasesApproved, 0),
    declined: terminals.reduce((n, t) => n + t.declined, 0),
    failed: terminals.reduce((n, t) => n + t.failed, 0),
    retransmissions: terminals.reduce((n, t) => n + t.retransmissions, 0),
    lastResponse: '',
    latenciesMs: terminals.flatMap((t) => t.latenciesMs),
    lineTimeMs: terminals.reduce((n, t) => n + t.lineTimeMs, 0),
    byService: servicesOf(terminals),
  };
}

/** Calls and approvals per service, every terminal added up. */
export function servicesOf(terminals: readonly TerminalStats[]): Record<string, { calls: number; approved: number }> {
  const out: Record<string, { calls: number; approved: number }> = {};
  for (const t of terminals)
    for (const [code, c] of Object.entries(t.byService)) {
      const o = (out[code] ??= { calls: 0, approved: 0 });
      o.calls += c.calls;
      o.approved += c.approved;
    }
  return out;
}

/** `purchase 3/4, balance 1/1, …`: approved/calls per service, in name order. */
export function servicesText(terminals: readonly TerminalStats[]): string {
  return Object.entries(servicesOf(terminals))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([code, c]) => `${code} ${c.approved}/${c.calls}`)
    .join(', ');
}

function countService(stats: TerminalStats, code: string, approved: boolean): void {
  const c = (stats.byService[code] ??= { calls: 0, approved: 0 });
  c.calls++;
  if (approved) c.approved++;
}

const ms = (v: number | undefined): string => (v === undefined ? '-' : String(Math.round(v)));
const seconds = (v: number): string => (v / 1000).toFixed(1);

function ledgerText(balanced: boolean | undefined): string {
  if (balanced === undefined) return 'ledger: not checked yet';
  return balanced ? 'ledger: balanced (debits = credits, posted and pending)' : 'ledger: OUT OF BALANCE';
}

/** The compact table drawn on a TTY (one string, lines joined by \n, no trailing newline). */
export function renderTable(s: DemoSnapshot): string {
  const head = ['terminal', 'line', 'calls', 'ok', 'decl', 'fail', 'retx', 'p50 ms', 'p99 ms', 'line s', 'last'];
  const row = (name: string, transport: string, t: Omit<TerminalStats, 'terminalId' | 'transport'>): string[] => [
    name,
    transport,
    String(t.calls),
    String(t.approved),
    String(t.declined),
    String(t.failed),
    String(t.retransmissions),
    ms(percentile(t.latenciesMs, 0.5)),
    ms(percentile(t.latenciesMs, 0.99)),
    seconds(t.lineTimeMs),
    t.lastResponse,
  ];
  const rows = [
    head,
    ...s.terminals.map((t) => row(t.terminalId, t.transport, t)),
    row('total', '', totalOf(s.terminals)),
  ];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i >= 2 && i <= 9 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [
    `Live demo: ${s.terminals.length} simulated POS phones over FSK audio (--no-demo to turn off)`,
    ...rows.map(line),
    `services (approved/calls): ${servicesText(s.terminals) || '-'}`,
    ledgerText(s.ledgerBalanced),
    `Temporal UI ${s.temporalUiUrl ?? '(external server)'}${s.lastWorkflowId === undefined ? '' : `  latest run: ${s.lastWorkflowId}`}`,
  ].join('\n');
}

/** The one-line summary printed when stdout is not a TTY. */
export function renderLine(s: DemoSnapshot): string {
  const t = totalOf(s.terminals);
  const per = s.terminals.map(
    (x) => `${x.terminalId} ${x.approved}/${x.calls}${x.lastResponse === '' ? '' : ` (${x.lastResponse})`}`,
  );
  return (
    `demo: calls ${t.calls} approved ${t.approved} (purchases ${t.purchasesApproved}) declined ${t.declined} failed ${t.failed} retx ${t.retransmissions}` +
    ` host p50 ${ms(percentile(t.latenciesMs, 0.5))} ms p99 ${ms(percentile(t.latenciesMs, 0.99))} ms` +
    ` line ${seconds(t.lineTimeMs)} s; ${s.ledgerBalanced === false ? 'LEDGER OUT OF BALANCE' : s.ledgerBalanced === true ? 'ledger balanced' : 'ledger unchecked'}; ${per.join(', ')}` +
    `; services ${servicesText(s.terminals) || '-'}`
  );
}

/** Records one transaction's result into a terminal's stats. */
export function record(stats: TerminalStats, r: TransactionResult): void {
  stats.calls++;
  countService(stats, r.kind, r.outcome === 'approved');
  if (r.outcome === 'approved') {
    stats.approved++;
    if (r.kind === 'purchase') stats.purchasesApproved++;
  } else if (r.outcome === 'declined') stats.declined++;
  else stats.failed++;
  stats.retransmissions += r.retransmissions;
  stats.lineTimeMs += r.lineTimeMs;
  stats.lastResponse =
    r.responseCode !== undefined
      ? `${r.kind} ${r.responseCode} ${r.responseText ?? ''}`.trimEnd()
      : `${r.kind} ${r.outcome}${r.failure === undefined ? '' : ` ${r.failure.codeName}`}`;
}

/** Records a menu service's conversation (top-up, PIN top-up, bill) into a terminal's stats. */
export function recordService(stats: TerminalStats, r: ConversationResult): void {
  stats.calls++;
  countService(stats, r.code, r.outcome === 'approved');
  if (r.outcome === 'approved') stats.approved++;
  else if (r.outcome === 'declined') stats.declined++;
  else stats.failed++;
  stats.lastResponse = `${r.code} ${r.responseCode ?? r.outcome}${r.failure === undefined ? '' : ` ${r.failure.code}`}`;
}

/** Adds a host latency, keeping the most recent `LATENCIES_KEPT`. */
export function addLatency(stats: TerminalStats, latencyMs: number): void {
  stats.latenciesMs.push(latencyMs);
  if (stats.latenciesMs.length > LATENCIES_KEPT) stats.latenciesMs.splice(0, stats.latenciesMs.length - LATENCIES_KEPT);
}

export interface DemoOptions {
  readonly host: string;
  readonly tcpPcmPort: number;
  readonly sipPort: number;
  readonly terminals?: number;
  readonly pauseMs?: number;
  /** The last PSAM counter the platform accepted for a PSAM serial (a restarted demo continues above it). */
  readonly lastPsamCounter: (psamSerial: string) => Promise<number | undefined>;
  readonly now?: () => Date;
  readonly random?: () => number;
}

export interface RunningDemo {
  readonly stats: readonly TerminalStats[];
  /** Lets the loops finish their current call (at most `graceMs`), then returns. */
  stop(graceMs: number): Promise<void>;
}

/** Starts the demo terminals' loops (they run until `stop`). */
export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const count = options.terminals ?? DEMO_TERMINALS_DEFAULT;
  const pauseMs = options.pauseMs ?? DEMO_PAUSE_MS_DEFAULT;
  const random = options.random ?? Math.random;
  const now = options.now ?? (() => new Date());
  const run = { stopped: false };
  const isStopped = (): boolean => run.stopped;
  let wake: () => void = () => undefined;
  const stopping = new Promise<void>((resolve) => (wake = resolve));
  const sleep = (waitMs: number): Promise<void> =>
    Promise.race([new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref()), stopping]);

  const d = now();
  const secondOfDay = d.getUTCHours() * 3600 + d.getUTCMinutes() * 60 + d.getUTCSeconds();
  const setups: { config: TerminalConfig; state: MemoryStateStore; stats: TerminalStats }[] = [];
  for (let i = 0; i < count; i++) {
    const transport = i === count - 1 && count > 1 ? 'sip' : 'tcp-pcm';
    const config = demoTerminalConfig(i, transport, {
      host: options.host,
      tcpPcmPort: options.tcpPcmPort,
      sipPort: options.sipPort,
    });
    const psamCounter = (await options.lastPsamCounter(config.psam.serial)) ?? 0;
    const stan = (secondOfDay * STAN_PER_SECOND + i) % STAN_MAX;
    setups.push({
      config,
      state: new MemoryStateStore({ stan, batch: '000001', psamCounter }),
      stats: {
        terminalId: config.terminalId,
        transport,
        calls: 0,
        approved: 0,
        purchasesApproved: 0,
        declined: 0,
        failed: 0,
        retransmissions: 0,
        lastResponse: '',
        latenciesMs: [],
        lineTimeMs: 0,
        byService: {},
      },
    });
  }

  const terminals = setups.map((s) => new PosTerminal(s.config, { stateStore: s.state }));
  const turns = { next: 0 };
  const loop = async (s: (typeof setups)[number], terminal: PosTerminal): Promise<void> => {
    let signedOn = false;
    while (!run.stopped) {
      let t: TransactionResult | undefined;
      try {
        const pick = signedOn ? random() : 0;
        if (!signedOn) t = await terminal.signOn();
        else if (pick < DEMO_PURCHASE_SHARE)
          t = await terminal.purchase(
            DEMO_AMOUNT_MINOR_MIN + Math.floor(random() * (DEMO_AMOUNT_MINOR_MAX - DEMO_AMOUNT_MINOR_MIN)),
          );
        else if (pick < DEMO_PURCHASE_SHARE + DEMO_VAS_SHARE) {
          // The next menu service in turn (every terminal takes turns from one list); a service
          // this phone cannot run (the credit card repaying itself) passes to the next.
          const ownPan = s.config.card.track2.pan;
          let chosen: { vas: DemoService; inputs: Readonly<Record<string, string>> } | undefined;
          for (let k = 0; k < DEMO_VAS.length && chosen === undefined; k++) {
            const turn = turns.next++;
            const vas = DEMO_VAS[turn % DEMO_VAS.length];
            const inputs = vas?.inputs(Math.floor(turn / DEMO_VAS.length), ownPan);
            if (vas !== undefined && inputs !== undefined) chosen = { vas, inputs };
          }
          // The answer's receipt is printed by the simulated phone.
          if (chosen !== undefined && !isStopped())
            recordService(
              s.stats,
              await terminal.service(chosen.vas.code, chosen.inputs, chosen.vas.replies, {
                card: chosen.vas.card === true,
              }),
            );
        } else t = await terminal.balance();
        // A POS phone dials per transaction.
        if (!isStopped()) await terminal.hangUp();
      } catch {
        terminal.dropCall();
      }
      if (t !== undefined && !isStopped()) {
        record(s.stats, t);
        if (t.kind === 'sign-on' && t.outcome === 'approved') signedOn = true;
        // The host lost our keys (or we lost its): sign on again.
        if (t.kind !== 'sign-on' && t.failure?.codeName === 'TERMINAL_SIM_NOT_SIGNED_ON') signedOn = false;
      }
      await sleep(signedOn ? pauseMs : DEMO_SIGN_ON_RETRY_MS);
    }
  };
  const loops = setups.map((s, i) => loop(s, terminals[i] ?? new PosTerminal(s.config, { stateStore: s.state })));
  return {
    stats: setups.map((s) => s.stats),
    async stop(graceMs) {
      run.stopped = true;
      wake();
      // Calls in progress end at once, as when the phones are unplugged.
      terminals.forEach((t) => t.dropCall());
      await Promise.race([Promise.all(loops), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    },
  };
}
