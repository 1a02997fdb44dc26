/**
 * The definition compiler: YAML → ajv → semantic checks → canonical plan. Every refusal carries
 * file:line:column and a stable FP20xx code (see docs/definitions.md for the rules).
 */
import {
  ExprSyntaxError,
  ExprTypeError,
  T_ANY,
  T_INT,
  assignable,
  checkExpr,
  evaluate,
  parseExpression,
  parseTemplate,
  references,
  sensitiveIn,
  stripPositions,
} from '../runtime/expr';
import type { Checked, Expr, RefResolver, SensitiveKind, VType } from '../runtime/expr';
import { CHOICES_FROM, MONEY_EFFECTS, PLAN_FORMAT, TERMINAL_VERDICT_SIGNAL } from '../runtime/plan';
import type {
  CompensationPlan,
  Effect,
  Plan,
  PlanStep,
  RetryPlan,
  TerminalInputPlan,
  TerminalPlan,
} from '../runtime/plan';
import { SENSITIVE_SINK_KINDS } from '../catalogue/types';
import type { Catalogue } from '../catalogue/types';
import { diagnostic } from './diagnostics';
import type { DefinitionCodeName, Diagnostic } from './diagnostics';
import { validateSchema } from './schema';
import { MAX_FLOW_DEPTH_BEFORE_PARSING, SourceDoc, deepFlowOffset } from './source';
import type { JsonPath } from './source';

/** Temporal warns at 10,240 history events; no plan may be estimated above it. */
export const HISTORY_EVENTS_HARD_LIMIT = 10_240;
export const DEFAULT_MAX_HISTORY_EVENTS = 2_000;
/** Keeps the plan (workflow input) far below Temporal's 256 KB payload warning. */
export const MAX_PLAN_BYTES = 64 * 1024;
/**
 * Most steps one definition may declare. A plan that large is already far above MAX_PLAN_BYTES;
 * counting first keeps the path analysis (which copies per-path state at each step) linear in
 * practice and a hostile file fast to refuse.
 */
export const MAX_STEPS = 400;
/** Largest definition source accepted (parsing is bounded before any work is done). */
export const MAX_DEFINITION_BYTES = 96 * 1024;
export const DEFAULT_MAX_DURATION_MS = 5 * 60_000;
export const DEFAULT_ALERT_AFTER_ATTEMPTS = 5;
export const DEFAULT_COMPENSATION_RETRY_INTERVAL_MS = 10_000;
export const DEFAULT_EMIT_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRY_INITIAL_INTERVAL_MS = 500;
export const DEFAULT_RETRY_MAX_INTERVAL_MS = 30_000;
export const DEFAULT_RETRY_BACKOFF = 2;
/** Estimated history events per construct (scheduled/started/completed + one workflow task). */
export const EVENTS_PER_ACTIVITY = 6;
export const EVENTS_PER_TIMER = 5;
export const EVENTS_FIXED = 12;
export const PROMPT_ACTIVITY = 'promptTerminal';
export const EMIT_ACTIVITY = 'emitEvent';
export const ALERT_ACTIVITY = 'raiseAlert';
/** Ceiling of `maxDuration` and of every duration: a service runs within one phone call. */
export const MAX_SERVICE_DURATION_MS = 10 * 60_000;
/**
 * Longest verdict window (ADR 0012): a plan that waits for a terminal's verdict (a `listen` on the
 * `terminalVerdict` signal) may run this much longer than a phone call. Below the card network
 * reversal store's expiry of 7 days, so a reversal decided at the deadline still lands.
 */
export const MAX_VERDICT_WINDOW_MS = 6 * 24 * 3_600_000;
/** True when the raw steps hold a `listen` on the terminal verdict signal (at any depth). */
function waitsForVerdict(node: unknown, depth = 0): boolean {
  if (depth > 64 || typeof node !== 'object' || node === null) return false;
  if (Array.isArray(node)) return node.some((n) => waitsForVerdict(n, depth + 1));
  const rec = node as Record<string, unknown>;
  const listen = rec['listen'];
  if (
    typeof listen === 'object' &&
    listen !== null &&
    (listen as Record<string, unknown>)['signal'] === TERMINAL_VERDICT_SIGNAL
  )
    return true;
  return Object.values(rec).some((v) => waitsForVerdict(v, depth + 1));
}
/** Ceiling of `foreach.maxItems`, and of the steps one run may execute (loop bounds multiply). */
export const MAX_FOREACH_ITEMS = 100;
export const MAX_STEP_EXECUTIONS = 1_000;
/** Input fields that identify one transaction of a terminal: when declared, the business key uses them. */
export const PER_TRANSACTION_FIELDS: readonly string[] = ['stan', 'localDate', 'transactionId', 'requestId'];
/** Passes of the card-data analysis (each pass can only add kinds to variables; one more confirms). */
export const MAX_TAINT_PASSES = 8;
/** Output fields by which a money step reports approval without failing (besides enum statuses). */
export const APPROVAL_FIELDS: readonly string[] = ['approved', 'accepted'];
/** Names that reach JavaScript's prototype chain when used as object keys. */
export const RESERVED_NAMES: readonly string[] = ['__proto__', 'constructor', 'prototype'];
/** Input fields the access node sets for every terminal request: a phone may not collect them (ADR 0018). */
export const TERMINAL_INPUT_RESERVED: readonly string[] = [
  'request',
  'requestDigest',
  'mti',
  'psamCounter',
  'terminalId',
  'merchantId',
  'stan',
  'localDate',
  'ani',
  'psamId',
  'nodeId',
  'currency',
  'profileId',
];
/** The queue the central workers serve, and the prefix of the access nodes' queues. */
export const DEFAULT_TASK_QUEUE = 'services';
export const LINE_TASK_QUEUE_PREFIX = 'lines.';
/** Control, zero-width and bidirectional-override characters refused in display and printer text. */
export function hasUnsafeText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x09 || c === 0x0a) continue;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x061c || c === 0xfeff) return true;
    if ((c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2069)) return true;
  }
  return false;
}
/** Arguments that name an account or a transaction: a money step takes them from the run, never from the input. */
export const ACCOUNT_OR_TRANSACTION_ARG = /^(accountId|reservationId|transactionId|paymentId|rrn|authCode)$/;

export interface CompileOptions {
  catalogue: Catalogue;
  /** Finds another service's compiled plan (for `subflow`); undefined when unknown. */
  resolveSubflow?: (serviceId: string, chain: readonly string[]) => { plan: Plan; planHash: string } | undefined;
  /** Services being compiled above this one (recursion check). */
  chain?: readonly string[];
  /**
   * Task queues some worker serves (default: `services`); the first is the central queue a plan
   * without `spec.taskQueue` runs on. Calls may also target `lines.<nodeId>`.
   */
  servedTaskQueues?: readonly string[];
}

export type CompileResult = { ok: true; plan: Plan; diagnostics: [] } | { ok: false; diagnostics: Diagnostic[] };

/** Parses a duration such as `250ms`, `3s`, `2m`, `1h` into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (m === null) throw new Error(`bad duration ${text}`);
  const n = Number(m[1]);
  const unit = m[2];
  return unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
}

type Obj = Record<string, unknown>;
/** Inclusive bounds of an integer expression; infinite where nothing bounds it. */
interface Range {
  lo: number;
  hi: number;
}

/** A checked value's type carrying the card-data kind that flowed into it (e.g. through concatenation). */
function tagged(c: Checked): VType {
  const first = c.sensitive[0];
  return first !== undefined && sensitiveIn(c.type).size === 0 ? { ...c.type, sensitive: first } : c.type;
}
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Flow state along one path of the definition. */
interface State {
  assigned: Set<string>;
  /** Most and fewest pivots passed on any path to here. */
  pivots: number;
  minPivots: number;
  inParallel: boolean;
  loopDepth: number;
  /** Product of the `maxItems` of the loops around this point. */
  repeat: number;
  item: VType | undefined;
  /** Worst-case time spent on the slowest path to here (bounded calls, waits, listens). */
  elapsedMs: number;
  /** Money-moving steps passed (first occurrence position for diagnostics). */
  money: string[];
  /** Reservations made and not yet settled. */
  reserves: string[];
  /** Steps whose result a switch condition examined. */
  checked: Set<string>;
  /** The currency expression of the money steps on this path (canonical JSON). */
  currency: string | undefined;
}
const cloneState = (s: State): State => ({
  ...s,
  assigned: new Set(s.assigned),
  money: [...s.money],
  reserves: [...s.reserves],
  checked: new Set(s.checked),
});

/** The state after paths join: what holds on every one of them (worst case for time and money). */
function joinStates(ends: readonly State[]): State | null {
  const first = ends[0];
  if (first === undefined) return null;
  const next = cloneState(first);
  for (const a of [...next.assigned]) if (!ends.every((e) => e.assigned.has(a))) next.assigned.delete(a);
  // A money step's result counts as checked when every path either checked it or never ran it.
  const seen = new Set(ends.flatMap((e) => [...e.checked, ...e.money]));
  next.checked = new Set([...seen].filter((c) => ends.every((e) => e.checked.has(c) || !e.money.includes(c))));
  next.pivots = Math.max(...ends.map((e) => e.pivots));
  next.minPivots = Math.min(...ends.map((e) => e.minPivots));
  next.elapsedMs = Math.max(...ends.map((e) => e.elapsedMs));
  next.money = [...new Set(ends.flatMap((e) => e.money))];
  next.reserves = [...new Set(ends.flatMap((e) => e.reserves))];
  next.currency = ends.find((e) => e.currency !== undefined)?.currency;
  return next;
}

/** Worst-case time of a bounded call: every attempt times out, with the backoff between attempts. */
export function worstCaseCallMs(timeoutMs: number, retry: RetryPlan): number {
  const attempts = retry.maxAttempts ?? 1;
  let total = attempts * timeoutMs;
  for (let i = 1; i < attempts; i++)
    total += Math.min(retry.initialIntervalMs * retry.backoffCoefficient ** (i - 1), retry.maximumIntervalMs);
  return total;
}

const canonical = (e: Expr): string => JSON.stringify(e);
/** Marks a switch case that handles null (`isNull(x)`, `x == null`). */
const NULL_CASE = '\u0000null';

/** The retry policy of an `emit` step. */
const EMIT_RETRY: RetryPlan = {
  maxAttempts: 3,
  initialIntervalMs: DEFAULT_RETRY_INITIAL_INTERVAL_MS,
  backoffCoefficient: 2,
  maximumIntervalMs: DEFAULT_RETRY_MAX_INTERVAL_MS,
};

