/**
 * Runs a definition's `tests:` block and the generated fault matrix against the interpreter with a
 * fake runtime (no Temporal server). Every run also checks that money stays balanced.
 */
import { FakeWorld } from '../catalogue/fake';
import type { Catalogue } from '../catalogue/types';
import { MONEY_EFFECTS, nestedSteps } from '../runtime/plan';
import type { CallStep, Plan, PlanStep, ServiceResult } from '../runtime/plan';
import { runFake } from './fake-runtime';
import type { Fault } from './fake-runtime';

export type TestOutcome =
  | 'ok'
  | 'fail'
  | 'timeout'
  | 'ambiguous'
  | { result?: Record<string, unknown>; fail?: string; timeout?: boolean; ambiguous?: boolean; failTimes?: number };

export interface DefinitionTest {
  name: string;
  input: Record<string, unknown>;
  outcomes?: Record<string, TestOutcome>;
  messages?: Record<string, unknown>;
  expect: { outcome?: string; code?: string | null; path?: string[]; output?: unknown };
}

export interface TestReport {
  name: string;
  passed: boolean;
  problems: string[];
  trace: string[];
  result: ServiceResult | null;
}

/** Attempts a fault on an "until success" step lasts before it clears. */
export const FAULT_ATTEMPTS_ON_FORWARD_STEPS = 3;

function setup(test: DefinitionTest, catalogue: Catalogue): { world: FakeWorld; faults: Map<string, Fault> } {
  const world = new FakeWorld(catalogue);
  const faults = new Map<string, Fault>();
  for (const [stepId, o] of Object.entries(test.outcomes ?? {})) {
    if (o === 'ok') continue;
    if (o === 'fail' || o === 'timeout' || o === 'ambiguous') {
      faults.set(stepId, { kind: o });
      continue;
    }
    if (o.result !== undefined) world.results.set(stepId, o.result);
    if (o.fail !== undefined) faults.set(stepId, { kind: 'fail' });
    if (o.timeout === true) faults.set(stepId, { kind: 'timeout' });
    if (o.ambiguous === true) faults.set(stepId, { kind: 'ambiguous' });
    if (o.failTimes !== undefined) faults.set(stepId, { kind: 'fail', attempts: o.failTimes });
  }
  return { world, faults };
}

/** True when every key of `expected` equals the same key of `actual` (recursively). */
export function partialMatch(expected: unknown, actual: unknown): boolean {
  if (typeof expected !== 'object' || expected === null) return expected === actual;
  if (typeof actual !== 'object' || actual === null) return false;
  if (Array.isArray(expected))
    return (
      Array.isArray(actual) && expected.length === actual.length && expected.every((e, i) => partialMatch(e, actual[i]))
    );
  const a = actual as Record<string, unknown>;
  return Object.entries(expected as Record<string, unknown>).every(([k, v]) => partialMatch(v, a[k]));
}

