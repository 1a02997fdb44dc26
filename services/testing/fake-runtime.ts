/**
 * A `ServiceRuntime` without Temporal: activities go to a FakeWorld, time is virtual, messages are
 * scripted, faults are injected per step. Used by `fixpay definitions test` and unit tests.
 */
import type { FakeWorld } from '../catalogue/fake';
import { Interpreter, StepError } from '../runtime/interpreter';
import type { CallRequest, ServiceRuntime } from '../runtime/interpreter';
import type { InterpreterInput, Outcome, ServiceResult } from '../runtime/plan';
import { PROMPT_SCREEN_ACTIVITY } from '../runtime/plan';

/** A failure injected into a step's attempts: all of them, or the first `attempts`. */
export interface Fault {
  kind: 'fail' | 'timeout' | 'ambiguous';
  attempts?: number;
}

/** Cap for "until success" retries in the fake, so a fault that never clears cannot hang a test. */
export const UNTIL_SUCCESS_CAP = 100;

export interface FakeRuntimeOptions {
  workflowId: string;
  /** By step id, or activity id (`issue#0.2`) for one iteration; `~id` targets the step's compensation. */
  faults?: ReadonlyMap<string, Fault>;
  /** Scripted messages by listen name; `'timeout'` (or absent) lets the listen time out. */
  messages?: Readonly<Record<string, unknown>>;
}

export class FakeRuntime implements ServiceRuntime {
  readonly workflowId: string;
  clockMs = 0;
  readonly outcomes: Outcome[] = [];
  /** Attempts per activity id, to check retries and compensations. */
  readonly attempts = new Map<string, number>();
  interpreter: Interpreter | undefined;
  private readonly delivered = new Set<string>();

  constructor(
    readonly world: FakeWorld,
    private readonly opts: FakeRuntimeOptions,
  ) {
    this.workflowId = opts.workflowId;
  }

  call(req: CallRequest): Promise<unknown> {
    const prefix = req.compensation ? '~' : '';
    // A prompt's screen and its delivery (`confirm#0/screen`, `/show`) are the listen's plumbing:
    // a test's fault on the listen step means no reply (see `condition`), not a failed screen.
    const plumbing = req.activityId.includes('/');
    const fault =
      req.activityId.startsWith('!') || plumbing
        ? undefined
        : (this.opts.faults?.get(req.activityId) ?? this.opts.faults?.get(`${prefix}${req.stepId}`));
    const max = req.retry.maxAttempts ?? UNTIL_SUCCESS_CAP;
    let timedOut = false;
    for (let attempt = 1; attempt <= max; attempt++) {
      // Counted across calls, so a fault limited to N attempts also spans compensation rounds.
      const total = (this.attempts.get(req.activityId) ?? 0) + 1;
      this.attempts.set(req.activityId, total);
      const request = { ...req.args, idempotencyKey: req.idempotencyKey };
      const affected = fault !== undefined && (fault.attempts === undefined || total <= fault.attempts);
      if (!affected) return Promise.resolve(this.world.handle(req.activity, request));
      if (fault.kind === 'ambiguous') this.world.handle(req.activity, request);
      timedOut = fault.kind !== 'fail';
      this.clockMs += timedOut ? req.timeoutMs : 1;
      this.clockMs += Math.min(
        req.retry.initialIntervalMs * req.retry.backoffCoefficient ** (attempt - 1),
        req.retry.maximumIntervalMs,
      );
    }
    return Promise.reject(new StepError(timedOut ? 'timed out' : 'injected failure', timedOut));
  }

  sleep(ms: number): Promise<void> {
    this.clockMs += ms;
    return Promise.resolve();
  }

  condition(fn: () => boolean, timeoutMs: number, waitingFor: string): Promise<boolean> {
    if (fn()) return Promise.resolve(true);
    // A terminal prompt is scripted like a call: `outcomes: { step: { result: { value } } }`
    // replies, `timeout` (or nothing) lets it time out.
    const prompt = this.interpreter?.promptStep() === waitingFor;
    const scripted = !prompt
      ? undefined
      : this.opts.faults?.has(waitingFor) === true
        ? 'timeout'
        : (this.world.results.get(waitingFor) ?? this.world.example(PROMPT_SCREEN_ACTIVITY));
    const m = this.opts.messages?.[waitingFor] ?? scripted;
    if (m !== undefined && m !== 'timeout' && !this.delivered.has(waitingFor) && this.interpreter !== undefined) {
      this.delivered.add(waitingFor);
      this.interpreter.deliver(waitingFor, m);
      return Promise.resolve(fn());
    }
    this.clockMs += timeoutMs;
    return Promise.resolve(fn());
  }

  nonCancellable<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  isCancellation(): boolean {
    return false;
  }

  startChild(req: { workflowId: string; input: InterpreterInput }): Promise<ServiceResult> {
    const child = new FakeRuntime(this.world, { workflowId: req.workflowId, messages: this.opts.messages ?? {} });
    const interp = new Interpreter(child, req.input);
    child.interpreter = interp;
    return interp.run();
  }

  setOutcome(outcome: Outcome): void {
    this.outcomes.push(outcome);
  }
}

/** Runs a plan end to end on a fresh runtime; returns the interpreter (trace, progress) and result. */
export async function runFake(
  world: FakeWorld,
  input: InterpreterInput,
  opts: FakeRuntimeOptions,
): Promise<{ result: ServiceResult; interpreter: Interpreter; runtime: FakeRuntime }> {
  const runtime = new FakeRuntime(world, opts);
  const interpreter = new Interpreter(runtime, input);
  runtime.interpreter = interpreter;
  const result = await interpreter.run();
  return { result, interpreter, runtime };
}
