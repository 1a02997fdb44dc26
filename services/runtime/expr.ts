/**
 * The definition expression language: `${…}` references and a small typed condition language.
 * Hand-written lexer, parser, type checker and evaluator. Pure and sandbox-safe: the interpreter
 * workflow imports the evaluator, so this file imports nothing but types and the pure currency table
 * of domain/money (the exponent `money(x, currency)` formats with), and its behaviour must
 * never change under a running plan (a change here is an interpreter change: see docs/definitions.md).
 *
 * Grammar (precedence low → high):
 *   or      := and ('||' and)*
 *   and     := eq ('&&' eq)*
 *   eq      := rel (('==' | '!=') rel)*
 *   rel     := add (('<' | '<=' | '>' | '>=') add)*
 *   add     := mul (('+' | '-') mul)*
 *   mul     := unary ('*' unary)*
 *   unary   := ('!' | '-') unary | postfix
 *   postfix := primary ('.' IDENT | '[' INT ']')*
 *   primary := INT | STRING | true | false | null | IDENT '(' args ')' | IDENT | '(' or ')'
 * Roots: input, steps, vars, item, index. Integers only (money is integer minor units).
 */

import { parseCurrency } from '../../domain/money';

export type Root = 'input' | 'steps' | 'vars' | 'item' | 'index';
export const ROOTS: readonly Root[] = ['input', 'steps', 'vars', 'item', 'index'];
export type BinaryOp = '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*';
export type FunctionName =
  'len' | 'min' | 'max' | 'string' | 'startsWith' | 'isNull' | 'maskPan' | 'money' | 'pairs' | 'seats';
export const FUNCTIONS: readonly FunctionName[] = [
  'len',
  'min',
  'max',
  'string',
  'startsWith',
  'isNull',
  'maskPan',
  'money',
  'pairs',
  'seats',
];

/**
 * `pairs(s)`: digits keyed on a phone pad, two per number (`'010749'` → `[1, 7, 49]`). Anything
 * but an even run of digits is an error.
 */
export function keyedPairs(keyed: string): number[] {
  if (!/^(?:\d\d){1,40}$/.test(keyed)) throw new ExprEvalError('pairs() needs an even run of digits (two per number)');
  return (keyed.match(/\d\d/g) ?? []).map(Number);
}

/**
 * `seats(s)`: cinema seats keyed on a phone pad, four digits each: the row (01 = A … 26 = Z) then
 * the seat number (01–99) (`'06010602'` → `['F1', 'F2']`). Anything else is an error.
 */
export function keyedSeats(keyed: string): string[] {
  if (!/^(?:\d{4}){1,20}$/.test(keyed)) throw new ExprEvalError('seats() needs four digits per seat (row, number)');
  return (keyed.match(/\d{4}/g) ?? []).map((g) => {
    const row = Number(g.slice(0, 2));
    const seat = Number(g.slice(2));
    if (row < 1 || row > 26 || seat < 1)
      throw new ExprEvalError(`seats(): '${g}' is not a seat (row 01–26, seat 01–99)`);
    return `${String.fromCharCode(64 + row)}${seat}`;
  });
}

/**
 * `money(x, currency)`: integer minor units as people read them, in major units with the
 * currency's ISO 4217 exponent (alphabetic `CNY` or numeric `156`): `money(4550, '156')` →
 * `45.50`, `money(4550, 'JPY')` → `4550`. Without a currency, two decimals (`1250` → `12.50`). A
 * currency the platform does not know is an evaluation error (never a guessed exponent).
 */
