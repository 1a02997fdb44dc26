/** YAML source with positions: parse once, then locate any JSON path (and an offset inside a scalar). */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';

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

  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
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
