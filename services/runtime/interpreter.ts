/**
 * Step semantics of the interpreter, separate from Temporal: `workflows/interpreter.ts` supplies a
 * Temporal-backed `ServiceRuntime`, `definitions test` a fake one. Sandbox-safe: imports only
 * pure modules (no Node built-ins, no yaml/ajv), and it must stay deterministic — any change to the
 * order of runtime calls is an interpreter change that needs `patched()` or a new worker build.
 */
import { scrubText } from '../../domain/masking';
import { evaluate, ExprEvalError } from './expr';
import type { Expr, Scope } from './expr';
import {
  nestedSteps,
  PROMPT_DELIVERY_ACTIVITY,
  PROMPT_SCREEN_ACTIVITY,
  TERMINAL_HANGUP_MESSAGE,
  TERMINAL_REPLY_MESSAGE,
} from './plan';
import type { CallStep, InterpreterInput, ListenStep, Outcome, Plan, PlanStep, RetryPlan, ServiceResult } from './plan';
import { validateValue } from './validate';

/** One activity invocation as the runtime sees it. */
export interface CallRequest {
  stepId: string;
  activity: string;
  args: Record<string, unknown>;
  /** `<stepId>#<iteration>`; `~` prefix for compensations. */
  activityId: string;
  idempotencyKey: string;
  timeoutMs: number;
  retry: RetryPlan;
  taskQueue: string | null;
  summary: string;
  compensation: boolean;
  /** A local activity (the plan's CallStep.local); an ordinary activity when absent. */
  local?: boolean;
}

/** An activity failed for good (after its retries). `timedOut` marks an ambiguous outcome. */
export class StepError extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
    this.name = 'StepError';
  }
}

/** The few things the interpreter needs from its host. */
export interface ServiceRuntime {
  readonly workflowId: string;
  /** Runs an activity; throws StepError when it fails after its retries. */
  call(req: CallRequest): Promise<unknown>;
  sleep(ms: number, summary: string): Promise<void>;
  /** Waits until `fn()` holds or the timeout passes; true when it holds. */
  condition(fn: () => boolean, timeoutMs: number, waitingFor: string): Promise<boolean>;
  nonCancellable<T>(fn: () => Promise<T>): Promise<T>;
  isCancellation(err: unknown): boolean;
  startChild(req: {
    workflowId: string;
    input: InterpreterInput;
    timeoutMs: number;
    summary: string;
  }): Promise<ServiceResult>;
  /** Records the outcome (search attribute Outcome + details in the UI). */
  setOutcome(outcome: Outcome, details: string): void;
}

/** An expected failure of the service: ends the run after compensations. */
export class ServiceFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceFailure';
  }
}

export type StepState = 'running' | 'done' | 'failed' | 'skipped' | 'compensating' | 'compensated';

/** What the `progress` query returns. */
export interface Progress {
  serviceId: string;
  version: string;
  planHash: string;
  outcome: Outcome;
  current: string | null;
  steps: Record<string, StepState>;
  pendingCompensations: number;
  alerts: number;
}

interface Frame {
  iter: string;
  item?: unknown;
  index?: number;
}

interface PendingCompensation {
  stepId: string;
  activityId: string;
  activity: string;
  args: Record<string, unknown>;
  originalKey: string;
  timeoutMs: number;
}

/** A phone's reply to a prompt, as the run keeps it. */
interface TerminalReply {
  status: 'answered' | 'cancelled';
  value: string;
}
/** Building and signing a screen (one database read, one HSM call). */
export const PROMPT_SCREEN_TIMEOUT_MS = 5_000;
/** Handing a screen to the call and its link ACK (as a definition's `deliverTerminalResponse`). */
export const PROMPT_DELIVERY_TIMEOUT_MS = 15_000;
const PROMPT_TIMED_OUT = Symbol('prompt timed out');

