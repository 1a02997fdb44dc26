/** The activities a compiled plan may call: steps, compensations, emits and sub-plans. Pure. */
import { nestedSteps } from '../runtime/plan';
import type { CallStep, Plan, PlanStep } from '../runtime/plan';

/** Every call step of a plan (sub-plans included). */
function callSteps(steps: readonly PlanStep[], plan: Plan, into: CallStep[]): CallStep[] {
  for (const s of steps) {
    if (s.kind === 'call') into.push(s);
    else if (s.kind === 'switch') {
      for (const c of s.cases) callSteps(c.steps, plan, into);
      callSteps(s.default ?? [], plan, into);
    } else if (s.kind === 'parallel') for (const b of s.branches) callSteps(b, plan, into);
    else if (s.kind === 'foreach') callSteps(s.steps, plan, into);
    else if (s.kind === 'subflow') {
      const sub = plan.subplans[s.ref];
      if (sub !== undefined) callSteps(sub.plan.steps, sub.plan, into);
    }
  }
  return into;
}

/** Shortest timeout of the plans' call steps to `activities` (required ones only, if asked); undefined when none. */
export function shortestStepTimeoutMs(
  plans: readonly Plan[],
  activities: readonly string[],
  requiredOnly = false,
): number | undefined {
  const ms = plans
    .flatMap((p) => callSteps(p.steps, p, []))
    .filter((s) => activities.includes(s.activity) && (!requiredOnly || !s.optional))
    .map((s) => s.timeoutMs);
  return ms.length === 0 ? undefined : Math.min(...ms);
}

/** Longest timeout of the plans' `listen` steps on `signal` (nested steps included); undefined when none. */
export function longestListenTimeoutMs(plans: readonly Plan[], signal: string): number | undefined {
  const found: number[] = [];
  const walk = (steps: readonly PlanStep[]): void => {
    for (const s of steps) {
      if (s.kind === 'listen' && s.source === 'signal' && s.name === signal) found.push(s.timeoutMs);
      nestedSteps(s).forEach(walk);
    }
  };
  plans.forEach((p) => walk(p.steps));
  return found.length === 0 ? undefined : Math.max(...found);
}

function ofSteps(steps: readonly PlanStep[], plan: Plan, into: Set<string>): void {
  for (const s of steps) {
    switch (s.kind) {
      case 'call':
        into.add(s.activity);
        if (s.compensation !== null) into.add(s.compensation.activity);
        break;
      case 'emit':
        into.add(s.activity);
        break;
      case 'switch':
        for (const c of s.cases) ofSteps(c.steps, plan, into);
        ofSteps(s.default ?? [], plan, into);
        break;
      case 'parallel':
        for (const b of s.branches) ofSteps(b, plan, into);
        break;
      case 'foreach':
        ofSteps(s.steps, plan, into);
        break;
      case 'subflow': {
        const sub = plan.subplans[s.ref];
        if (sub !== undefined) ofSteps(sub.plan.steps, sub.plan, into);
        break;
      }
      default:
        break;
    }
  }
}

export function activitiesOf(plan: Plan): Set<string> {
  const into = new Set<string>();
  ofSteps(plan.steps, plan, into);
  return into;
}
