/**
 * The plan as a Mermaid flowchart: steps as nodes, control flow solid, compensations dashed
 * (undo edges to the compensating activity), the pivot marked, failures as end nodes.
 */
import type { Expr } from '../runtime/expr';
import type { Plan, PlanStep } from '../runtime/plan';

/** Renders an expression back to source-like text (for labels). */
export function formatExpr(e: Expr): string {
  switch (e.k) {
    case 'lit':
      return typeof e.v === 'string' ? `'${e.v}'` : String(e.v);
    case 'ref':
      return [e.root, ...e.path.map(String)].join('.');
    case 'not':
      return `!${formatExpr(e.e)}`;
    case 'neg':
      return `-${formatExpr(e.e)}`;
    case 'bin':
      return `${formatExpr(e.l)} ${e.op} ${formatExpr(e.r)}`;
    case 'fn':
      return `${e.fn}(${e.args.map(formatExpr).join(', ')})`;
    case 'tpl':
      return e.parts.map((p) => (typeof p === 'string' ? p : `\${${formatExpr(p)}}`)).join('');
    case 'obj':
      return `{${e.entries.map(([k, v]) => `${k}: ${formatExpr(v)}`).join(', ')}}`;
    case 'arr':
      return `[${e.items.map(formatExpr).join(', ')}]`;
  }
}

const esc = (s: string): string => s.replace(/"/g, '#quot;').replace(/[<>]/g, (c) => (c === '<' ? '#lt;' : '#gt;'));

interface Exit {
  id: string;
  label?: string;
}

class Graph {
  readonly lines: string[] = [];
  private n = 0;

  node(shape: 'rect' | 'diamond' | 'hex' | 'round' | 'stadium', text: string, cls?: string): string {
    const id = `n${this.n++}`;
    const t = `"${esc(text)}"`;
    const body =
      shape === 'rect'
        ? `[${t}]`
        : shape === 'diamond'
          ? `{${t}}`
          : shape === 'hex'
            ? `{{${t}}}`
            : shape === 'round'
              ? `(${t})`
              : `([${t}])`;
    this.lines.push(`  ${id}${body}`);
    if (cls !== undefined) this.lines.push(`  class ${id} ${cls}`);
    return id;
  }
  edge(from: Exit, to: string): void {
    this.lines.push(
      from.label === undefined ? `  ${from.id} --> ${to}` : `  ${from.id} -->|"${esc(from.label)}"| ${to}`,
    );
  }
  dashed(from: string, to: string, label: string): void {
    this.lines.push(`  ${from} -.->|${label}| ${to}`);
  }

  /** Draws a sequence entered from `from`; returns its exits. */
  seq(steps: readonly PlanStep[], from: Exit[]): Exit[] {
    let exits = from;
    for (const s of steps) exits = this.step(s, exits);
    return exits;
  }

  private link(from: Exit[], to: string): void {
    for (const f of from) this.edge(f, to);
  }

  private step(s: PlanStep, from: Exit[]): Exit[] {
    switch (s.kind) {
      case 'call': {
        const label = `${s.id}: ${s.activity}${s.pivot ? ' ★ PIVOT' : ''}${s.effect === 'none' ? '' : ` (${s.effect})`}${s.optional ? ' (optional)' : ''}`;
        const id = this.node(
          s.pivot ? 'hex' : 'rect',
          label,
          s.pivot ? 'pivot' : s.effect === 'none' ? undefined : 'money',
        );
        this.link(from, id);
        if (s.compensation !== null) {
          const c = this.node('round', `undo ${s.id}: ${s.compensation.activity}`, 'undo');
          this.dashed(id, c, 'compensate');
        }
        return [{ id }];
      }
      case 'switch': {
        const id = this.node('diamond', s.id);
        this.link(from, id);
        const exits: Exit[] = [];
        for (const c of s.cases) exits.push(...this.seq(c.steps, [{ id, label: formatExpr(c.when) }]));
        if (s.default !== null) exits.push(...this.seq(s.default, [{ id, label: 'default' }]));
        return exits;
      }
      case 'parallel': {
        const fork = this.node('stadium', `${s.id}: parallel`);
        this.link(from, fork);
        const join = this.node('stadium', `${s.id}: join`);
        for (const b of s.branches) this.link(this.seq(b, [{ id: fork }]), join);
        return [{ id: join }];
      }
      case 'foreach': {
        const id = this.node('stadium', `${s.id}: for each of ${formatExpr(s.items)} (≤ ${s.maxItems})`);
        this.link(from, id);
        const body = this.seq(s.steps, [{ id, label: 'item' }]);
        for (const b of body) this.lines.push(`  ${b.id} -->|next| ${id}`);
        return [{ id, label: 'done' }];
      }
      case 'wait': {
        const id = this.node(
          'round',
          `${s.id}: wait ${s.timeoutMs} ms${s.until === null ? '' : ` until ${formatExpr(s.until)}`}`,
        );
        this.link(from, id);
        return [{ id }];
      }
      case 'listen': {
        const id = this.node('round', `${s.id}: listen ${s.source} ${s.name} (${s.timeoutMs} ms) → vars.${s.into}`);
        this.link(from, id);
        const exits: Exit[] = [{ id }];
        if (s.onTimeout !== null) exits.push(...this.seq(s.onTimeout, [{ id, label: 'timeout' }]));
        return exits;
      }
      case 'set': {
        const id = this.node('rect', `${s.id}: set ${s.assign.map(([k]) => k).join(', ')}`);
        this.link(from, id);
        return [{ id }];
      }
      case 'fail': {
        const id = this.node('stadium', `✖ ${s.code}`, 'fail');
        this.link(from, id);
        return [];
      }
      case 'subflow': {
        const id = this.node('rect', `${s.id}: subflow ${s.ref}`);
        this.link(from, id);
        return [{ id }];
      }
      case 'emit': {
        const id = this.node('rect', `${s.id}: emit ${s.event}`);
        this.link(from, id);
        return [{ id }];
      }
    }
  }
}

/** Mermaid `flowchart TD` text for a plan. */
export function planToMermaid(plan: Plan): string {
  const g = new Graph();
  const start = g.node('stadium', `${plan.serviceId}@${plan.version}`);
  const exits = g.seq(plan.steps, [{ id: start }]);
  const end = g.node('stadium', '✔ COMPLETED', 'ok');
  for (const e of exits) g.edge(e, end);
  return [
    'flowchart TD',
    ...g.lines,
    '  classDef pivot stroke-width:3px,stroke:#b45309',
    '  classDef money stroke:#1d4ed8',
    '  classDef undo stroke-dasharray:4 2,stroke:#6b7280',
    '  classDef fail stroke:#b91c1c',
    '  classDef ok stroke:#15803d',
    '',
  ].join('\n');
}
