/**
 * ISO 8583 specs as data. A spec file (JSON, validated against schema/iso8583-spec.schema.json)
 * names its parts by string; `resolveSpec` checks the combination and resolves the names through
 * the typed registries (`textEncodings`, `prefixes`) into ready-to-run field codecs.
 */
import Ajv from 'ajv';
import { FixpayError } from '../../domain/errors';
import schema from '../../schema/iso8583-spec.schema.json';
import type { Padding, TextEncoding } from './encoding';
import { ascii, bcd, track } from './encoding';
import type { PrefixName } from './prefix';
import { prefixes } from './prefix';

export type FieldType = 'n' | 'a' | 'an' | 'ans' | 'z' | 'b';
export type SubfieldType = 'n' | 'a' | 'an' | 'ans' | 'b';
export type Sensitivity = 'pan' | 'secret';

/** The typed registry of text encodings; `Binary` is the raw-bytes encoding of `b` fields. */
export const textEncodings = { BCD: bcd, ASCII: ascii, Track: track } as const satisfies Record<string, TextEncoding>;
export type EncodingName = keyof typeof textEncodings | 'Binary';

export interface SubfieldSpec {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly type: SubfieldType;
  readonly length: number;
  readonly optional?: boolean;
  readonly sensitive?: Sensitivity;
}

export interface FieldSpec {
  readonly id: number;
  readonly name: string;
  readonly description?: string;
  readonly type: FieldType;
  readonly encoding: EncodingName;
  readonly prefix: PrefixName;
  readonly length: number;
  readonly padding?: Padding;
  readonly sensitive?: Sensitivity;
  readonly subfields?: readonly SubfieldSpec[];
  readonly tlv?: boolean;
}

export interface EnvelopeSpec {
  readonly lengthPrefix: 'binary2' | 'ascii4' | 'none';
  readonly tpduBytes: 0 | 5;
  readonly applicationHeaderBytes: number;
}

export interface MessageSpec {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly envelope?: EnvelopeSpec;
  readonly mti: { readonly encoding: 'BCD' | 'ASCII' };
  readonly bitmap: { readonly encoding: 'Binary' | 'HexASCII'; readonly secondary: boolean };
  readonly fields: readonly FieldSpec[];
}

const ajv = new Ajv({ allErrors: true, strict: true });
const validateSpecShape = ajv.compile<MessageSpec>(schema);

/**
 * Checks a parsed spec file against the schema and the rules the schema cannot express
 * (which encodings suit which types, sub-field layout, unique ids).
 * Throws ISO8583_SPEC_INVALID naming the first problems found.
 */
export function parseSpec(data: unknown, source = 'spec'): MessageSpec {
  if (!validateSpecShape(data)) {
    const problems = (validateSpecShape.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
    throw new FixpayError('ISO8583_SPEC_INVALID', `${source}: ${problems.slice(0, 5).join('; ')}`);
  }
  const problems = semanticProblems(data);
  if (problems.length > 0) throw new FixpayError('ISO8583_SPEC_INVALID', `${source}: ${problems.join('; ')}`);
  return data;
}

function unitsOf(encoding: EncodingName): 'digits' | 'characters' | 'bytes' {
  if (encoding === 'Binary') return 'bytes';
  return encoding === 'ASCII' ? 'characters' : 'digits';
}

function semanticProblems(spec: MessageSpec): string[] {
  const problems: string[] = [];
  const seen = new Set<number>();
  for (const f of spec.fields) {
    const where = `field ${f.id} (${f.name})`;
    if (seen.has(f.id)) problems.push(`${where} is defined twice`);
    seen.add(f.id);
    if (f.id === 65) problems.push(`${where}: field 65 (tertiary bitmap) is not supported`);
    if (f.id > 64 && !spec.bitmap.secondary) problems.push(`${where} needs "bitmap.secondary": true`);
    if (f.type === 'b' && f.encoding !== 'Binary') problems.push(`${where}: type b needs encoding Binary`);
    if (f.type !== 'b' && f.encoding === 'Binary') problems.push(`${where}: encoding Binary needs type b`);
    if (f.encoding === 'BCD' && f.type !== 'n') problems.push(`${where}: encoding BCD needs type n`);
    if (f.encoding === 'Track' && f.type !== 'z') problems.push(`${where}: encoding Track needs type z`);
    if (f.prefix !== 'Fixed' && f.length > prefixes[f.prefix].lengthMax) {
      problems.push(`${where}: length ${f.length} exceeds what ${f.prefix} can express`);
    }
    if (f.tlv === true && f.type !== 'b') problems.push(`${where}: tlv needs type b`);
    if (f.tlv === true && f.subfields !== undefined) problems.push(`${where}: tlv and subfields exclude each other`);
    if (f.subfields !== undefined) {
      let total = 0;
      let optionalSeen = false;
      for (const s of f.subfields) {
        total += s.length;
        if (s.type === 'b' && f.type !== 'b') problems.push(`${where}.${s.id}: binary sub-field in a text field`);
        if (s.type !== 'b' && f.type === 'b') problems.push(`${where}.${s.id}: binary fields take binary sub-fields`);
        if (f.encoding === 'BCD' && s.type !== 'n') problems.push(`${where}.${s.id}: BCD field takes n sub-fields`);
        if (optionalSeen && s.optional !== true)
          problems.push(`${where}.${s.id}: only trailing sub-fields may be optional`);
        if (s.optional === true) optionalSeen = true;
      }
      if (total > f.length)
        problems.push(`${where}: sub-fields total ${total} ${unitsOf(f.encoding)}, more than ${f.length}`);
      if (f.prefix === 'Fixed' && (total !== f.length || optionalSeen)) {
        problems.push(`${where}: a fixed field's sub-fields must fill it exactly, none optional`);
      }
    }
  }
  return problems;
}
