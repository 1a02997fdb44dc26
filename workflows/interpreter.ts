/**
 * The one interpreter workflow: runs any compiled plan. The plan travels in the input, so a run
 * stays on the definition it started with. Step semantics live in services/runtime (pure, shared
 * with `definitions test`); this file only maps them onto Temporal.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  TimeoutFailure,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import { scrubText } from '../domain/masking';
import { evaluate } from '../services/runtime/expr';
import { Interpreter, StepError } from '../services/runtime/interpreter';
import type { CallRequest, Progress, ServiceRuntime } from '../services/runtime/interpreter';
import { DELIVER_MESSAGE, INTERPRETER_WORKFLOW, PLAN_FORMAT, PROGRESS_QUERY } from '../services/runtime/plan';
import type { InterpreterInput, Outcome, ServiceResult } from '../services/runtime/plan';
import type { PlanAdmissionActivities } from '../services/registry/admission';

export const progressQuery = defineQuery<Progress>(PROGRESS_QUERY);
/** Delivers a value to a `listen: { signal: name }` step. */
export const deliverSignal = defineSignal<[{ name: string; value: unknown }]>(DELIVER_MESSAGE);
/** Delivers a value to a `listen: { update: name }` step; answers with the progress after it. */
export const deliverUpdate = defineUpdate<Progress, [{ name: string; value: unknown }]>(DELIVER_MESSAGE);

type ActivityFn = (input: Record<string, unknown>) => Promise<unknown>;

const keyword = (name: string) => defineSearchAttributeKey(name, 'KEYWORD');
const SA = {
  ServiceId: keyword('ServiceId'),
  ServiceVersion: keyword('ServiceVersion'),
  PlanHash: keyword('PlanHash'),
  TerminalId: keyword('TerminalId'),
  Outcome: keyword('Outcome'),
};
/** Patch id of plan admission: histories recorded before it replay without the check. */
export const PLAN_ADMISSION_PATCH = 'plan-admission';
/** One admission attempt (a registry read at most; cached versions cost one hash). */
export const PLAN_ADMISSION_TIMEOUT_MS = 10_000;
/** Attempts before a run whose plan cannot be checked (registry unreachable) fails. */
export const PLAN_ADMISSION_ATTEMPTS_MAX = 5;

const admission = proxyLocalActivities<PlanAdmissionActivities>({
  startToCloseTimeout: PLAN_ADMISSION_TIMEOUT_MS,
  retry: { maximumAttempts: PLAN_ADMISSION_ATTEMPTS_MAX, initialInterval: 200, backoffCoefficient: 2 },
  summary: 'plan admission',
});

/**
 * Runs only plans the registry holds (docs/security.md): a worker is handed its plan in the input,
 * and anyone who can start workflows on the task queue could hand it any plan. A child runs a
 * subplan of its parent's admitted plan (covered by the parent's hash), so only top-level runs ask.
 * Fails the run, non-retryable, with SVC_PLAN_NOT_REGISTERED (or the check's own failure type).
 */
async function admit(input: InterpreterInput): Promise<void> {
  if (workflowInfo().parent !== undefined || !patched(PLAN_ADMISSION_PATCH)) return;
  try {
    await admission.admitPlan({ plan: input.plan, planHash: input.planHash });
  } catch (err) {
    if (isCancellation(err)) throw err;
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const type = cause instanceof ApplicationFailure && cause.type != null ? cause.type : 'SVC_PLAN_NOT_REGISTERED';
    const message = cause instanceof Error ? cause.message : 'plan admission failed';
    throw ApplicationFailure.nonRetryable(scrubText(message), type);
  }
}

/** Temporal UI summaries are limited to 200 bytes. */
const MAX_SUMMARY_CHARS = 190;

class TemporalRuntime implements ServiceRuntime {
  readonly workflowId = workflowInfo().workflowId;
  private started = false;

  constructor(private readonly input: InterpreterInput) {}

