/**
 * The terminal's messages (docs/protocols/terminal-messages.md): UnionPay-style ISO 8583 with TPDU
 * and application header, packed with the shipped terminal spec (`gateways/iso8583`), the PSAM
 * block in field 63.2 and the PSAM per-transaction MAC in field 64. Pure functions over bytes: no
 * line, no clock, no key storage (the PSAM transaction and the PIN block come in as arguments).
 */
import { FixpayError } from '../../domain/errors';
import {
  bytesField,
  closeEnvelope,
  decodeTlv,
  MessageCodec,
  openEnvelope,
  subfieldsField,
  terminalSpec,
  textField,
} from '../../gateways/iso8583';
import type { FieldValue, IsoMessage, Tpdu } from '../../gateways/iso8583';
import { decodePsamBlock, encodePsamBlock } from '../../gateways/iso8583/terminal-layout';
import type { PsamBlock } from '../../gateways/iso8583/terminal-layout';
import {
  MAC_BYTES,
  REVERSAL_ANSWER_MTI,
  REVERSAL_FIELDS,
  REVERSAL_REPEAT_MTI,
  SERVICE_TAGS,
  TERMINAL_ENVELOPE,
  TRANSACTION_CODES,
} from '../../terminal-protocol/spec';
import { encodePromptReply, encodeServiceRequest } from '../../terminal-protocol/conversation';
import type { PromptReply } from '../../terminal-protocol/conversation';

export { MAC_BYTES, TERMINAL_ENVELOPE, TRANSACTION_CODES } from '../../terminal-protocol/spec';
export type { TransactionKind } from '../../terminal-protocol/spec';

/** Operator code in 63.1 (payments.md §2.4: `001`). */
export const DEFAULT_OPERATOR_CODE = '001';
/** STAN range (n6, 000000 is not used). */
export const STAN_MIN = 1;
export const STAN_MAX = 999_999;
/** Largest amount in field 4 (n12, minor units). */
export const AMOUNT_MINOR_MAX = 999_999_999_999;

/** What identifies the terminal in every message. */
export interface TerminalIdentity {
  /** Field 41, 8 characters. */
  readonly terminalId: string;
  /** Field 42, 15 characters. */
  readonly merchantId: string;
  readonly tpdu: Tpdu;
  /** 12 hex digits: application type, software version, status, processing requirement, reserved. */
  readonly applicationHeader: string;
  /** Field 49, ISO 4217 numeric (`156`). */
  readonly currency: string;
  /** 63.1. */
  readonly operatorCode: string;
}

/** MACs one message with the PSAM session key of one transaction. */
export interface MacSigner {
  readonly psam: PsamBlock;
  mac(data: Uint8Array): Uint8Array;
}

/** Field 22: magnetic stripe with PIN. */
export const POS_ENTRY_MODE_SWIPE_PIN = '021';
/** Field 26: largest PIN length the PIN pad takes. */
export const PIN_CAPTURE_CODE = '12';
/** Field 53: PIN format with PAN (ISO 9564 format 0), double-length TDES TPK. */
export const SECURITY_CONTROL = '2600000000000000';

export {
  decodePsamBlock,
  encodePsamBlock,
  field62Subfields,
  FIELD63_RESERVED_CHARS,
  PSAM_BLOCK_TAG,
} from '../../gateways/iso8583/terminal-layout';
export type { PsamBlock } from '../../gateways/iso8583/terminal-layout';

const codec = new MessageCodec(terminalSpec);

const bad = (detail: string): FixpayError => new FixpayError('TERMINAL_SIM_RESPONSE_INVALID', detail);

/** MAC input of a packed message that ends with field 64: MTI through field 63 (payments.md §2.5). */
export function macInput(body: Uint8Array): Uint8Array {
  if (body.length < MAC_BYTES) throw bad('message shorter than a MAC');
  return body.subarray(0, body.length - MAC_BYTES);
}

