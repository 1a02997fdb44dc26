/**
 * The result-code catalogue: every expected failure of the platform has one stable code here.
 * docs/errors.md lists the same codes; `domain/errors.test.ts` keeps the two in step.
 * Each concern keeps its own range in `domain/errors/<concern>.ts`; this file only joins them.
 */
import { cardNetworkCodes } from './errors/card-network';
import { cardServiceCodes } from './errors/card-services';
import { channelCodes } from './errors/channel';
import { coreCodes } from './errors/core';
import { definitionCodes } from './errors/definitions';
import { hsmCodes } from './errors/hsm';
import { ledgerCodes } from './errors/ledger';
import { modemCodes } from './errors/modem';
import { operationsCodes } from './errors/operations';
import { partnerCodes } from './errors/partners';
import { platformCodes } from './errors/platform';
import { pushCodes } from './errors/push';
import { providerCodes } from './errors/providers';
import { ticketingCodes } from './errors/ticketing';
import { terminalSimCodes } from './errors/terminal-sim';
import type { ResultCodeEntry } from './errors/types';

export type { ResultCodeEntry } from './errors/types';

/** Every concern's codes, in catalogue order. Add a new concern's array here. */
export const resultCodes = [
  ...platformCodes,
  ...definitionCodes,
  ...modemCodes,
  ...channelCodes,
  ...pushCodes,
  ...hsmCodes,
  ...cardNetworkCodes,
  ...ledgerCodes,
  ...coreCodes,
  ...terminalSimCodes,
  ...operationsCodes,
  ...partnerCodes,
  ...providerCodes,
  ...cardServiceCodes,
  ...ticketingCodes,
] as const satisfies readonly ResultCodeEntry[];

export type ResultCodeName = (typeof resultCodes)[number]['name'];
export type ResultCode = (typeof resultCodes)[number]['code'];

const byName = new Map<string, ResultCodeEntry>(resultCodes.map((e) => [e.name, e]));
const byCode = new Map<string, ResultCodeEntry>(resultCodes.map((e) => [e.code, e]));

/** Looks a code up by name. Throws on an unknown name: that is a programming error. */
export function resultCode(name: ResultCodeName): ResultCodeEntry {
  const entry = byName.get(name);
  if (entry === undefined) throw new Error(`unknown result code name ${name}`);
  return entry;
}

/** Looks a code up by its `FPxxxx` value; undefined when unknown (e.g. read from outside). */
export function findResultCode(code: string): ResultCodeEntry | undefined {
  return byCode.get(code);
}

/**
 * An expected failure carrying a catalogue code. The message must never contain card data;
 * `detail` is for operators and is masked by whoever builds it.
 */
export class FixpayError extends Error {
  readonly code: ResultCode;
  readonly codeName: ResultCodeName;
  readonly retryable: boolean;
  readonly httpStatus: number;

  constructor(name: ResultCodeName, detail?: string, options?: { cause?: unknown }) {
    const entry = resultCode(name);
    super(detail === undefined ? entry.message : `${entry.message}: ${detail}`, options);
    this.name = 'FixpayError';
    this.code = entry.code as ResultCode;
    this.codeName = name;
    this.retryable = entry.retryable;
    this.httpStatus = entry.httpStatus;
  }
}

/** True when `err` is a FixpayError with the given code name. */
export function isFixpayError(err: unknown, name?: ResultCodeName): err is FixpayError {
  return err instanceof FixpayError && (name === undefined || err.codeName === name);
}
