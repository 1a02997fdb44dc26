/**
 * The compiled plan: the canonical, pure-JSON form of a service definition that the interpreter
 * workflow runs. It travels in the workflow input, so a running transaction stays on the plan it
 * started with. Sandbox-safe: types and constants only.
 */
import type { Expr, VType } from './expr';

export const PLAN_FORMAT = 'fixpay.plan/v1';

export type ActivityKind = 'hsm' | 'gateway' | 'biller' | 'provider' | 'channel' | 'ledger' | 'notify';
export type Effect = 'none' | 'reserve' | 'debit' | 'issue';
export const MONEY_EFFECTS: readonly Effect[] = ['reserve', 'debit', 'issue'];

/** Retry policy of one call. `maxAttempts: null` means "until success" (post-pivot steps and compensations only). */
export interface RetryPlan {
  maxAttempts: number | null;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
}

export interface CompensationPlan {
  activity: string;
  args: Expr;
  timeoutMs: number;
}

export interface CallStep {
  kind: 'call';
  id: string;
  activity: string;
  activityKind: ActivityKind;
  effect: Effect;
  args: Expr;
  timeoutMs: number;
  retry: RetryPlan;
  pivot: boolean;
  optional: boolean;
  compensation: CompensationPlan | null;
  /** Expression giving the task queue (terminal I/O runs on `lines.<nodeId>`); null = the plan's queue. */
  taskQueue: Expr | null;
  summary: Expr;
  /**
   * Runs as a local activity (catalogue `local`, no taskQueue; ADR 0008). Absent means an ordinary
   * activity: plans compiled before this field existed keep issuing the same commands on replay.
   */
  local?: true;
}
export interface SwitchStep {
  kind: 'switch';
  id: string;
  cases: { when: Expr; steps: PlanStep[] }[];
  default: PlanStep[] | null;
}
export interface ParallelStep {
  kind: 'parallel';
  id: string;
  branches: PlanStep[][];
}
export interface ForeachStep {
  kind: 'foreach';
  id: string;
  items: Expr;
  maxItems: number;
  steps: PlanStep[];
}
export interface WaitStep {
  kind: 'wait';
  id: string;
  /** A plain timer when `until` is null; otherwise wait for the condition, at most `timeoutMs`. */
  until: Expr | null;
  timeoutMs: number;
  summary: Expr;
}
export interface ListenStep {
  kind: 'listen';
  id: string;
  source: 'signal' | 'update' | 'terminal';
  /** Message name for signal/update; the catalogue activity for terminal input. */
  name: string;
  /** Terminal input: the prompt activity arguments and its queue. */
  args: Expr | null;
  taskQueue: Expr | null;
  timeoutMs: number;
  into: string;
  /** Type a signal/update payload must have (null: any). */
  schema: VType | null;
  onTimeout: PlanStep[] | null;
  summary: Expr;
}
export interface SetStep {
  kind: 'set';
  id: string;
  assign: [string, Expr][];
}
export interface FailStep {
  kind: 'fail';
  id: string;
  code: string;
  message: Expr;
}
export interface SubflowStep {
  kind: 'subflow';
  id: string;
  service: string;
  /** Key into `plan.subplans` (`serviceId@version`). */
  ref: string;
  args: Expr;
  timeoutMs: number;
  summary: Expr;
}
export interface EmitStep {
  kind: 'emit';
  id: string;
  event: string;
  data: Expr;
  activity: string;
  timeoutMs: number;
  retry: RetryPlan;
}

export type PlanStep =
  | CallStep
  | SwitchStep
  | ParallelStep
  | ForeachStep
  | WaitStep
  | ListenStep
  | SetStep
  | FailStep
  | SubflowStep
  | EmitStep;

/**
 * The step lists a step nests, in plan order (switch cases then default, parallel branches, a loop's
 * body, a listen's timeout steps). The one place that knows which kinds contain steps: every walker
 * over a plan goes through it, so a new container kind added here is seen by all of them, and one
 * left out here does not compile.
 */
export function nestedSteps(step: PlanStep): readonly (readonly PlanStep[])[] {
  switch (step.kind) {
    case 'switch':
      return step.default === null ? step.cases.map((c) => c.steps) : [...step.cases.map((c) => c.steps), step.default];
    case 'parallel':
      return step.branches;
    case 'foreach':
      return [step.steps];
    case 'listen':
      return step.onTimeout === null ? [] : [step.onTimeout];
    case 'call':
    case 'wait':
    case 'set':
    case 'fail':
    case 'subflow':
    case 'emit':
      return [];
    default: {
      const unknown: never = step;
      throw new Error(`unhandled step kind ${String((unknown as { kind?: unknown }).kind)}`);
    }
  }
}

