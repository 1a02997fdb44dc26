/**
 * Plan admission on the worker: the interpreter workflow runs the `admitPlan` local activity before
 * its first step, so a worker runs only plans the registry holds — not whatever plan a caller with
 * access to the task queue put in a workflow input (docs/security.md, "Plans only from the
 * registry"). Local: no server round trip and only a marker in the history; the plan itself is not
 * recorded again.
 */
import { ApplicationFailure } from '@temporalio/common';
import { isFixpayError } from '../../domain/errors';
import type { Plan } from '../runtime/plan';
import type { Registry } from './registry';

/** Activity name the interpreter calls (workflows/interpreter.ts). */
export const ADMIT_PLAN_ACTIVITY = 'admitPlan';

export interface AdmitPlanInput {
  readonly plan: Plan;
  readonly planHash: string;
}

export interface PlanAdmissionActivities {
  admitPlan(input: AdmitPlanInput): Promise<{ planHash: string }>;
}

/**
 * The admission activity over a registry (its stored versions are cached in memory, so a known
 * version costs one hash of the plan). A refusal is a non-retryable SVC_PLAN_NOT_REGISTERED
 * failure; a store failure is retryable.
 */
export function createPlanAdmissionActivities(registry: Pick<Registry, 'admit'>): PlanAdmissionActivities {
  return {
    async admitPlan({ plan, planHash }) {
      try {
        const rec = await registry.admit(plan, planHash);
        return { planHash: rec.planHash };
      } catch (e) {
        if (isFixpayError(e))
          throw ApplicationFailure.create({
            type: e.codeName,
            message: e.message,
            nonRetryable: !e.retryable,
            details: [{ code: e.code }],
          });
        throw e;
      }
    },
  };
}
