/**
 * Customer KYC as data: the fields each kind of customer must give at onboarding, checked here
 * (pure) and stored as a JSON object on the customer. A household names its holder and identity
 * document; a merchant also its business registration and merchant category code (ISO 18245).
 * Unknown fields are refused, so nothing unexpected (a card number in a free-text field) is kept.
 */
import type { CoreResult, CustomerKind } from './model';
import { refuse } from './model';

export interface KycField {
  readonly name: string;
  readonly pattern: { test(s: string): boolean };
  /** Shown in the refusal: what the field must look like. */
  readonly shape: string;
}

/** 1 to 128 characters, none of them a control character. */
export const isPrintableName = (s: string): boolean => s.length >= 1 && s.length <= 128 && !/\p{Cc}/u.test(s);
const TEXT = { test: isPrintableName };
const COMMON: readonly KycField[] = [
  { name: 'legalName', pattern: TEXT, shape: '1 to 128 printable characters' },
  {
    name: 'idType',
    pattern: /^(national-id|passport|business-licence)$/,
    shape: 'national-id, passport or business-licence',
  },
  { name: 'idNumber', pattern: /^[0-9A-Za-z-]{4,32}$/, shape: '4 to 32 letters, digits or dashes' },
  { name: 'address', pattern: TEXT, shape: '1 to 128 printable characters' },
  { name: 'contactPhone', pattern: /^\+?[0-9]{5,20}$/, shape: '5 to 20 digits, optional leading +' },
];

/** Required KYC fields per customer kind. */
export const KYC_FIELDS: Readonly<Record<CustomerKind, readonly KycField[]>> = {
  household: COMMON,
  merchant: [
    ...COMMON,
    { name: 'registrationNo', pattern: /^[0-9A-Za-z-]{4,32}$/, shape: '4 to 32 letters, digits or dashes' },
    { name: 'mcc', pattern: /^[0-9]{4}$/, shape: '4 digits' },
  ],
};

export type Kyc = Readonly<Record<string, string>>;

/** The KYC object for a kind, or KYC_INVALID naming the first missing, malformed or unknown field. */
export function validateKyc(kind: CustomerKind, kyc: unknown): CoreResult<Kyc> {
  if (typeof kyc !== 'object' || kyc === null || Array.isArray(kyc))
    return refuse('KYC_INVALID', 'kyc must be an object');
  const fields = KYC_FIELDS[kind];
  const given = kyc as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = Object.hasOwn(given, f.name) ? given[f.name] : undefined;
    if (typeof v !== 'string' || !f.pattern.test(v)) return refuse('KYC_INVALID', `${f.name}: ${f.shape}`);
    out[f.name] = v;
  }
  const unknown = Object.keys(given).find((k) => !fields.some((f) => f.name === k));
  if (unknown !== undefined) return refuse('KYC_INVALID', `unknown field ${unknown.slice(0, 32)}`);
  return { ok: true, value: out };
}
