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
  parseExpression,
  parseTemplate,
  references,
  sensitiveIn,
  stripPositions,
} from '../runtime/expr';
import type { Checked, Expr, RefResolver, SensitiveKind, VType } from '../runtime/expr';
import { MONEY_EFFECTS, PLAN_FORMAT } from '../runtime/plan';
import type { CompensationPlan, Plan, PlanStep, RetryPlan } from '../runtime/plan';
import { SENSITIVE_SINK_KINDS } from '../catalogue/types';
import type { Catalogue } from '../catalogue/types';
import { diagnostic } from './diagnostics';
import type { DefinitionCodeName, Diagnostic } from './diagnostics';
import { validateSchema } from './schema';
import { SourceDoc } from './source';
import type { JsonPath } from './source';

/** Temporal warns at 10,240 history events; no plan may be estimated above it. */
export const HISTORY_EVENTS_HARD_LIMIT = 10_240;
export const DEFAULT_MAX_HISTORY_EVENTS = 2_000;
/** Keeps the plan (workflow input) far below Temporal's 256 KB payload warning. */
export const MAX_PLAN_BYTES = 64 * 1024;
/** Largest definition source accepted (parsing is bounded before any work is done). */
export const MAX_DEFINITION_BYTES = 512 * 1024;
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

export interface CompileOptions {
  catalogue: Catalogue;
  /** Finds another service's compiled plan (for `subflow`); undefined when unknown. */
  resolveSubflow?: (serviceId: string, chain: readonly string[]) => { plan: Plan; planHash: string } | undefined;
  /** Services being compiled above this one (recursion check). */
  chain?: readonly string[];
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
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Flow state along one path of the definition. */
interface State {
  assigned: Set<string>;
  pivots: number;
  inParallel: boolean;
  loopDepth: number;
  item: VType | undefined;
}
const cloneState = (s: State): State => ({ ...s, assigned: new Set(s.assigned) });

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

