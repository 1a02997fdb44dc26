/**
 * An in-memory world behind every catalogue activity: remote systems that honour idempotency keys
 * and record which money effects are live, so tests can check that money stays balanced. Used by
 * `definitions test` (through the fake runtime) and by the workflow tests as activity
 * implementations on a real Temporal worker.
 */
import { MONEY_EFFECTS } from '../runtime/plan';
import type { Effect } from '../runtime/plan';
import type { Catalogue } from './types';

export interface LiveEffect {
  key: string;
  activity: string;
  effect: Effect;
  amount: number;
  undone: number;
  settled: boolean;
}

/** Extracts the step id from an idempotency key `<workflowId>/<stepId>#<iteration>`. */
export function stepIdOfKey(key: string): string {
  const last = key.slice(key.lastIndexOf('/') + 1);
  return last.replace(/^[~!]/, '').split('#')[0] ?? last;
}

export class FakeWorld {
  readonly effects = new Map<string, LiveEffect>();
  /** Every call that reached the remote side: activity and key. */
  readonly calls: { activity: string; key: string }[] = [];
  /** Result overrides by step id (merged over the catalogue example). */
  readonly results = new Map<string, Record<string, unknown>>();

  constructor(private readonly catalogue: Catalogue) {}

  /** The catalogue example of an activity (what an unscripted call returns). */
  example(activity: string): Record<string, unknown> | undefined {
    return this.catalogue.get(activity)?.example;
  }

  /** Applies one call on the remote side. Throws for unknown activities (a wiring bug). */
  handle(activity: string, request: Record<string, unknown>): Record<string, unknown> {
    const entry = this.catalogue.get(activity);
    if (entry === undefined) throw new Error(`fake world: unknown activity ${activity}`);
    const key = typeof request['idempotencyKey'] === 'string' ? request['idempotencyKey'] : '';
    this.calls.push({ activity, key });
    if (entry.undoes !== undefined) {
      const original = typeof request['originalIdempotencyKey'] === 'string' ? request['originalIdempotencyKey'] : '';
      const e = this.effects.get(original);
      // Idempotent: undoing twice, or undoing what never landed, changes nothing.
      if (e !== undefined && e.undone === 0 && !e.settled) e.undone = 1;
    }
    if (entry.settles !== undefined) {
      const target = typeof request['reservationId'] === 'string' ? request['reservationId'] : '';
      const e = this.effects.get(target);
      if (e !== undefined && e.undone === 0) e.settled = true;
    }
    if (MONEY_EFFECTS.includes(entry.effect) && entry.settles === undefined && !this.effects.has(key)) {
      const amount = typeof request['amount'] === 'number' ? request['amount'] : 0;
      this.effects.set(key, { key, activity, effect: entry.effect, amount, undone: 0, settled: false });
    }
    // A reservation is identified by the key it was made under; the ledger hands it back as its id.
    const id = entry.effect === 'reserve' ? { reservationId: key } : {};
    return { ...entry.example, ...id, ...(this.results.get(stepIdOfKey(key)) ?? {}) };
  }

  /**
   * Money invariants after a run: on failure nothing may stay live; on success no reservation may
   * stay pending. Returns human-readable violations (empty when balanced).
   */
  violations(outcome: string): string[] {
    const out: string[] = [];
    for (const e of this.effects.values()) {
      const live = e.undone === 0;
      if (e.effect === 'reserve' && live && !e.settled) out.push(`reservation ${e.key} left pending`);
      if (outcome !== 'COMPLETED' && live && !e.settled && e.effect !== 'reserve')
        out.push(`${e.activity} ${e.key} (${e.effect} ${e.amount}) not undone after ${outcome}`);
    }
    return out;
  }
}

/** Activity implementations over a FakeWorld, for a real Temporal worker in workflow tests. */
export function createFakeActivities(
  world: FakeWorld,
  catalogue: Catalogue,
): Record<string, (input: Record<string, unknown>) => Promise<unknown>> {
  const out: Record<string, (input: Record<string, unknown>) => Promise<unknown>> = {};
  for (const name of catalogue.keys()) out[name] = (input) => Promise.resolve(world.handle(name, input));
  return out;
}