export function moneyText(minor: number, currencyCode?: string): string {
  let exponent = 2;
  if (currencyCode !== undefined) {
    const c = parseCurrency(currencyCode);
    if (!c.ok) throw new ExprEvalError(`money(): unknown currency '${currencyCode.slice(0, 8)}'`);
    exponent = c.value.exponent;
  }
  const sign = minor < 0 ? '-' : '';
  const digits = String(Math.abs(minor)).padStart(exponent + 1, '0');
  return exponent === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/**
 * `maskPan(x)`: a card or account number as people may see it — every character but the last four
 * replaced by `*` (at most four kept, none when it has four or fewer). The one function whose
 * result carries no card-data tag: what it keeps is what a receipt may print.
 */
export function maskPan(value: string): string {
  const keep = value.length > 4 ? 4 : 0;
  return '*'.repeat(value.length - keep) + value.slice(value.length - keep);
}

/** Expression tree as stored in a plan (pure JSON). `at` is the source offset, stripped from plans. */
export type Expr =
  | { k: 'lit'; v: string | number | boolean | null; at?: number }
  | { k: 'ref'; root: Root; path: (string | number)[]; at?: number }
  | { k: 'not'; e: Expr; at?: number }
  | { k: 'neg'; e: Expr; at?: number }
  | { k: 'bin'; op: BinaryOp; l: Expr; r: Expr; at?: number }
  | { k: 'fn'; fn: FunctionName; args: Expr[]; at?: number }
  | { k: 'tpl'; parts: (string | Expr)[]; at?: number }
  | { k: 'obj'; entries: [string, Expr][]; at?: number }
  | { k: 'arr'; items: Expr[]; at?: number };

/** A parse error with the offset inside the expression text. */
export class ExprSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ExprSyntaxError';
  }
}

type Token =
  | { t: 'int'; v: number; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'id'; v: string; at: number }
  | { t: 'op'; v: string; at: number }
  | { t: 'end'; at: number };

/** Longest expression text accepted; keeps parsing and plans bounded. */
export const MAX_EXPRESSION_LENGTH = 1000;
const OPS = ['||', '&&', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '!', '(', ')', '.', '[', ']', ','];

function lex(src: string, base: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const at = base + i;
    if (c >= '0' && c <= '9') {
      let j = i;
      while (j < src.length && src.charAt(j) >= '0' && src.charAt(j) <= '9') j++;
      const v = Number(src.slice(i, j));
      if (!Number.isSafeInteger(v)) throw new ExprSyntaxError('integer too large', at);
      out.push({ t: 'int', v, at });
      i = j;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let v = '';
      while (j < src.length && src.charAt(j) !== c) {
        if (src.charAt(j) === '\\' && j + 1 < src.length) j++;
        v += src.charAt(j);
        j++;
      }
      if (j >= src.length) throw new ExprSyntaxError('unterminated string', at);
      out.push({ t: 'str', v, at });
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < src.length && /[A-Za-z0-9_]/.test(src.charAt(j))) j++;
      out.push({ t: 'id', v: src.slice(i, j), at });
      i = j;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op === undefined) throw new ExprSyntaxError(`unexpected character '${c}'`, at);
    out.push({ t: 'op', v: op, at });
    i += op.length;
  }
  out.push({ t: 'end', at: base + src.length });
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(): Token {
    const t = this.toks[this.i];
    if (t === undefined) throw new ExprSyntaxError('unexpected end', 0);
    return t;
  }
  private isOp(v: string): boolean {
    const t = this.peek();
    return t.t === 'op' && t.v === v;
  }
  private expectOp(v: string): void {
    const t = this.peek();
    if (t.t !== 'op' || t.v !== v) throw new ExprSyntaxError(`expected '${v}'`, t.at);
    this.i++;
  }

  parseAll(): Expr {
    const e = this.or();
    const t = this.peek();
    if (t.t !== 'end') throw new ExprSyntaxError('unexpected token after expression', t.at);
    return e;
  }

  private binary(next: () => Expr, ops: readonly BinaryOp[]): Expr {
    let l = next();
    for (;;) {
      const t = this.peek();
      const op = ops.find((o) => t.t === 'op' && t.v === o);
      if (op === undefined) return l;
      this.i++;
      const r = next();
      l = { k: 'bin', op, l, r, at: t.at };
    }
  }
  private or = (): Expr => this.binary(this.and, ['||']);
  private and = (): Expr => this.binary(this.eq, ['&&']);
  private eq = (): Expr => this.binary(this.rel, ['==', '!=']);
  private rel = (): Expr => this.binary(this.add, ['<=', '>=', '<', '>']);
  private add = (): Expr => this.binary(this.mul, ['+', '-']);
  private mul = (): Expr => this.binary(this.unary, ['*']);

  private unary = (): Expr => {
    const t = this.peek();
    if (t.t === 'op' && t.v === '!') {
      this.i++;
      return { k: 'not', e: this.unary(), at: t.at };
    }
    if (t.t === 'op' && t.v === '-') {
      this.i++;
      return { k: 'neg', e: this.unary(), at: t.at };
    }
    return this.postfix();
  };

  private postfix(): Expr {
    const e = this.primary();
    if (e.k !== 'ref') {
      if (this.isOp('.') || this.isOp('[')) throw new ExprSyntaxError('only references can be indexed', this.peek().at);
      return e;
    }
    for (;;) {
      if (this.isOp('.')) {
        this.i++;
        const t = this.peek();
        if (t.t !== 'id') throw new ExprSyntaxError('expected a field name after .', t.at);
        this.i++;
        e.path.push(t.v);
      } else if (this.isOp('[')) {
        this.i++;
        const t = this.peek();
        if (t.t !== 'int') throw new ExprSyntaxError('expected an integer index', t.at);
        this.i++;
        this.expectOp(']');
        e.path.push(t.v);
      } else return e;
    }
  }

  private primary(): Expr {
    const t = this.peek();
    this.i++;
    switch (t.t) {
      case 'int':
        return { k: 'lit', v: t.v, at: t.at };
      case 'str':
        return { k: 'lit', v: t.v, at: t.at };
      case 'id': {
        if (t.v === 'true' || t.v === 'false') return { k: 'lit', v: t.v === 'true', at: t.at };
        if (t.v === 'null') return { k: 'lit', v: null, at: t.at };
        if (this.isOp('(')) {
          const fn = FUNCTIONS.find((f) => f === t.v);
          if (fn === undefined) throw new ExprSyntaxError(`unknown function '${t.v}'`, t.at);
          this.i++;
          const args: Expr[] = [];
          if (!this.isOp(')')) {
            args.push(this.or());
            while (this.isOp(',')) {
              this.i++;
              args.push(this.or());
            }
          }
          this.expectOp(')');
          return { k: 'fn', fn, args, at: t.at };
        }
        const root = ROOTS.find((r) => r === t.v);
        if (root === undefined)
          throw new ExprSyntaxError(`unknown name '${t.v}' (use input., steps., vars., item or index)`, t.at);
        return { k: 'ref', root, path: [], at: t.at };
      }
      case 'op':
        if (t.v === '(') {
          const e = this.or();
          this.expectOp(')');
          return e;
        }
        throw new ExprSyntaxError(`unexpected '${t.v}'`, t.at);
      case 'end':
        throw new ExprSyntaxError('unexpected end of expression', t.at);
    }
  }
}