/** Packs `msg` with field 64 set to the MAC over MTI..field 63 (the bitmap already has bit 64). */
export function packWithMac(msg: IsoMessage, sign: (data: Uint8Array) => Uint8Array): Buffer {
  msg.fields.set(64, new Uint8Array(MAC_BYTES));
  const body = codec.pack(msg);
  const mac = sign(macInput(body));
  if (mac.length !== MAC_BYTES) throw new RangeError('the MAC is 8 bytes');
  body.set(mac, body.length - MAC_BYTES);
  return body;
}

/** A magnetic stripe's track 2 as the reader delivers it: `PAN=YYMM` + service code + discretionary data. */
export interface Track2 {
  readonly text: string;
  readonly pan: string;
  readonly expiry: string;
}

/** Parses track 2 (`;` and `?` sentinels are dropped; `D` is accepted for `=`). Throws RangeError. */
export function parseTrack2(raw: string): Track2 {
  const text = raw.replace(/^;/, '').replace(/\?$/, '').replace('D', '=');
  const m = /^(\d{12,19})=(\d{4})(\d*)$/.exec(text);
  if (m?.[1] === undefined || m[2] === undefined || text.length > 37) throw new RangeError('track 2 is malformed');
  return { text, pan: m[1], expiry: m[2] };
}

export interface FinancialRequest {
  readonly kind: 'purchase' | 'balance';
  readonly stan: number;
  /** Minor units (fen); purchases only. */
  readonly amountMinor?: number;
  readonly track2: Track2;
  /** Field 52: the PIN block under the TPK (8 bytes). */
  readonly pinBlock: Uint8Array;
  /** 60.2, 6 digits. */
  readonly batch: string;
}

export interface BuiltRequest {
  readonly mti: string;
  readonly stan: string;
  /** The link payload: TPDU + application header + ISO 8583 message. */
  readonly payload: Buffer;
  /** The packed ISO 8583 message alone. */
  readonly body: Buffer;
}

function stanText(stan: number): string {
  if (!Number.isInteger(stan) || stan < STAN_MIN || stan > STAN_MAX) throw new RangeError('STAN must be 1..999999');
  return String(stan).padStart(6, '0');
}

function identityFields(id: TerminalIdentity, signer: MacSigner): Record<number, FieldValue> {
  return {
    41: id.terminalId,
    42: id.merchantId,
    63: { '1': id.operatorCode, '2': encodePsamBlock(signer.psam) },
  };
}

function envelope(id: TerminalIdentity, body: Buffer, mti: string, stan: string): BuiltRequest {
  const payload = closeEnvelope({ tpdu: id.tpdu, applicationHeader: id.applicationHeader }, body, TERMINAL_ENVELOPE);
  return { mti, stan, payload, body };
}