async function execute(
  plan: Plan,
  planHash: string,
  test: DefinitionTest,
  catalogue: Catalogue,
  extraFaults: ReadonlyMap<string, Fault> = new Map(),
): Promise<TestReport> {
  const { world, faults } = setup(test, catalogue);
  for (const [k, v] of extraFaults) faults.set(k, v);
  const problems: string[] = [];
  let result: ServiceResult | null = null;
  let trace: string[] = [];
  try {
    const r = await runFake(
      world,
      { plan, planHash, input: test.input },
      {
        workflowId: `${plan.serviceId}:test`,
        faults,
        messages: test.messages ?? {},
      },
    );
    result = r.result;
    trace = r.interpreter.trace;
    problems.push(...world.violations(result.outcome));
    const e = test.expect;
    if (e.outcome !== undefined && e.outcome !== result.outcome)
      problems.push(`outcome ${result.outcome} (${result.code ?? '-'}), expected ${e.outcome}`);
    if (e.code !== undefined && e.code !== result.code)
      problems.push(`code ${result.code ?? 'null'}, expected ${e.code ?? 'null'}`);
    if (e.path !== undefined && e.path.join(' ') !== trace.join(' '))
      problems.push(`path [${trace.join(', ')}], expected [${e.path.join(', ')}]`);
    if (e.output !== undefined && !partialMatch(e.output, result.output))
      problems.push(`output ${JSON.stringify(result.output)} does not match ${JSON.stringify(e.output)}`);
  } catch (err) {
    problems.push(`the interpreter threw: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { name: test.name, passed: problems.length === 0, problems, trace, result };
}

/** Runs the definition's own tests. */
export async function runDefinitionTests(
  plan: Plan,
  planHash: string,
  tests: readonly DefinitionTest[],
  catalogue: Catalogue,
): Promise<TestReport[]> {
  const out: TestReport[] = [];
  for (const t of tests) out.push(await execute(plan, planHash, t, catalogue));
  return out;
}

/** Every call step that moves money, anywhere in the plan. */
export function effectfulSteps(steps: readonly PlanStep[], out: CallStep[] = []): CallStep[] {
  for (const s of steps) {
    if (s.kind === 'call' && MONEY_EFFECTS.includes(s.effect)) out.push(s);
    nestedSteps(s).forEach((nested) => effectfulSteps(nested, out));
  }
  return out;
}

/**
 * The generated fault matrix: for every money-moving step, on a test that reaches it — the call
 * fails before the effect, succeeds remotely then times out, times out; and its compensation keeps
 * failing for a while. Each case must end with money balanced and no reservation left pending.
 */
export async function runFaultMatrix(
  plan: Plan,
  planHash: string,
  tests: readonly DefinitionTest[],
  catalogue: Catalogue,
): Promise<TestReport[]> {
  const baseline = await runDefinitionTests(plan, planHash, tests, catalogue);
  const out: TestReport[] = [];
  for (const step of effectfulSteps(plan.steps)) {
    const i = baseline.findIndex((r) => r.trace.includes(step.id));
    const base = tests[i];
    if (base === undefined) {
      out.push({
        name: `fault matrix: ${step.id}`,
        passed: false,
        problems: [`no test reaches money-moving step ${step.id}`],
        trace: [],
        result: null,
      });
      continue;
    }
    const forward = step.retry.maxAttempts === null;
    const limit = forward ? { attempts: FAULT_ATTEMPTS_ON_FORWARD_STEPS } : {};
    const cases: [string, Map<string, Fault>][] = [
      ['fails before the effect', new Map([[step.id, { kind: 'fail', ...limit }]])],
      ['succeeds remotely, then times out', new Map([[step.id, { kind: 'ambiguous', ...limit }]])],
      ['times out', new Map([[step.id, { kind: 'timeout', ...limit }]])],
    ];
    if (step.compensation !== null)
      cases.push([
        'fails, and its compensation keeps failing',
        new Map<string, Fault>([
          [step.id, { kind: 'ambiguous' }],
          [`~${step.id}`, { kind: 'fail', attempts: plan.compensation.alertAfterAttempts * 2 }],
        ]),
      ]);
    for (const [label, faults] of cases) {
      const r = await execute(plan, planHash, { ...base, expect: {} }, catalogue, faults);
      const undo = r.trace.filter((t) => t === `~${step.id}`).length;
      const runs = r.trace.filter((t) => t === step.id).length;
      if (undo > runs) r.problems.push(`compensation of ${step.id} ran ${undo} times for ${runs} calls`);
      if (step.compensation !== null && r.result !== null && r.result.outcome !== 'COMPLETED' && undo === 0)
        r.problems.push(`compensation of ${step.id} did not run`);
      out.push({ ...r, name: `fault matrix [${base.name}]: ${step.id} ${label}`, passed: r.problems.length === 0 });
    }
  }
  return out;
}
