/**
 * Values the generic round-trip test (infra/database/schema.int.test.ts) must use for columns
 * that carry CHECK constraints or formats it cannot guess. Keyed by `Model.field`.
 * Add an entry here when your migration constrains a column's content.
 */
export const FIELD_VALUES: Readonly<Record<string, unknown>> = {
  'IdempotencyRecord.requestHash': 'a'.repeat(64),
};