  async call(req: CallRequest): Promise<unknown> {
    const retry = {
      // No maximum = until success: only compiled for the pivot and the steps after it.
      ...(req.retry.maxAttempts === null ? {} : { maximumAttempts: req.retry.maxAttempts }),
      initialInterval: Math.max(1, req.retry.initialIntervalMs),
      backoffCoefficient: Math.max(1, req.retry.backoffCoefficient),
      maximumInterval: Math.max(1, req.retry.maximumIntervalMs, req.retry.initialIntervalMs),
    };
    const summary = req.summary.slice(0, MAX_SUMMARY_CHARS);
    // Local: runs in this worker's workflow task, one marker in the history and no server round
    // trip (ADR 0008). Only idempotent calls without effect compile to it; the plan decides, so a
    // run replays with the kind of call it started with.
    const acts =
      req.local === true && req.taskQueue === null
        ? proxyLocalActivities<Record<string, ActivityFn>>({ startToCloseTimeout: req.timeoutMs, retry, summary })
        : proxyActivities<Record<string, ActivityFn>>({
            startToCloseTimeout: req.timeoutMs,
            retry,
            activityId: req.activityId,
            summary,
            ...(req.taskQueue === null ? {} : { taskQueue: req.taskQueue }),
          });
    const fn = acts[req.activity];
    if (fn === undefined) throw ApplicationFailure.nonRetryable(`no activity ${req.activity}`, 'SVC_PLAN_UNSUPPORTED');
    try {
      return await fn({ ...req.args, idempotencyKey: req.idempotencyKey });
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (err instanceof ActivityFailure) {
        const timedOut = err.cause instanceof TimeoutFailure;
        throw new StepError(scrubText(err.cause?.message ?? err.message), timedOut);
      }
      throw err;
    }
  }

  sleep(ms: number, summary: string): Promise<void> {
    return sleep(ms, { summary: summary.slice(0, MAX_SUMMARY_CHARS) });
  }

  condition(fn: () => boolean, timeoutMs: number): Promise<boolean> {
    return condition(fn, timeoutMs);
  }

  nonCancellable<T>(fn: () => Promise<T>): Promise<T> {
    return CancellationScope.nonCancellable(fn);
  }

  isCancellation(err: unknown): boolean {
    return isCancellation(err);
  }

  async startChild(req: {
    workflowId: string;
    input: InterpreterInput;
    timeoutMs: number;
    summary: string;
  }): Promise<ServiceResult> {
    try {
      return await executeChild<(i: InterpreterInput) => Promise<ServiceResult>>(INTERPRETER_WORKFLOW, {
        workflowId: req.workflowId,
        args: [req.input],
        workflowExecutionTimeout: req.timeoutMs,
        staticSummary: req.summary.slice(0, MAX_SUMMARY_CHARS),
      });
    } catch (err) {
      if (err instanceof ChildWorkflowFailure)
        throw new StepError(scrubText(err.message), err.cause instanceof TimeoutFailure);
      throw err;
    }
  }

  setOutcome(outcome: Outcome, details: string): void {
    // Starters set the identity attributes at start (services/registry/start.ts); set them here only
    // when a starter did not, so the common path costs one upsert (the final Outcome).
    if (!this.started && outcome === 'RUNNING' && workflowInfo().typedSearchAttributes.get(SA.PlanHash) !== undefined) {
      this.started = true;
    } else if (!this.started) {
      this.started = true;
      const { plan, planHash } = this.input;
      const terminal =
        plan.terminalId === null ? null : evaluate(plan.terminalId, { input: this.input.input, steps: {}, vars: {} });
      upsertSearchAttributes([
        { key: SA.ServiceId, value: plan.serviceId },
        { key: SA.ServiceVersion, value: plan.version },
        { key: SA.PlanHash, value: planHash },
        { key: SA.TerminalId, value: typeof terminal === 'string' ? terminal : null },
        { key: SA.Outcome, value: outcome },
      ]);
    } else upsertSearchAttributes([{ key: SA.Outcome, value: outcome }]);
    setCurrentDetails(
      `**${this.input.plan.serviceId}@${this.input.plan.version}** (${this.input.planHash.slice(0, 15)}): ${details}`,
    );
  }
}

/** Runs one compiled plan. Registered under the workflow type `serviceInterpreter`. */
export async function serviceInterpreter(input: InterpreterInput): Promise<ServiceResult> {
  // Plans come from outside the bundle (older or newer compilers): check before running.
  const format: string = input.plan.format;
  if (format !== PLAN_FORMAT)
    throw ApplicationFailure.nonRetryable(`plan format ${format} is not supported`, 'SVC_PLAN_UNSUPPORTED');
  const interp = new Interpreter(new TemporalRuntime(input), input);
  setHandler(progressQuery, () => interp.progress);
  setHandler(deliverSignal, ({ name, value }) => {
    // A malformed signal is dropped: signals cannot be refused, updates can.
    if (interp.checkMessage(name, value) === null) interp.deliver(name, value);
  });
  setHandler(
    deliverUpdate,
    ({ name, value }) => {
      interp.deliver(name, value);
      return interp.progress;
    },
    {
      validator: ({ name, value }: { name: string; value: unknown }) => {
        const problem = interp.checkMessage(name, value);
        if (problem !== null) throw new Error(problem);
      },
    },
  );
  await admit(input);
  return interp.run();
}