class Compiler {
  readonly diags: Diagnostic[] = [];
  private readonly stepIds = new Map<string, JsonPath>();
  private readonly allIds = new Set<string>();
  private readonly stepTypes = new Map<string, VType>();
  private readonly varTypes = new Map<string, VType>();
  private readonly subplans: Record<string, { plan: Plan; planHash: string }> = {};
  private inputType: VType = { type: 'object', properties: {} };
  private maxDurationMs = DEFAULT_MAX_DURATION_MS;
  private money = false;
  /** Call steps by id: what the money proofs need to know about them. */
  private readonly calls = new Map<string, { activity: string; effect: string; checkable: boolean }>();
  private timeReported = false;
  /** Variables computed from the input (an amount from them must be declared money in the input). */
  private readonly inputVars = new Set<string>();
  /** Ranges of variables computed by integer arithmetic. */
  private readonly varRanges = new Map<string, Range>();
  /** Set when a variable turned out to hold card data after it was first read: compile again. */
  taintChanged = false;

  constructor(
    private readonly src: SourceDoc,
    private readonly opts: CompileOptions,
    /** Variables that hold card data anywhere in the definition (learned over passes). */
    readonly taint: Map<string, SensitiveKind> = new Map(),
  ) {}

  private report(
    name: DefinitionCodeName,
    message: string,
    path: JsonPath,
    at: { key?: boolean; offset?: number } = {},
  ): void {
    this.diags.push(diagnostic(name, message, this.src.file, this.src.locate(path, at), path));
  }

  // ---- types ---------------------------------------------------------------------------------

  private toVType(v: Obj, required = true): VType {
    const t: VType = { type: (str(v['type']) ?? 'any') as VType['type'] };
    if (Array.isArray(v['enum'])) t.enum = v['enum'].filter((x): x is string => typeof x === 'string');
    if (typeof v['sensitive'] === 'string') t.sensitive = v['sensitive'] as SensitiveKind;
    if (v['money'] === true) t.money = true;
    if (typeof v['minimum'] === 'number') t.minimum = v['minimum'];
    if (typeof v['maximum'] === 'number') t.maximum = v['maximum'];
    if (typeof v['minItems'] === 'number') t.minItems = v['minItems'];
    if (typeof v['maxItems'] === 'number') t.maxItems = v['maxItems'];
    if (!required) t.nullable = true;
    if (isObj(v['properties'])) {
      const req = Array.isArray(v['required']) ? v['required'].filter((x): x is string => typeof x === 'string') : [];
      t.properties = {};
      t.required = req;
      for (const [k, p] of Object.entries(v['properties']))
        if (isObj(p)) t.properties[k] = this.toVType(p, req.includes(k));
    }
    if (isObj(v['items'])) t.items = this.toVType(v['items']);
    return t;
  }

  private walkType(t: VType, path: readonly (string | number)[], at: number, what: string): VType {
    let cur = t;
    let nullable = false;
    for (const seg of path) {
      if (cur.nullable === true) nullable = true;
      if (cur.type === 'any') return T_ANY;
      if (typeof seg === 'number') {
        if (cur.type !== 'array') throw new ExprTypeError(`${what} is not an array`, at, 'type');
        cur = cur.items ?? T_ANY;
        nullable = true;
        continue;
      }
      if (cur.type !== 'object') throw new ExprTypeError(`${what} has no field '${seg}'`, at, 'unknown-field');
      const props = cur.properties;
      const next = props !== undefined && Object.hasOwn(props, seg) ? props[seg] : undefined;
      if (next === undefined) throw new ExprTypeError(`unknown field '${seg}' in ${what}`, at, 'unknown-field');
      cur = next;
      what = `${what}.${seg}`;
    }
    return nullable || cur.nullable === true ? { ...cur, nullable: true } : cur;
  }

  private resolver(state: State): RefResolver {
    return (ref) => {
      const at = ref.at ?? 0;
      switch (ref.root) {
        case 'input':
          return this.walkType(this.inputType, ref.path, at, 'input');
        case 'item':
          if (state.item === undefined)
            throw new ExprTypeError("'item' is only defined inside foreach", at, 'unassigned');
          return this.walkType(state.item, ref.path, at, 'item');
        case 'index':
          if (state.loopDepth === 0)
            throw new ExprTypeError("'index' is only defined inside foreach", at, 'unassigned');
          if (ref.path.length > 0) throw new ExprTypeError("'index' has no fields", at, 'type');
          return T_INT;
        case 'steps':
        case 'vars': {
          const [name, ...rest] = ref.path;
          if (typeof name !== 'string') throw new ExprTypeError(`${ref.root} needs a name`, at, 'type');
          const key = `${ref.root}.${name}`;
          if (ref.root === 'steps' && !this.allIds.has(name))
            throw new ExprTypeError(`no step '${name}'`, at, 'unknown-field');
          if (!state.assigned.has(key)) {
            const known = ref.root === 'vars' ? this.varTypes.has(name) || this.everAssigned.has(key) : true;
            throw new ExprTypeError(
              known ? `${key} is not assigned on every path to this point` : `vars.${name} is never assigned`,
              at,
              'unassigned',
            );
          }
          const t = ref.root === 'steps' ? this.stepTypes.get(name) : this.varTypes.get(name);
          return this.walkType(t ?? T_ANY, rest, at, key);
        }
      }
    };
  }
  private readonly everAssigned = new Set<string>();

  /** Parses and checks a template/value at `path`; reports and returns undefined on error. */
  private expr(raw: unknown, path: JsonPath, state: State, bare = false): { e: Expr; c: Checked } | undefined {
    if (isObj(raw) || Array.isArray(raw)) {
      const entries: [string, Expr][] = [];
      const items: Expr[] = [];
      const properties: Record<string, VType> = {};
      const itemTypes: VType[] = [];
      const sens = new Set<SensitiveKind>();
      const list: [string | number, unknown][] = Array.isArray(raw) ? raw.map((v, i) => [i, v]) : Object.entries(raw);
      let failed = false;
      for (const [k, v] of list) {
        const r = this.expr(v, [...path, k], state);
        if (r === undefined) {
          failed = true;
          continue;
        }
        r.c.sensitive.forEach((s) => sens.add(s));
        const t = tagged(r.c);
        if (typeof k === 'number') {
          items.push(r.e);
          itemTypes.push(t);
        } else {
          entries.push([k, r.e]);
          properties[k] = t;
        }
      }
      if (failed) return undefined;
      if (Array.isArray(raw)) {
        const kinds = new Set(itemTypes.map((t) => t.type).filter((t) => t !== 'any'));
        if (kinds.size > 1) {
          this.report('DEF_TYPE_MISMATCH', `an array holds one type; this one mixes ${[...kinds].join(', ')}`, path);
          return undefined;
        }
        const firstSens = [...sens][0];
        const itemType: VType = { ...(itemTypes[0] ?? T_ANY) };
        if (firstSens !== undefined && sensitiveIn(itemType).size === 0) itemType.sensitive = firstSens;
        return { e: { k: 'arr', items }, c: { type: { type: 'array', items: itemType }, sensitive: [...sens] } };
      }
      return {
        e: { k: 'obj', entries },
        c: { type: { type: 'object', properties, required: Object.keys(properties) }, sensitive: [...sens] },
      };
    }
    let e: Expr;
    try {
      if (typeof raw === 'string') e = bare ? parseExpression(raw) : parseTemplate(raw);
      else if (typeof raw === 'number' || typeof raw === 'boolean' || raw === null) e = { k: 'lit', v: raw };
      else throw new ExprSyntaxError('unsupported value', 0);
      if (typeof raw === 'number' && !Number.isSafeInteger(raw))
        throw new ExprSyntaxError('numbers must be integers', 0);
    } catch (err) {
      if (err instanceof ExprSyntaxError) {
        this.report('DEF_EXPRESSION_SYNTAX', err.message, path, { offset: err.offset });
        return undefined;
      }
      throw err;
    }
    const reserved = references(e).find((r) => r.path.some((seg) => RESERVED_NAMES.includes(String(seg))));
    if (reserved !== undefined) {
      this.report(
        'DEF_RESERVED_NAME',
        `'${reserved.path.find((seg) => RESERVED_NAMES.includes(String(seg)))}' reaches the JavaScript prototype: rename the field`,
        path,
        { offset: reserved.at ?? 0 },
      );
      return undefined;
    }
    try {
      const c = checkExpr(e, this.resolver(state));
      return { e: stripPositions(e), c };
    } catch (err) {
      if (err instanceof ExprTypeError) {
        const name: DefinitionCodeName =
          err.kind === 'unassigned'
            ? 'DEF_UNASSIGNED_READ'
            : err.kind === 'unknown-field'
              ? 'DEF_UNKNOWN_FIELD'
              : 'DEF_TYPE_MISMATCH';
        this.report(name, err.message, path, { offset: err.offset });
        return undefined;
      }
      throw err;
    }
  }

  private noSensitive(c: Checked | undefined, path: JsonPath, where: string): void {
    if (c !== undefined && c.sensitive.length > 0)
      this.report('DEF_SENSITIVE_LEAK', `${c.sensitive.join(', ')} data must not flow into ${where}`, path);
  }

  /** Checks `with` arguments against an activity's input type. */
  private args(
    raw: unknown,
    path: JsonPath,
    keyPath: JsonPath,
    state: State,
    input: VType,
    activity: string,
    sensitiveOk: boolean,
    checkedArgs?: Map<string, { e: Expr; c: Checked }>,
  ): Expr {
    const given = isObj(raw) ? raw : {};
    const entries: [string, Expr][] = [];
    for (const [k, v] of Object.entries(given)) {
      const props = input.properties;
      const dst = props !== undefined && Object.hasOwn(props, k) ? props[k] : undefined;
      if (dst === undefined) {
        if (RESERVED_NAMES.includes(k)) continue; // reported by the name check
        this.report('DEF_UNKNOWN_FIELD', `${activity} has no argument '${k}'`, [...path, k], { key: true });
        continue;
      }
      const r = this.expr(v, [...path, k], state);
      if (r === undefined) continue;
      const fits = assignable(r.c.type, dst);
      if (!fits)
        this.report('DEF_TYPE_MISMATCH', `argument '${k}' of ${activity} needs ${dst.type}, got ${r.c.type.type}`, [
          ...path,
          k,
        ]);
      if (r.c.sensitive.length > 0) {
        const declared = sensitiveIn(dst);
        const ok = sensitiveOk && r.c.sensitive.every((s) => declared.has(s));
        if (!ok)
          this.report(
            'DEF_SENSITIVE_LEAK',
            `${r.c.sensitive.join(', ')} data must not flow into argument '${k}' of ${activity}`,
            [...path, k],
          );
      }
      if (dst.money === true && fits) this.amount(r, [...path, k], `argument '${k}' of ${activity}`, state);
      checkedArgs?.set(k, r);
      entries.push([k, r.e]);
    }
    for (const req of input.required ?? [])
      if (!(req in given))
        this.report('DEF_MISSING_ARGUMENT', `${activity} needs argument '${req}'`, isObj(raw) ? path : keyPath, {
          key: !isObj(raw),
        });
    return { k: 'obj', entries };
  }

