/**
 * Keeps the Prisma schema and the SQL migrations from drifting apart: migrates an empty database,
 * checks every model's table and columns exist with the same nullability (and no table lacks a
 * model), then round-trips one row through every model with the generated client.
 */
import { FIELD_VALUES } from '../../test/support/model-fixtures';
import {
  columns,
  readPrismaSchema,
  type Schema,
  type SchemaField,
  type SchemaModel,
} from '../../test/support/prisma-schema';
import { startTestDatabase, type TestDatabase } from '../../test/support/database';
import { readMigrations } from './migrate';

interface Delegate {
  create(args: { data: Record<string, unknown> }): Promise<Record<string, unknown>>;
  findFirstOrThrow(args: { where: Record<string, unknown> }): Promise<Record<string, unknown>>;
}

const schema: Schema = readPrismaSchema();
let counter = 1;

function valueFor(model: SchemaModel, field: SchemaField): unknown {
  const fixed = FIELD_VALUES[`${model.name}.${field.name}`];
  if (fixed !== undefined) return fixed;
  const n = counter++;
  const enumValues = schema.enums.get(field.type);
  if (enumValues !== undefined) return field.list ? [enumValues[0]] : enumValues[0];
  const size = /\((\d+)/.exec(field.nativeType ?? '')?.[1];
  switch (field.type) {
    case 'String': {
      if (field.nativeType?.startsWith('Char(') === true && size !== undefined)
        return String(n).padStart(Number(size), '0');
      const s = `v${n}`;
      return size === undefined ? s : s.slice(0, Number(size));
    }
    case 'Int':
      return n;
    case 'BigInt':
      return BigInt(n);
    case 'Float':
      return n + 0.5;
    case 'Decimal':
      return `${n}.25`;
    case 'Boolean':
      return true;
    case 'DateTime':
      return new Date(Date.UTC(2026, 10, 26, 12, 0, n % 60, 123));
    case 'Json':
      return { n, nested: [1, 'two'] };
    case 'Bytes':
      return new Uint8Array([n % 256, 1, 2, 3]);
    default:
      throw new Error(`no generator for ${model.name}.${field.name}: ${field.type}`);
  }
}

function normalise(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return Array.from(v);
  if (typeof v === 'object' && v !== null && 'toFixed' in v && typeof v.toFixed === 'function')
    return (v.toFixed as () => string)();
  if (typeof v === 'number' && !Number.isInteger(v)) return String(v);
  return v;
}

/** Parents before children, by relation fields. */
function ordered(models: readonly SchemaModel[]): SchemaModel[] {
  const byName = new Map(models.map((m) => [m.name, m]));
  const out: SchemaModel[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (m: SchemaModel): void => {
    if (state.get(m.name) !== undefined) return;
    state.set(m.name, 'visiting');
    for (const f of m.fields) {
      const parent = f.relation === undefined ? undefined : byName.get(f.type);
      if (parent !== undefined && parent.name !== m.name) visit(parent);
    }
    state.set(m.name, 'done');
    out.push(m);
  };
  models.forEach(visit);
  return out;
}

describe('database schema and migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase();
  }, 60_000);
  afterAll(async () => {
    await db.close();
  });

  it('has migrations and models', () => {
    expect(readMigrations().length).toBeGreaterThan(0);
    expect(schema.models.length).toBeGreaterThan(0);
  });

  it('records every migration as prisma migrate deploy would', async () => {
    const rows = await db.prisma.$queryRawUnsafe<{ migration_name: string; checksum: string }[]>(
      'SELECT migration_name, checksum FROM "_prisma_migrations" ORDER BY migration_name',
    );
    expect(rows.map((r) => [r.migration_name, r.checksum])).toEqual(readMigrations().map((m) => [m.name, m.checksum]));
  });

  it('has a table for every model, a model for every table, and matching columns', async () => {
    const rows = await db.prisma.$queryRawUnsafe<{ table_name: string; column_name: string; is_nullable: string }[]>(
      `SELECT table_name, column_name, is_nullable FROM information_schema.columns WHERE table_schema = '${db.schema}'`,
    );
    const tables = new Map<string, Map<string, boolean>>();
    for (const r of rows) {
      const t = tables.get(r.table_name) ?? new Map<string, boolean>();
      t.set(r.column_name, r.is_nullable === 'YES');
      tables.set(r.table_name, t);
    }
    const problems: string[] = [];
    for (const model of schema.models) {
      const table = tables.get(model.dbName);
      if (table === undefined) {
        problems.push(`model ${model.name}: no table "${model.dbName}"`);
        continue;
      }
      for (const f of columns(model, schema)) {
        const nullable = table.get(f.dbName);
        if (nullable === undefined) problems.push(`${model.name}.${f.name}: no column "${f.dbName}"`);
        else if (nullable !== (f.optional && !f.list)) {
          problems.push(
            `${model.name}.${f.name}: schema says ${f.optional ? 'optional' : 'required'}, SQL says ${nullable ? 'NULL' : 'NOT NULL'}`,
          );
        }
      }
      for (const column of table.keys()) {
        if (!columns(model, schema).some((f) => f.dbName === column))
          problems.push(`${model.dbName}.${column}: column without a field`);
      }
    }
    const modelTables = new Set(schema.models.map((m) => m.dbName));
    for (const t of tables.keys())
      if (t !== '_prisma_migrations' && !modelTables.has(t)) problems.push(`table ${t}: no model`);
    expect(problems).toEqual([]);
  });

  it('round-trips a row through every model', async () => {
    const created = new Map<string, Record<string, unknown>>();
    const client = db.prisma as unknown as Record<string, Delegate>;
    for (const model of ordered(schema.models)) {
      const data: Record<string, unknown> = {};
      const fkFields = new Map<string, unknown>();
      for (const f of model.fields) {
        if (f.relation === undefined) continue;
        const parent = created.get(f.type);
        if (parent === undefined) continue;
        f.relation.fields.forEach((fk, i) => fkFields.set(fk, parent[f.relation?.references[i] ?? '']));
      }
      for (const f of columns(model, schema)) {
        if (f.updatedAt || (f.isId && f.hasDefault)) continue; // generated by the database
        data[f.name] = fkFields.has(f.name) ? fkFields.get(f.name) : valueFor(model, f);
      }
      const delegate = client[model.name.charAt(0).toLowerCase() + model.name.slice(1)];
      if (delegate === undefined) throw new Error(`no client delegate for ${model.name}`);
      const row = await delegate.create({ data });
      const idFields = model.compositeId ?? model.fields.filter((f) => f.isId).map((f) => f.name);
      const where = Object.fromEntries(idFields.map((k) => [k, row[k]]));
      const back = await delegate.findFirstOrThrow({ where });
      for (const [k, v] of Object.entries(data)) {
        expect([model.name, k, normalise(back[k])]).toEqual([model.name, k, normalise(v)]);
      }
      created.set(model.name, back);
    }
    expect(created.size).toBe(schema.models.length);
  });

  it('keeps the audit log append-only', async () => {
    const row = await db.prisma.auditEvent.create({ data: { actor: 'test', action: 'check', subject: 'audit' } });
    await expect(db.prisma.auditEvent.update({ where: { id: row.id }, data: { action: 'changed' } })).rejects.toThrow(
      /append-only/,
    );
    await expect(db.prisma.auditEvent.delete({ where: { id: row.id } })).rejects.toThrow(/append-only/);
  });
});
