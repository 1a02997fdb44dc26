/**
 * Terminal messages on the host side (docs/protocols/terminal-messages.md): opening a terminal's
 * 0800/0200 (TPDU + application header + ISO 8583 with the PSAM block in 63.2 and the PSAM MAC in
 * 64) and building the 0810/0210 answer. Pure functions over bytes; the HSM activities
 * (activities/hsm.ts) sign and verify.
 *
 * Card data rule: `summarizeTerminalRequest` returns only what may go into workflow ids, search
 * attributes, logs and the database (terminal id, STAN, amount, masked PAN). The full request
 * (which holds track 2, the PAN and the PIN block) travels only as an opaque hex string inside
 * encrypted workflow payloads, into HSM and gateway activities.
 */
import { FixpayError } from '../domain/errors';
import { maskPan } from '../domain/masking';
import {
  bytesField,
  closeEnvelope,
  decodeTlv,
  encodeTlv,
  MessageCodec,
  openEnvelope,
  subfieldsField,
  terminalSpec,
  textField,
  tlvField,
} from '../gateways/iso8583';
import type { FieldValue, IsoMessage, TlvItem, Tpdu } from '../gateways/iso8583';
import { decodeScreen, decodeServiceRequest } from './conversation';
import {
  DEFAULT_APPLICATION_HEADER,
  MAC_BYTES,
  MENU_SERVICE_ROUTE,
  PROMPT_RESPONSE_CODE,
  REVERSAL_ANSWER_MTI,
  REVERSAL_FIELDS,
  REVERSAL_REPEAT_MTI,
  TRANSACTION_CODES,
  SERVICE_DATA_FIELD,
  serviceFor,
  TERMINAL_ENVELOPE,
  TERMINAL_REQUEST_BYTES_MAX,
} from './spec';
import type { TerminalServiceId } from './spec';
import { decodePsamBlock, field62Subfields } from '../gateways/iso8583/terminal-layout';
import type { PsamBlock } from '../gateways/iso8583/terminal-layout';

export { decodePsamBlock, field62Subfields } from '../gateways/iso8583/terminal-layout';
export type { PsamBlock } from '../gateways/iso8583/terminal-layout';

export { MAC_BYTES, TERMINAL_ENVELOPE, TERMINAL_REQUEST_BYTES_MAX } from './spec';
export type { TerminalServiceId } from './spec';

const codec = new MessageCodec(terminalSpec);

/** What may be known about a request outside encrypted payloads: no PAN, no track, no PIN block. */
export interface TerminalRequestSummary {
  /** The service: the route's, or for the generic service request the menu item code (ADR 0018). */
  readonly serviceId: string;
  /** What the MTI and processing code route to (`menu-service` and `prompt-reply` are conversations). */
  readonly route: TerminalServiceId;
  readonly mti: string;
  readonly processingCode: string | null;
  readonly terminalId: string;
  readonly merchantId: string;
  readonly stan: string;
  readonly amountMinor: number | null;
  /** ISO 4217 numeric. */
  readonly currency: string | null;
  readonly psamSerial: string;
  readonly psamCounter: number;
  readonly maskedPan: string | null;
}

/** Everything the host needs from a request; the sensitive parts stay in memory only. */
export interface OpenedTerminalRequest {
  readonly summary: TerminalRequestSummary;
  readonly tpdu: Tpdu | undefined;
  readonly applicationHeader: string | undefined;
  readonly message: IsoMessage;
  readonly psam: PsamBlock;
  /** MTI..field 63: what field 64 covers. */
  readonly macData: Uint8Array;
  readonly mac: Uint8Array;
  /** Sensitive: only into HSM and gateway calls. */
  readonly pan: string | null;
  readonly track2: string | null;
  readonly pinBlock: Uint8Array | null;
  /** Field 59 (conversations), when present. */
  readonly serviceData: readonly TlvItem[] | null;
}

const invalid = (detail: string): FixpayError => new FixpayError('ISO8583_FIELD_INVALID', detail);

function serviceOf(mti: string, processingCode: string | null): TerminalServiceId {
  const service = serviceFor(mti, processingCode);
  if (service === undefined) throw invalid(`no service for MTI ${mti} processing code ${processingCode ?? '-'}`);
  return service;
}

/** PAN from track 2 (`PAN=YYMM…`). */
function panOfTrack2(track2: string): string | null {
  const m = /^;?(\d{12,19})[=D]/.exec(track2);
  return m?.[1] ?? null;
}

/**
 * Opens a terminal request: envelope, ISO 8583, PSAM block, MAC. Throws FixpayError
 * ISO8583_FIELD_INVALID (or the codec's ISO8583_* codes) on anything malformed.
 */