/** Parses a bare expression (a `when:` condition). Throws ExprSyntaxError with an offset. */
export function parseExpression(src: string, base = 0): Expr {
  if (src.length > MAX_EXPRESSION_LENGTH) throw new ExprSyntaxError('expression too long', base);
  return new Parser(lex(src, base)).parseAll();
}

/**
 * Parses a string that may hold `${…}` references. A string that is exactly one `${expr}` yields
 * the expression itself (keeping its type); text with references yields a template (a string);
 * plain text yields a literal. `$${` escapes a literal `${`.
 */
export function parseTemplate(src: string): Expr {
  const parts: (string | Expr)[] = [];
  let text = '';
  let i = 0;
  while (i < src.length) {
    if (src.startsWith('$${', i)) {
      text += '${';
      i += 3;
      continue;
    }
    if (src.startsWith('${', i)) {
      let depth = 0;
      let j = i + 2;
      let quote = '';
      for (; j < src.length; j++) {
        const c = src.charAt(j);
        if (quote !== '') {
          if (c === quote) quote = '';
        } else if (c === "'" || c === '"') quote = c;
        else if (c === '(') depth++;
        else if (c === ')') depth--;
        else if (c === '}' && depth <= 0) break;
      }
      if (j >= src.length) throw new ExprSyntaxError("unterminated '${'", i);
      if (text !== '') parts.push(text);
      text = '';
      parts.push(parseExpression(src.slice(i + 2, j), i + 2));
      i = j + 1;
      continue;
    }
    text += src.charAt(i);
    i++;
  }
  if (text !== '') parts.push(text);
  const only = parts[0];
  if (parts.length === 1 && only !== undefined && typeof only !== 'string') return only;
  if (parts.length === 0) return { k: 'lit', v: '', at: 0 };
  if (parts.length === 1 && typeof only === 'string') return { k: 'lit', v: only, at: 0 };
  return { k: 'tpl', parts, at: 0 };
}

