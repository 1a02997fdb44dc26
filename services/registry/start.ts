/**
 * Starting a service run: workflow id from the definition's business key, conflict policy
 * USE_EXISTING (a retransmitted request attaches to the open run) and, for money services, reuse
 * policy REJECT_DUPLICATE (a finished payment never runs twice under the same key).
 */
import type { Client, WorkflowHandleWithFirstExecutionRunId as WorkflowHandle } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import { evaluate } from '../runtime/expr';
import { INTERPRETER_WORKFLOW } from '../runtime/plan';
import type { InterpreterInput, Plan, ServiceResult } from '../runtime/plan';
import type { Registry } from './registry';

type InterpreterFn = (input: InterpreterInput) => Promise<ServiceResult>;

/** Business key of an input (the compiler guarantees it reads only non-sensitive input fields). */
export function businessKey(plan: Plan, input: Record<string, unknown>): string {
  const v = evaluate(plan.businessKey, { input, steps: {}, vars: {} });
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function workflowIdFor(plan: Plan, input: Record<string, unknown>): string {
  return `${plan.serviceId}:${businessKey(plan, input)}`;
}

const keyword = (name: string) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);

/** ServiceId, ServiceVersion, PlanHash, TerminalId (never card data: the compiler checks) and Outcome. */
export function startSearchAttributes(
  plan: Plan,
  planHash: string,
  input: Record<string, unknown>,
): TypedSearchAttributes {
  const terminal = plan.terminalId === null ? null : evaluate(plan.terminalId, { input, steps: {}, vars: {} });
  return new TypedSearchAttributes([
    { key: keyword('ServiceId'), value: plan.serviceId },
    { key: keyword('ServiceVersion'), value: plan.version },
    { key: keyword('PlanHash'), value: planHash },
    ...(typeof terminal === 'string' ? [{ key: keyword('TerminalId'), value: terminal }] : []),
    { key: keyword('Outcome'), value: 'RUNNING' },
  ]);
}

/**
 * Starts (or attaches to) the run for this input. `eager`: the client shares its native connection
 * with a worker of the run's task queue in this process, and asks the server to hand the run's first
 * workflow task back in the start's answer, to that worker (docs/adr/0013-purchase-cost.md). The
 * run and its history are the same either way; an attach (the run exists) gets no task.
 */
export async function startPlan(
  client: Client,
  run: { plan: Plan; planHash: string; input: Record<string, unknown>; taskQueue?: string; eager?: boolean },
): Promise<WorkflowHandle<InterpreterFn>> {
  const { plan, planHash, input } = run;
  return client.workflow.start<InterpreterFn>(INTERPRETER_WORKFLOW, {
    taskQueue: run.taskQueue ?? plan.taskQueue,
    workflowId: workflowIdFor(plan, input),
    args: [{ plan, planHash, input }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: plan.money ? 'REJECT_DUPLICATE' : 'ALLOW_DUPLICATE_FAILED_ONLY',
    staticSummary: `${plan.serviceId}@${plan.version} (${planHash.slice(7, 15)})`,
    typedSearchAttributes: startSearchAttributes(plan, planHash, input),
    ...(run.eager === true ? { requestEagerStart: true } : {}),
  });
}

/** Resolves the version through the registry's aliases, then starts it. */
export async function startService(
  client: Client,
  registry: Registry,
  serviceId: string,
  input: Record<string, unknown>,
  taskQueue?: string,
): Promise<WorkflowHandle<InterpreterFn>> {
  const rec = await registry.resolveWith(serviceId, (plan) => businessKey(plan, input));
  return startPlan(client, {
    plan: rec.plan,
    planHash: rec.planHash,
    input,
    ...(taskQueue === undefined ? {} : { taskQueue }),
  });
}