export function openTerminalRequest(payload: Uint8Array): OpenedTerminalRequest {
  if (payload.length > TERMINAL_REQUEST_BYTES_MAX) throw invalid(`request of ${payload.length} bytes`);
  const opened = openEnvelope(Buffer.from(payload), TERMINAL_ENVELOPE);
  const message = codec.unpack(opened.body);
  const psam = decodePsamBlock(subfieldsField(message, 63));
  const mac = bytesField(message, 64);
  if (psam === undefined) throw invalid('63.2 holds no PSAM block');
  if (mac?.length !== MAC_BYTES || opened.body.length < MAC_BYTES) throw invalid('field 64 is absent');
  const processingCode = textField(message, 3) ?? null;
  const track2 = textField(message, 35) ?? null;
  const pan = textField(message, 2) ?? (track2 === null ? null : panOfTrack2(track2));
  const amountText = textField(message, 4);
  const terminalId = textField(message, 41);
  const stan = textField(message, 11);
  if (terminalId === undefined || stan === undefined) throw invalid('field 41 or 11 is absent');
  const route = serviceOf(message.mti, processingCode);
  const serviceData = tlvField(message, SERVICE_DATA_FIELD) ?? null;
  const serviceId = route === MENU_SERVICE_ROUTE ? decodeServiceRequest(serviceData ?? []).code : route;
  return {
    summary: {
      serviceId,
      route,
      mti: message.mti,
      processingCode,
      terminalId,
      merchantId: textField(message, 42) ?? '',
      stan,
      amountMinor: amountText === undefined ? null : Number(amountText),
      currency: textField(message, 49) ?? null,
      psamSerial: psam.serial,
      psamCounter: psam.counter,
      maskedPan: pan === null ? null : maskPan(pan),
    },
    tpdu: opened.tpdu,
    applicationHeader: opened.applicationHeader,
    message,
    psam,
    macData: opened.body.subarray(0, opened.body.length - MAC_BYTES),
    mac,
    pan,
    track2,
    pinBlock: bytesField(message, 52) ?? null,
    serviceData,
  };
}

/** The card-data-free summary of a request (for workflow ids and routing). Throws like `openTerminalRequest`. */
export function summarizeTerminalRequest(payload: Uint8Array): TerminalRequestSummary {
  return openTerminalRequest(payload).summary;
}

/** A `0400` or its repeat `0401`. */
export function isReversal(mti: string): boolean {
  return mti === TRANSACTION_CODES.reversal.mti || mti === REVERSAL_REPEAT_MTI;
}

/** What the answer carries besides field 39. */
export interface TerminalAnswer {
  readonly responseCode: string;
  readonly authCode?: string;
  readonly rrn?: string;
  /** Echoed field 4 (purchases). */
  readonly amountMinor?: number;
  /** Available balance in minor units (field 54). */
  readonly balanceMinor?: number;
  /** Sign-on: field 62 (working keys under the TMK), hex. */
  readonly field62Hex?: string;
  /** Sign-on: new batch number (60.2). */
  readonly batch?: string;
  /** Field 59 (menu, screen or receipt; ADR 0018), the TLV bytes as hex. */
  readonly field59Hex?: string;
}

/** Field 54: account type 10, amount type 02 (available), currency, C/D, 12 digits. */
export function formatBalance(currency: string, amountMinor: number): string {
  const sign = amountMinor < 0 ? 'D' : 'C';
  return `1002${currency}${sign}${String(Math.abs(amountMinor)).padStart(12, '0')}`;
}