/** Turns a YAML value (object, array, scalar with `${…}`) into an expression tree. */
export function parseValue(value: unknown): Expr {
  if (typeof value === 'string') return parseTemplate(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return { k: 'lit', v: value };
  if (Array.isArray(value)) return { k: 'arr', items: value.map((v) => parseValue(v)) };
  if (typeof value === 'object') {
    return { k: 'obj', entries: Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, parseValue(v)]) };
  }
  throw new ExprSyntaxError(`unsupported value of type ${typeof value}`, 0);
}

/** Removes source offsets so plans are canonical. */
export function stripPositions(e: Expr): Expr {
  switch (e.k) {
    case 'lit':
      return { k: 'lit', v: e.v };
    case 'ref':
      return { k: 'ref', root: e.root, path: [...e.path] };
    case 'not':
      return { k: 'not', e: stripPositions(e.e) };
    case 'neg':
      return { k: 'neg', e: stripPositions(e.e) };
    case 'bin':
      return { k: 'bin', op: e.op, l: stripPositions(e.l), r: stripPositions(e.r) };
    case 'fn':
      return { k: 'fn', fn: e.fn, args: e.args.map(stripPositions) };
    case 'tpl':
      return { k: 'tpl', parts: e.parts.map((p) => (typeof p === 'string' ? p : stripPositions(p))) };
    case 'obj':
      return { k: 'obj', entries: e.entries.map(([k, v]) => [k, stripPositions(v)]) };
    case 'arr':
      return { k: 'arr', items: e.items.map(stripPositions) };
  }
}

/** Every reference an expression reads, in source order. */
export function references(e: Expr): Extract<Expr, { k: 'ref' }>[] {
  switch (e.k) {
    case 'lit':
      return [];
    case 'ref':
      return [e];
    case 'not':
    case 'neg':
      return references(e.e);
    case 'bin':
      return [...references(e.l), ...references(e.r)];
    case 'fn':
      return e.args.flatMap(references);
    case 'tpl':
      return e.parts.flatMap((p) => (typeof p === 'string' ? [] : references(p)));
    case 'obj':
      return e.entries.flatMap(([, v]) => references(v));
    case 'arr':
      return e.items.flatMap(references);
  }
}

// ---------------------------------------------------------------------------------------------
// Static types

/** Card data, and key material (its own kind: a key may only reach an HSM argument declared `key`). */
export type SensitiveKind = 'pan' | 'track2' | 'pinBlock' | 'cvv' | 'key';
export const SENSITIVE_KINDS: readonly SensitiveKind[] = ['pan', 'track2', 'pinBlock', 'cvv', 'key'];

/** A static type: a small subset of JSON Schema, plus the card-data tag. */
export interface VType {
  type: 'string' | 'integer' | 'boolean' | 'null' | 'object' | 'array' | 'any';
  enum?: string[];
  properties?: Record<string, VType>;
  required?: string[];
  items?: VType;
  sensitive?: SensitiveKind;
  /** Integer minor units of a currency. */
  money?: boolean;
  /** Bounds of an integer, checked on the service input before any step runs. */
  minimum?: number;
  maximum?: number;
  /** Bounds of an array's length, checked the same way. */
  minItems?: number;
  maxItems?: number;
  /** May be absent or null at run time. */
  nullable?: boolean;
}

export const T_ANY: VType = { type: 'any' };
export const T_STRING: VType = { type: 'string' };
export const T_INT: VType = { type: 'integer' };
export const T_BOOL: VType = { type: 'boolean' };
export const T_NULL: VType = { type: 'null' };

/** Type error with the offending node's offset. */
export class ExprTypeError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly kind: 'type' | 'unknown-field' | 'unassigned',
  ) {
    super(message);
    this.name = 'ExprTypeError';
  }
}

/** Result of checking an expression: its type and the card-data kinds that flow into it. */
export interface Checked {
  type: VType;
  sensitive: SensitiveKind[];
}

/** Resolves a reference (root + path) to its type; throws ExprTypeError for unknown/unassigned. */
export type RefResolver = (ref: Extract<Expr, { k: 'ref' }>) => VType;

/** Collects every sensitive tag inside a type (a whole object carrying a PAN is sensitive). */
export function sensitiveIn(t: VType, out: Set<SensitiveKind> = new Set()): Set<SensitiveKind> {
  if (t.sensitive !== undefined) out.add(t.sensitive);
  if (t.properties !== undefined) for (const p of Object.values(t.properties)) sensitiveIn(p, out);
  if (t.items !== undefined) sensitiveIn(t.items, out);
  return out;
}

