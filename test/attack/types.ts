/**
 * The shape of an attack: a small module with an id, the target it hits, how bad a success would
 * be, and `run(ctx)` that says whether the platform refused it or showed a defect (with evidence).
 */
import type { Targets } from './targets';

export type Target = 'sip' | 'rtp' | 'tcp-pcm' | 'terminal' | 'hsm' | 'api' | 'codec' | 'bank-link' | 'platform';
export type Severity = 'critical' | 'high' | 'medium' | 'low';

export interface Verdict {
  /** `refused`: the platform held; `defect`: the attack worked; `inconclusive`: it could not be judged. */
  readonly verdict: 'refused' | 'defect' | 'inconclusive';
  /** What was observed (never card data or keys). */
  readonly evidence: string;
}

export interface Attack {
  /** Stable id (`sip.sdp-port-zero`): `KNOWN_OPEN` and `--only` name attacks by it. */
  readonly id: string;
  readonly target: Target;
  readonly severity: Severity;
  /** One line: what the attacker does, and what would be a defect. */
  readonly title: string;
  /** The defect number it reproduces, when it is one of the 13. */
  readonly reported?: number;
  /** Longest the attack may take, ms (the runner stops waiting after it: `inconclusive`). */
  readonly timeoutMs: number;
  /** Part of the quick slice `npm test` runs (short, repeatable, leaves the platform as it found it). */
  readonly quick?: boolean;
  /** Kills or disturbs processes on purpose: the runner runs these last and restarts what they stopped. */
  readonly destructive?: boolean;
  run(ctx: Targets): Promise<Verdict>;
}

export const refused = (evidence: string): Verdict => ({ verdict: 'refused', evidence });
export const defect = (evidence: string): Verdict => ({ verdict: 'defect', evidence });
export const inconclusive = (evidence: string): Verdict => ({ verdict: 'inconclusive', evidence });
