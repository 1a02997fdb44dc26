/**
 * What each gateway operation looks like on the network spec (`cup-network.json`), and how a
 * response becomes an outcome. Processing codes and 60.1 type codes for purchase and balance
 * inquiry follow payments.md §2.2; transfer and credit-card repayment are not described by any
 * public source, so fixpay uses its own convention (documented in docs/protocols/iso8583.md).
 */
import type { ResultCodeName } from '../../domain/errors';
import { FixpayError, resultCode } from '../../domain/errors';
import { maskPan } from '../../domain/masking';
import type { FieldValue, IsoMessage } from '../iso8583';
import { fromHex, textField } from '../iso8583';
import type { ReversalMessage } from './reversal-queue';

export type FinancialKind = 'purchase' | 'balanceInquiry' | 'transfer' | 'creditCardRepayment';

export interface KindSpec {
  readonly mti: string;
  readonly processingCode: string;
  /** Field 60.1 transaction type code. */
  readonly typeCode: string;
  /** Whether money may move, so a lost response needs a reversal. */
  readonly movesMoney: boolean;
  readonly needsAmount: boolean;
  readonly needsTargetAccount: boolean;
}

export const FINANCIAL_KINDS: Readonly<Record<FinancialKind, KindSpec>> = {
  purchase: {
    mti: '0200',
    processingCode: '000000',
    typeCode: '22',
    movesMoney: true,
    needsAmount: true,
    needsTargetAccount: false,
  },
  balanceInquiry: {
    mti: '0200',
    processingCode: '310000',
    typeCode: '01',
    movesMoney: false,
    needsAmount: false,
    needsTargetAccount: false,
  },
  transfer: {
    mti: '0200',
    processingCode: '400000',
    typeCode: '40',
    movesMoney: true,
    needsAmount: true,
    needsTargetAccount: true,
  },
  creditCardRepayment: {
    mti: '0200',
    processingCode: '500000',
    typeCode: '48',
    movesMoney: true,
    needsAmount: true,
    needsTargetAccount: true,
  },
};

/** A cardholder transaction as the gateway receives it. Card data is in clear only in memory. */
export interface CardholderRequest {
  /** Idempotency key, e.g. the workflow id + step. */
  readonly idempotencyKey: string;
  readonly terminalId: string;
  readonly merchantId: string;
  /** n6, unique per terminal and day. */
  readonly stan: string;
  readonly pan: string;
  /** YYMM. */
  readonly expirationDate?: string;
  readonly track2?: string;
  /** ISO 9564 PIN block under the network zone PIN key, 16 hex digits (translated by the HSM). */
  readonly pinBlock?: string;
  /** Integer minor units. */
  readonly amountMinor?: number;
  /** ISO 4217 numeric, e.g. `156`. */
  readonly currency: string;
  /** Transfer target or credit card to repay. */
  readonly targetAccount?: string;
  /** n6 batch number of the terminal. */
  readonly batchNumber?: string;
}

export interface NetworkOutcome {
  readonly approved: boolean;
  /** Field 39 as the network sent it. */
  readonly responseCode: string;
  /** Catalogue code: FP1000 when approved, an FP50xx decline otherwise. */
  readonly resultCode: string;
  readonly resultName: ResultCodeName;
  readonly rrn?: string;
  readonly authorizationCode?: string;
  /** Available balance from field 54, minor units. */
  readonly balanceMinor?: number;
}

/** Largest amount field 4 can carry. */
export const AMOUNT_MINOR_MAX = 999_999_999_999;

/** Network response code → catalogue name. */
export function resultNameOf(responseCode: string): ResultCodeName {
  switch (responseCode) {
    case '00':
      return 'OK';
    case '51':
      return 'INSUFFICIENT_FUNDS';
    case '55':
    case '75':
      return 'PIN_INVALID';
    case '61':
    case '65':
      return 'LIMIT_EXCEEDED';
    case '14':
    case '41':
    case '43':
    case '54':
    case '62':
      return 'CARD_INVALID';
    case '12':
    case '57':
    case '58':
      return 'TRANSACTION_NOT_SUPPORTED';
    case '91':
    case '96':
    case '98':
      return 'ISSUER_UNAVAILABLE';
    case 'A0':
      return 'CARD_NETWORK_MAC_REFUSED';
    default:
      return 'CARD_DECLINED';
  }
}

