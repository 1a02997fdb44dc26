/**
 * Runs attacks one after another against the targets, each within its time bound; notices processes
 * that died (a defect of that attack), restarts them, and renders the table and the summary line.
 */
import { sipAnswers } from './attacks/sip';
import { tcpPcmAnswers } from './attacks/tcp-pcm';
import type { Targets } from './targets';
import { sleep } from './support';
import { defect, inconclusive, refused } from './types';
import type { Attack, Verdict } from './types';

export interface AttackResult {
  readonly id: string;
  readonly target: Attack['target'];
  readonly severity: Attack['severity'];
  readonly reported: number | undefined;
  readonly verdict: Verdict['verdict'];
  readonly evidence: string;
  readonly ms: number;
  /** Processes the runner had to restart after this attack. */
  readonly restarted: readonly string[];
}

/** The last check: every process up, each surface answers, a legitimate purchase is approved. */
export const stillServing: Attack = {
  id: 'platform.still-serving',
  target: 'platform',
  severity: 'critical',
  title: 'after every attack: processes up, SIP/TCP PCM/API/HSM answer, a legitimate purchase is approved',
  quick: true,
  timeoutMs: 120_000,
  async run(ctx): Promise<Verdict> {
    const problems: string[] = [];
    if (!ctx.platformAlive()) problems.push('platform process down');
    if (!ctx.hsmAlive()) problems.push('HSM process down');
    if (!(await sipAnswers(ctx))) problems.push('SIP does not answer OPTIONS');
    if (!(await tcpPcmAnswers(ctx))) problems.push('TCP PCM does not answer HELLO');
    if ((await ctx.health()) === undefined) problems.push('API /health does not answer');
    const t = await ctx.legitPurchase();
    if (t?.outcome !== 'approved')
      problems.push(`legitimate purchase ${t?.outcome ?? 'missing'} ${t?.failure?.codeName ?? t?.responseCode ?? ''}`);
    return problems.length > 0 ? defect(problems.join('; ')) : refused('all up; legitimate purchase approved');
  },
};

export interface RunOptions {
  /** Progress lines (one per attack). */
  readonly onResult?: (r: AttackResult, index: number, total: number) => void;
}

export async function runAttacks(
  ctx: Targets,
  attacks: readonly Attack[],
  options: RunOptions = {},
): Promise<AttackResult[]> {
  const results: AttackResult[] = [];
  for (const [i, attack] of attacks.entries()) {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    let v: Verdict = await Promise.race([
      attack
        .run(ctx)
        .catch((e: unknown) => inconclusive(`the attack itself failed: ${e instanceof Error ? e.message : String(e)}`)),
      new Promise<Verdict>((resolve) => {
        timer = setTimeout(() => resolve(inconclusive(`no verdict within ${attack.timeoutMs} ms`)), attack.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    const ms = Date.now() - started;
    if (attack.destructive !== true) {
      await sleep(50);
      const down = [...(ctx.platformAlive() ? [] : ['platform']), ...(ctx.hsmAlive() ? [] : ['HSM'])];
      if (down.length > 0 && v.verdict !== 'defect') v = defect(`${down.join(' and ')} process died; ${v.evidence}`);
    }
    let restarted: string[];
    try {
      if (attack.destructive === true) {
        await ctx.restartPlatform();
        restarted = ['platform'];
        restarted.push(...(await ctx.ensureUp()));
      } else restarted = await ctx.ensureUp();
    } catch (e) {
      restarted = [`restart failed: ${e instanceof Error ? e.message.slice(0, 200) : String(e)}`];
    }
    const r: AttackResult = {
      id: attack.id,
      target: attack.target,
      severity: attack.severity,
      reported: attack.reported,
      verdict: v.verdict,
      evidence: v.evidence,
      ms,
      restarted,
    };
    results.push(r);
    options.onResult?.(r, i, attacks.length);
  }
  return results;
}

export interface Summary {
  readonly tried: number;
  readonly refused: number;
  readonly defects: number;
  readonly inconclusive: number;
}

export function summarize(results: readonly AttackResult[]): Summary {
  return {
    tried: results.length,
    refused: results.filter((r) => r.verdict === 'refused').length,
    defects: results.filter((r) => r.verdict === 'defect').length,
    inconclusive: results.filter((r) => r.verdict === 'inconclusive').length,
  };
}

export function summaryLine(s: Summary): string {
  return `attacks: ${s.tried} tried, ${s.refused} refused, ${s.defects} defects, ${s.inconclusive} inconclusive`;
}

/** One line per attack (fixed-width columns), evidence cut at `evidenceWidth`. */
export function renderTable(results: readonly AttackResult[], evidenceWidth = 110): string {
  const idWidth = Math.max(2, ...results.map((r) => r.id.length));
  const head = `${'id'.padEnd(idWidth)}  ${'target'.padEnd(9)}  ${'severity'.padEnd(8)}  #   ${'verdict'.padEnd(12)}  ${'time'.padStart(7)}  evidence`;
  const rows = results.map((r) => {
    const ev = `${r.evidence}${r.restarted.length > 0 ? ` [restarted: ${r.restarted.join(', ')}]` : ''}`;
    return [
      r.id.padEnd(idWidth),
      r.target.padEnd(9),
      r.severity.padEnd(8),
      String(r.reported ?? '').padEnd(2),
      (r.verdict === 'defect' ? 'DEFECT' : r.verdict).padEnd(12),
      `${(r.ms / 1000).toFixed(1)}s`.padStart(7),
      ev.length > evidenceWidth ? `${ev.slice(0, evidenceWidth - 1)}…` : ev,
    ].join('  ');
  });
  return [head, ...rows].join('\n');
}