/** Compensation retry inside one round; rounds repeat until success, alerting after each. */
const COMPENSATION_INITIAL_INTERVAL_MS = 1_000;
const COMPENSATION_MAX_INTERVAL_MS = 30_000;
const ALERT_TIMEOUT_MS = 10_000;

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** Names of messages (`signal`/`update`) the plan listens for. */
export function listenedMessages(
  steps: readonly PlanStep[],
  out = new Map<string, ListenStep>(),
): Map<string, ListenStep> {
  for (const s of steps) {
    if (s.kind === 'listen' && s.source !== 'terminal') out.set(s.name, s);
    nestedSteps(s).forEach((nested) => listenedMessages(nested, out));
  }
  return out;
}

/** Runs one plan. Create one per workflow run. */
export class Interpreter {
  readonly progress: Progress;
  /** Action steps in the order they ran; compensations as `~stepId`. */
  readonly trace: string[] = [];
  private readonly plan: Plan;
  private readonly steps: Record<string, unknown> = {};
  private readonly vars: Record<string, unknown> = {};
  private readonly stack: PendingCompensation[] = [];
  private readonly mailbox = new Map<string, unknown[]>();
  private readonly listened: Map<string, ListenStep>;
  /** The prompt on the phone now (ADR 0018), and what came back for it. */
  private prompt: { id: string; stepId: string; reply: TerminalReply | null; hungUp: boolean } | null = null;
  /** Prompts that ended (answered, timed out, hung up): a late reply to one of them is refused. */
  private readonly closedPrompts = new Set<string>();

  constructor(
    private readonly rt: ServiceRuntime,
    private readonly input: InterpreterInput,
  ) {
    this.plan = input.plan;
    this.listened = listenedMessages(this.plan.steps);
    this.progress = {
      serviceId: this.plan.serviceId,
      version: this.plan.version,
      planHash: input.planHash,
      outcome: 'RUNNING',
      current: null,
      steps: {},
      pendingCompensations: 0,
      alerts: 0,
    };
  }

  /** The step whose prompt is on the phone now, if any (test runtimes script its reply). */
  promptStep(): string | null {
    return this.prompt?.stepId ?? null;
  }

  /** Validates a message for a `listen` step; returns a problem or null. */
  checkMessage(name: string, value: unknown): string | null {
    if (name === TERMINAL_REPLY_MESSAGE || name === TERMINAL_HANGUP_MESSAGE) return this.checkTerminal(name, value);
    const l = this.listened.get(name);
    if (l === undefined) return `no listen step for '${name}'`;
    if (value === undefined) return 'a value is required';
    const problems = l.schema === null ? [] : validateValue(l.schema, value);
    return problems.length === 0 ? null : problems.join('; ');
  }

  /**
   * A phone's reply or hang-up is taken only for the prompt on the phone now, and a reply only once:
   * the access node learns from the refusal that it came too late or twice (ADR 0018).
   */
  private checkTerminal(name: string, value: unknown): string | null {
    const v = asRecord(value);
    const id = v['promptId'];
    if (typeof id !== 'string') return 'promptId is required';
    const p = this.prompt;
    if (p === null || p.id !== id)
      return this.closedPrompts.has(id) ? `prompt '${id}' is over` : `no prompt '${id}' is waiting`;
    if (name === TERMINAL_HANGUP_MESSAGE) return null;
    if (p.reply !== null) return `prompt '${id}' is already answered`;
    if (v['status'] !== 'answered' && v['status'] !== 'cancelled') return 'status must be answered or cancelled';
    if (typeof v['value'] !== 'string' || v['value'].length > 64) return 'value must be a short string';
    return null;
  }

  /** Delivers a signal/update payload to the mailbox. */
  deliver(name: string, value: unknown): void {
    const open = this.prompt;
    if (open !== null && name === open.stepId && open.reply === null) {
      // A scripted reply by step id (`definitions test`): `{ value }`, or `{ status: cancelled }`.
      const v = asRecord(value);
      const text = typeof v['value'] === 'string' ? v['value'] : '';
      open.reply = { status: v['status'] === 'cancelled' ? 'cancelled' : 'answered', value: text };
      return;
    }
    if (name === TERMINAL_REPLY_MESSAGE || name === TERMINAL_HANGUP_MESSAGE) {
      const v = asRecord(value);
      const p = this.prompt;
      if (p === null || p.id !== v['promptId']) return;
      if (name === TERMINAL_HANGUP_MESSAGE) p.hungUp = true;
      else if (p.reply === null)
        p.reply = { status: v['status'] === 'answered' ? 'answered' : 'cancelled', value: String(v['value']) };
      return;
    }
    const q = this.mailbox.get(name) ?? [];
    q.push(value);
    this.mailbox.set(name, q);
  }