function isA(t: VType, want: VType['type']): boolean {
  return t.type === want || t.type === 'any';
}

/** True when a value of type `src` may be used where `dst` is expected. */
export function assignable(src: VType, dst: VType): boolean {
  if (dst.type === 'any' || src.type === 'any') return true;
  if (src.type === 'null') return dst.nullable === true || dst.type === 'null';
  if (src.type !== dst.type) return false;
  if (dst.enum !== undefined && src.enum !== undefined) return src.enum.every((v) => dst.enum?.includes(v) === true);
  if (dst.type === 'array' && src.items !== undefined && dst.items !== undefined)
    return assignable(src.items, dst.items);
  return true;
}

/**
 * Type-checks an expression against a resolver. Comparisons between an enum and a string literal
 * outside the enum are refused (they would never match). Throws ExprTypeError.
 */
export function checkExpr(e: Expr, resolve: RefResolver): Checked {
  const at = e.at ?? 0;
  const merge = (...cs: Checked[]): SensitiveKind[] => [...new Set(cs.flatMap((c) => c.sensitive))];
  switch (e.k) {
    case 'lit': {
      const v = e.v;
      const type: VType =
        v === null ? T_NULL : typeof v === 'string' ? T_STRING : typeof v === 'number' ? T_INT : T_BOOL;
      return { type, sensitive: [] };
    }
    case 'ref': {
      const type = resolve(e);
      return { type, sensitive: [...sensitiveIn(type)] };
    }
    case 'not': {
      const c = checkExpr(e.e, resolve);
      if (!isA(c.type, 'boolean')) throw new ExprTypeError(`'!' needs a boolean, got ${c.type.type}`, at, 'type');
      return { type: T_BOOL, sensitive: c.sensitive };
    }
    case 'neg': {
      const c = checkExpr(e.e, resolve);
      if (!isA(c.type, 'integer')) throw new ExprTypeError(`'-' needs an integer, got ${c.type.type}`, at, 'type');
      return { type: T_INT, sensitive: c.sensitive };
    }
    case 'bin': {
      const l = checkExpr(e.l, resolve);
      const r = checkExpr(e.r, resolve);
      const s = merge(l, r);
      switch (e.op) {
        case '||':
        case '&&':
          if (!isA(l.type, 'boolean') || !isA(r.type, 'boolean'))
            throw new ExprTypeError(`'${e.op}' needs booleans, got ${l.type.type} and ${r.type.type}`, at, 'type');
          return { type: T_BOOL, sensitive: s };
        case '==':
        case '!=': {
          const lt = l.type;
          const rt = r.type;
          const scalar = (t: VType): boolean => ['string', 'integer', 'boolean', 'null', 'any'].includes(t.type);
          if (!scalar(lt) || !scalar(rt))
            throw new ExprTypeError(`'${e.op}' compares scalars only, got ${lt.type} and ${rt.type}`, at, 'type');
          const comparable =
            lt.type === 'any' || rt.type === 'any' || lt.type === rt.type || lt.type === 'null' || rt.type === 'null';
          if (!comparable) throw new ExprTypeError(`cannot compare ${lt.type} with ${rt.type}`, at, 'type');
          for (const [enumSide, other] of [
            [lt, e.r],
            [rt, e.l],
          ] as const) {
            if (enumSide.enum !== undefined && other.k === 'lit' && typeof other.v === 'string')
              if (!enumSide.enum.includes(other.v))
                throw new ExprTypeError(
                  `'${other.v}' is not one of ${enumSide.enum.join(', ')}`,
                  other.at ?? at,
                  'type',
                );
          }
          return { type: T_BOOL, sensitive: s };
        }
        case '<':
        case '<=':
        case '>':
        case '>=':
          if (!isA(l.type, 'integer') || !isA(r.type, 'integer'))
            throw new ExprTypeError(`'${e.op}' needs integers, got ${l.type.type} and ${r.type.type}`, at, 'type');
          return { type: T_BOOL, sensitive: s };
        case '+':
          if (isA(l.type, 'string') && isA(r.type, 'string') && (l.type.type === 'string' || r.type.type === 'string'))
            return { type: T_STRING, sensitive: s };
          if (!isA(l.type, 'integer') || !isA(r.type, 'integer'))
            throw new ExprTypeError(`'+' needs integers or strings, got ${l.type.type} and ${r.type.type}`, at, 'type');
          return {
            type: l.type.money === true || r.type.money === true ? { ...T_INT, money: true } : T_INT,
            sensitive: s,
          };
        case '-':
        case '*':
          if (!isA(l.type, 'integer') || !isA(r.type, 'integer'))
            throw new ExprTypeError(`'${e.op}' needs integers, got ${l.type.type} and ${r.type.type}`, at, 'type');
          // Arithmetic on an amount is still an amount (the compiler then checks its bounds).
          return {
            type: l.type.money === true || r.type.money === true ? { ...T_INT, money: true } : T_INT,
            sensitive: s,
          };
      }
      break;
    }
    case 'fn': {
      const args = e.args.map((a) => checkExpr(a, resolve));
      const s = merge(...args);
      const arity = (n: number): void => {
        if (args.length !== n) throw new ExprTypeError(`${e.fn}() takes ${n} argument(s)`, at, 'type');
      };
      const argType = (i: number): VType => args[i]?.type ?? T_ANY;
      switch (e.fn) {
        case 'len':
          arity(1);
          if (!['string', 'array', 'any'].includes(argType(0).type))
            throw new ExprTypeError('len() needs a string or an array', at, 'type');
          return { type: T_INT, sensitive: s };
        case 'min':
        case 'max':
          arity(2);
          if (!isA(argType(0), 'integer') || !isA(argType(1), 'integer'))
            throw new ExprTypeError(`${e.fn}() needs integers`, at, 'type');
          return { type: args.some((a) => a.type.money === true) ? { ...T_INT, money: true } : T_INT, sensitive: s };
        case 'string':
          arity(1);
          if (!['string', 'integer', 'boolean', 'any'].includes(argType(0).type))
            throw new ExprTypeError('string() needs a scalar', at, 'type');
          return { type: T_STRING, sensitive: s };
        case 'startsWith':
          arity(2);
          if (!isA(argType(0), 'string') || !isA(argType(1), 'string'))
            throw new ExprTypeError('startsWith() needs strings', at, 'type');
          return { type: T_BOOL, sensitive: s };
        case 'isNull':
          arity(1);
          return { type: T_BOOL, sensitive: [] };
        case 'maskPan':
          arity(1);
          if (!['string', 'any'].includes(argType(0).type))
            throw new ExprTypeError('maskPan() needs a string', at, 'type');
          return { type: T_STRING, sensitive: [] };
        case 'money':
          if (args.length !== 1 && args.length !== 2)
            throw new ExprTypeError('money() takes an amount and, optionally, its currency', at, 'type');
          if (!isA(argType(0), 'integer')) throw new ExprTypeError('money() needs an integer', at, 'type');
          if (args.length === 2 && !isA(argType(1), 'string'))
            throw new ExprTypeError('money() needs the currency as a string (CNY or 156)', at, 'type');
          return { type: T_STRING, sensitive: s };
        case 'pairs':
        case 'seats':
          arity(1);
          if (!isA(argType(0), 'string')) throw new ExprTypeError(`${e.fn}() needs a string`, at, 'type');
          return { type: { type: 'array', items: e.fn === 'pairs' ? T_INT : T_STRING }, sensitive: s };
      }
      break;
    }
    case 'tpl': {
      const cs = e.parts.flatMap((p) => (typeof p === 'string' ? [] : [checkExpr(p, resolve)]));
      for (const c of cs)
        if (!['string', 'integer', 'boolean', 'any'].includes(c.type.type))
          throw new ExprTypeError(`cannot put a ${c.type.type} into text`, at, 'type');
      return { type: T_STRING, sensitive: merge(...cs) };
    }
    case 'obj': {
      const properties: Record<string, VType> = {};
      const cs: Checked[] = [];
      for (const [k, v] of e.entries) {
        const c = checkExpr(v, resolve);
        properties[k] = c.type;
        cs.push(c);
      }
      return { type: { type: 'object', properties, required: Object.keys(properties) }, sensitive: merge(...cs) };
    }
    case 'arr': {
      const cs = e.items.map((v) => checkExpr(v, resolve));
      return { type: { type: 'array', items: cs[0]?.type ?? T_ANY }, sensitive: merge(...cs) };
    }
  }
  throw new ExprTypeError('unreachable', at, 'type');
}

