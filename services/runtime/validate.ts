/** Checks a run-time value against a plan type (service input, listen payloads). Pure, sandbox-safe. */
import type { VType } from './expr';

/** Longest path reported, so messages stay short. */
const MAX_PROBLEMS = 5;

/** Returns problems (field paths, never values: they may hold card data); empty when valid. */
export function validateValue(t: VType, value: unknown, path = '$', out: string[] = []): string[] {
  if (out.length >= MAX_PROBLEMS) return out;
  if (value === null || value === undefined) {
    if (t.nullable !== true && t.type !== 'any' && t.type !== 'null') out.push(`${path} is missing`);
    return out;
  }
  switch (t.type) {
    case 'any':
      return out;
    case 'null':
      out.push(`${path} must be null`);
      return out;
    case 'string':
      if (typeof value !== 'string') out.push(`${path} must be a string`);
      else if (t.enum !== undefined && !t.enum.includes(value)) out.push(`${path} must be one of ${t.enum.join(', ')}`);
      return out;
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) out.push(`${path} must be an integer`);
      else if (t.minimum !== undefined && value < t.minimum) out.push(`${path} must be at least ${t.minimum}`);
      else if (t.maximum !== undefined && value > t.maximum) out.push(`${path} must be at most ${t.maximum}`);
      return out;
    case 'boolean':
      if (typeof value !== 'boolean') out.push(`${path} must be a boolean`);
      return out;
    case 'array':
      if (!Array.isArray(value)) out.push(`${path} must be an array`);
      else if (t.minItems !== undefined && value.length < t.minItems)
        out.push(`${path} must have at least ${t.minItems} items`);
      else if (t.maxItems !== undefined && value.length > t.maxItems)
        out.push(`${path} must have at most ${t.maxItems} items`);
      else if (t.items !== undefined) {
        const items = t.items;
        value.forEach((v: unknown, i) => validateValue(items, v, `${path}[${i}]`, out));
      }
      return out;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) {
        out.push(`${path} must be an object`);
        return out;
      }
      const rec = value as Record<string, unknown>;
      for (const [k, pt] of Object.entries(t.properties ?? {})) {
        const req = t.required?.includes(k) === true;
        validateValue(req ? pt : { ...pt, nullable: true }, rec[k], `${path}.${k}`, out);
      }
      return out;
    }
  }
}