  private scope(f: Frame): Scope {
    const s: Scope = { input: this.input.input, steps: this.steps, vars: this.vars };
    if (f.item !== undefined) s.item = f.item;
    if (f.index !== undefined) s.index = f.index;
    return s;
  }
  private text(e: Expr, f: Frame): string {
    const v = evaluate(e, this.scope(f));
    return typeof v === 'string' ? v : JSON.stringify(v);
  }
  private mark(activityId: string, state: StepState): void {
    this.progress.steps[activityId] = state;
    this.progress.current = state === 'running' || state === 'compensating' ? activityId : this.progress.current;
  }

  /** Runs the plan to its end; expected failures come back as a result, never as an exception. */
  async run(): Promise<ServiceResult> {
    const base = { serviceId: this.plan.serviceId, version: this.plan.version, planHash: this.input.planHash };
    this.rt.setOutcome('RUNNING', `${this.plan.serviceId}@${this.plan.version} running`);
    const problems = validateValue(this.plan.input, this.input.input);
    if (problems.length > 0) {
      return this.finish({
        ...base,
        outcome: 'FAILED',
        code: 'SVC_INPUT_INVALID',
        message: problems.join('; '),
        output: null,
      });
    }
    try {
      await this.seq(this.plan.steps, { iter: '0' });
      const output = this.evaluateOutput();
      return this.finish({ ...base, outcome: 'COMPLETED', code: null, message: null, output });
    } catch (err) {
      if (err instanceof ServiceFailure) {
        const n = await this.compensate();
        return this.finish({
          ...base,
          outcome: n > 0 ? 'COMPENSATED' : 'FAILED',
          code: err.code,
          message: scrubText(err.message),
          output: null,
        });
      }
      if (this.rt.isCancellation(err)) {
        await this.compensate();
        this.progress.outcome = 'FAILED';
        this.rt.setOutcome('FAILED', 'cancelled');
      }
      throw err;
    }
  }

  /** The plan's output; an evaluation error fails the run like a failed step. */
  private evaluateOutput(): unknown {
    if (this.plan.output === null) return null;
    try {
      return evaluate(this.plan.output, this.scope({ iter: '0' }));
    } catch (err) {
      if (!(err instanceof ExprEvalError)) throw err;
      throw new ServiceFailure('SVC_EXPRESSION_FAILED', `output: ${err.message}`);
    }
  }

  private finish(r: ServiceResult): ServiceResult {
    this.progress.outcome = r.outcome;
    this.progress.current = null;
    this.rt.setOutcome(r.outcome, r.code === null ? r.outcome : `${r.outcome} ${r.code}`);
    return r;
  }

  private async seq(steps: readonly PlanStep[], f: Frame): Promise<void> {
    for (const s of steps) await this.step(s, f);
  }

  /**
   * Runs one step. An expression that cannot be evaluated (integer overflow, a broken type
   * invariant) fails the step like a failed activity, so the run compensates and ends instead of
   * failing its workflow task forever.
   */
  private async step(s: PlanStep, f: Frame): Promise<void> {
    try {
      await this.stepUnguarded(s, f);
    } catch (err) {
      if (!(err instanceof ExprEvalError)) throw err;
      this.mark(`${s.id}#${f.iter}`, 'failed');
      throw new ServiceFailure('SVC_EXPRESSION_FAILED', `${s.id}: ${err.message}`);
    }
  }

