import { definitionCodes } from '../../domain/errors/definitions';
import type { Position } from './source';

export type DefinitionCodeName = (typeof definitionCodes)[number]['name'];

/** One refusal, with file:line:column and a stable result code. Messages never hold card data. */
export interface Diagnostic {
  code: string;
  name: DefinitionCodeName;
  message: string;
  file: string;
  line: number;
  column: number;
  path: string;
}

export function diagnostic(
  name: DefinitionCodeName,
  message: string,
  file: string,
  pos: Position,
  path: readonly (string | number)[],
): Diagnostic {
  const entry = definitionCodes.find((c) => c.name === name);
  return {
    code: entry?.code ?? 'FP2001',
    name,
    message,
    file,
    line: pos.line,
    column: pos.column,
    path: path.length === 0 ? '/' : `/${path.join('/')}`,
  };
}

/** `file:line:column FP20xx NAME message` — the format editors and CI annotate. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column} ${d.code} ${d.name} ${d.message}`;
}
