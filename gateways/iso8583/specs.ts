/**
 * The shipped specs and a loader for operator-supplied ones. Every spec passes `parseSpec`
 * (schema + semantic checks) before a codec is built from it.
 */
import { readFileSync } from 'node:fs';
import { FixpayError } from '../../domain/errors';
import { MessageCodec } from './message';
import type { MessageSpec } from './spec';
import { parseSpec } from './spec';
import networkSpecData from './specs/cup-network.json';
import terminalSpecData from './specs/cup-pos-terminal.json';

/** UnionPay-style POS terminal link: BCD, TPDU + application header, binary length. */
export const terminalSpec: MessageSpec = parseSpec(terminalSpecData, 'specs/cup-pos-terminal.json');
/** Acquirer ↔ card network link: ASCII fields, 4-digit ASCII length, secondary bitmap. */
export const networkSpec: MessageSpec = parseSpec(networkSpecData, 'specs/cup-network.json');

export const shippedSpecs = { terminal: terminalSpec, network: networkSpec } as const;
export type ShippedSpecName = keyof typeof shippedSpecs;

/** Loads a spec by shipped name or from a JSON file path. Throws ISO8583_SPEC_INVALID. */
export function loadSpec(nameOrPath: string): MessageSpec {
  if (nameOrPath === 'terminal' || nameOrPath === 'network') return shippedSpecs[nameOrPath];
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(nameOrPath, 'utf8'));
  } catch (e) {
    throw new FixpayError('ISO8583_SPEC_INVALID', `${nameOrPath}: cannot read JSON`, { cause: e });
  }
  return parseSpec(data, nameOrPath);
}

/** A codec for a spec; cheap enough to build per connection. */
export function createCodec(spec: MessageSpec): MessageCodec {
  return new MessageCodec(spec);
}