// ---------------------------------------------------------------------------------------------
// Evaluation (runs inside the workflow)

/** What an expression can read at run time. */
export interface Scope {
  input: unknown;
  steps: Record<string, unknown>;
  vars: Record<string, unknown>;
  item?: unknown;
  index?: number;
}

/** Raised for run-time evaluation problems (a broken invariant: plans are type-checked). */
export class ExprEvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExprEvalError';
  }
}

function readPath(base: unknown, path: readonly (string | number)[]): unknown {
  let cur: unknown = base;
  for (const p of path) {
    if (cur === null || cur === undefined) return null;
    if (typeof p === 'number') cur = Array.isArray(cur) ? (cur[p] as unknown) : null;
    else if (typeof cur === 'object' && !Array.isArray(cur) && Object.prototype.hasOwnProperty.call(cur, p))
      cur = (cur as Record<string, unknown>)[p];
    else return null;
  }
  return cur === undefined ? null : cur;
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ExprEvalError(`${what} needs an integer`);
  return v;
}
function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new ExprEvalError(`${what} needs a boolean`);
  return v;
}
function checkedInt(v: number): number {
  if (!Number.isSafeInteger(v)) throw new ExprEvalError('integer overflow');
  return v;
}
function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ExprEvalError('cannot put an object into text');
}