  constructor(
    private readonly src: SourceDoc,
    private readonly opts: CompileOptions,
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
      const next = cur.properties?.[seg];
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
        if (typeof k === 'number') items.push(r.e);
        else {
          entries.push([k, r.e]);
          properties[k] = r.c.type;
        }
      }
      if (failed) return undefined;
      if (Array.isArray(raw))
        return { e: { k: 'arr', items }, c: { type: { type: 'array', items: T_ANY }, sensitive: [...sens] } };
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
  ): Expr {
    const given = isObj(raw) ? raw : {};
    const entries: [string, Expr][] = [];
    for (const [k, v] of Object.entries(given)) {
      const dst = input.properties?.[k];
      if (dst === undefined) {
        this.report('DEF_UNKNOWN_FIELD', `${activity} has no argument '${k}'`, [...path, k], { key: true });
        continue;
      }
      const r = this.expr(v, [...path, k], state);
      if (r === undefined) continue;
      if (!assignable(r.c.type, dst))
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
      entries.push([k, r.e]);
    }
    for (const req of input.required ?? [])
      if (!(req in given))
        this.report('DEF_MISSING_ARGUMENT', `${activity} needs argument '${req}'`, isObj(raw) ? path : keyPath, {
          key: !isObj(raw),
        });
    return { k: 'obj', entries };
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
      const body: PlanStep[] = [];
      const inner = this.seq(
        s['do'],
        [...p, 'do'],
        { ...cloneState(state), loopDepth: state.loopDepth + 1, item: itemType },
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
      return next;
    }
    if ('wait' in s) {
      const w = s['wait'];
      if (typeof w === 'string') {
        const ms = this.timeout(w, [...p, 'wait'], 'wait', 'DEF_WAIT_TIMEOUT_MISSING');
        out.push({
          kind: 'wait',
          id,
          until: null,
          timeoutMs: ms ?? 0,
          summary: this.summary(s, p, state, `wait ${w}`),
        });
        return state;
      }
      const wo = isObj(w) ? w : {};
      const cond = this.expr(wo['until'], [...p, 'wait', 'until'], state, true);
      if (cond !== undefined && cond.c.type.type !== 'boolean' && cond.c.type.type !== 'any')
        this.report('DEF_TYPE_MISMATCH', 'wait.until needs a boolean condition', [...p, 'wait', 'until']);
      const ms = this.timeout(wo['timeout'], [...p, 'wait', 'timeout'], 'wait', 'DEF_WAIT_TIMEOUT_MISSING');
      out.push({
        kind: 'wait',
        id,
        until: cond?.e ?? { k: 'lit', v: true },
        timeoutMs: ms ?? 0,
        summary: this.summary(s, p, state, 'wait'),
      });
      return state;
    }
    if ('listen' in s) return this.listen(s, id, p, state, out);
    if ('set' in s) {
      const next = cloneState(state);
      const assign: [string, Expr][] = [];
      for (const [k, v] of Object.entries(isObj(s['set']) ? s['set'] : {})) {
        const r = this.expr(v, [...p, 'set', k], state);
        if (r === undefined) continue;
        const t: VType = { ...r.c.type };
        const firstSensitive = r.c.sensitive[0];
        if (firstSensitive !== undefined && sensitiveIn(t).size === 0) t.sensitive = firstSensitive;
        if (!this.varTypes.has(k)) this.varTypes.set(k, t);
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
      out.push({
        kind: 'emit',
        id,
        event: str(e['event']) ?? '',
        data: data?.e ?? { k: 'obj', entries: [] },
        activity: EMIT_ACTIVITY,
        timeoutMs: timeoutMs ?? DEFAULT_EMIT_TIMEOUT_MS,
        retry: {
          maxAttempts: 3,
          initialIntervalMs: DEFAULT_RETRY_INITIAL_INTERVAL_MS,
          backoffCoefficient: 2,
          maximumIntervalMs: DEFAULT_RETRY_MAX_INTERVAL_MS,
        },
      });
      return state;
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
      return next;
    }
    const args = this.args(
      s['with'],
      [...p, 'with'],
      [...p, 'call'],
      state,
      entry.input,
      name,
      SENSITIVE_SINK_KINDS.includes(entry.kind),
    );
    const pivot = s['pivot'] === true;
    const optional = s['optional'] === true;
    const afterPivot = state.pivots > 0;
    const moves = MONEY_EFFECTS.includes(entry.effect);
    if (pivot) {
      if (state.pivots > 0 || state.loopDepth > 0)
        this.report(
          'DEF_MULTIPLE_PIVOTS',
          state.loopDepth > 0 ? 'a pivot inside foreach repeats on one path' : 'a second pivot on this path',
          [...p, 'pivot'],
        );
      next.pivots = state.pivots + 1;
    }
    const what = `call ${name}`;
    const timeoutMs = this.timeout(s['timeout'], [...p, 'timeout'], what);
    const retry = this.retry(s['retry'], [...p, 'retry'], pivot || afterPivot, what);
    if (afterPivot && !pivot && !optional && retry !== undefined && retry.maxAttempts !== null)
      this.report(
        'DEF_UNSAFE_AFTER_PIVOT',
        `${what} follows the pivot: use 'retry: { until: success }' or 'optional: true'`,
        [...p, 'retry'],
      );
    if (moves && state.inParallel)
      this.report('DEF_PARALLEL_CONFLICT', `${what} moves money inside a parallel branch`, [...p, 'call']);
    if (moves && optional)
      this.report('DEF_UNCOMPENSATED_EFFECT', `${what} moves money and cannot be optional`, [...p, 'optional']);
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
        const cargs = this.args(
          comp['with'],
          [...p, 'compensate', 'with'],
          [...p, 'compensate', 'call'],
          state,
          centry.input,
          cname,
          SENSITIVE_SINK_KINDS.includes(centry.kind),
        );
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
    if (moves) this.money = true;
    let taskQueue: Expr | null = null;
    if (s['taskQueue'] !== undefined) {
      const q = this.expr(s['taskQueue'], [...p, 'taskQueue'], state);
      this.noSensitive(q?.c, [...p, 'taskQueue'], 'a task queue name');
      taskQueue = q?.e ?? null;
    }
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

  private switchStep(s: Obj, id: string, p: JsonPath, state: State, out: PlanStep[]): State | null {
    const cases = Array.isArray(s['switch']) ? s['switch'] : [];
    const ends: State[] = [];
    const planned: { when: Expr; steps: PlanStep[] }[] = [];
    const covered = new Map<string, Set<string>>();
    let enumTotal: { key: string; values: string[] } | undefined;
    let alwaysTrue = false;
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
              enumTotal = { key, values: t.enum };
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
      (total !== undefined && covered.size === 1 && total.values.every((v) => covered.get(total.key)?.has(v) === true));
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
    if (ends.length === 0) return null;
    const first = ends[0];
    if (first === undefined) return null;
    const next = cloneState(first);
    for (const a of [...next.assigned]) if (!ends.every((e) => e.assigned.has(a))) next.assigned.delete(a);
    next.pivots = Math.max(...ends.map((e) => e.pivots));
    return next;
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
          false,
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
    if (s['onTimeout'] !== undefined) {
      onTimeout = [];
      timeoutEnd = this.seq(s['onTimeout'], [...p, 'onTimeout'], cloneState(state), onTimeout);
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
    const main = cloneState(state);
    main.assigned.add(`vars.${into}`);
    if (timeoutEnd === null) return main;
    for (const a of [...main.assigned]) if (!timeoutEnd.assigned.has(a)) main.assigned.delete(a);
    main.pivots = Math.max(main.pivots, timeoutEnd.pivots);
    return main;
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

  compile(doc: Obj): Plan | undefined {
    const metadata = isObj(doc['metadata']) ? doc['metadata'] : {};
    const spec = isObj(doc['spec']) ? doc['spec'] : {};
    const limits = isObj(spec['limits']) ? spec['limits'] : {};
    if (typeof limits['maxDuration'] === 'string') this.maxDurationMs = parseDuration(limits['maxDuration']);
    const maxHistoryEvents =
      typeof limits['maxHistoryEvents'] === 'number' ? limits['maxHistoryEvents'] : DEFAULT_MAX_HISTORY_EVENTS;
    if (maxHistoryEvents > HISTORY_EVENTS_HARD_LIMIT)
      this.report('DEF_HISTORY_TOO_LARGE', `maxHistoryEvents may not exceed ${HISTORY_EVENTS_HARD_LIMIT}`, [
        'spec',
        'limits',
        'maxHistoryEvents',
      ]);
    this.inputType = isObj(spec['input']) ? this.toVType(spec['input']) : this.inputType;
    const empty: State = { assigned: new Set(), pivots: 0, inParallel: false, loopDepth: 0, item: undefined };

    const bk = this.expr(spec['businessKey'], ['spec', 'businessKey'], empty);
    this.noSensitive(bk?.c, ['spec', 'businessKey'], 'the business key (workflow id)');
    let terminalId: Expr | null = null;
    if (spec['terminalId'] !== undefined) {
      const t = this.expr(spec['terminalId'], ['spec', 'terminalId'], empty);
      this.noSensitive(t?.c, ['spec', 'terminalId'], 'a search attribute');
      terminalId = t?.e ?? null;
    }
    this.collectIds(spec['steps'], ['spec', 'steps']);
    const steps: PlanStep[] = [];
    const end = this.seq(spec['steps'], ['spec', 'steps'], empty, steps);
    let output: Expr | null = null;
    let outputType: VType = { type: 'null' };
    if (spec['output'] !== undefined) {
      if (end === null)
        this.report('DEF_UNREACHABLE_STEP', 'the output can never be produced: every path fails', ['spec', 'output'], {
          key: true,
        });
      const o = this.expr(spec['output'], ['spec', 'output'], end ?? empty);
      this.noSensitive(o?.c, ['spec', 'output'], 'the service output');
      output = o?.e ?? null;
      outputType = o?.c.type ?? outputType;
    }
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
      taskQueue: str(spec['taskQueue']) ?? 'services',
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
  const src = new SourceDoc(text, file);
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
  const c = new Compiler(src, opts);
  const plan = c.compile(value as Obj);
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