  private async stepUnguarded(s: PlanStep, f: Frame): Promise<void> {
    const activityId = `${s.id}#${f.iter}`;
    const key = `${this.rt.workflowId}/${activityId}`;
    const scope = this.scope(f);
    switch (s.kind) {
      case 'call':
        return this.call(s, f, activityId, key);
      case 'switch': {
        const hit = s.cases.find((c) => evaluate(c.when, scope) === true);
        this.mark(activityId, 'done');
        const branch = hit?.steps ?? s.default;
        if (branch === null) throw new ServiceFailure('SVC_FAILED', `switch ${s.id} matched no case`);
        return this.seq(branch, f);
      }
      case 'parallel': {
        this.mark(activityId, 'running');
        const results = await Promise.allSettled(s.branches.map((b) => this.seq(b, f)));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
        this.mark(activityId, 'done');
        return;
      }
      case 'foreach': {
        const items = evaluate(s.items, scope);
        const list = Array.isArray(items) ? (items as unknown[]) : [];
        if (list.length > s.maxItems)
          throw new ServiceFailure('SVC_TOO_MANY_ITEMS', `${s.id}: ${list.length} items, at most ${s.maxItems}`);
        this.mark(activityId, 'running');
        for (let i = 0; i < list.length; i++)
          await this.seq(s.steps, { iter: `${f.iter}.${i}`, item: list[i], index: i });
        this.mark(activityId, 'done');
        return;
      }
      case 'wait': {
        this.trace.push(s.id);
        this.mark(activityId, 'running');
        const until = s.until;
        if (until === null) await this.rt.sleep(s.timeoutMs, this.text(s.summary, f));
        else {
          // The host calls the predicate outside this step, so an evaluation error is kept and rethrown here.
          const seen: { error: ExprEvalError | null } = { error: null };
          await this.rt.condition(
            () => {
              try {
                return evaluate(until, this.scope(f)) === true;
              } catch (err) {
                if (!(err instanceof ExprEvalError)) throw err;
                seen.error = err;
                return true;
              }
            },
            s.timeoutMs,
            s.id,
          );
          if (seen.error !== null) throw seen.error;
        }
        this.mark(activityId, 'done');
        return;
      }
      case 'listen':
        return this.listen(s, f, activityId, key);
      case 'set':
        for (const [name, e] of s.assign) this.vars[name] = evaluate(e, scope);
        this.mark(activityId, 'done');
        return;
      case 'fail':
        this.trace.push(s.id);
        this.mark(activityId, 'failed');
        throw new ServiceFailure(s.code, this.text(s.message, f));
      case 'subflow': {
        this.trace.push(s.id);
        const sub = this.plan.subplans[s.ref];
        if (sub === undefined) throw new ServiceFailure('SVC_PLAN_UNSUPPORTED', `subplan ${s.ref} missing`);
        this.mark(activityId, 'running');
        const r = await this.rt.startChild({
          workflowId: key,
          input: { plan: sub.plan, planHash: sub.planHash, input: asRecord(evaluate(s.args, scope)) },
          timeoutMs: s.timeoutMs,
          summary: this.text(s.summary, f),
        });
        if (r.outcome !== 'COMPLETED') {
          this.mark(activityId, 'failed');
          throw new ServiceFailure('SVC_STEP_FAILED', `${s.id}: subflow ended ${r.outcome} ${r.code ?? ''}`);
        }
        this.steps[s.id] = r.output;
        this.mark(activityId, 'done');
        return;
      }
      case 'emit': {
        this.trace.push(s.id);
        this.mark(activityId, 'running');
        try {
          await this.rt.call({
            stepId: s.id,
            activity: s.activity,
            args: { event: s.event, data: evaluate(s.data, scope) },
            activityId,
            idempotencyKey: key,
            timeoutMs: s.timeoutMs,
            retry: s.retry,
            taskQueue: null,
            summary: `${s.id}: emit ${s.event}`,
            compensation: false,
          });
        } catch (err) {
          if (err instanceof StepError) {
            this.mark(activityId, 'failed');
            throw new ServiceFailure('SVC_STEP_FAILED', `${s.id}: ${err.message}`);
          }
          throw err;
        }
        this.mark(activityId, 'done');
        return;
      }
    }
  }