  /** Range of an integer expression from declared bounds (infinite where nothing bounds it). */
  private range(e: Expr, state: State): Range {
    const any: Range = { lo: -Infinity, hi: Infinity };
    switch (e.k) {
      case 'lit':
        return typeof e.v === 'number' ? { lo: e.v, hi: e.v } : any;
      case 'ref': {
        if (e.root === 'vars' && typeof e.path[0] === 'string' && e.path.length === 1)
          return this.varRanges.get(e.path[0]) ?? any;
        let t: VType;
        try {
          t = this.resolver(state)(e);
        } catch {
          return any;
        }
        return { lo: t.minimum ?? -Infinity, hi: t.maximum ?? Infinity };
      }
      case 'neg': {
        const a = this.range(e.e, state);
        return { lo: -a.hi, hi: -a.lo };
      }
      case 'bin': {
        const a = this.range(e.l, state);
        const b = this.range(e.r, state);
        if (e.op === '+') return { lo: a.lo + b.lo, hi: a.hi + b.hi };
        if (e.op === '-') return { lo: a.lo - b.hi, hi: a.hi - b.lo };
        if (e.op === '*') {
          const ps = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi].map((x) => (Number.isNaN(x) ? Infinity : x));
          const unbounded = ![a.lo, a.hi, b.lo, b.hi].every(Number.isFinite);
          return unbounded ? any : { lo: Math.min(...ps), hi: Math.max(...ps) };
        }
        return any;
      }
      case 'fn': {
        const arg = e.args[0];
        if (e.fn === 'len' && arg?.k === 'ref') {
          try {
            const t = this.resolver(state)(arg);
            if (t.type === 'array') return { lo: t.minItems ?? 0, hi: t.maxItems ?? Infinity };
          } catch {
            return any;
          }
          return { lo: 0, hi: Infinity };
        }
        const [x, y] = e.args.map((a) => this.range(a, state));
        if (x === undefined || y === undefined) return any;
        if (e.fn === 'min') return { lo: Math.min(x.lo, y.lo), hi: Math.min(x.hi, y.hi) };
        if (e.fn === 'max') return { lo: Math.max(x.lo, y.lo), hi: Math.max(x.hi, y.hi) };
        return any;
      }
      default:
        return any;
    }
  }

  /** An amount: a required integer of minor units from a money field, or a positive literal that fits. */
  private amount(r: { e: Expr; c: Checked }, path: JsonPath, what: string, state: State): void {
    if (references(r.e).length === 0) {
      let v: unknown;
      try {
        v = evaluate(r.e, { input: {}, steps: {}, vars: {} });
      } catch {
        this.report('DEF_MONEY_AMOUNT', `${what} overflows the safe integer range: use a smaller amount`, path);
        return;
      }
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
        this.report('DEF_MONEY_AMOUNT', `${what} must be a positive integer of minor units, got ${String(v)}`, path);
      return;
    }
    // An amount the run computed (a step's or subflow's output) is trusted; an input integer must say it is money.
    if (r.c.type.money !== true && this.fromInput(r.e))
      this.report(
        'DEF_MONEY_AMOUNT',
        `${what} is an amount: it must come from a field declared 'type: integer, money: true'`,
        path,
      );
    else if (r.c.type.nullable === true)
      this.report('DEF_MONEY_AMOUNT', `${what} may be absent: list the amount field in 'required'`, path);
    else {
      // Arithmetic (here or in the variable it comes from) must stay positive and safe for every
      // input the service accepts: the bounds come from 'minimum'/'maximum' on the input fields,
      // which the interpreter checks before any step runs.
      const computed = !(r.e.k === 'ref' && !(r.e.root === 'vars' && this.varRanges.has(String(r.e.path[0]))));
      if (!computed) return;
      const { lo, hi } = this.range(r.e, state);
      if (!Number.isFinite(lo) || !Number.isFinite(hi))
        this.report(
          'DEF_MONEY_AMOUNT',
          `${what} is computed from fields without bounds: declare 'minimum' and 'maximum' on them so it cannot overflow or turn negative`,
          path,
        );
      else if (hi > Number.MAX_SAFE_INTEGER || lo < -Number.MAX_SAFE_INTEGER)
        this.report(
          'DEF_MONEY_AMOUNT',
          `${what} can reach ${hi}, beyond the safe integer range: lower the bounds`,
          path,
        );
      else if (lo <= 0)
        this.report(
          'DEF_MONEY_AMOUNT',
          `${what} can be ${lo}: an amount must stay positive (raise the 'minimum')`,
          path,
        );
    }
  }

  /** True when an expression reads the input, directly or through variables computed from it. */
  private fromInput(e: Expr): boolean {
    return references(e).some(
      (x) =>
        x.root === 'input' || (x.root === 'vars' && typeof x.path[0] === 'string' && this.inputVars.has(x.path[0])),
    );
  }

  private retry(raw: unknown, path: JsonPath, untilSuccessAllowed: boolean, what: string): RetryPlan | undefined {
    if (!isObj(raw)) {
      this.report('DEF_RETRY_UNBOUNDED', `${what} needs an explicit retry policy (maxAttempts)`, path, { key: true });
      return undefined;
    }
    const base = {
      initialIntervalMs:
        typeof raw['initialInterval'] === 'string'
          ? parseDuration(raw['initialInterval'])
          : DEFAULT_RETRY_INITIAL_INTERVAL_MS,
      backoffCoefficient: typeof raw['backoff'] === 'number' ? raw['backoff'] : DEFAULT_RETRY_BACKOFF,
      maximumIntervalMs:
        typeof raw['maxInterval'] === 'string' ? parseDuration(raw['maxInterval']) : DEFAULT_RETRY_MAX_INTERVAL_MS,
    };
    if (raw['until'] === 'success') {
      if (!untilSuccessAllowed) {
        this.report(
          'DEF_RETRY_UNBOUNDED',
          `${what}: 'until: success' is only allowed on the pivot and the steps after it`,
          [...path, 'until'],
        );
        return undefined;
      }
      return { maxAttempts: null, ...base };
    }
    if (typeof raw['maxAttempts'] !== 'number') {
      this.report('DEF_RETRY_UNBOUNDED', `${what} needs retry.maxAttempts`, path);
      return undefined;
    }
    return { maxAttempts: raw['maxAttempts'], ...base };
  }

  private timeout(
    raw: unknown,
    path: JsonPath,
    what: string,
    code: DefinitionCodeName = 'DEF_TIMEOUT_MISSING',
  ): number | undefined {
    if (typeof raw !== 'string') {
      this.report(code, `${what} needs a finite timeout`, path, { key: true });
      return undefined;
    }
    const ms = parseDuration(raw);
    if (ms <= 0 || ms > this.maxDurationMs) {
      this.report(code, `${what}: timeout ${raw} must be > 0 and within the service's maxDuration`, [...path]);
      return undefined;
    }
    return ms;
  }

  private summary(step: Obj, path: JsonPath, state: State, fallback: string): Expr {
    const id = str(step['id']) ?? '?';
    const title = str(step['title']);
    if (title === undefined) return { k: 'lit', v: `${id}: ${fallback}` };
    const r = this.expr(`${id}: ${title}`, [...path, 'title'], state);
    this.noSensitive(r?.c, [...path, 'title'], 'a summary');
    return r?.e ?? { k: 'lit', v: id };
  }

  // ---- steps ---------------------------------------------------------------------------------

  private collectIds(steps: unknown, path: JsonPath): void {
    if (!Array.isArray(steps)) return;
    steps.forEach((s, i) => {
      if (!isObj(s)) return;
      const id = str(s['id']);
      const p = [...path, i];
      if (id !== undefined) {
        if (this.stepIds.has(id)) this.report('DEF_DUPLICATE_STEP_ID', `step id '${id}' is used twice`, [...p, 'id']);
        else this.stepIds.set(id, p);
        this.allIds.add(id);
      }
      if (Array.isArray(s['switch']))
        s['switch'].forEach((c, j) => {
          if (isObj(c)) this.collectIds(c['do'], [...p, 'switch', j, 'do']);
        });
      this.collectIds(s['default'], [...p, 'default']);
      if (Array.isArray(s['parallel'])) s['parallel'].forEach((b, j) => this.collectIds(b, [...p, 'parallel', j]));
      this.collectIds(s['do'], [...p, 'do']);
      this.collectIds(s['onTimeout'], [...p, 'onTimeout']);
    });
  }

  /** Analyses a sequence; returns the state at its end, or null when every path through it ends. */
  seq(steps: unknown, path: JsonPath, state: State, out: PlanStep[]): State | null {
    if (!Array.isArray(steps)) return state;
    let cur: State | null = state;
    for (let i = 0; i < steps.length; i++) {
      const raw: unknown = steps[i];
      const p = [...path, i];
      if (cur === null) {
        this.report('DEF_UNREACHABLE_STEP', `step '${isObj(raw) ? String(raw['id']) : i}' can never run`, p);
        return null;
      }
      if (!isObj(raw)) continue;
      cur = this.step(raw, p, cur, out);
    }
    return cur;
  }

  private step(s: Obj, p: JsonPath, state: State, out: PlanStep[]): State | null {
    const id = str(s['id']) ?? '';
    if ('call' in s) return this.call(s, id, p, state, out);
    if ('switch' in s) return this.switchStep(s, id, p, state, out);
    if ('parallel' in s) {
      const branches = Array.isArray(s['parallel']) ? s['parallel'] : [];
      const results: State[] = [];
      const planned: PlanStep[][] = [];
      let ended = false;
      const owners = new Map<string, number>();
      for (const [j, b] of branches.entries()) {
        const bs: PlanStep[] = [];
        const r = this.seq(b, [...p, 'parallel', j], { ...cloneState(state), inParallel: true }, bs);
        planned.push(bs);
        if (r === null) ended = true;
        else {
          results.push(r);
          for (const a of r.assigned)
            if (!state.assigned.has(a)) {
              const o = owners.get(a);
              if (o !== undefined && o !== j)
                this.report('DEF_PARALLEL_CONFLICT', `${a} is assigned in two parallel branches`, [
                  ...p,
                  'parallel',
                  j,
                ]);
              owners.set(a, j);
            }
        }
      }
      out.push({ kind: 'parallel', id, branches: planned });
      if (ended) return null;
      const next = cloneState(state);
      for (const r of results) r.assigned.forEach((a) => next.assigned.add(a));
      next.pivots = Math.max(state.pivots, ...results.map((r) => r.pivots));
      next.minPivots = Math.max(state.minPivots, ...results.map((r) => r.minPivots));
      next.elapsedMs = Math.max(state.elapsedMs, ...results.map((r) => r.elapsedMs));
      next.money = [...new Set(results.flatMap((r) => r.money))];
      next.reserves = [...new Set(results.flatMap((r) => r.reserves))];
      return next;
    }
    if ('foreach' in s) {
      const items = this.expr(s['foreach'], [...p, 'foreach'], state);
      let itemType: VType = T_ANY;
      if (items !== undefined) {
        if (items.c.type.type !== 'array' && items.c.type.type !== 'any')
          this.report('DEF_TYPE_MISMATCH', `foreach needs an array, got ${items.c.type.type}`, [...p, 'foreach']);
        else itemType = items.c.type.items ?? T_ANY;
      }
      const maxItems = s['maxItems'];
      if (typeof maxItems !== 'number')
        this.report('DEF_FOREACH_UNBOUNDED', 'foreach needs maxItems', [...p, 'foreach'], { key: true });
      else if (maxItems > MAX_FOREACH_ITEMS)
        this.report('DEF_FOREACH_UNBOUNDED', `maxItems is at most ${MAX_FOREACH_ITEMS}`, [...p, 'maxItems']);
      const repeat =
        state.repeat * (typeof maxItems === 'number' ? Math.min(MAX_FOREACH_ITEMS, Math.max(1, maxItems)) : 1);
      if (repeat > MAX_STEP_EXECUTIONS && state.repeat <= MAX_STEP_EXECUTIONS)
        this.report(
          'DEF_HISTORY_TOO_LARGE',
          `nested loops repeat their body up to ${repeat} times, above ${MAX_STEP_EXECUTIONS}: lower maxItems`,
          [...p, 'maxItems'],
        );
      if (state.pivots > 0)
        this.report(
          'DEF_UNSAFE_AFTER_PIVOT',
          'a foreach after the pivot fails the run when there are too many items: move it before the pivot',
          [...p, 'foreach'],
          { key: true },
        );
      const body: PlanStep[] = [];
      const inner = this.seq(
        s['do'],
        [...p, 'do'],
        { ...cloneState(state), loopDepth: state.loopDepth + 1, item: itemType, repeat },
        body,
      );
      out.push({
        kind: 'foreach',
        id,
        items: items?.e ?? { k: 'arr', items: [] },
        maxItems: typeof maxItems === 'number' ? maxItems : 0,
        steps: body,
      });
      const next = cloneState(state);
      next.pivots = Math.max(state.pivots, inner?.pivots ?? 0);
      if (inner !== null) {
        next.elapsedMs = inner.elapsedMs;
        next.money = inner.money;
        next.reserves = inner.reserves;
        next.currency = inner.currency;
      }
      return next;
    }
    if ('wait' in s) {
      const w = s['wait'];
      if (typeof w === 'string') {
        const ms = this.timeout(w, [...p, 'wait'], 'wait', 'DEF_WAIT_TIMEOUT_MISSING');
        const next = cloneState(state);
        this.spend(next, state.repeat * (ms ?? 0), p);
        out.push({
          kind: 'wait',
          id,
          until: null,
          timeoutMs: ms ?? 0,
          summary: this.summary(s, p, state, `wait ${w}`),
        });
        return next;
      }
      const wo = isObj(w) ? w : {};
      const cond = this.expr(wo['until'], [...p, 'wait', 'until'], state, true);
      if (cond !== undefined && cond.c.type.type !== 'boolean' && cond.c.type.type !== 'any')
        this.report('DEF_TYPE_MISMATCH', 'wait.until needs a boolean condition', [...p, 'wait', 'until']);
      const ms = this.timeout(wo['timeout'], [...p, 'wait', 'timeout'], 'wait', 'DEF_WAIT_TIMEOUT_MISSING');
      const next = cloneState(state);
      this.spend(next, state.repeat * (ms ?? 0), p);
      out.push({
        kind: 'wait',
        id,
        until: cond?.e ?? { k: 'lit', v: true },
        timeoutMs: ms ?? 0,
        summary: this.summary(s, p, state, 'wait'),
      });
      return next;
    }
    if ('listen' in s) return this.listen(s, id, p, state, out);
    if ('set' in s) {
      const next = cloneState(state);
      const assign: [string, Expr][] = [];
      for (const [k, v] of Object.entries(isObj(s['set']) ? s['set'] : {})) {
        const r = this.expr(v, [...p, 'set', k], state);
        if (r === undefined) continue;
        if (RESERVED_NAMES.includes(k)) continue; // reported by the name check
        const t: VType = { ...tagged(r.c) };
        const firstSensitive = r.c.sensitive[0];
        // A variable that ever holds card data is card data everywhere (learned over passes).
        const known = this.taint.get(k);
        if (known !== undefined && sensitiveIn(t).size === 0) t.sensitive = known;
        if (firstSensitive !== undefined && known === undefined) {
          this.taint.set(k, firstSensitive);
          this.taintChanged = true;
        }
        if (this.fromInput(r.e)) this.inputVars.add(k);
        if (r.e.k !== 'ref' && r.e.k !== 'lit' && r.c.type.type === 'integer') {
          // A computed integer keeps its range (widened over every assignment) for amount checks.
          const now = this.range(r.e, state);
          const was = this.varRanges.get(k);
          this.varRanges.set(
            k,
            was === undefined ? now : { lo: Math.min(was.lo, now.lo), hi: Math.max(was.hi, now.hi) },
          );
        }
        const before = this.varTypes.get(k);
        if (before === undefined) this.varTypes.set(k, t);
        else if (before.type !== t.type && before.type !== 'any' && t.type !== 'any' && t.type !== 'null')
          this.report(
            'DEF_TYPE_MISMATCH',
            `vars.${k} holds ${before.type} elsewhere; a variable has one type: use another name`,
            [...p, 'set', k],
          );
        next.assigned.add(`vars.${k}`);
        this.everAssigned.add(`vars.${k}`);
        assign.push([k, r.e]);
      }
      out.push({ kind: 'set', id, assign });
      return next;
    }
    if ('fail' in s) {
      const f = isObj(s['fail']) ? s['fail'] : {};
      const msg = this.expr(f['message'] ?? '', [...p, 'fail', 'message'], state);
      this.noSensitive(msg?.c, [...p, 'fail', 'message'], 'a failure message');
      if (state.pivots > 0)
        this.report(
          'DEF_UNSAFE_AFTER_PIVOT',
          'a fail after the pivot would report a failure for money that is posted: decide before the pivot',
          [...p, 'fail'],
          { key: true },
        );
      out.push({ kind: 'fail', id, code: str(f['code']) ?? 'FAILED', message: msg?.e ?? { k: 'lit', v: '' } });
      return null;
    }
    if ('subflow' in s) return this.subflow(s, id, p, state, out);
    if ('emit' in s) {
      const e = isObj(s['emit']) ? s['emit'] : {};
      const data = this.expr(e['data'] ?? {}, [...p, 'emit', 'data'], state);
      this.noSensitive(data?.c, [...p, 'emit', 'data'], 'an emitted event');
      if (!this.opts.catalogue.has(EMIT_ACTIVITY))
        this.report('DEF_UNKNOWN_ACTIVITY', `the catalogue has no ${EMIT_ACTIVITY}`, p);
      const timeoutMs =
        typeof e['timeout'] === 'string'
          ? this.timeout(e['timeout'], [...p, 'emit', 'timeout'], 'emit')
          : DEFAULT_EMIT_TIMEOUT_MS;
      if (state.pivots > 0)
        this.report(
          'DEF_UNSAFE_AFTER_PIVOT',
          `an emit can fail the run after the money is posted: call ${EMIT_ACTIVITY} with 'optional: true' or 'retry: { until: success }' instead`,
          [...p, 'emit'],
          { key: true },
        );
      const emitted = cloneState(state);
      this.spend(emitted, state.repeat * worstCaseCallMs(timeoutMs ?? DEFAULT_EMIT_TIMEOUT_MS, EMIT_RETRY), p);
      out.push({
        kind: 'emit',
        id,
        event: str(e['event']) ?? '',
        data: data?.e ?? { k: 'obj', entries: [] },
        activity: EMIT_ACTIVITY,
        timeoutMs: timeoutMs ?? DEFAULT_EMIT_TIMEOUT_MS,
        retry: EMIT_RETRY,
      });
      return emitted;
    }
    this.report('DEF_SCHEMA', 'unknown step kind', p);
    return state;
  }

  private call(s: Obj, id: string, p: JsonPath, state: State, out: PlanStep[]): State {
    const name = str(s['call']) ?? '';
    const entry = this.opts.catalogue.get(name);
    const next = cloneState(state);
    if (entry === undefined) {
      this.report('DEF_UNKNOWN_ACTIVITY', `no activity '${name}' in the catalogue`, [...p, 'call']);
      // Reported once: reads of its output are not reported as unassigned too.
      this.stepTypes.set(id, T_ANY);
      next.assigned.add(`steps.${id}`);
      return next;
    }
    const given = new Map<string, { e: Expr; c: Checked }>();
    const args = this.args(
      s['with'],
      [...p, 'with'],
      [...p, 'call'],
      state,
      entry.input,
      name,
      SENSITIVE_SINK_KINDS.includes(entry.kind),
      given,
    );
    const pivot = s['pivot'] === true;
    const optional = s['optional'] === true;
    const afterPivot = state.pivots > 0;
    const moves = MONEY_EFFECTS.includes(entry.effect);
    const what = `call ${name}`;
    if (pivot) {
      if (state.pivots > 0 || state.loopDepth > 0)
        this.report(
          'DEF_MULTIPLE_PIVOTS',
          state.loopDepth > 0 ? 'a pivot inside foreach repeats on one path' : 'a second pivot on this path',
          [...p, 'pivot'],
        );
      if (!moves)
        this.report('DEF_PIVOT', `${what} moves no money: the pivot must be the money step that commits`, [
          ...p,
          'pivot',
        ]);
      if (state.inParallel) this.report('DEF_PARALLEL_CONFLICT', 'a pivot inside a parallel branch', [...p, 'pivot']);
      next.pivots = state.pivots + 1;
      next.minPivots = state.minPivots + 1;
    }
    const timeoutMs = this.timeout(s['timeout'], [...p, 'timeout'], what);
    const retry = this.retry(s['retry'], [...p, 'retry'], pivot || afterPivot, what);
    if (afterPivot && !pivot && !optional && retry !== undefined && retry.maxAttempts !== null)
      this.report(
        'DEF_UNSAFE_AFTER_PIVOT',
        `${what} follows the pivot: use 'retry: { until: success }' or 'optional: true'`,
        [...p, 'retry'],
      );
    if (!entry.idempotent && retry !== undefined && retry.maxAttempts !== 1)
      this.report(
        'DEF_NOT_IDEMPOTENT',
        `${name} is not idempotent: a retry could repeat its effect; use 'retry: { maxAttempts: 1 }'`,
        [...p, 'retry'],
      );
    if (moves && state.inParallel)
      this.report('DEF_PARALLEL_CONFLICT', `${what} moves money inside a parallel branch`, [...p, 'call']);
    if (moves && optional)
      this.report('DEF_UNCOMPENSATED_EFFECT', `${what} moves money and cannot be optional`, [...p, 'optional']);
    if (moves && state.loopDepth > 0) {
      const perItem = [...given.values()].some((a) =>
        references(a.e).some((r) => r.root === 'item' || r.root === 'index'),
      );
      if (!perItem)
        this.report(
          'DEF_NOT_IDEMPOTENT',
          `${what} repeats the same effect on every iteration: its arguments must depend on 'item' or 'index'`,
          [...p, 'with'],
          { key: true },
        );
    }
    // Money steps take accounts and transactions from what the run established, not from the input.
    if (moves || entry.settles !== undefined)
      for (const [k, a] of given)
        if (ACCOUNT_OR_TRANSACTION_ARG.test(k) && references(a.e).some((r) => r.root === 'input'))
          this.report(
            'DEF_MONEY_INPUT',
            `argument '${k}' of ${name} names an account or a transaction: take it from a step of this run, not from the input`,
            [...p, 'with', k],
          );
    if (moves) {
      const cur = given.get('currency');
      if (cur !== undefined) {
        const key = canonical(cur.e);
        if (state.currency !== undefined && state.currency !== key)
          this.report(
            'DEF_CURRENCY_MISMATCH',
            `${what} uses another currency than the money steps before it on this path: use one currency`,
            [...p, 'with', 'currency'],
          );
        next.currency = state.currency ?? key;
      }
    }
    // A settling call (a post) must settle a reservation this run made, on this path.
    const allArgsChecked = given.size === Object.keys(isObj(s['with']) ? s['with'] : {}).length;
    if (entry.settles !== undefined && allArgsChecked) {
      const target = [...given.values()]
        .flatMap((a) => references(a.e))
        .map((r) => (r.root === 'steps' && typeof r.path[0] === 'string' ? r.path[0] : undefined))
        .find((sid) => sid !== undefined && this.calls.get(sid)?.activity === entry.settles);
      if (target === undefined || !state.reserves.includes(target)) {
        this.report(
          'DEF_MONEY_INPUT',
          `${name} must settle a ${entry.settles} step of this run that is made on every path to it (pass its output)`,
          [...p, 'with'],
          { key: true },
        );
        // Reported once: the reservations it meant to settle are not reported as left open too.
        next.reserves = next.reserves.filter((r) => this.calls.get(r)?.activity !== entry.settles);
      } else next.reserves = next.reserves.filter((r) => r !== target);
    } else if (entry.settles !== undefined)
      // An argument is already refused: do not report the reservation as left open too.
      next.reserves = next.reserves.filter((r) => this.calls.get(r)?.activity !== entry.settles);
    // An answer (or the pivot) that reports a money step's result comes after a switch examined it.
    const unchecked = (sid: string): boolean => {
      const c = this.calls.get(sid);
      return c !== undefined && MONEY_EFFECTS.includes(c.effect as Effect) && c.checkable && !state.checked.has(sid);
    };
    if (!moves || pivot) {
      const reported = [...given.values()]
        .flatMap((a) => references(a.e))
        .map((r) => (r.root === 'steps' && typeof r.path[0] === 'string' ? r.path[0] : ''))
        .find(unchecked);
      const pending = pivot ? state.money.find(unchecked) : undefined;
      const sid = reported ?? pending;
      if (sid !== undefined)
        this.report(
          'DEF_APPROVAL_UNCONFIRMED',
          `${what} ${pivot ? 'commits' : 'reports'} the result of '${sid}' before a switch checks it (e.g. '!steps.${sid}.approved')`,
          [...p, pivot ? 'pivot' : 'with'],
          { key: !pivot },
        );
    }
    let compensation: CompensationPlan | null = null;
    const comp = s['compensate'];
    if (isObj(comp)) {
      const cname = str(comp['call']) ?? '';
      const centry = this.opts.catalogue.get(cname);
      if (centry === undefined)
        this.report('DEF_UNKNOWN_ACTIVITY', `no activity '${cname}' in the catalogue`, [...p, 'compensate', 'call']);
      else {
        if (centry.undoes !== name || !centry.idempotent)
          this.report(
            'DEF_BAD_COMPENSATION',
            centry.undoes !== name ? `${cname} does not undo ${name}` : `${cname} is not idempotent`,
            [...p, 'compensate', 'call'],
          );
        const cgiven = new Map<string, { e: Expr; c: Checked }>();
        const cargs = this.args(
          comp['with'],
          [...p, 'compensate', 'with'],
          [...p, 'compensate', 'call'],
          state,
          centry.input,
          cname,
          SENSITIVE_SINK_KINDS.includes(centry.kind),
          cgiven,
        );
        // The undo names the same operation: the same values as the call, never literals of its own.
        const written = isObj(s['with']) ? s['with'] : {};
        for (const [k, a] of centry.undoes === name ? cgiven : []) {
          if (Object.hasOwn(written, k) && !given.has(k)) continue; // the call's own argument is already refused
          const orig = given.get(k);
          const literal = references(a.e).length === 0;
          if (orig !== undefined ? canonical(orig.e) !== canonical(a.e) : literal)
            this.report(
              'DEF_COMPENSATION_ARGS',
              orig !== undefined
                ? `argument '${k}' of ${cname} differs from the same argument of ${name}: pass the same value`
                : `argument '${k}' of ${cname} is a literal: refer to the values of the operation it undoes`,
              [...p, 'compensate', 'with', k],
            );
          else if (ACCOUNT_OR_TRANSACTION_ARG.test(k) && references(a.e).some((r) => r.root === 'input'))
            this.report(
              'DEF_MONEY_INPUT',
              `argument '${k}' of ${cname} names an account or a transaction: take it from a step of this run`,
              [...p, 'compensate', 'with', k],
            );
        }
        const ctimeout =
          comp['timeout'] === undefined
            ? timeoutMs
            : this.timeout(comp['timeout'], [...p, 'compensate', 'timeout'], `compensation ${cname}`);
        compensation = { activity: cname, args: cargs, timeoutMs: ctimeout ?? 0 };
      }
    } else if (moves && !pivot && !afterPivot) {
      this.report(
        'DEF_UNCOMPENSATED_EFFECT',
        `${what} moves money (${entry.effect}) without 'compensate' or 'pivot: true'`,
        [...p, 'call'],
      );
    }
    if (moves) {
      this.money = true;
      next.money.push(id);
      if (entry.effect === 'reserve') next.reserves.push(id);
    }
    let taskQueue: Expr | null = null;
    if (s['taskQueue'] !== undefined) {
      const q = this.expr(s['taskQueue'], [...p, 'taskQueue'], state);
      this.noSensitive(q?.c, [...p, 'taskQueue'], 'a task queue name');
      taskQueue = q?.e ?? null;
      const raw = str(s['taskQueue']) ?? '';
      const carriesCardData = sensitiveIn(entry.input).size > 0 || SENSITIVE_SINK_KINDS.includes(entry.kind);
      if (moves || entry.settles !== undefined || carriesCardData || entry.kind === 'ledger')
        this.report(
          'DEF_TASK_QUEUE',
          `${name} moves money or handles card data: it runs on the service's own queue; remove 'taskQueue'`,
          [...p, 'taskQueue'],
        );
      else if (!raw.startsWith(LINE_TASK_QUEUE_PREFIX) && !this.servedQueues().includes(raw))
        this.report(
          'DEF_TASK_QUEUE',
          `no worker serves '${raw.slice(0, 60)}': use '${LINE_TASK_QUEUE_PREFIX}\${…}' (the call's access node) or ${this.servedQueues().join(', ')}`,
          [...p, 'taskQueue'],
        );
      else if (raw.startsWith(LINE_TASK_QUEUE_PREFIX) && entry.kind !== 'channel')
        this.report(
          'DEF_TASK_QUEUE',
          `only terminal I/O (channel activities) runs on an access node's queue; ${name} is ${entry.kind}`,
          [...p, 'taskQueue'],
        );
    }
    // A result that can say "no" without failing the call (an approval flag, a status) must be checked.
    const checkable = Object.entries(entry.output.properties ?? {}).some(
      ([k, t]) => (t.type === 'boolean' && APPROVAL_FIELDS.includes(k)) || t.enum !== undefined,
    );
    this.calls.set(id, { activity: name, effect: entry.effect, checkable });
    if (timeoutMs !== undefined && retry !== undefined && retry.maxAttempts !== null)
      this.spend(next, state.repeat * worstCaseCallMs(timeoutMs, retry), p);
    out.push({
      kind: 'call',
      id,
      activity: name,
      activityKind: entry.kind,
      effect: entry.effect,
      args,
      timeoutMs: timeoutMs ?? 0,
      retry: retry ?? { maxAttempts: 1, initialIntervalMs: 0, backoffCoefficient: 1, maximumIntervalMs: 0 },
      pivot,
      optional,
      compensation,
      taskQueue,
      summary: this.summary(s, p, state, name),
      // Local only when safe to run more than once and where the workflow runs (reference T4).
      ...(entry.local === true && entry.idempotent && entry.effect === 'none' && taskQueue === null && !pivot
        ? { local: true as const }
        : {}),
    });
    this.stepTypes.set(id, entry.output);
    if (!optional) next.assigned.add(`steps.${id}`);
    return next;
  }

  private servedQueues(): readonly string[] {
    return this.opts.servedTaskQueues ?? [DEFAULT_TASK_QUEUE];
  }

  /** Adds worst-case time to a path; reports once when a path no longer fits maxDuration. */
  private spend(state: State, ms: number, p: JsonPath): void {
    state.elapsedMs += ms;
    if (state.elapsedMs > this.maxDurationMs && !this.timeReported) {
      this.timeReported = true;
      this.report(
        'DEF_DURATION_EXCEEDED',
        `worst-case time on this path reaches ${state.elapsedMs} ms (every attempt timing out, with backoff), above maxDuration ${this.maxDurationMs} ms: shorten timeouts or retries`,
        p,
      );
    }
  }

  private switchStep(s: Obj, id: string, p: JsonPath, entryState: State, out: PlanStep[]): State | null {
    let state = entryState;
    const cases = Array.isArray(s['switch']) ? s['switch'] : [];
    const ends: State[] = [];
    const planned: { when: Expr; steps: PlanStep[] }[] = [];
    const covered = new Map<string, Set<string>>();
    let enumTotal: { key: string; values: string[]; nullable: boolean } | undefined;
    let alwaysTrue = false;
    // Every path through the switch has examined the steps its conditions read.
    const examined = cloneState(state);
    for (const c of cases)
      if (isObj(c) && typeof c['when'] === 'string')
        try {
          for (const r of references(parseExpression(c['when'])))
            if (r.root === 'steps' && typeof r.path[0] === 'string') examined.checked.add(r.path[0]);
        } catch {
          // reported when the case is checked below
        }
    state = examined;
    for (const [j, c] of cases.entries()) {
      if (!isObj(c)) continue;
      const cp = [...p, 'switch', j];
      if (alwaysTrue)
        this.report('DEF_UNREACHABLE_STEP', 'this case follows a case that always matches', [...cp, 'when']);
      const cond = this.expr(c['when'], [...cp, 'when'], state, true);
      if (cond !== undefined) {
        if (cond.c.type.type !== 'boolean' && cond.c.type.type !== 'any')
          this.report('DEF_TYPE_MISMATCH', `'when' needs a boolean, got ${cond.c.type.type}`, [...cp, 'when']);
        const e = cond.e;
        if (e.k === 'lit' && e.v === true) alwaysTrue = true;
        const nullTest =
          e.k === 'fn' && e.fn === 'isNull' && e.args[0]?.k === 'ref'
            ? e.args[0]
            : e.k === 'bin' && e.op === '==' && e.l.k === 'ref' && e.r.k === 'lit' && e.r.v === null
              ? e.l
              : e.k === 'bin' && e.op === '==' && e.r.k === 'ref' && e.l.k === 'lit' && e.l.v === null
                ? e.r
                : undefined;
        if (nullTest !== undefined) {
          const key = `${nullTest.root}.${nullTest.path.join('.')}`;
          const set = covered.get(key) ?? new Set<string>();
          set.add(NULL_CASE);
          covered.set(key, set);
        }
        if (e.k === 'bin' && e.op === '==') {
          const pair =
            e.l.k === 'ref' && e.r.k === 'lit'
              ? { ref: e.l, lit: e.r }
              : e.r.k === 'ref' && e.l.k === 'lit'
                ? { ref: e.r, lit: e.l }
                : undefined;
          const ref = pair?.ref;
          const lit = pair?.lit;
          if (ref !== undefined && lit !== undefined && typeof lit.v === 'string') {
            const key = `${ref.root}.${ref.path.join('.')}`;
            let t: VType | undefined;
            try {
              t = this.resolver(state)(ref);
            } catch {
              t = undefined;
            }
            if (t?.enum !== undefined) {
              const set = covered.get(key) ?? new Set<string>();
              if (set.has(lit.v))
                this.report('DEF_UNREACHABLE_STEP', `case '${lit.v}' is already handled above`, [...cp, 'when']);
              set.add(lit.v);
              covered.set(key, set);
              enumTotal = { key, values: t.enum, nullable: t.nullable === true };
            }
          }
        }
      }
      const bs: PlanStep[] = [];
      const r = this.seq(c['do'], [...cp, 'do'], cloneState(state), bs);
      planned.push({ when: cond?.e ?? { k: 'lit', v: false }, steps: bs });
      if (r !== null) ends.push(r);
    }
    let def: PlanStep[] | null = null;
    const total = enumTotal;
    const exhaustive =
      alwaysTrue ||
      (total !== undefined &&
        covered.size === 1 &&
        total.values.every((v) => covered.get(total.key)?.has(v) === true) &&
        // A field that may be absent is null on some runs: a case must handle it.
        (!total.nullable || covered.get(total.key)?.has(NULL_CASE) === true));
    if (s['default'] !== undefined) {
      if (exhaustive)
        this.report(
          'DEF_UNREACHABLE_STEP',
          'the default can never run: the cases cover every value',
          [...p, 'default'],
          { key: true },
        );
      def = [];
      const r = this.seq(s['default'], [...p, 'default'], cloneState(state), def);
      if (r !== null) ends.push(r);
    } else if (!exhaustive) {
      ends.push(cloneState(state));
      this.report(
        'DEF_SWITCH_NOT_EXHAUSTIVE',
        "switch needs a 'default' (or cases over every value of an enum)",
        [...p, 'switch'],
        { key: true },
      );
    }
    out.push({ kind: 'switch', id, cases: planned, default: def });
    return joinStates(ends);
  }

  /**
   * `spec.terminal` (ADR 0018): every input names a declared input field of the right type (digits
   * and choices are strings, amounts integers), ranges are ordered, a choice has choices.
   */
  private terminalPlan(raw: unknown, metadata: Obj): TerminalPlan | undefined {
    if (!isObj(raw)) return undefined;
    const p: JsonPath = ['spec', 'terminal'];
    const menu = Array.isArray(raw['menu']) ? raw['menu'].filter((m): m is string => typeof m === 'string') : [];
    const inputs: TerminalInputPlan[] = [];
    const declared = this.inputType.properties ?? {};
    const rawInputs = Array.isArray(raw['inputs']) ? raw['inputs'] : [];
    const seen = new Set<string>();
    rawInputs.forEach((r, i) => {
      if (!isObj(r)) return;
      const ip: JsonPath = [...p, 'inputs', i];
      const name = str(r['name']) ?? '';
      const kind = str(r['kind']) as TerminalInputPlan['kind'];
      if (seen.has(name)) this.report('DEF_SCHEMA', `input '${name}' is collected twice`, [...ip, 'name']);
      seen.add(name);
      if (RESERVED_NAMES.includes(name) || TERMINAL_INPUT_RESERVED.includes(name))
        this.report('DEF_RESERVED_NAME', `'${name}' is a field the access node sets: choose another name`, [
          ...ip,
          'name',
        ]);
      const field = declared[name];
      const want = kind === 'amount' ? 'integer' : 'string';
      if (field === undefined)
        this.report('DEF_UNKNOWN_FIELD', `the phone collects '${name}' but spec.input declares no such field`, [
          ...ip,
          'name',
        ]);
      else if (field.type !== want)
        this.report('DEF_TYPE_MISMATCH', `a ${kind} input arrives as ${want}; input.${name} is ${field.type}`, [
          ...ip,
          'kind',
        ]);
      const lo =
        typeof r['min'] === 'number' ? r['min'] : typeof r['minLength'] === 'number' ? r['minLength'] : undefined;
      const hi =
        typeof r['max'] === 'number' ? r['max'] : typeof r['maxLength'] === 'number' ? r['maxLength'] : undefined;
      if (kind === 'digits' && (r['min'] !== undefined || r['max'] !== undefined))
        this.report('DEF_SCHEMA', 'digits take minLength/maxLength, not min/max', ip);
      if (kind === 'amount' && (r['minLength'] !== undefined || r['maxLength'] !== undefined))
        this.report('DEF_SCHEMA', 'an amount takes min/max (minor units), not minLength/maxLength', ip);
      if (lo !== undefined && hi !== undefined && lo > hi) this.report('DEF_SCHEMA', 'the least is above the most', ip);
      const choices = Array.isArray(r['choices'])
        ? r['choices'].filter(isObj).map((c) => ({ key: str(c['key']) ?? '', label: str(c['label']) ?? '' }))
        : [];
      const from = str(r['choicesFrom']);
      const choicesFrom = CHOICES_FROM.find((c) => c === from);
      if (from !== undefined && choicesFrom === undefined)
        this.report('DEF_SCHEMA', `choicesFrom is one of ${CHOICES_FROM.join(', ')}`, [...ip, 'choicesFrom']);
      if (from !== undefined && kind !== 'choice')
        this.report('DEF_SCHEMA', `a ${kind} input takes no choicesFrom`, [...ip, 'choicesFrom']);
      if (from !== undefined && choices.length > 0)
        this.report('DEF_SCHEMA', 'a choice takes choices or choicesFrom, not both', [...ip, 'choicesFrom']);
      if (kind === 'choice' && choices.length === 0 && from === undefined)
        this.report('DEF_SCHEMA', 'a choice needs choices (or choicesFrom)', ip);
      if (kind !== 'choice' && choices.length > 0) this.report('DEF_SCHEMA', `a ${kind} input takes no choices`, ip);
      if (r['luhn'] === true && kind !== 'digits')
        this.report('DEF_SCHEMA', 'only a digits input has a Luhn check digit', [...ip, 'luhn']);
      if (new Set(choices.map((c) => c.key)).size !== choices.length)
        this.report('DEF_SCHEMA', 'two choices share a key', [...ip, 'choices']);
      inputs.push({
        name,
        kind,
        label: str(r['label']) ?? name,
        ...(lo === undefined ? {} : { min: lo }),
        ...(hi === undefined ? {} : { max: hi }),
        ...(r['masked'] === true ? { masked: true } : {}),
        ...(r['luhn'] === true ? { luhn: true } : {}),
        ...(choices.length === 0 ? {} : { choices }),
        ...(choicesFrom === undefined ? {} : { choicesFrom }),
      });
    });
    // A card service (ADR 0024) gets the card in the request: it must declare it card data.
    const card = raw['card'] === true;
    if (card && declared['request']?.sensitive !== 'track2')
      this.report(
        'DEF_SCHEMA',
        'a service that reads the card (terminal.card) declares input.request with sensitive: track2',
        [...p, 'card'],
      );
    const profiles = Array.isArray(raw['profiles'])
      ? raw['profiles'].filter((x): x is string => typeof x === 'string')
      : null;
    return {
      menu,
      title: str(raw['title']) ?? menu.at(-1) ?? str(metadata['title']) ?? '',
      inputs,
      profiles,
      ...(card ? { card: true } : {}),
    };
  }

  private listen(s: Obj, id: string, p: JsonPath, state: State, out: PlanStep[]): State | null {
    const l = isObj(s['listen']) ? s['listen'] : {};
    const sources = ['signal', 'update', 'terminal'].filter((k) => k in l);
    if (sources.length !== 1)
      this.report('DEF_SCHEMA', 'listen needs exactly one of signal, update, terminal', [...p, 'listen']);
    const source = (sources[0] ?? 'signal') as 'signal' | 'update' | 'terminal';
    const into = str(l['into']) ?? 'value';
    const timeoutMs = this.timeout(l['timeout'], [...p, 'listen', 'timeout'], 'listen', 'DEF_WAIT_TIMEOUT_MISSING');
    let args: Expr | null = null;
    let taskQueue: Expr | null = null;
    const schema: VType | null = isObj(l['schema']) ? this.toVType(l['schema']) : null;
    if (source !== 'terminal' && schema === null)
      this.report(
        'DEF_UNTYPED',
        `a ${source} carries outside input: give it a 'schema' so that it is validated`,
        [...p, 'listen'],
        { key: true },
      );
    else if (schema !== null) this.untyped(l['schema'], [...p, 'listen', 'schema']);
    if (state.pivots > 0 && s['onTimeout'] === undefined)
      this.report(
        'DEF_UNSAFE_AFTER_PIVOT',
        "a listen after the pivot fails the run when it times out: add 'onTimeout'",
        [...p, 'listen'],
        { key: true },
      );
    if (RESERVED_NAMES.includes(into))
      this.report('DEF_RESERVED_NAME', `'${into}' reaches the JavaScript prototype: choose another name`, [
        ...p,
        'listen',
        'into',
      ]);
    let valueType: VType = schema ?? T_ANY;
    let name = str(l[source]) ?? '';
    if (source === 'terminal') {
      name = PROMPT_ACTIVITY;
      const entry = this.opts.catalogue.get(PROMPT_ACTIVITY);
      const t = isObj(l['terminal']) ? l['terminal'] : {};
      if (entry === undefined)
        this.report('DEF_UNKNOWN_ACTIVITY', `the catalogue has no ${PROMPT_ACTIVITY}`, [...p, 'listen']);
      else {
        args = this.args(
          t['with'],
          [...p, 'listen', 'terminal', 'with'],
          [...p, 'listen', 'terminal'],
          state,
          entry.input,
          PROMPT_ACTIVITY,
          // The screen is signed under the request's session: only the request may flow in (an HSM sink).
          SENSITIVE_SINK_KINDS.includes(entry.kind),
        );
        valueType = entry.output;
      }
      if (t['taskQueue'] !== undefined) {
        const q = this.expr(t['taskQueue'], [...p, 'listen', 'terminal', 'taskQueue'], state);
        this.noSensitive(q?.c, [...p, 'listen', 'terminal', 'taskQueue'], 'a task queue name');
        taskQueue = q?.e ?? null;
      }
    }
    let onTimeout: PlanStep[] | null = null;
    let timeoutEnd: State | null = null;
    const waited = cloneState(state);
    this.spend(waited, state.repeat * (timeoutMs ?? 0), p);
    if (s['onTimeout'] !== undefined) {
      onTimeout = [];
      timeoutEnd = this.seq(s['onTimeout'], [...p, 'onTimeout'], cloneState(waited), onTimeout);
    }
    out.push({
      kind: 'listen',
      id,
      source,
      name,
      args,
      taskQueue,
      timeoutMs: timeoutMs ?? 0,
      into,
      schema,
      onTimeout,
      summary: this.summary(s, p, state, `listen ${source} ${name}`),
    });
    if (!this.varTypes.has(into)) this.varTypes.set(into, valueType);
    this.everAssigned.add(`vars.${into}`);
    const main = cloneState(waited);
    main.assigned.add(`vars.${into}`);
    if (timeoutEnd === null) return main;
    return joinStates([main, timeoutEnd]);
  }

  private subflow(s: Obj, id: string, p: JsonPath, state: State, out: PlanStep[]): State {
    const service = str(s['subflow']) ?? '';
    const chain = this.opts.chain ?? [];
    const next = cloneState(state);
    const resolved = chain.includes(service) ? undefined : this.opts.resolveSubflow?.(service, chain);
    const child = resolved?.plan;
    if (resolved === undefined || child === undefined) {
      this.report(
        'DEF_UNKNOWN_SUBFLOW',
        chain.includes(service) ? `subflow '${service}' is recursive` : `no service '${service}'`,
        [...p, 'subflow'],
      );
      return next;
    }
    if (child.money)
      this.report('DEF_UNCOMPENSATED_EFFECT', `subflow '${service}' moves money: call its steps inline`, [
        ...p,
        'subflow',
      ]);
    const args = this.args(s['with'], [...p, 'with'], [...p, 'subflow'], state, child.input, service, true);
    const timeoutMs = this.timeout(s['timeout'], [...p, 'timeout'], `subflow ${service}`);
    this.spend(next, state.repeat * (timeoutMs ?? 0), p);
    if (state.pivots > 0)
      this.report('DEF_UNSAFE_AFTER_PIVOT', 'a subflow after the pivot can fail the run: move it before the pivot', [
        ...p,
        'subflow',
      ]);
    const ref = `${child.serviceId}@${child.version}`;
    this.subplans[ref] = resolved;
    out.push({
      kind: 'subflow',
      id,
      service,
      ref,
      args,
      timeoutMs: timeoutMs ?? 0,
      summary: this.summary(s, p, state, `subflow ${service}`),
    });
    this.stepTypes.set(id, child.outputType);
    next.assigned.add(`steps.${id}`);
    return next;
  }

  // ---- whole document ------------------------------------------------------------------------

  /** Refuses prototype-reaching names anywhere, and control or bidi characters in any text. */
  private names(v: unknown, path: JsonPath): void {
    if (typeof v === 'string') {
      if (path[0] !== 'tests' && hasUnsafeText(v))
        this.report(
          'DEF_UNSAFE_TEXT',
          'this text holds a control, zero-width or bidirectional-override character: terminals and printers would show something else',
          path,
        );
      const last = path[path.length - 1];
      if ((last === 'id' || last === 'into' || last === 'signal' || last === 'update') && RESERVED_NAMES.includes(v))
        this.report('DEF_RESERVED_NAME', `'${v}' reaches the JavaScript prototype: choose another name`, path);
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((x, i) => this.names(x, [...path, i]));
      return;
    }
    if (!isObj(v)) return;
    for (const k of Object.keys(v)) {
      if (RESERVED_NAMES.includes(k))
        this.report('DEF_RESERVED_NAME', `'${k}' reaches the JavaScript prototype: rename it`, [...path, k], {
          key: true,
        });
      else if (path[0] !== 'tests' && hasUnsafeText(k))
        this.report('DEF_UNSAFE_TEXT', 'this key holds a control or bidirectional character', [...path, k], {
          key: true,
        });
      this.names(v[k], [...path, k]);
    }
  }

  /** Refuses `any` and shapeless objects and arrays where a schema must say what arrives. */
  private untyped(raw: unknown, path: JsonPath): void {
    if (!isObj(raw)) return;
    const t = raw['type'];
    if (t === 'any' || t === undefined)
      this.report('DEF_UNTYPED', "untyped field: give it a 'type' (string, integer, boolean, object, array)", [
        ...path,
        ...(t === undefined ? [] : ['type']),
      ]);
    else if (t === 'object' && !isObj(raw['properties']))
      this.report('DEF_UNTYPED', "an object needs 'properties'", [...path, 'type']);
    else if (t === 'array' && !isObj(raw['items']))
      this.report('DEF_UNTYPED', "an array needs 'items'", [...path, 'type']);
    if (isObj(raw['properties']))
      for (const [k, v] of Object.entries(raw['properties'])) this.untyped(v, [...path, 'properties', k]);
    if (isObj(raw['items'])) this.untyped(raw['items'], [...path, 'items']);
  }

  /** Amount fields of the input: integers of minor units, always present. */
  private moneyFields(raw: unknown, path: JsonPath, required = true): void {
    if (!isObj(raw)) return;
    if (raw['money'] === true) {
      if (raw['type'] !== 'integer')
        this.report('DEF_MONEY_AMOUNT', "an amount is 'type: integer' (minor units)", [...path, 'money']);
      else if (!required) this.report('DEF_MONEY_AMOUNT', "an amount must be listed in 'required'", [...path, 'money']);
    }
    const req = Array.isArray(raw['required']) ? raw['required'] : [];
    if (isObj(raw['properties']))
      for (const [k, v] of Object.entries(raw['properties']))
        this.moneyFields(v, [...path, 'properties', k], required && req.includes(k));
    if (isObj(raw['items'])) this.moneyFields(raw['items'], [...path, 'items'], false);
  }

  /** The business key must tell transactions apart: per-transaction input fields, always present. */
  private businessKey(e: Expr, terminalId: Expr | null): void {
    const fields = (x: Expr | null): Set<string> =>
      new Set(
        (x === null ? [] : references(x)).flatMap((r) =>
          r.root === 'input' && typeof r.path[0] === 'string' ? [r.path[0]] : [],
        ),
      );
    const used = fields(e);
    const terminal = fields(terminalId);
    const at: JsonPath = ['spec', 'businessKey'];
    const input = this.inputType.properties ?? {};
    const required = new Set(this.inputType.required ?? []);
    const own = [...used].filter((f) => !terminal.has(f));
    if (own.length === 0) {
      this.report(
        'DEF_BUSINESS_KEY',
        'the business key names no per-transaction field (only the terminal or constants): two transactions would share one run; add e.g. ${input.stan} and ${input.localDate}',
        at,
      );
      return;
    }
    for (const f of used)
      if (!required.has(f)) {
        this.report('DEF_BUSINESS_KEY', `input.${f} may be absent: a business key uses required fields only`, at);
        return;
      }
    const missing = PER_TRANSACTION_FIELDS.filter((f) => Object.hasOwn(input, f) && required.has(f) && !used.has(f));
    if (missing.length > 0)
      this.report(
        'DEF_BUSINESS_KEY',
        `the business key leaves out ${missing.map((f) => `input.${f}`).join(', ')}: transactions of one terminal would collide`,
        at,
      );
  }

  compile(doc: Obj): Plan | undefined {
    const metadata = isObj(doc['metadata']) ? doc['metadata'] : {};
    const spec = isObj(doc['spec']) ? doc['spec'] : {};
    const limits = isObj(spec['limits']) ? spec['limits'] : {};
    if (typeof limits['maxDuration'] === 'string') this.maxDurationMs = parseDuration(limits['maxDuration']);
    const ceiling = MAX_SERVICE_DURATION_MS + (waitsForVerdict(spec['steps']) ? MAX_VERDICT_WINDOW_MS : 0);
    if (this.maxDurationMs > ceiling) {
      this.report(
        'DEF_DURATION_EXCEEDED',
        ceiling === MAX_SERVICE_DURATION_MS
          ? `maxDuration is at most ${MAX_SERVICE_DURATION_MS / 60_000}m: a service runs within one phone call`
          : `maxDuration is at most ${MAX_SERVICE_DURATION_MS / 60_000}m plus a verdict window of ${MAX_VERDICT_WINDOW_MS / 3_600_000}h`,
        ['spec', 'limits', 'maxDuration'],
      );
      this.maxDurationMs = ceiling;
    }
    this.names(doc, []);
    if (spec['input'] !== undefined) this.untyped(spec['input'], ['spec', 'input']);
    this.moneyFields(spec['input'], ['spec', 'input']);
    // Without spec.taskQueue the service runs on the central queue this platform serves (the first served).
    const planQueue = str(spec['taskQueue']) ?? this.servedQueues()[0] ?? DEFAULT_TASK_QUEUE;
    if (!this.servedQueues().includes(planQueue))
      this.report('DEF_TASK_QUEUE', `no worker serves '${planQueue}': use ${this.servedQueues().join(', ')}`, [
        'spec',
        'taskQueue',
      ]);
    const maxHistoryEvents =
      typeof limits['maxHistoryEvents'] === 'number' ? limits['maxHistoryEvents'] : DEFAULT_MAX_HISTORY_EVENTS;
    if (maxHistoryEvents > HISTORY_EVENTS_HARD_LIMIT)
      this.report('DEF_HISTORY_TOO_LARGE', `maxHistoryEvents may not exceed ${HISTORY_EVENTS_HARD_LIMIT}`, [
        'spec',
        'limits',
        'maxHistoryEvents',
      ]);
    this.inputType = isObj(spec['input']) ? this.toVType(spec['input']) : this.inputType;
    const empty: State = {
      assigned: new Set(),
      pivots: 0,
      minPivots: 0,
      inParallel: false,
      loopDepth: 0,
      repeat: 1,
      item: undefined,
      elapsedMs: 0,
      money: [],
      reserves: [],
      checked: new Set(),
      currency: undefined,
    };

    const bk = this.expr(spec['businessKey'], ['spec', 'businessKey'], empty);
    this.noSensitive(bk?.c, ['spec', 'businessKey'], 'the business key (workflow id)');
    let terminalId: Expr | null = null;
    if (spec['terminalId'] !== undefined) {
      const t = this.expr(spec['terminalId'], ['spec', 'terminalId'], empty);
      this.noSensitive(t?.c, ['spec', 'terminalId'], 'a search attribute');
      terminalId = t?.e ?? null;
    }
    if (bk !== undefined) this.businessKey(bk.e, terminalId);
    this.collectIds(spec['steps'], ['spec', 'steps']);
    if (this.allIds.size > MAX_STEPS) {
      this.report(
        'DEF_PLAN_TOO_LARGE',
        `the definition declares ${this.allIds.size} steps; the limit is ${MAX_STEPS}: split it into services`,
        ['spec', 'steps'],
        { key: true },
      );
      return undefined;
    }
    const steps: PlanStep[] = [];
    const end = this.seq(spec['steps'], ['spec', 'steps'], empty, steps);
    if (end !== null) {
      // Every path that completes: one pivot if it moved money, and no reservation left pending.
      const firstMoney = end.money[0];
      if (firstMoney !== undefined && end.minPivots === 0)
        this.report(
          'DEF_PIVOT',
          `a path that completes moves money at '${firstMoney}' without passing a pivot: mark the step that commits with 'pivot: true'`,
          [...(this.stepIds.get(firstMoney) ?? ['spec', 'steps']), 'call'],
        );
      for (const r of end.reserves)
        this.report(
          'DEF_PIVOT',
          `the reservation '${r}' is neither posted nor voided on a path that completes: post it (postReservation) before the end`,
          [...(this.stepIds.get(r) ?? ['spec', 'steps']), 'call'],
        );
    }
    let output: Expr | null = null;
    let outputType: VType = { type: 'null' };
    if (spec['output'] !== undefined) {
      if (end === null)
        this.report('DEF_UNREACHABLE_STEP', 'the output can never be produced: every path fails', ['spec', 'output'], {
          key: true,
        });
      const o = this.expr(spec['output'], ['spec', 'output'], end ?? empty);
      this.noSensitive(o?.c, ['spec', 'output'], 'the service output');
      const unchecked = references(o?.e ?? { k: 'lit', v: null })
        .map((r) => (r.root === 'steps' && typeof r.path[0] === 'string' ? r.path[0] : ''))
        .find((sid) => {
          const c = this.calls.get(sid);
          return (
            c !== undefined &&
            MONEY_EFFECTS.includes(c.effect as Effect) &&
            c.checkable &&
            end?.checked.has(sid) !== true
          );
        });
      if (unchecked !== undefined)
        this.report(
          'DEF_APPROVAL_UNCONFIRMED',
          `the output reports '${unchecked}' without a switch checking its result`,
          ['spec', 'output'],
          { key: true },
        );
      output = o?.e ?? null;
      outputType = o?.c.type ?? outputType;
    }
    const terminal = spec['terminal'] === undefined ? undefined : this.terminalPlan(spec['terminal'], metadata);
    const comp = isObj(spec['compensation']) ? spec['compensation'] : {};
    const history = estimateEvents(steps) + EVENTS_FIXED;
    if (history > maxHistoryEvents)
      this.report(
        'DEF_HISTORY_TOO_LARGE',
        `estimated ${history} history events exceed the limit ${maxHistoryEvents}`,
        ['spec', 'steps'],
        { key: true },
      );
    if (this.diags.length > 0) return undefined;
    const plan: Plan = {
      format: PLAN_FORMAT,
      serviceId: str(metadata['id']) ?? '',
      version: str(metadata['version']) ?? '',
      title: str(metadata['title']) ?? str(metadata['id']) ?? '',
      money: spec['money'] === true || this.money,
      taskQueue: str(spec['taskQueue']) ?? this.servedQueues()[0] ?? DEFAULT_TASK_QUEUE,
      businessKey: bk?.e ?? { k: 'lit', v: '' },
      terminalId,
      maxDurationMs: this.maxDurationMs,
      input: this.inputType,
      output,
      outputType,
      steps,
      compensation: {
        alertAfterAttempts:
          typeof comp['alertAfterAttempts'] === 'number' ? comp['alertAfterAttempts'] : DEFAULT_ALERT_AFTER_ATTEMPTS,
        retryIntervalMs:
          typeof comp['retryInterval'] === 'string'
            ? parseDuration(comp['retryInterval'])
            : DEFAULT_COMPENSATION_RETRY_INTERVAL_MS,
        alertActivity: ALERT_ACTIVITY,
      },
      subplans: this.subplans,
      estimate: { historyEvents: history, maxHistoryEvents },
      ...(terminal === undefined ? {} : { terminal }),
    };
    const bytes = new TextEncoder().encode(JSON.stringify(plan)).length;
    if (bytes > MAX_PLAN_BYTES) {
      this.report(
        'DEF_PLAN_TOO_LARGE',
        `the plan is ${bytes} bytes; the limit is ${MAX_PLAN_BYTES}`,
        ['spec', 'steps'],
        { key: true },
      );
      return undefined;
    }
    return plan;
  }
}

