/** Structural validation of a definition against schema/service-definition.schema.json (ajv). */
import Ajv from 'ajv';
import type { ErrorObject } from 'ajv';
import schema from '../../schema/service-definition.schema.json';
import { diagnostic } from './diagnostics';
import type { Diagnostic } from './diagnostics';
import type { SourceDoc } from './source';

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

function toPath(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

const STEP_KINDS = ['call', 'switch', 'parallel', 'foreach', 'wait', 'listen', 'set', 'fail', 'subflow', 'emit'];

/** Validates the parsed document; returns diagnostics sorted by position (empty when valid). */
export function validateSchema(value: unknown, src: SourceDoc): Diagnostic[] {
  if (validate(value)) return [];
  const errors: ErrorObject[] = validate.errors ?? [];
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'if') continue;
    const path = toPath(e.instancePath);
    let d: Diagnostic;
    if (e.keyword === 'additionalProperties') {
      const key = String((e.params as { additionalProperty?: unknown }).additionalProperty);
      d = diagnostic('DEF_UNKNOWN_KEY', `unknown key '${key}'`, src.file, src.locate([...path, key], { key: true }), [
        ...path,
        key,
      ]);
    } else if (e.keyword === 'anyOf' && e.schemaPath.startsWith('#/definitions/step/')) {
      d = diagnostic('DEF_SCHEMA', `a step needs one of: ${STEP_KINDS.join(', ')}`, src.file, src.locate(path), path);
    } else if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty?: unknown }).missingProperty);
      d = diagnostic('DEF_SCHEMA', `missing '${missing}'`, src.file, src.locate(path), path);
    } else {
      d = diagnostic(
        'DEF_SCHEMA',
        `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`,
        src.file,
        src.locate(path),
        path,
      );
    }
    const k = `${d.line}:${d.column}:${d.name}:${d.message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(d);
  }
  // Specific errors first: an unknown key explains a failed oneOf/anyOf better than the wrapper does.
  const rank = (d: Diagnostic): number => (d.name === 'DEF_UNKNOWN_KEY' ? 0 : d.message.includes('must match') ? 2 : 1);
  return out.sort((a, b) => rank(a) - rank(b) || a.line - b.line || a.column - b.column);
}