  private async call(s: CallStep, f: Frame, activityId: string, key: string): Promise<void> {
    const scope = this.scope(f);
    const args = asRecord(evaluate(s.args, scope));
    // Registered before the call, so an ambiguous outcome (timeout after the remote acted) is covered.
    if (s.compensation !== null) {
      this.stack.push({
        stepId: s.id,
        activityId: `~${activityId}`,
        activity: s.compensation.activity,
        args: asRecord(evaluate(s.compensation.args, scope)),
        originalKey: key,
        timeoutMs: s.compensation.timeoutMs,
      });
      this.progress.pendingCompensations = this.stack.length;
    }
    this.trace.push(s.id);
    this.mark(activityId, 'running');
    let out: unknown;
    try {
      out = await this.rt.call({
        stepId: s.id,
        activity: s.activity,
        args,
        activityId,
        idempotencyKey: key,
        timeoutMs: s.timeoutMs,
        retry: s.retry,
        taskQueue: s.taskQueue === null ? null : this.text(s.taskQueue, f),
        summary: this.text(s.summary, f),
        compensation: false,
        ...(s.local === true ? { local: true } : {}),
      });
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      this.mark(activityId, 'failed');
      if (s.optional) {
        this.steps[s.id] = null;
        return;
      }
      throw new ServiceFailure('SVC_STEP_FAILED', `${s.id}: ${err.timedOut ? 'timed out' : err.message}`);
    }
    this.steps[s.id] = out;
    this.mark(activityId, 'done');
    // Past the pivot the saga is committed: later steps recover forward, nothing is undone.
    if (s.pivot) {
      this.stack.length = 0;
      this.progress.pendingCompensations = 0;
    }
  }

  /**
   * A prompt on the phone (ADR 0018): the signed screen is built on the central queue, handed to
   * the call on the listen's queue (the access node holding it), and the run waits for the phone's
   * reply (Update `terminalReply`) or the call's end (signal `terminalHangup`) until the timeout.
   * A screen no call took, or a hang-up, fails the step with TERMINAL_HUNG_UP: the run compensates.
   */
  private async terminalPrompt(s: ListenStep, f: Frame, activityId: string, key: string): Promise<unknown> {
    const args = asRecord(s.args === null ? {} : evaluate(s.args, this.scope(f)));
    const once = { maxAttempts: 3, initialIntervalMs: 200, backoffCoefficient: 2, maximumIntervalMs: 2_000 };
    const fail = (err: unknown): never => {
      if (!(err instanceof StepError)) throw err;
      this.mark(activityId, 'failed');
      throw new ServiceFailure('SVC_STEP_FAILED', `${s.id}: ${err.timedOut ? 'timed out' : err.message}`);
    };
    const screen = await this.rt
      .call({
        stepId: s.id,
        activity: PROMPT_SCREEN_ACTIVITY,
        args: { ...args, promptId: activityId, timeoutMs: s.timeoutMs },
        activityId: `${activityId}/screen`,
        idempotencyKey: `${key}/screen`,
        timeoutMs: PROMPT_SCREEN_TIMEOUT_MS,
        retry: once,
        taskQueue: null,
        summary: `${s.id}: screen`,
        compensation: false,
      })
      .catch(fail);
    // The prompt is open before the screen leaves: a reply may come back before the delivery returns.
    this.prompt = { id: activityId, stepId: s.id, reply: null, hungUp: false };
    try {
      const shown = asRecord(
        await this.rt
          .call({
            stepId: s.id,
            activity: PROMPT_DELIVERY_ACTIVITY,
            args: { terminalId: args['terminalId'], response: asRecord(screen)['response'] },
            activityId: `${activityId}/show`,
            idempotencyKey: `${key}/show`,
            timeoutMs: PROMPT_DELIVERY_TIMEOUT_MS,
            retry: { ...once, maxAttempts: 2 },
            taskQueue: s.taskQueue === null ? null : this.text(s.taskQueue, f),
            summary: this.text(s.summary, f),
            compensation: false,
          })
          .catch(fail),
      );
      const open = this.prompt;
      if (shown['delivered'] !== true || open.hungUp) throw this.hungUp(s, activityId);
      const came = await this.rt.condition(() => open.reply !== null || open.hungUp, s.timeoutMs, s.id);
      if (open.reply !== null) {
        const r = open.reply;
        return { value: r.status === 'answered' ? r.value : '', status: r.status, answered: r.status === 'answered' };
      }
      // Woken without a reply: the call ended.
      if (came) throw this.hungUp(s, activityId);
      return PROMPT_TIMED_OUT;
    } finally {
      this.closedPrompts.add(activityId);
      this.prompt = null;
    }
  }