/** Estimated history events of a step list (worst path for switches, all items for foreach). */
export function estimateEvents(steps: readonly PlanStep[]): number {
  let n = 0;
  for (const s of steps) {
    switch (s.kind) {
      case 'call':
        n += EVENTS_PER_ACTIVITY * (s.compensation === null ? 1 : 2);
        break;
      case 'emit':
      case 'subflow':
        n += EVENTS_PER_ACTIVITY;
        break;
      case 'wait':
        n += EVENTS_PER_TIMER;
        break;
      case 'listen':
        n += EVENTS_PER_ACTIVITY + (s.onTimeout === null ? 0 : estimateEvents(s.onTimeout));
        break;
      case 'switch':
        n += Math.max(
          0,
          ...s.cases.map((c) => estimateEvents(c.steps)),
          s.default === null ? 0 : estimateEvents(s.default),
        );
        break;
      case 'parallel':
        n += s.branches.reduce((a, b) => a + estimateEvents(b), 0);
        break;
      case 'foreach':
        n += s.maxItems * estimateEvents(s.steps);
        break;
      case 'set':
      case 'fail':
        break;
    }
  }
  return n;
}

/**
 * Compiles one definition text. Never throws for a bad definition: refusals come back as
 * diagnostics (the first is the most specific).
 */