/** One input a phone collects before it asks for the service (ADR 0018). */
export interface TerminalInputPlan {
  name: string;
  kind: 'digits' | 'amount' | 'choice';
  label: string;
  /** Digits: least/most digits; amount: least/most minor units. */
  min?: number;
  max?: number;
  masked?: boolean;
  /** Digits only: Luhn-checked (a card number). */
  luhn?: boolean;
  choices?: { key: string; label: string }[];
  /**
   * A choice whose list is provider data (the offers' terminal codes and titles), filled in when a
   * phone's menu is built: a new game or show is a file, on the menu with no definition change.
   */
  choicesFrom?: ChoicesFrom;
}

/** Provider data a choice list can come from (providers/ticketing: airlines, cinemas, their shows, lottery games). */
export const CHOICES_FROM = ['airlines', 'cinemas', 'shows', 'lotteryGames'] as const;
export type ChoicesFrom = (typeof CHOICES_FROM)[number];

/** How a service appears on POS phones (`spec.terminal`; ADR 0018). */
export interface TerminalPlan {
  menu: string[];
  title: string;
  inputs: TerminalInputPlan[];
  /** Device profiles that may run it; null: every profile. */
  profiles: string[] | null;
  /** The request carries the swiped card and its PIN block (ADR 0024). */
  card?: boolean;
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  serviceId: string;
  version: string;
  title: string;
  /** Money services are started with reuse policy REJECT_DUPLICATE. */
  money: boolean;
  taskQueue: string;
  businessKey: Expr;
  terminalId: Expr | null;
  maxDurationMs: number;
  input: VType;
  output: Expr | null;
  outputType: VType;
  steps: PlanStep[];
  compensation: { alertAfterAttempts: number; retryIntervalMs: number; alertActivity: string };
  /** Child plans used by `subflow` steps, embedded so the whole tree is pinned. */
  subplans: Record<string, { plan: Plan; planHash: string }>;
  estimate: { historyEvents: number; maxHistoryEvents: number };
  /** On phones' menus (ADR 0018); absent for services phones ask for by their own message. */
  terminal?: TerminalPlan;
}

/** What the interpreter workflow receives. */
export interface InterpreterInput {
  plan: Plan;
  planHash: string;
  input: Record<string, unknown>;
}

export type Outcome = 'RUNNING' | 'COMPLETED' | 'FAILED' | 'COMPENSATED';

/** What the interpreter returns (never card data: outputs are type-checked as non-sensitive). */
export interface ServiceResult {
  serviceId: string;
  version: string;
  planHash: string;
  outcome: Exclude<Outcome, 'RUNNING'>;
  code: string | null;
  message: string | null;
  output: unknown;
}

/** Search attribute names the interpreter sets (all Keyword). */
export const SEARCH_ATTRIBUTES = ['ServiceId', 'ServiceVersion', 'PlanHash', 'TerminalId', 'Outcome'] as const;
export type SearchAttributeName = (typeof SEARCH_ATTRIBUTES)[number];

/** Workflow type name of the interpreter. */
export const INTERPRETER_WORKFLOW = 'serviceInterpreter';
/** Update/signal that delivers input to a `listen` step: `{ name, value }`. */
/**
 * The signal a purchase run waits on for the phone's verdict (ADR 0012): `{ verdict: 'confirmed' |
 * 'reversed' }`. A plan listening for it may run longer than a phone call (the verdict window).
 */
export const TERMINAL_VERDICT_SIGNAL = 'terminalVerdict';
export const DELIVER_MESSAGE = 'deliver';
/**
 * A conversation (ADR 0018): the access node delivers the phone's reply to a prompt as the Update
 * `deliver` with this name and `{ promptId, status: 'answered' | 'cancelled', value }`; the run's
 * validator refuses a reply to any prompt but the one it waits for, and a second reply.
 */
export const TERMINAL_REPLY_MESSAGE = 'terminalReply';
/** The call that showed a prompt ended (`deliver` signal, `{ promptId }`): the run fails the step and compensates. */
export const TERMINAL_HANGUP_MESSAGE = 'terminalHangup';
/** The activity that builds a signed screen for a `listen: { terminal }` step (central queue). */
export const PROMPT_SCREEN_ACTIVITY = 'promptTerminal';
/** The activity that hands the screen to the call (on the `listen`'s task queue, `lines.<nodeId>`). */
export const PROMPT_DELIVERY_ACTIVITY = 'deliverTerminalResponse';
/** Query returning progress. */
export const PROGRESS_QUERY = 'progress';
