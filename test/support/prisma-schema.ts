/**
 * A small reader of the Prisma schema files: models, their scalar fields with database names and
 * native types, ids and relations. Enough for the generic round-trip and drift tests; not a
 * general Prisma parser.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SchemaField {
  readonly name: string;
  readonly type: string;
  readonly optional: boolean;
  readonly list: boolean;
  readonly dbName: string;
  readonly hasDefault: boolean;
  readonly isId: boolean;
  readonly isUnique: boolean;
  readonly updatedAt: boolean;
  /** e.g. `VarChar(64)`, `Char(4)`, `Timestamptz(6)` */
  readonly nativeType?: string;
  /** For a relation field: the scalar fields it is built from and the fields they reference. */
  readonly relation?: { readonly fields: readonly string[]; readonly references: readonly string[] };
}

export interface SchemaModel {
  readonly name: string;
  readonly dbName: string;
  readonly fields: readonly SchemaField[];
  readonly compositeId?: readonly string[];
  readonly uniques: readonly (readonly string[])[];
}

export interface Schema {
  readonly models: readonly SchemaModel[];
  readonly enums: ReadonlyMap<string, readonly string[]>;
}

const list = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

export function readPrismaSchema(dir: string = join(__dirname, '..', '..', 'prisma', 'schema')): Schema {
  const text = readdirSync(dir)
    .filter((f) => f.endsWith('.prisma'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n')
    .replace(/\/\/.*$/gm, '');
  const enums = new Map<string, string[]>();
  for (const m of text.matchAll(/^enum\s+(\w+)\s*\{\n([\s\S]*?)^\}/gm)) {
    enums.set(
      m[1] ?? '',
      (m[2] ?? '')
        .split('\n')
        .map((l) => l.trim().split(/\s+/)[0] ?? '')
        .filter((v) => v !== '' && !v.startsWith('@')),
    );
  }
  const models: SchemaModel[] = [];
  // Blocks end at a closing brace alone on its line (a `}` inside @default("{}") does not count).
  for (const m of text.matchAll(/^model\s+(\w+)\s*\{\n([\s\S]*?)^\}/gm)) {
    const name = m[1] ?? '';
    let dbName = name;
    let compositeId: string[] | undefined;
    const uniques: string[][] = [];
    const fields: SchemaField[] = [];
    for (const raw of (m[2] ?? '').split('\n')) {
      const line = raw.trim();
      if (line === '') continue;
      if (line.startsWith('@@')) {
        const map = /^@@map\("([^"]+)"\)/.exec(line);
        if (map?.[1] !== undefined) dbName = map[1];
        const id = /^@@id\(\[([^\]]+)\]/.exec(line);
        if (id?.[1] !== undefined) compositeId = list(id[1]);
        const uq = /^@@unique\(\[([^\]]+)\]/.exec(line);
        if (uq?.[1] !== undefined) uniques.push(list(uq[1]));
        continue;
      }
      const f = /^(\w+)\s+(\w+)(\[\])?(\?)?\s*(.*)$/.exec(line);
      if (f === null) continue;
      const attrs = f[5] ?? '';
      const rel = /@relation\([^)]*fields:\s*\[([^\]]*)\][^)]*references:\s*\[([^\]]*)\]/.exec(attrs);
      const native = /@db\.(\w+(?:\([^)]*\))?)/.exec(attrs);
      const map = /@map\("([^"]+)"\)/.exec(attrs);
      fields.push({
        name: f[1] ?? '',
        type: f[2] ?? '',
        list: f[3] !== undefined,
        optional: f[4] !== undefined,
        dbName: map?.[1] ?? f[1] ?? '',
        hasDefault: /@default\(/.test(attrs),
        isId: /@id\b/.test(attrs),
        isUnique: /@unique\b/.test(attrs),
        updatedAt: /@updatedAt\b/.test(attrs),
        ...(native?.[1] === undefined ? {} : { nativeType: native[1] }),
        ...(rel === null ? {} : { relation: { fields: list(rel[1] ?? ''), references: list(rel[2] ?? '') } }),
      });
    }
    models.push({ name, dbName, fields, uniques, ...(compositeId === undefined ? {} : { compositeId }) });
  }
  return { models, enums };
}

const SCALARS = new Set(['String', 'Int', 'BigInt', 'Boolean', 'DateTime', 'Json', 'Decimal', 'Float', 'Bytes']);

/** Scalar (column) fields of a model: not relation objects. */
export function columns(model: SchemaModel, schema: Schema): SchemaField[] {
  return model.fields.filter((f) => SCALARS.has(f.type) || schema.enums.has(f.type));
}
