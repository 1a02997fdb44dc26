/** fast-check generators built from a spec, for round-trip property tests, fuzzing and benches. */
import fc from 'fast-check';
import type { FieldValue } from '../field';
import type { IsoMessage } from '../message';
import type { FieldSpec, MessageSpec, SubfieldSpec } from '../spec';
import type { TlvItem } from '../tlv';

const digits = '0123456789'.split('');
const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz '.split('');
const alnum = [...digits, ...alpha];
const ans = [
  ...Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)),
  ...Array.from({ length: 0x100 - 0xa0 }, (_, i) => String.fromCharCode(0xa0 + i)),
];
const trackChars = [...digits, '='];

function charsFor(type: string): string[] {
  switch (type) {
    case 'n':
      return digits;
    case 'a':
      return alpha;
    case 'an':
      return alnum;
    case 'ans':
      return ans;
    case 'z':
      return trackChars;
    default:
      throw new Error(`no chars for type ${type}`);
  }
}

function text(type: string, minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom(...charsFor(type)), { minLength, maxLength }).map((a) => a.join(''));
}

function hexBytes(n: number): fc.Arbitrary<string> {
  return fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex').toUpperCase());
}

function subfieldsArb(f: FieldSpec, subs: readonly SubfieldSpec[]): fc.Arbitrary<FieldValue> {
  const required = subs.filter((s) => s.optional !== true).length;
  return fc.integer({ min: required, max: subs.length }).chain((count) => {
    const parts = subs.slice(0, count).map((s) => (s.type === 'b' ? hexBytes(s.length) : text(s.type, s.length, s.length)));
    return fc.tuple(...parts).map((values) => {
      const out: Record<string, string> = {};
      values.forEach((v, i) => {
        const s = subs[i];
        if (s !== undefined) out[s.id] = v;
      });
      return out;
    });
  });
}

/** A well-formed BER tag: one byte (low five bits not all set) or two bytes (xx1F form). */
export const tlvTag: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 0, max: 255 }).filter((b) => (b & 0x1f) !== 0x1f).map((b) => b.toString(16).padStart(2, '0').toUpperCase()),
  fc
    .tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 0x7f }))
    .map(([hi, lo]) => ((hi << 5) | 0x1f).toString(16).padStart(2, '0').toUpperCase() + lo.toString(16).padStart(2, '0').toUpperCase()),
);

export const tlvItem: fc.Arbitrary<TlvItem> = fc.record({ tag: tlvTag, value: fc.uint8Array({ maxLength: 40 }) });

/** A valid value for field `f`. */
export function fieldValue(f: FieldSpec): fc.Arbitrary<FieldValue> {
  const isFixed = f.prefix === 'Fixed';
  if (f.tlv === true) return fc.array(tlvItem, { maxLength: Math.floor(f.length / 44) });
  if (f.subfields !== undefined) return subfieldsArb(f, f.subfields);
  const maxLength = Math.min(f.length, 150);
  if (f.type === 'b') {
    return isFixed ? fc.uint8Array({ minLength: f.length, maxLength: f.length }) : fc.uint8Array({ maxLength });
  }
  return isFixed ? text(f.type, f.length, f.length) : text(f.type, 0, maxLength);
}

/** A valid message for `spec` with a random subset of its fields. */
export function isoMessageArb(spec: MessageSpec, fieldsMax = spec.fields.length): fc.Arbitrary<IsoMessage> {
  return fc
    .tuple(
      text('n', 4, 4),
      fc.subarray([...spec.fields], { minLength: 0, maxLength: fieldsMax }).chain((fields) =>
        fc.tuple(...fields.map((f) => fieldValue(f).map((v) => [f.id, v] as const))),
      ),
    )
    .map(([mti, entries]) => ({ mti, fields: new Map<number, FieldValue>(entries) }));
}
