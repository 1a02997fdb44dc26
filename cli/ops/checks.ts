/**
 * `fixpay ops` on the database and the metrics endpoints: the reversal queue, the ledger's balance,
 * the terminal keys' check values, and the access nodes' lines. Card data never shows: the reversal
 * queue holds masked PANs only, key handles are not printed (their check values are).
 */
import type { PrismaClient } from '../../infra/database';
import { FixpayError } from '../../domain/errors';

export interface ReversalQueueView {
  readonly byStatus: Record<string, number>;
  /** Age of the oldest armed or pending reversal, seconds. */
  readonly oldestOpenAgeSeconds?: number;
  readonly open: readonly {
    key: string;
    status: string;
    terminalId: string;
    stan: string;
    amountMinor: number;
    currency: string;
    maskedPan?: string;
    attempts: number;
    nextAttemptAt: string;
    deadlineAt: string;
    lastResponseCode?: string;
    lastError?: string;
  }[];
}

export async function reversalQueue(prisma: PrismaClient, limit = 50): Promise<ReversalQueueView> {
  const groups = await prisma.cardNetworkReversal.groupBy({ by: ['status'], _count: { _all: true } });
  const byStatus: Record<string, number> = { armed: 0, pending: 0, done: 0, expired: 0, cancelled: 0 };
  for (const g of groups) byStatus[g.status] = g._count._all;
  const open = await prisma.cardNetworkReversal.findMany({
    where: { status: { in: ['armed', 'pending'] } },
    orderBy: { createdAt: 'asc' },
    take: limit,
  });
  const oldest = open[0]?.createdAt;
  return {
    byStatus,
    ...(oldest === undefined ? {} : { oldestOpenAgeSeconds: Math.max(0, (Date.now() - oldest.getTime()) / 1000) }),
    open: open.map((r) => ({
      key: r.key,
      status: r.status,
      terminalId: r.terminalId,
      stan: r.stan,
      amountMinor: Number(r.amount),
      currency: r.currency,
      ...(r.maskedPan === null ? {} : { maskedPan: r.maskedPan }),
      attempts: r.attempts,
      nextAttemptAt: r.nextAttemptAt.toISOString(),
      deadlineAt: r.deadlineAt.toISOString(),
      ...(r.lastResponseCode === null ? {} : { lastResponseCode: r.lastResponseCode }),
      ...(r.lastError === null ? {} : { lastError: r.lastError }),
    })),
  };
}

export interface LedgerCheck {
  readonly balanced: boolean;
  readonly ledgers: readonly {
    ledger: number;
    debitsPosted: string;
    creditsPosted: string;
    debitsPending: string;
    creditsPending: string;
    /** Sum of the journal: debits − credits, posted and pending; 0 when balanced. */
    postedDifference: string;
    pendingDifference: string;
  }[];
  /** Accounts whose flags forbid their balance (e.g. a no-overdraft account overdrawn). */
  readonly accountsOverLimit: number;
}

/** Double entry: per ledger, the debits equal the credits (posted and pending), and no limit is broken. */
export async function ledgerCheck(prisma: PrismaClient): Promise<LedgerCheck> {
  const rows = await prisma.$queryRawUnsafe<
    { ledger: number; dpe: unknown; dpo: unknown; cpe: unknown; cpo: unknown }[]
  >(
    `SELECT ledger, coalesce(sum(debits_pending),0)::text AS dpe, coalesce(sum(debits_posted),0)::text AS dpo,
            coalesce(sum(credits_pending),0)::text AS cpe, coalesce(sum(credits_posted),0)::text AS cpo
       FROM ledger_account GROUP BY ledger ORDER BY ledger`,
  );
  const broken = await prisma.$queryRawUnsafe<{ n: unknown }[]>(
    `SELECT count(*)::int AS n FROM ledger_account
      WHERE (debits_must_not_exceed_credits AND debits_pending + debits_posted > credits_posted)
         OR (credits_must_not_exceed_debits AND credits_pending + credits_posted > debits_posted)`,
  );
  const ledgers = rows.map((r) => {
    const [dpe, dpo, cpe, cpo] = [r.dpe, r.dpo, r.cpe, r.cpo].map((v) => BigInt(String(v)));
    return {
      ledger: r.ledger,
      debitsPosted: String(dpo),
      creditsPosted: String(cpo),
      debitsPending: String(dpe),
      creditsPending: String(cpe),
      postedDifference: String((dpo ?? 0n) - (cpo ?? 0n)),
      pendingDifference: String((dpe ?? 0n) - (cpe ?? 0n)),
    };
  });
  const accountsOverLimit = Number(broken[0]?.n ?? 0);
  return {
    balanced:
      accountsOverLimit === 0 && ledgers.every((l) => l.postedDifference === '0' && l.pendingDifference === '0'),
    ledgers,
    accountsOverLimit,
  };
}

export interface TerminalKeyView {
  readonly terminalId: string;
  readonly tmkCheckValue?: string;
  readonly version?: number;
  /** Check value per working key (tpk, tak, tdk) of the current set. */
  readonly current: Record<string, string>;
  readonly previous: Record<string, string>;
  readonly updatedAt: string;
}

const rec = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