/** The 0810/0210 message for a request (unsigned: field 64 is set to zeros). */
export function answerMessage(request: OpenedTerminalRequest, answer: TerminalAnswer): IsoMessage {
  const req = request.message;
  const fields: Record<number, FieldValue> = {
    11: request.summary.stan,
    41: request.summary.terminalId,
    39: answer.responseCode,
  };
  const processingCode = textField(req, 3);
  if (processingCode !== undefined) fields[3] = processingCode;
  const merchant = textField(req, 42);
  if (merchant !== undefined) fields[42] = merchant;
  if (answer.amountMinor !== undefined) fields[4] = String(answer.amountMinor).padStart(12, '0');
  if (answer.rrn !== undefined && answer.rrn !== '') fields[37] = answer.rrn.padStart(12, '0').slice(-12);
  if (answer.authCode !== undefined && answer.authCode !== '') fields[38] = answer.authCode.padEnd(6, ' ').slice(0, 6);
  if (answer.balanceMinor !== undefined)
    fields[54] = formatBalance(request.summary.currency ?? '156', answer.balanceMinor);
  if (answer.field59Hex !== undefined && answer.field59Hex !== '')
    fields[SERVICE_DATA_FIELD] = decodeTlvHex(answer.field59Hex);
  if (req.mti === '0800') {
    const f60 = subfieldsField(req, 60);
    fields[60] = { '1': '00', '2': answer.batch ?? f60?.['2'] ?? '000001', '3': f60?.['3'] ?? '004' };
    if (answer.field62Hex !== undefined && answer.field62Hex !== '')
      fields[62] = field62Subfields(Buffer.from(answer.field62Hex, 'hex'));
  }
  fields[64] = new Uint8Array(MAC_BYTES);
  const mti = req.mti === '0800' ? '0810' : isReversal(req.mti) ? REVERSAL_ANSWER_MTI : '0210';
  // The 0410 carries only 11, 39, 41, 42 and 64 (REVERSAL_FIELDS.answer).
  const keep = isReversal(req.mti) ? new Set<number>(REVERSAL_FIELDS.answer) : undefined;
  const entries = Object.entries(fields)
    .map(([k, v]) => [Number(k), v] as const)
    .filter(([k]) => keep === undefined || keep.has(k));
  return { mti, fields: new Map(entries) };
}

/**
 * Packs the answer, MACs MTI..field 63 with `sign` (the PSAM session key in the HSM) and wraps it
 * in the swapped TPDU and the request's application header.
 */
export async function closeAnswer(
  request: OpenedTerminalRequest,
  answer: TerminalAnswer,
  sign: (macData: Uint8Array) => Promise<Uint8Array>,
): Promise<Buffer> {
  const body = codec.pack(answerMessage(request, answer));
  const mac = await sign(body.subarray(0, body.length - MAC_BYTES));
  if (mac.length !== MAC_BYTES) throw new RangeError('the MAC is 8 bytes');
  body.set(mac, body.length - MAC_BYTES);
  const t = request.tpdu ?? { id: 0x60, destination: '0000', source: '0000' };
  return closeEnvelope(
    {
      tpdu: { id: t.id, destination: t.source, source: t.destination },
      applicationHeader: request.applicationHeader ?? DEFAULT_APPLICATION_HEADER,
    },
    body,
    TERMINAL_ENVELOPE,
  );
}

/**
 * An answer without field 64, for when no PSAM session MAC can be made (the access node holds no
 * HSM): only ever a decline — a terminal accepts an unMACed decline but never an unMACed approval.
 * Throws RangeError for an approving response code.
 */
export function closeUnsignedDecline(request: OpenedTerminalRequest, responseCode: string): Buffer {
  if (responseCode === '00') throw new RangeError('an approval is always MACed');
  const msg = answerMessage(request, { responseCode });
  msg.fields.delete(64);
  const t = request.tpdu ?? { id: 0x60, destination: '0000', source: '0000' };
  return closeEnvelope(
    {
      tpdu: { id: t.id, destination: t.source, source: t.destination },
      applicationHeader: request.applicationHeader ?? DEFAULT_APPLICATION_HEADER,
    },
    codec.pack(msg),
    TERMINAL_ENVELOPE,
  );
}

function decodeTlvHex(hex: string): readonly TlvItem[] {
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw invalid('field 59 must be hex bytes');
  return decodeTlv(Buffer.from(hex, 'hex'));
}

/**
 * The prompt an answer carries when it is a screen (field 39 `09` with a screen in field 59;
 * ADR 0018): its id and how long the run waits for the reply. Undefined for any other answer.
 */
export function screenOf(answer: Uint8Array): { promptId: string; timeoutMs: number } | undefined {
  try {
    const msg = codec.unpack(openEnvelope(Buffer.from(answer), TERMINAL_ENVELOPE).body);
    if (textField(msg, 39) !== PROMPT_RESPONSE_CODE) return undefined;
    const items = tlvField(msg, SERVICE_DATA_FIELD);
    if (items === undefined) return undefined;
    const screen = decodeScreen(encodeTlv(items));
    return { promptId: screen.promptId, timeoutMs: screen.timeoutSeconds * 1000 };
  } catch {
    return undefined;
  }
}

/** Parses hex; throws ISO8583_FIELD_INVALID. */
export function requestBytes(hex: string): Buffer {
  if (!/^([0-9a-fA-F]{2})+$/.test(hex) || hex.length > TERMINAL_REQUEST_BYTES_MAX * 2)
    throw invalid('request must be hex bytes');
  return Buffer.from(hex, 'hex');
}