/** 0200 purchase or balance inquiry. Throws RangeError / ISO8583_FIELD_INVALID on bad input. */
export function buildFinancialRequest(id: TerminalIdentity, req: FinancialRequest, signer: MacSigner): BuiltRequest {
  const codes = TRANSACTION_CODES[req.kind];
  const stan = stanText(req.stan);
  const fields: Record<number, FieldValue> = {
    2: req.track2.pan,
    3: codes.processingCode,
    11: stan,
    14: req.track2.expiry,
    22: POS_ENTRY_MODE_SWIPE_PIN,
    25: '00',
    26: PIN_CAPTURE_CODE,
    35: req.track2.text,
    49: id.currency,
    52: req.pinBlock,
    53: SECURITY_CONTROL,
    60: { '1': codes.typeCode, '2': req.batch, '3': '000' },
    ...identityFields(id, signer),
  };
  if (req.kind === 'purchase') {
    const amount = req.amountMinor;
    if (amount === undefined || !Number.isInteger(amount) || amount <= 0 || amount > AMOUNT_MINOR_MAX)
      throw new RangeError('purchase amount must be a positive integer number of minor units');
    fields[4] = String(amount).padStart(12, '0');
  }
  const msg: IsoMessage = { mti: codes.mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
  return envelope(
    id,
    packWithMac(msg, (d) => signer.mac(d)),
    codes.mti,
    stan,
  );
}

/** 0800 sign-on (60.3 = key layout), MACed with the PSAM session key. */
export function buildSignOnRequest(
  id: TerminalIdentity,
  req: { readonly stan: number; readonly batch: string; readonly layout: '003' | '004' },
  signer: MacSigner,
): BuiltRequest {
  const stan = stanText(req.stan);
  const fields: Record<number, FieldValue> = {
    11: stan,
    60: { '1': TRANSACTION_CODES['sign-on'].typeCode, '2': req.batch, '3': req.layout },
    ...identityFields(id, signer),
  };
  const msg: IsoMessage = { mti: '0800', fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
  return envelope(
    id,
    packWithMac(msg, (d) => signer.mac(d)),
    '0800',
    stan,
  );
}

/**
 * What a terminal keeps of a purchase for its reversal (ADR 0012): the request with only the
 * fields a reversal copies and field 60 (the PAN stays, as field 2 of the 0400 needs it; never
 * track 2, the PIN block or the MAC). Throws ISO8583_* when the request does not unpack.
 */
export function reversalRecord(request: Uint8Array): Buffer {
  const opened = openEnvelope(Buffer.from(request), TERMINAL_ENVELOPE);
  const msg = codec.unpack(opened.body);
  const keep = new Set<number>([...REVERSAL_FIELDS.copied, 60]);
  const fields = new Map([...msg.fields].filter(([k]) => keep.has(k)));
  return closeEnvelope(
    {
      ...(opened.tpdu === undefined ? {} : { tpdu: opened.tpdu }),
      ...(opened.applicationHeader === undefined ? {} : { applicationHeader: opened.applicationHeader }),
    },
    codec.pack({ mti: msg.mti, fields }),
    TERMINAL_ENVELOPE,
  );
}

/**
 * The phone's reversal (ADR 0012) of the purchase whose request bytes it kept: `0400` (`0401` when
 * `repeat`) with the original's fields REVERSAL_FIELDS.copied (11 stays the original STAN), 39 the
 * reason, 60 the original type code and batch, 61 the original batch, STAN and date (MMDD), a new
 * PSAM block in 63.2 and the MAC under that new session. No PIN block, no track 2.
 * Throws ISO8583_* when the kept request does not unpack.
 */
export function buildReversalRequest(
  id: TerminalIdentity,
  original: Uint8Array,
  req: { readonly reason: string; readonly repeat: boolean; readonly originalDate: string },
  signer: MacSigner,
): BuiltRequest {
  const opened = openEnvelope(Buffer.from(original), TERMINAL_ENVELOPE);
  const orig = codec.unpack(opened.body);
  const fields = new Map<number, FieldValue>();
  for (const k of REVERSAL_FIELDS.copied) {
    const v = orig.fields.get(k);
    if (v !== undefined) fields.set(k, v);
  }
  const stan = textField(orig, 11);
  if (stan === undefined) throw bad('the kept request has no STAN');
  const f60 = subfieldsField(orig, 60);
  const batch = f60?.['2'] ?? '000001';
  fields.set(39, req.reason);
  fields.set(60, { '1': f60?.['1'] ?? TRANSACTION_CODES.purchase.typeCode, '2': batch });
  fields.set(61, { '1': batch, '2': stan, '3': req.originalDate });
  for (const [k, v] of Object.entries(identityFields(id, signer))) fields.set(Number(k), v);
  const mti = req.repeat ? REVERSAL_REPEAT_MTI : TRANSACTION_CODES.reversal.mti;
  return envelope(
    id,
    packWithMac({ mti, fields }, (d) => signer.mac(d)),
    mti,
    stan,
  );
}

/** Field 54 balance: account type (2), amount type (2), currency (3), C/D, amount (12). */
export interface Balance {
  readonly accountType: string;
  readonly amountType: string;
  readonly currency: string;
  /** Signed minor units (D = negative). */
  readonly amountMinor: number;
}

/** Parses the first 20-character amount of field 54; undefined when absent or not of that layout. */
export function parseBalance(field54: string | undefined): Balance | undefined {
  const m = /^(\d{2})(\d{2})(\d{3})([CD])(\d{12})/.exec(field54 ?? '');
  if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined || m[4] === undefined || m[5] === undefined)
    return undefined;
  const value = Number(m[5]);
  return { accountType: m[1], amountType: m[2], currency: m[3], amountMinor: m[4] === 'D' ? -value : value };
}

/** Builds a field 54 value (for hosts and tests). */
export function formatBalance(b: Balance): string {
  return (
    b.accountType +
    b.amountType +
    b.currency +
    (b.amountMinor < 0 ? 'D' : 'C') +
    String(Math.abs(b.amountMinor)).padStart(12, '0')
  );
}

export interface ParsedResponse {
  readonly mti: string;
  readonly stan: string;
  readonly tpdu: Tpdu | undefined;
  readonly applicationHeader: string | undefined;
  readonly responseCode: string;
  readonly authorizationCode: string | undefined;
  readonly rrn: string | undefined;
  readonly balance: Balance | undefined;
  /** 0810: field 62 as bytes (the sub-fields joined back), and 60.2 (new batch). */
  readonly field62: Buffer | undefined;
  readonly batch: string | undefined;
  readonly mac: Uint8Array | undefined;
  /** What the MAC covers (MTI..field 63) when field 64 is present. */
  readonly macData: Uint8Array | undefined;
  readonly message: IsoMessage;
}

/**
 * Opens and unpacks a response, checking it answers `request` (MTI + 10, STAN, terminal id).
 * Throws TERMINAL_SIM_RESPONSE_INVALID. Does not check the MAC (see `PosTerminal`).
 */
export function parseResponse(payload: Uint8Array, request: BuiltRequest, id: TerminalIdentity): ParsedResponse {
  let opened;
  let message: IsoMessage;
  try {
    opened = openEnvelope(Buffer.from(payload), TERMINAL_ENVELOPE);
    message = codec.unpack(opened.body);
  } catch (e) {
    throw bad(e instanceof Error ? e.message : 'undecodable');
  }
  // A reversal and its repeat are both answered 0410.
  const expectedMti =
    request.mti === TRANSACTION_CODES.reversal.mti || request.mti === REVERSAL_REPEAT_MTI
      ? REVERSAL_ANSWER_MTI
      : `${request.mti.slice(0, 2)}${Number(request.mti.slice(2, 3)) + 1}${request.mti.slice(3)}`;
  if (message.mti !== expectedMti) throw bad(`MTI ${message.mti}, expected ${expectedMti}`);
  const stan = textField(message, 11);
  if (stan !== request.stan) throw bad(`STAN ${stan ?? 'absent'}, expected ${request.stan}`);
  const terminalId = textField(message, 41);
  if (terminalId !== undefined && terminalId !== id.terminalId) throw bad('terminal id differs');
  const responseCode = textField(message, 39);
  if (responseCode === undefined) throw bad('field 39 is absent');
  const mac = bytesField(message, 64);
  const f62 = subfieldsField(message, 62);
  const field62 =
    f62 === undefined
      ? undefined
      : Buffer.from(['1', '2', '3', '4', '5', '6'].map((k) => f62[k] ?? '').join(''), 'hex');
  return {
    mti: message.mti,
    stan,
    tpdu: opened.tpdu,
    applicationHeader: opened.applicationHeader,
    responseCode,
    authorizationCode: textField(message, 38),
    rrn: textField(message, 37),
    balance: parseBalance(textField(message, 54)),
    field62,
    batch: subfieldsField(message, 60)?.['2'],
    mac,
    macData: mac === undefined ? undefined : macInput(opened.body),
    message,
  };
}

/** Unpacks a terminal request on the host side (fake issuers, the platform's handler). Throws ISO8583_*. */
export function openTerminalRequest(payload: Uint8Array): {
  readonly tpdu: Tpdu | undefined;
  readonly applicationHeader: string | undefined;
  readonly body: Buffer;
  readonly message: IsoMessage;
  readonly psam: PsamBlock | undefined;
} {
  const opened = openEnvelope(Buffer.from(payload), TERMINAL_ENVELOPE);
  const message = codec.unpack(opened.body);
  return {
    tpdu: opened.tpdu,
    applicationHeader: opened.applicationHeader,
    body: opened.body,
    message,
    psam: decodePsamBlock(subfieldsField(message, 63)),
  };
}

/** Short texts for field 39 (payments.md §2.2 and common ISO 8583 usage) for the display. */
export const RESPONSE_CODE_TEXT: Readonly<Record<string, string>> = {
  '00': 'APPROVED',
  '01': 'REFER TO ISSUER',
  '03': 'INVALID MERCHANT',
  '04': 'PICK UP CARD',
  '05': 'DO NOT HONOUR',
  '12': 'INVALID TRANSACTION',
  '13': 'INVALID AMOUNT',
  '14': 'INVALID CARD',
  '25': 'ORIGINAL NOT FOUND',
  '30': 'FORMAT ERROR',
  '41': 'LOST CARD',
  '43': 'STOLEN CARD',
  '51': 'INSUFFICIENT FUNDS',
  '54': 'EXPIRED CARD',
  '55': 'WRONG PIN',
  '57': 'NOT PERMITTED',
  '61': 'EXCEEDS LIMIT',
  '75': 'PIN TRIES EXCEEDED',
  '77': 'BATCH MISMATCH',
  '94': 'DUPLICATE',
  '96': 'SYSTEM ERROR',
  '98': 'NO ISSUER RESPONSE',
  A0: 'MAC ERROR - SIGN ON',
};

/** Display text for a response code. */
export function responseText(code: string): string {
  return RESPONSE_CODE_TEXT[code] ?? 'DECLINED';
}

/**
 * Host side (fake issuers, the platform's answer): packs a response, MACs it when `sign` is given
 * (field 64 over MTI..field 63), and wraps it in TPDU + application header. Throws ISO8583_FIELD_INVALID.
 */
export function closeAndSignResponse(
  msg: IsoMessage,
  tpdu: Tpdu,
  applicationHeader: string,
  sign: ((data: Uint8Array) => Uint8Array) | undefined,
): Buffer {
  const body = sign === undefined ? codec.pack(msg) : packWithMac(msg, sign);
  return closeEnvelope({ tpdu, applicationHeader }, body, TERMINAL_ENVELOPE);
}

/** Like `closeAndSignResponse`, for MACs computed by an asynchronous HSM port (`generatePsamMac`). */
export async function closeAndSignResponseAsync(
  msg: IsoMessage,
  tpdu: Tpdu,
  applicationHeader: string,
  sign: (data: Uint8Array) => Promise<Uint8Array>,
): Promise<Buffer> {
  msg.fields.set(64, new Uint8Array(MAC_BYTES));
  const body = codec.pack(msg);
  const mac = await sign(macInput(body));
  if (mac.length !== MAC_BYTES) throw new RangeError('the MAC is 8 bytes');
  body.set(mac, body.length - MAC_BYTES);
  return closeEnvelope({ tpdu, applicationHeader }, body, TERMINAL_ENVELOPE);
}

/** 0800 menu request (ADR 0018): field 59 carries the version of the menu the phone holds. */
export function buildMenuRequest(
  id: TerminalIdentity,
  req: {
    readonly stan: number;
    readonly batch: string;
    readonly menuVersion: string | undefined;
    /** The block asked for (multi-block menus); absent or 1: the first. */
    readonly block?: number;
  },
  signer: MacSigner,
): BuiltRequest {
  const codes = TRANSACTION_CODES.menu;
  const stan = stanText(req.stan);
  const items = [
    ...(req.menuVersion === undefined
      ? []
      : [{ tag: SERVICE_TAGS.menuVersion, value: Buffer.from(req.menuVersion, 'latin1') }]),
    ...(req.block === undefined || req.block === 1
      ? []
      : [{ tag: SERVICE_TAGS.menuBlock, value: Buffer.from(String(req.block), 'latin1') }]),
  ];
  const fields: Record<number, FieldValue> = {
    3: codes.processingCode,
    11: stan,
    ...(items.length === 0 ? {} : { 59: items }),
    60: { '1': codes.typeCode, '2': req.batch, '3': '000' },
    ...identityFields(id, signer),
  };
  const msg: IsoMessage = { mti: codes.mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
  return envelope(
    id,
    packWithMac(msg, (d) => signer.mac(d)),
    codes.mti,
    stan,
  );
}

/** 0800 notice request (ADR 0021, in-call push): the pushes waiting for this phone, before it releases. */
export function buildNoticeRequest(
  id: TerminalIdentity,
  req: { readonly stan: number; readonly batch: string },
  signer: MacSigner,
): BuiltRequest {
  const codes = TRANSACTION_CODES.notices;
  const stan = stanText(req.stan);
  const fields: Record<number, FieldValue> = {
    3: codes.processingCode,
    11: stan,
    60: { '1': codes.typeCode, '2': req.batch, '3': '000' },
    ...identityFields(id, signer),
  };
  const msg: IsoMessage = { mti: codes.mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
  return envelope(
    id,
    packWithMac(msg, (d) => signer.mac(d)),
    codes.mti,
    stan,
  );
}

/**
 * 0200 generic service request (ADR 0018): the menu item code and the collected inputs in field 59;
 * for a card service (ADR 0024) also the card (2, 14, 35) and its PIN block (52, 53), as a purchase.
 */
export function buildServiceRequest(
  id: TerminalIdentity,
  req: {
    readonly stan: number;
    readonly batch: string;
    readonly code: string;
    readonly menuVersion: string;
    readonly inputs: Readonly<Record<string, string>>;
    /** A card service (ADR 0024): the card read and its PIN block, as in a purchase. */
    readonly card?: { readonly track2: Track2; readonly pinBlock: Uint8Array };
  },
  signer: MacSigner,
): BuiltRequest {
  const codes = TRANSACTION_CODES.service;
  const stan = stanText(req.stan);
  const card = req.card;
  const fields: Record<number, FieldValue> = {
    ...(card === undefined
      ? {}
      : {
          2: card.track2.pan,
          14: card.track2.expiry,
          22: POS_ENTRY_MODE_SWIPE_PIN,
          25: '00',
          26: PIN_CAPTURE_CODE,
          35: card.track2.text,
          52: card.pinBlock,
          53: SECURITY_CONTROL,
        }),
    3: codes.processingCode,
    11: stan,
    49: id.currency,
    59: decodeTlv(encodeServiceRequest({ code: req.code, menuVersion: req.menuVersion, inputs: req.inputs })),
    60: { '1': codes.typeCode, '2': req.batch, '3': '000' },
    ...identityFields(id, signer),
  };
  const msg: IsoMessage = { mti: codes.mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
  return envelope(
    id,
    packWithMac(msg, (d) => signer.mac(d)),
    codes.mti,
    stan,
  );
}

/** 0200 reply to a prompt (ADR 0018): its own STAN and PSAM block, the prompt id and the keyed value. */
export function buildPromptReply(
  id: TerminalIdentity,
  req: { readonly stan: number; readonly batch: string; readonly reply: PromptReply },
  signer: MacSigner,
): BuiltRequest {
  const codes = TRANSACTION_CODES.reply;
  const stan = stanText(req.stan);
  const fields: Record<number, FieldValue> = {
    3: codes.processingCode,
    11: stan,
    59: decodeTlv(encodePromptReply(req.reply)),
    60: { '1': codes.typeCode, '2': req.batch, '3': '000' },
    ...identityFields(id, signer),
  };
  const msg: IsoMessage = { mti: codes.mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
  return envelope(
    id,
    packWithMac(msg, (d) => signer.mac(d)),
    codes.mti,
    stan,
  );
}
