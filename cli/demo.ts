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
import { demoTerminalConfig } from '../simulator/terminal/demo';
import { PosTerminal } from '../simulator/terminal/terminal';
import type { ConversationResult, TransactionResult } from '../simulator/terminal/terminal';

/** Demo terminals by default: the first three dial over TCP PCM, the last over SIP/RTP. */
export const DEMO_TERMINALS_DEFAULT = 4;
/** Pause between one terminal's transactions, ms (a shop's pace, not a load test). */
export const DEMO_PAUSE_MS_DEFAULT = 1_500;
/** Wait before a terminal tries to sign on again after a failed sign-on, ms. */
export const DEMO_SIGN_ON_RETRY_MS = 3_000;
/** Share of transactions that are purchases (the rest are value-added services and balance inquiries). */
export const DEMO_PURCHASE_SHARE = 0.6;
/** Share that are value-added services from the phone's menu (top-up, PIN top-up, bill with its prompt). */
export const DEMO_VAS_SHARE = 0.2;
/**
 * The menu services the demo phones loop over (the sandbox numbers succeed at once: last digit 0–3).
 * The bill asks "PAY …? 1=YES 2=NO" and the phone presses 1.
 */
export const DEMO_VAS: readonly {
  readonly code: string;
  readonly inputs: Readonly<Record<string, string>>;
  readonly replies: readonly { readonly key: string }[];
}[] = [
  { code: 'mobile-topup', inputs: { operator: '1', msisdn: '13800138000', amount: '5000' }, replies: [] },
  { code: 'voucher-topup', inputs: { operator: '1', msisdn: '900000000001', amount: '10000' }, replies: [] },
  { code: 'bill-payment', inputs: { billerId: '2', customerRef: '1234567891' }, replies: [{ key: '1' }] },
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
  };
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
    ` line ${seconds(t.lineTimeMs)} s; ${s.ledgerBalanced === false ? 'LEDGER OUT OF BALANCE' : s.ledgerBalanced === true ? 'ledger balanced' : 'ledger unchecked'}; ${per.join(', ')}`
  );
}

/** Records one transaction's result into a terminal's stats. */
export function record(stats: TerminalStats, r: TransactionResult): void {
  stats.calls++;
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
      },
    });
  }

  const terminals = setups.map((s) => new PosTerminal(s.config, { stateStore: s.state }));
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
          // A menu service, each in turn; the answer's receipt is printed by the simulated phone.
          const vas = DEMO_VAS[s.stats.calls % DEMO_VAS.length] ?? DEMO_VAS[0];
          if (vas !== undefined && !isStopped())
            recordService(s.stats, await terminal.service(vas.code, vas.inputs, vas.replies));
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