function bad(detail: string): FixpayError {
  return new FixpayError('ISO8583_FIELD_INVALID', detail);
}

/** Checks a request at the gateway boundary. Throws ISO8583_FIELD_INVALID naming the field, never its value. */
export function validateRequest(kind: FinancialKind, req: CardholderRequest): void {
  const k = FINANCIAL_KINDS[kind];
  if (req.idempotencyKey.length === 0 || req.idempotencyKey.length > 200)
    throw bad('idempotencyKey must be 1–200 characters');
  if (!/^\d{6}$/.test(req.stan)) throw bad('stan must be six digits');
  if (req.terminalId.length !== 8) throw bad('terminalId must be 8 characters');
  if (req.merchantId.length !== 15) throw bad('merchantId must be 15 characters');
  if (!/^\d{12,19}$/.test(req.pan)) throw bad('pan must be 12–19 digits');
  if (!/^\d{3}$/.test(req.currency)) throw bad('currency must be an ISO 4217 numeric code');
  if (req.pinBlock !== undefined && !/^[0-9A-Fa-f]{16}$/.test(req.pinBlock))
    throw bad('pinBlock must be 16 hex digits');
  if (k.needsAmount) {
    const a = req.amountMinor;
    if (a === undefined || !Number.isSafeInteger(a) || a <= 0 || a > AMOUNT_MINOR_MAX)
      throw bad('amountMinor must be a positive integer');
  }
  if (k.needsTargetAccount && (req.targetAccount === undefined || !/^\d{6,28}$/.test(req.targetAccount))) {
    throw bad('targetAccount must be 6–28 digits');
  }
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Field 7 (MMDDhhmmss, UTC). */
export function transmissionDateTime(at: Date): string {
  return `${pad2(at.getUTCMonth() + 1)}${pad2(at.getUTCDate())}${pad2(at.getUTCHours())}${pad2(at.getUTCMinutes())}${pad2(at.getUTCSeconds())}`;
}

export interface Institution {
  /** Field 32, up to 11 digits. */
  readonly acquirerId: string;
  /** Field 33, up to 11 digits. */
  readonly forwardingId: string;
}

function amount12(minor: number): string {
  return String(minor).padStart(12, '0');
}

/** The 0200 for `kind`. */
export function buildFinancialRequest(
  kind: FinancialKind,
  req: CardholderRequest,
  inst: Institution,
  at: Date,
): IsoMessage {
  const k = FINANCIAL_KINDS[kind];
  const fields = new Map<number, FieldValue>([
    [2, req.pan],
    [3, k.processingCode],
    [7, transmissionDateTime(at)],
    [11, req.stan],
    [12, `${pad2(at.getUTCHours())}${pad2(at.getUTCMinutes())}${pad2(at.getUTCSeconds())}`],
    [13, `${pad2(at.getUTCMonth() + 1)}${pad2(at.getUTCDate())}`],
    [
      22,
      req.track2 === undefined
        ? req.pinBlock === undefined
          ? '012'
          : '011'
        : req.pinBlock === undefined
          ? '022'
          : '021',
    ],
    [25, '00'],
    [32, inst.acquirerId],
    [33, inst.forwardingId],
    [41, req.terminalId],
    [42, req.merchantId],
    [49, req.currency],
    [60, { '1': k.typeCode, '2': req.batchNumber ?? '000001' }],
  ]);
  if (k.needsAmount && req.amountMinor !== undefined) fields.set(4, amount12(req.amountMinor));
  if (req.expirationDate !== undefined) fields.set(14, req.expirationDate);
  if (req.track2 !== undefined) fields.set(35, req.track2);
  if (req.pinBlock !== undefined) {
    fields.set(26, '12');
    fields.set(52, fromHex(req.pinBlock));
    fields.set(53, '2600000000000000');
  }
  if (k.needsTargetAccount && req.targetAccount !== undefined) fields.set(103, req.targetAccount);
  return { mti: k.mti, fields };
}

/** The PAN-free fields a later 0400 needs, captured when the original is built. */
export function reversalMessageOf(original: IsoMessage, reasonCode: string): ReversalMessage {
  const get = (id: number): string => textField(original, id) ?? '';
  return {
    originalMti: original.mti,
    processingCode: get(3),
    amount: get(4) || '000000000000',
    currency: get(49),
    stan: get(11),
    transmissionDateTime: get(7),
    terminalId: get(41),
    merchantId: get(42),
    acquirerId: get(32),
    forwardingId: get(33),
    reasonCode,
  };
}

/** The masked PAN kept beside a reversal for operators. */
export function maskedPanOf(req: CardholderRequest): string {
  return maskPan(req.pan);
}

/** 0400 for the first attempt, 0401 for repeats; the original is named in field 90. */
export function buildReversalRequest(r: ReversalMessage, attempts: number, at: Date): IsoMessage {
  return {
    mti: attempts === 0 ? '0400' : '0401',
    fields: new Map<number, FieldValue>([
      [3, r.processingCode],
      [4, r.amount],
      [7, transmissionDateTime(at)],
      [11, r.stan],
      [32, r.acquirerId],
      [33, r.forwardingId],
      [39, r.reasonCode],
      [41, r.terminalId],
      [42, r.merchantId],
      [49, r.currency],
      [
        90,
        {
          '1': r.originalMti,
          '2': r.stan,
          '3': r.transmissionDateTime,
          '4': r.acquirerId.padStart(11, '0'),
          '5': r.forwardingId.padStart(11, '0'),
        },
      ],
    ]),
  };
}

/** 0800 network management: 001 sign-on, 002 sign-off, 301 echo test. */
export function buildNetworkManagement(
  code: '001' | '002' | '301',
  stan: string,
  inst: Institution,
  at: Date,
): IsoMessage {
  return {
    mti: '0800',
    fields: new Map<number, FieldValue>([
      [7, transmissionDateTime(at)],
      [11, stan],
      [33, inst.forwardingId],
      [70, code],
    ]),
  };
}

/** Reads the available balance out of field 54 (20-character groups; amount type 02 preferred). */
export function parseBalance(field54: string | undefined): number | undefined {
  if (field54 === undefined) return undefined;
  let found: number | undefined;
  for (let i = 0; i + 20 <= field54.length; i += 20) {
    const group = field54.slice(i, i + 20);
    const sign = group[7];
    const digits = group.slice(8, 20);
    if ((sign !== 'C' && sign !== 'D') || !/^\d{12}$/.test(digits)) continue;
    const value = Number(digits) * (sign === 'D' ? -1 : 1);
    if (group.slice(2, 4) === '02') return value;
    found ??= value;
  }
  return found;
}

/** Turns a financial response into an outcome. Throws CARD_NETWORK_RESPONSE_MALFORMED when field 39 is missing. */
export function outcomeOf(response: IsoMessage): NetworkOutcome {
  const responseCode = textField(response, 39);
  if (responseCode === undefined)
    throw new FixpayError('CARD_NETWORK_RESPONSE_MALFORMED', `${response.mti} without field 39`);
  const resultName = resultNameOf(responseCode);
  const rrn = textField(response, 37);
  const authorizationCode = textField(response, 38);
  const balanceMinor = parseBalance(textField(response, 54));
  return {
    approved: resultName === 'OK',
    responseCode,
    resultCode: resultCode(resultName).code,
    resultName,
    ...(rrn === undefined ? {} : { rrn }),
    ...(authorizationCode === undefined ? {} : { authorizationCode }),
    ...(balanceMinor === undefined ? {} : { balanceMinor }),
  };
}
