import type { VType } from '../runtime/expr';
import type { ActivityKind, Effect } from '../runtime/plan';

/**
 * One activity the definitions may call. The catalogue is data: the compiler checks calls against
 * it and copies what the interpreter needs into the plan.
 *
 * Calling convention: an activity receives one object, the step's `with` arguments plus
 * `idempotencyKey` (derived from workflow id, step id and iteration); a compensation also receives
 * `originalIdempotencyKey`, the key of the call it undoes, so it can find the original even when
 * that call's outcome was ambiguous (and must succeed as a no-op when the original never landed).
 */
export interface CatalogueEntry {
  name: string;
  kind: ActivityKind;
  effect: Effect;
  /** Repeating the call with the same idempotency key has no further effect. */
  idempotent: boolean;
  /**
   * Run as a local activity: inside the workflow task of the worker running the interpreter, with
   * no task queue round trip through the server (ADR 0008). Only for short calls with `effect:
   * 'none'` that are `idempotent` — a local activity can run more than once even with one attempt
   * (reference/workflow.md T4) — and never for a call with a `taskQueue` (it must run where the
   * workflow runs). Such steps then record a marker instead of activity events in the history.
   */
  local?: boolean;
  /** The activity this one undoes (it is then a compensation). */
  undoes?: string;
  /** The money-moving activity whose pending effect this one makes final (e.g. post a reservation). */
  settles?: string;
  input: VType;
  output: VType;
  /** Output the fake runtime returns by default. */
  example: Record<string, unknown>;
  description: string;
}

export type Catalogue = ReadonlyMap<string, CatalogueEntry>;

/** Kinds that may receive card data (PAN, track 2, PIN block, CVV) as arguments. */
export const SENSITIVE_SINK_KINDS: readonly ActivityKind[] = ['hsm', 'gateway'];
