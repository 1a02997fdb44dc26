/** YAML source with positions: parse once, then locate any JSON path (and an offset inside a scalar). */
import { LineCounter, isAlias, isMap, isNode, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';

/**
 * Nodes that aliases may add to a definition once resolved (beyond the nodes written out). Test
 * inputs reuse a few anchors; an alias bomb ("billion laughs") is refused at this bound before
 * anything is materialised.
 */
export const MAX_ALIAS_EXPANSION = 20_000;
/**
 * Deepest nesting of maps and lists a definition may have (a real one is about 20 deep: nested
 * switches inside loops). Deeper input would only exhaust the stack of the recursive passes.
 */
export const MAX_NESTING_DEPTH = 48;
/**
 * Flow brackets (`[`, `{`) open at once, counted before parsing: far deeper than any definition,
 * far shallower than what makes the parser recurse for seconds.
 */
export const MAX_FLOW_DEPTH_BEFORE_PARSING = 256;

/**
 * Offset where flow brackets nest past {@link MAX_FLOW_DEPTH_BEFORE_PARSING}, or -1. A linear scan
 * that skips quoted text and comments; plain text holding brackets can only over-count, which the
 * bound's margin absorbs.
 */
export function deepFlowOffset(text: string): number {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== '') {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if ((c === '"' || c === "'") && startsScalar(text, i)) quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1] ?? ''))) {
      const eol = text.indexOf('\n', i);
      i = eol < 0 ? text.length : eol;
    } else if (c === '[' || c === '{') {
      depth++;
      if (depth > MAX_FLOW_DEPTH_BEFORE_PARSING) return i;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return -1;
}

/** A quote opens a quoted scalar only where a scalar can start (not inside plain text such as "it's"). */
function startsScalar(text: string, i: number): boolean {
  for (let j = i - 1; j >= 0; j--) {
    const p = text[j];
    if (p === ' ' || p === '\t') continue;
    return p === '\n' || p === ':' || p === ',' || p === '[' || p === '{' || p === '-' || p === '?';
  }
  return true;
}

export interface Position {
  line: number;
  column: number;
}
export type JsonPath = readonly (string | number)[];