/** Evaluates an expression deterministically. Throws ExprEvalError on a broken invariant. */
export function evaluate(e: Expr, scope: Scope): unknown {
  switch (e.k) {
    case 'lit':
      return e.v;
    case 'ref': {
      const base =
        e.root === 'input'
          ? scope.input
          : e.root === 'steps'
            ? scope.steps
            : e.root === 'vars'
              ? scope.vars
              : e.root === 'item'
                ? scope.item
                : scope.index;
      return readPath(base, e.path);
    }
    case 'not':
      return !bool(evaluate(e.e, scope), '!');
    case 'neg':
      return checkedInt(-int(evaluate(e.e, scope), '-'));
    case 'bin': {
      if (e.op === '&&') return bool(evaluate(e.l, scope), '&&') && bool(evaluate(e.r, scope), '&&');
      if (e.op === '||') return bool(evaluate(e.l, scope), '||') || bool(evaluate(e.r, scope), '||');
      const l = evaluate(e.l, scope);
      const r = evaluate(e.r, scope);
      switch (e.op) {
        case '==':
          return l === r;
        case '!=':
          return l !== r;
        case '<':
          return int(l, '<') < int(r, '<');
        case '<=':
          return int(l, '<=') <= int(r, '<=');
        case '>':
          return int(l, '>') > int(r, '>');
        case '>=':
          return int(l, '>=') >= int(r, '>=');
        case '+':
          if (typeof l === 'string' || typeof r === 'string') return text(l) + text(r);
          return checkedInt(int(l, '+') + int(r, '+'));
        case '-':
          return checkedInt(int(l, '-') - int(r, '-'));
        case '*':
          return checkedInt(int(l, '*') * int(r, '*'));
      }
      break;
    }
    case 'fn': {
      const a = e.args.map((x) => evaluate(x, scope));
      switch (e.fn) {
        case 'len': {
          const v = a[0];
          if (typeof v === 'string' || Array.isArray(v)) return v.length;
          if (v === null) return 0;
          throw new ExprEvalError('len() needs a string or an array');
        }
        case 'min':
          return Math.min(int(a[0], 'min'), int(a[1], 'min'));
        case 'max':
          return Math.max(int(a[0], 'max'), int(a[1], 'max'));
        case 'string':
          return text(a[0]);
        case 'startsWith':
          return text(a[0]).startsWith(text(a[1]));
        case 'isNull':
          return a[0] === null || a[0] === undefined;
        case 'maskPan':
          return maskPan(text(a[0]));
        case 'money':
          return moneyText(int(a[0], 'money'), a.length > 1 ? text(a[1]) : undefined);
        case 'pairs':
          return keyedPairs(text(a[0]));
        case 'seats':
          return keyedSeats(text(a[0]));
      }
      break;
    }
    case 'tpl':
      return e.parts.map((p) => (typeof p === 'string' ? p : text(evaluate(p, scope)))).join('');
    case 'obj': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of e.entries) out[k] = evaluate(v, scope);
      return out;
    }
    case 'arr':
      return e.items.map((v) => evaluate(v, scope));
  }
  throw new ExprEvalError('unknown expression');
}
