/** Loads and compiles every definition in a folder, resolving subflows between them. */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import type { Catalogue } from '../catalogue/types';
import { planHash } from '../plan/hash';
import type { Plan } from '../runtime/plan';
import type { DefinitionTest } from '../testing/run-tests';
import { compileDefinition } from './compile';
import { diagnostic } from './diagnostics';
import type { Diagnostic } from './diagnostics';
import { SourceDoc } from './source';

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

/**
 * Compiles the given files; subflows resolve to other files in the same set (the first file that
 * defines a service id). Two files defining one service id are refused (DEF_DUPLICATE_SERVICE).
 */
export function compileFiles(files: readonly string[], catalogue: Catalogue): LoadedDefinition[] {
  const sources = files.map((file) => {
    const text = readFileSync(file, 'utf8');
    return { file, text, id: peekId(text) ?? basename(file) };
  });
  const firstById = new Map<string, (typeof sources)[number]>();
  for (const src of sources) if (!firstById.has(src.id)) firstById.set(src.id, src);
  const done = new Map<string, LoadedDefinition>();
  const compileOne = (src: (typeof sources)[number], chain: readonly string[]): LoadedDefinition => {
    const cached = done.get(src.file);
    if (cached !== undefined) return cached;
    const r = compileDefinition(src.text, src.file, {
      catalogue,
      chain: [...chain, src.id],
      resolveSubflow: (sub, ch) => {
        const target = firstById.get(sub);
        const d = target === undefined ? undefined : compileOne(target, ch);
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
    const diagnostics = r.ok ? [] : [...r.diagnostics];
    const first = firstById.get(src.id);
    if (first !== undefined && first.file !== src.file) {
      const doc = new SourceDoc(src.text, src.file);
      diagnostics.unshift(
        diagnostic(
          'DEF_DUPLICATE_SERVICE',
          `service '${src.id}' is also defined in ${first.file}`,
          src.file,
          doc.locate(['metadata', 'id']),
          ['metadata', 'id'],
        ),
      );
    }
    const loaded: LoadedDefinition =
      r.ok && diagnostics.length === 0
        ? {
            file: src.file,
            serviceId: src.id,
            ok: true,
            plan: r.plan,
            planHash: planHash(r.plan),
            diagnostics: [],
            tests,
          }
        : { file: src.file, serviceId: src.id, ok: false, plan: null, planHash: null, diagnostics, tests };
    done.set(src.file, loaded);
    return loaded;
  };
  return sources.map((src) => compileOne(src, []));
}

/** The YAML files of a folder (not recursive), sorted. */
export function definitionFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}