function checkValues(set: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['tpk', 'tak', 'tdk']) {
    const kcv = rec(rec(set)?.[name])?.['kcv'];
    if (typeof kcv === 'string' && /^[0-9A-Fa-f]{4,16}$/.test(kcv)) out[name] = kcv.toUpperCase();
  }
  return out;
}

/** The check values of each terminal's master key and working keys (never the key handles). */
export async function terminalKeys(prisma: PrismaClient, terminalId?: string): Promise<TerminalKeyView[]> {
  if (terminalId !== undefined && !/^[A-Za-z0-9]{1,16}$/.test(terminalId))
    throw new FixpayError('BAD_REQUEST', `--terminal must be 1-16 letters or digits`);
  const rows = await prisma.terminalKey.findMany({
    ...(terminalId === undefined ? {} : { where: { terminalId } }),
    orderBy: { terminalId: 'asc' },
    take: 1000,
  });
  if (terminalId !== undefined && rows.length === 0)
    throw new FixpayError('NOT_FOUND', `no keys for terminal ${terminalId}`);
  return rows.map((r) => {
    const tmk = rec(r.tmk)?.['kcv'];
    const version = rec(r.currentKeys)?.['version'];
    return {
      terminalId: r.terminalId,
      ...(typeof tmk === 'string' ? { tmkCheckValue: tmk.toUpperCase() } : {}),
      ...(typeof version === 'number' ? { version } : {}),
      current: checkValues(r.currentKeys),
      previous: checkValues(r.previousKeys),
      updatedAt: r.updatedAt.toISOString(),
    };
  });
}

export interface NodeStatus {
  readonly target: string;
  readonly up: boolean;
  /** The node id the endpoint reports (its `node` label). */
  readonly node?: string;
  readonly error?: string;
  readonly lines?: { busy: number; free: number; reserved: number; max: number };
  readonly draining?: boolean;
  readonly snrDb?: { last?: number; mean?: number };
  readonly calls?: Record<string, number>;
  readonly reversalQueuePending?: number;
}

/** Every sample of `name` in a Prometheus text page, with its labels. */
export function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!(line.startsWith(`${name}{`) || line.startsWith(`${name} `))) continue;
    const brace = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    if (brace === name.length && close > brace)
      for (const m of line.slice(brace + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
        labels[m[1] ?? ''] = m[2] ?? '';
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) out.push({ labels, value });
  }
  return out;
}

/** Line and node state from an access node's (or worker's) `/metrics` page. */
export function nodeStatusFromMetrics(target: string, text: string): NodeStatus {
  const one = (name: string, labels: Record<string, string> = {}): number | undefined =>
    samples(text, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  const busy = one('fixpay_lines', { state: 'busy' });
  const max = one('fixpay_lines_max');
  const draining = one('fixpay_node_draining');
  const last = one('fixpay_line_snr_db', { window: 'last' });
  const mean = one('fixpay_line_snr_db', { window: 'mean' });
  const calls: Record<string, number> = {};
  for (const s of samples(text, 'fixpay_calls_total')) if (s.labels['event']) calls[s.labels['event']] = s.value;
  const pending = one('fixpay_reversal_queue_depth', { status: 'pending' });
  const node = samples(text, 'fixpay_node_draining')[0]?.labels['node'];
  return {
    target,
    up: true,
    ...(node === undefined ? {} : { node }),
    ...(busy === undefined || max === undefined
      ? {}
      : {
          lines: {
            busy,
            free: one('fixpay_lines', { state: 'free' }) ?? 0,
            reserved: one('fixpay_lines', { state: 'reserved' }) ?? 0,
            max,
          },
        }),
    ...(draining === undefined ? {} : { draining: draining === 1 }),
    ...(last === undefined && mean === undefined
      ? {}
      : { snrDb: { ...(last === undefined ? {} : { last }), ...(mean === undefined ? {} : { mean }) } }),
    ...(Object.keys(calls).length === 0 ? {} : { calls }),
    ...(pending === undefined ? {} : { reversalQueuePending: pending }),
  };
}

/** Scrapes each target (`host:port` or a URL); an endpoint that does not answer is `up: false`. */
export async function nodeStatus(targets: readonly string[], timeoutMs = 5_000): Promise<NodeStatus[]> {
  return Promise.all(
    targets.map(async (target) => {
      let url: URL;
      try {
        if (target.includes('://') && !/^https?:\/\//.test(target)) throw new Error('scheme');
        if (!target.includes('://') && !/^[A-Za-z0-9.-]{1,253}:\d{1,5}$/.test(target)) throw new Error('shape');
        url = new URL(target.includes('://') ? target : `http://${target}/metrics`);
      } catch {
        throw new FixpayError('BAD_REQUEST', `--metrics ${JSON.stringify(target)} is not host:port or a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new FixpayError('BAD_REQUEST', `--metrics ${JSON.stringify(target)}: http or https only`);
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        if (!res.ok) return { target, up: false, error: `HTTP ${res.status}` };
        const text = await res.text();
        if (text.length > 16 * 1024 * 1024) return { target, up: false, error: 'metrics page too large' };
        return nodeStatusFromMetrics(target, text);
      } catch (e) {
        const err = new FixpayError('OPS_METRICS_UNREACHABLE', `${url.host}: ${(e as Error).message}`);
        return { target, up: false, error: `${err.code} ${err.message}` };
      }
    }),
  );
}
