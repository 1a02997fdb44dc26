/** Loads and compiles every definition in a folder, resolving subflows between them. */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import type { Catalogue } from '../catalogue/types';
import { planHash } from '../plan/hash';
import type { Plan } from '../runtime/plan';
import type { DefinitionTest } from '../testing/run-tests';
import { compileDefinition } from './compile';
import type { Diagnostic } from './diagnostics';

export interface LoadedDefinition {
  file: string;
  serviceId: string;
  ok: boolean;
  plan: Plan | null;
  planHash: string | null;
  diagnostics: Diagnostic[];
  tests: DefinitionTest[];
}

/** Reads the `metadata.id` of a YAML text without validating it (for subflow lookup). */
function peekId(text: string): string | undefined {
  try {
    const v: unknown = parse(text);
    const md = (v as { metadata?: { id?: unknown } } | null)?.metadata;
    return typeof md?.id === 'string' ? md.id : undefined;
  } catch {
    return undefined;
  }
}

/** Compiles the given files; subflows resolve to other files in the same set. */
export function compileFiles(files: readonly string[], catalogue: Catalogue): LoadedDefinition[] {
  const texts = new Map<string, { file: string; text: string }>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    texts.set(peekId(text) ?? basename(f), { file: f, text });
  }
  const done = new Map<string, LoadedDefinition>();
  const compileOne = (id: string, chain: readonly string[]): LoadedDefinition | undefined => {
    const cached = done.get(id);
    if (cached !== undefined) return cached;
    const src = texts.get(id);
    if (src === undefined) return undefined;
    const r = compileDefinition(src.text, src.file, {
      catalogue,
      chain: [...chain, id],
      resolveSubflow: (sub, ch) => {
        const d = compileOne(sub, ch);
        return d?.plan != null && d.planHash !== null ? { plan: d.plan, planHash: d.planHash } : undefined;
      },
    });
    let tests: DefinitionTest[];
    try {
      const v = parse(src.text) as { tests?: DefinitionTest[] } | null;
      tests = Array.isArray(v?.tests) ? v.tests : [];
    } catch {
      tests = [];
    }
    const loaded: LoadedDefinition = r.ok
      ? { file: src.file, serviceId: id, ok: true, plan: r.plan, planHash: planHash(r.plan), diagnostics: [], tests }
      : { file: src.file, serviceId: id, ok: false, plan: null, planHash: null, diagnostics: r.diagnostics, tests };
    done.set(id, loaded);
    return loaded;
  };
  const out: LoadedDefinition[] = [];
  for (const id of texts.keys()) {
    const d = compileOne(id, []);
    if (d !== undefined) out.push(d);
  }
  return out;
}

/** The YAML files of a folder (not recursive), sorted. */
export function definitionFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}
