/** Loads and compiles every definition in a folder, resolving subflows between them. */
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Catalogue } from '../catalogue/types';
import { planHash } from '../plan/hash';
import type { Plan } from '../runtime/plan';
import type { DefinitionTest } from '../testing/run-tests';
import { MAX_DEFINITION_BYTES, compileDefinition } from './compile';
import type { CompileOptions } from './compile';
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

/** A definition file's text, or why it cannot be read (too large, not UTF-8, unreadable). */
export type SourceText = { ok: true; text: string } | { ok: false; diagnostic: Diagnostic };

/**
 * Reads a definition file: the size is checked before the content is read, and the bytes must be
 * UTF-8 (a replacement character would silently change what the author wrote).
 */
export function readDefinition(file: string): SourceText {
  const refuse = (message: string, pos = { line: 1, column: 1 }): SourceText => ({
    ok: false,
    diagnostic: diagnostic('DEF_YAML_UNSAFE', message, file, pos, []),
  });
  let bytes: Buffer;
  try {
    const size = statSync(file).size;
    if (size > MAX_DEFINITION_BYTES)
      return refuse(`the definition is ${size} bytes; the limit is ${MAX_DEFINITION_BYTES}: split it or shorten it`);
    bytes = Buffer.alloc(size);
    const fd = openSync(file, 'r');
    try {
      let read = 0;
      while (read < size) {
        const n = readSync(fd, bytes, read, size - read, read);
        if (n === 0) break;
        read += n;
      }
      bytes = bytes.subarray(0, read);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return refuse(`cannot read the file: ${err instanceof Error ? err.message : 'unknown error'}`);
  }
  return decodeDefinition(bytes, file);
}

/** Decodes definition bytes as strict UTF-8; refuses other encodings with the position of the first bad byte. */
export function decodeDefinition(bytes: Uint8Array, file: string): SourceText {
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes) };
  } catch {
    const bad = firstInvalidUtf8(bytes);
    const before = new TextDecoder('utf-8').decode(bytes.subarray(0, bad));
    const lines = before.split('\n');
    const pos = { line: lines.length, column: (lines[lines.length - 1] ?? '').length + 1 };
    return {
      ok: false,
      diagnostic: diagnostic(
        'DEF_YAML_UNSAFE',
        `byte ${bad} is not UTF-8: save the definition as UTF-8`,
        file,
        pos,
        [],
      ),
    };
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
    }
    i += n + 1;
  }
  return Math.max(0, b.length - 1);
}

/** The data of a YAML text when it is safe to materialise (no hazards); undefined otherwise. */
function safeData(text: string, file: string): unknown {
  try {
    const doc = new SourceDoc(text, file);
    if (doc.syntaxErrors().length > 0 || doc.hazards().length > 0) return undefined;
    return doc.toJS();
  } catch {
    return undefined;
  }
}

/**
 * Compiles the given files; subflows resolve to other files in the same set. Two files defining
 * one service id are refused (DEF_DUPLICATE_SERVICE) on the newer file (later modification time;
 * on a tie, the later in the list), so a copy never takes a shipped definition down. A file that
 * cannot be read or compiled gets diagnostics; it never stops the others. `servedTaskQueues` are the
 * queues the platform's workers serve (its configured central queue); the compiler's default otherwise.
 */
export function compileFiles(
  files: readonly string[],
  catalogue: Catalogue,
  opts: Pick<CompileOptions, 'servedTaskQueues'> = {},
): LoadedDefinition[] {
  const sources = files.map((file, order) => {
    const read = readDefinition(file);
    const text = read.ok ? read.text : '';
    const data = read.ok && text.length <= MAX_DEFINITION_BYTES ? safeData(text, file) : undefined;
    const md = (data as { metadata?: { id?: unknown } } | null | undefined)?.metadata;
    const rawTests = (data as { tests?: unknown } | null | undefined)?.tests;
    let mtime: number;
    try {
      mtime = statSync(file).mtimeMs;
    } catch {
      mtime = 0;
    }
    return {
      file,
      order,
      mtime,
      read,
      text,
      id: typeof md?.id === 'string' ? md.id : basename(file),
      tests: Array.isArray(rawTests) ? (rawTests as DefinitionTest[]) : [],
    };
  });
  type Src = (typeof sources)[number];
  const firstById = new Map<string, Src>();
  const older = (a: Src, b: Src): boolean => a.mtime < b.mtime || (a.mtime === b.mtime && a.order < b.order);
  for (const src of sources) {
    if (!src.read.ok) continue;
    const cur = firstById.get(src.id);
    if (cur === undefined || older(src, cur)) firstById.set(src.id, src);
  }
  const done = new Map<string, LoadedDefinition>();
  const failed = (src: Src, diagnostics: Diagnostic[]): LoadedDefinition => ({
    file: src.file,
    serviceId: src.id,
    ok: false,
    plan: null,
    planHash: null,
    diagnostics,
    tests: src.tests,
  });
  const compileOne = (src: Src, chain: readonly string[]): LoadedDefinition => {
    const cached = done.get(src.file);
    if (cached !== undefined) return cached;
    if (!src.read.ok) {
      const loaded = failed(src, [src.read.diagnostic]);
      done.set(src.file, loaded);
      return loaded;
    }
    let loaded: LoadedDefinition;
    try {
      const r = compileDefinition(src.text, src.file, {
        catalogue,
        ...(opts.servedTaskQueues === undefined ? {} : { servedTaskQueues: opts.servedTaskQueues }),
        chain: [...chain, src.id],
        resolveSubflow: (sub, ch) => {
          const target = firstById.get(sub);
          const d = target === undefined ? undefined : compileOne(target, ch);
          return d?.plan != null && d.planHash !== null ? { plan: d.plan, planHash: d.planHash } : undefined;
        },
      });
      const diagnostics = r.ok ? [] : [...r.diagnostics];
      const first = firstById.get(src.id);
      if (first !== undefined && first.file !== src.file) {
        const doc = new SourceDoc(src.text, src.file);
        diagnostics.unshift(
          diagnostic(
            'DEF_DUPLICATE_SERVICE',
            `service '${src.id}' is already defined in ${first.file}: choose another metadata.id`,
            src.file,
            doc.locate(['metadata', 'id']),
            ['metadata', 'id'],
          ),
        );
      }
      loaded =
        r.ok && diagnostics.length === 0
          ? {
              file: src.file,
              serviceId: src.id,
              ok: true,
              plan: r.plan,
              planHash: planHash(r.plan),
              diagnostics: [],
              tests: src.tests,
            }
          : failed(src, diagnostics);
    } catch (err) {
      // A compiler bug must not take the other definitions down: report it on this file.
      loaded = failed(src, [
        diagnostic(
          'DEF_YAML_UNSAFE',
          `the compiler could not process this file (${err instanceof Error ? err.message.slice(0, 200) : 'unknown error'}): simplify it and report the case`,
          src.file,
          { line: 1, column: 1 },
          [],
        ),
      ]);
    }
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
