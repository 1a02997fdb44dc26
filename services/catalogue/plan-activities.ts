/** The activities a compiled plan may call: steps, compensations, emits and sub-plans. Pure. */
import type { Plan, PlanStep } from '../runtime/plan';

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