export function compileDefinition(text: string, file: string, opts: CompileOptions): CompileResult {
  const refused = (message: string, pos = { line: 1, column: 1 }): CompileResult => ({
    ok: false,
    diagnostics: [diagnostic('DEF_YAML_UNSAFE', message, file, pos, [])],
  });
  // Size first, before any parsing: UTF-16 length bounds the UTF-8 size from below.
  if (text.length > MAX_DEFINITION_BYTES || utf8Length(text) > MAX_DEFINITION_BYTES)
    return refused(`the definition is larger than ${MAX_DEFINITION_BYTES} bytes: split it or shorten it`);
  const deep = deepFlowOffset(text);
  if (deep >= 0) {
    const before = text.slice(0, deep).split('\n');
    return refused(`brackets nest deeper than ${MAX_FLOW_DEPTH_BEFORE_PARSING} levels: flatten the definition`, {
      line: before.length,
      column: (before[before.length - 1] ?? '').length + 1,
    });
  }
  const src = new SourceDoc(text, file);
  if (src.tooDeepToParse()) return refused(`the definition nests too deeply to parse: flatten it`);
  const syntax = src.syntaxErrors();
  if (syntax.length > 0)
    return {
      ok: false,
      diagnostics: syntax.map((e) => diagnostic('DEF_YAML_SYNTAX', e.message, file, e.position, [])),
    };
  const hazards = src.hazards();
  if (hazards.length > 0)
    return {
      ok: false,
      diagnostics: hazards.map((h) => diagnostic('DEF_YAML_UNSAFE', h.message, file, h.position, [])),
    };
  let value: unknown;
  try {
    value = src.toJS();
  } catch (err) {
    return refused(`the YAML cannot be materialised safely: ${err instanceof Error ? err.message : 'unknown error'}`);
  }
  const schemaDiags = validateSchema(value, src);
  if (schemaDiags.length > 0) return { ok: false, diagnostics: schemaDiags };
  // Card data sticks to a variable wherever it is read: compile again until no variable learns a kind.
  let c = new Compiler(src, opts);
  let plan = c.compile(value as Obj);
  for (let pass = 1; c.taintChanged && pass < MAX_TAINT_PASSES; pass++) {
    c = new Compiler(src, opts, c.taint);
    plan = c.compile(value as Obj);
  }
  if (plan === undefined || c.diags.length > 0) {
    const sorted = [...c.diags].sort((a, b) => a.line - b.line || a.column - b.column);
    return { ok: false, diagnostics: sorted };
  }
  return { ok: true, plan, diagnostics: [] };
}

/** UTF-8 length of a string without allocating it. */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Every reference root used by a plan's business key (for tests and docs). */
export function businessKeyRefs(plan: Plan): string[] {
  return references(plan.businessKey).map((r) => `${r.root}.${r.path.join('.')}`);
}