  private hungUp(s: ListenStep, activityId: string): ServiceFailure {
    this.mark(activityId, 'failed');
    return new ServiceFailure('TERMINAL_HUNG_UP', `${s.id}: the caller hung up at the prompt`);
  }

  private async listen(s: ListenStep, f: Frame, activityId: string, key: string): Promise<void> {
    this.trace.push(s.id);
    this.mark(activityId, 'running');
    let got: boolean;
    let value: unknown = null;
    if (s.source === 'terminal') {
      const answer = await this.terminalPrompt(s, f, activityId, key);
      got = answer !== PROMPT_TIMED_OUT;
      if (got) value = answer;
    } else {
      got = await this.rt.condition(() => (this.mailbox.get(s.name)?.length ?? 0) > 0, s.timeoutMs, s.name);
      if (got) value = this.mailbox.get(s.name)?.shift() ?? null;
    }
    if (got) {
      this.vars[s.into] = value;
      this.mark(activityId, 'done');
      return;
    }
    this.mark(activityId, 'failed');
    if (s.onTimeout === null)
      throw new ServiceFailure('SVC_LISTEN_TIMEOUT', `${s.id}: no input within ${s.timeoutMs} ms`);
    await this.seq(s.onTimeout, f);
  }

  /** Runs pending compensations last-in first-out, each until it succeeds; returns how many ran. */
  private async compensate(): Promise<number> {
    if (this.stack.length === 0) return 0;
    return this.rt.nonCancellable(async () => {
      let n = 0;
      for (let c = this.stack.pop(); c !== undefined; c = this.stack.pop()) {
        this.progress.pendingCompensations = this.stack.length + 1;
        await this.compensateOne(c);
        n++;
      }
      this.progress.pendingCompensations = 0;
      return n;
    });
  }

  private async compensateOne(c: PendingCompensation): Promise<void> {
    const { alertAfterAttempts, retryIntervalMs, alertActivity } = this.plan.compensation;
    this.trace.push(`~${c.stepId}`);
    this.mark(c.activityId, 'compensating');
    for (let round = 0; ; round++) {
      try {
        await this.rt.call({
          stepId: c.stepId,
          activity: c.activity,
          args: { ...c.args, originalIdempotencyKey: c.originalKey },
          activityId: c.activityId,
          idempotencyKey: `${this.rt.workflowId}/${c.activityId}`,
          timeoutMs: c.timeoutMs,
          retry: {
            maxAttempts: alertAfterAttempts,
            initialIntervalMs: COMPENSATION_INITIAL_INTERVAL_MS,
            backoffCoefficient: 2,
            maximumIntervalMs: COMPENSATION_MAX_INTERVAL_MS,
          },
          taskQueue: null,
          summary: `undo ${c.stepId}: ${c.activity}`,
          compensation: true,
        });
        this.mark(c.activityId, 'compensated');
        return;
      } catch (err) {
        if (!(err instanceof StepError)) throw err;
        this.progress.alerts++;
        try {
          await this.rt.call({
            stepId: c.stepId,
            activity: alertActivity,
            args: {
              severity: 'critical',
              summary: `compensation ${c.activity} for ${c.stepId} failed ${(round + 1) * alertAfterAttempts} times`,
              workflowId: this.rt.workflowId,
            },
            activityId: `!${c.activityId}`,
            idempotencyKey: `${this.rt.workflowId}/!${c.activityId}`,
            timeoutMs: ALERT_TIMEOUT_MS,
            retry: { maxAttempts: 3, initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 10_000 },
            taskQueue: null,
            summary: `alert: ${c.stepId} compensation stuck`,
            compensation: true,
          });
        } catch (alertErr) {
          if (!(alertErr instanceof StepError)) throw alertErr;
        }
        await this.rt.sleep(retryIntervalMs, `retry undo ${c.stepId}`);
      }
    }
  }
}