export class SourceDoc {
  readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(
    readonly text: string,
    readonly file: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  /** YAML syntax errors with positions. */
  syntaxErrors(): { message: string; position: Position }[] {
    return this.doc.errors.map((e) => ({
      message: e.message.split('\n')[0] ?? e.message,
      position: this.at(e.pos[0]),
    }));
  }

  /** True when the parser gave up because the input nests too deeply for it. */
  tooDeepToParse(): boolean {
    return this.doc.errors.some((e) => /call stack/i.test(e.message));
  }

  /**
   * What makes a source unsafe to materialise, with positions: YAML directives (`%YAML 1.1` brings
   * back octal and yes/no booleans), explicit tags (custom types), recursive aliases and alias
   * expansion above {@link MAX_ALIAS_EXPANSION} added nodes. Empty when `toJS` is safe to call.
   */
  hazards(): { message: string; position: Position }[] {
    const out: { message: string; position: Position }[] = [];
    const directive = /^%/m.exec(this.text);
    if (directive !== null)
      out.push({
        message: 'YAML directives (%YAML, %TAG) are refused: definitions are YAML 1.2 without directives',
        position: this.at(directive.index),
      });
    // Nesting depth first, without recursion, so that the passes below cannot exhaust the stack.
    const stack: [unknown, number][] = [[this.doc.contents, 1]];
    let written = 0;
    while (stack.length > 0) {
      written++;
      const [n, depth] = stack.pop() ?? [null, 0];
      if (depth > MAX_NESTING_DEPTH) {
        out.push({
          message: `the definition nests deeper than ${MAX_NESTING_DEPTH} levels: flatten it`,
          position: this.at((n as { range?: [number] } | null)?.range?.[0] ?? 0),
        });
        return out;
      }
      if (isMap(n) || isSeq(n))
        for (const item of n.items) {
          if (isPair(item)) {
            stack.push([item.key, depth + 1]);
            stack.push([item.value, depth + 1]);
          } else stack.push([item, depth + 1]);
        }
    }
    const bound = written + MAX_ALIAS_EXPANSION;
    const sizes = new Map<unknown, number>();
    const busy = new Set<unknown>();
    let worst: { size: number; offset: number } | undefined;
    let recursive: number | undefined;
    let tagged: { tag: string; offset: number } | undefined;
    const offsetOf = (n: unknown): number => (n as { range?: [number, number, number] } | null)?.range?.[0] ?? 0;
    // Expanded size of a node; aliases count as the node they stand for (memoised: linear time).
    const size = (n: unknown): number => {
      if (!isNode(n) && !isPair(n)) return 1;
      const known = sizes.get(n);
      if (known !== undefined) return known;
      if (busy.has(n)) {
        recursive ??= offsetOf(n);
        return bound + 1;
      }
      busy.add(n);
      let total = 1;
      if (isNode(n) && typeof (n as { tag?: unknown }).tag === 'string' && tagged === undefined)
        tagged = { tag: String((n as { tag?: unknown }).tag), offset: offsetOf(n) };
      if (isAlias(n)) {
        const target = n.resolve(this.doc);
        total = target === undefined ? 1 : size(target);
        if (worst === undefined || total > worst.size) worst = { size: total, offset: offsetOf(n) };
      } else if (isMap(n) || isSeq(n)) {
        for (const item of n.items) {
          total += isPair(item) ? size(item.key) + size(item.value) : size(item);
          if (total > bound) break;
        }
      }
      busy.delete(n);
      total = Math.min(total, bound + 1);
      sizes.set(n, total);
      return total;
    };
    const total = size(this.doc.contents);
    if (tagged !== undefined)
      out.push({
        message: `explicit YAML tags are refused (found ${tagged.tag.slice(0, 40)}): write plain values`,
        position: this.at(tagged.offset),
      });
    if (recursive !== undefined)
      out.push({ message: 'an alias refers to a node that contains it', position: this.at(recursive) });
    else if (total > bound)
      out.push({
        message: `aliases add more than ${MAX_ALIAS_EXPANSION} nodes to the definition: write the values out or use fewer aliases`,
        position: this.at(worst?.offset ?? 0),
      });
    return out;
  }

  /** The document as plain data. Call only when {@link hazards} is empty. */
  toJS(): unknown {
    // hazards() has bounded the expansion exactly; the library's own heuristic would also refuse
    // harmless reuse of anchors.
    return this.doc.toJS({ maxAliasCount: -1 });
  }

  /** 1-based line and column of a source offset. */
  at(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /**
   * Position of the node at `path` (or of its key when `key` is set), plus `offset` characters into
   * a scalar's value (quotes skipped). Falls back to the deepest node that exists.
   */
  locate(path: JsonPath, opts: { key?: boolean; offset?: number } = {}): Position {
    let node: unknown = this.doc.contents;
    const rangeOf = (n: unknown): number | undefined => {
      const r = (n as { range?: [number, number, number] } | null)?.range;
      return r?.[0];
    };
    let best = rangeOf(node) ?? 0;
    // Where a missing key would go: the key of the map it belongs in (or the item's start).
    let parentKey: number | undefined;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (pair === undefined) return this.at(parentKey ?? best);
        if (last && opts.key === true) return this.at(rangeOf(pair.key) ?? best);
        parentKey = rangeOf(pair.key);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        parentKey = undefined;
      } else return this.at(parentKey ?? best);
      const r = rangeOf(node);
      if (r === undefined) return this.at(parentKey ?? best);
      best = r;
    }
    if (opts.offset !== undefined && isScalar(node as YamlNode)) {
      const scalar = node as { type?: string };
      const quoted = scalar.type === 'QUOTE_DOUBLE' || scalar.type === 'QUOTE_SINGLE';
      return this.at(best + opts.offset + (quoted ? 1 : 0));
    }
    return this.at(best);
  }
}
