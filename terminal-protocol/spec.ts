/**
 * The terminal protocol as data (docs/protocols/terminal-messages.md): the envelope around the ISO
 * 8583 message, the MAC size, the request size limit, and which MTI and processing code ask for
 * which service. The only place these are written: the access node, the HSM and card activities and
 * the terminal simulator read them from here. Field layouts are the terminal ISO 8583 spec
 * (gateways/iso8583: `terminalSpec`, 63.2 and 62 layouts).
 */
import type { EnvelopeOptions } from '../gateways/iso8583';

/** TPDU (5 bytes) + application header (6 bytes) before the ISO 8583 message; no LRI (the NAC adds it). */
export const TERMINAL_ENVELOPE: EnvelopeOptions = { tpduBytes: 5, applicationHeaderBytes: 6, lri: 'never' };
/** Field 64: the UnionPay MAC, 8 bytes, over MTI..field 63. */
export const MAC_BYTES = 8;
/** Largest terminal request accepted (a 0200 is about 200 bytes). */
export const TERMINAL_REQUEST_BYTES_MAX = 1024;
/** Application header the host answers with when the request carried none. */
export const DEFAULT_APPLICATION_HEADER = '603100000000';

export type TransactionKind = 'sign-on' | 'purchase' | 'balance' | 'reversal';

/** MTI, processing code (F3) and type code (60.1) per transaction, and the service it asks for. */
export const TRANSACTION_CODES = {
  purchase: { mti: '0200', processingCode: '000000', typeCode: '22', serviceId: 'purchase' },
  balance: { mti: '0200', processingCode: '310000', typeCode: '01', serviceId: 'balance-inquiry' },
  'sign-on': { mti: '0800', processingCode: undefined, typeCode: '00', serviceId: 'sign-on' },
  // The phone's reversal of a purchase it did not complete (ADR 0012): `0401` when repeated.
  reversal: { mti: '0400', processingCode: '000000', typeCode: '22', serviceId: 'reversal' },
} as const satisfies Record<
  TransactionKind,
  { mti: string; processingCode: string | undefined; typeCode: string; serviceId: string }
>;

/** The service a terminal request asks for. */
export type TerminalServiceId = (typeof TRANSACTION_CODES)[TransactionKind]['serviceId'];

/** The MTI of a repeated reversal: routed, opened and answered like its first copy (`0410`). */
export const REVERSAL_REPEAT_MTI = '0401';
/** The MTI of the host's answer to a reversal (and to its repeat). */
export const REVERSAL_ANSWER_MTI = '0410';

/**
 * The phone's reversal message (ADR 0012, docs/protocols/terminal-messages.md): the fields it
 * copies from the original purchase, and the fields of the host's `0410`. 39 carries the reason,
 * 60 the original's type code and batch, 61 the original batch, STAN and date (MMDD), 63 a new
 * PSAM block and 64 the MAC under that new session. No PIN block, no track 2.
 */
export const REVERSAL_FIELDS = {
  copied: [2, 3, 4, 11, 14, 22, 25, 41, 42, 49],
  own: [39, 60, 61, 63, 64],
  answer: [11, 39, 41, 42, 64],
} as const;
/** Field 39 of a reversal: why the phone reverses. */
export const REVERSAL_REASONS = { noAnswer: '98', answerMacInvalid: 'A0' } as const;
/** Field 39 of the `0410`: reversed (or nothing to undo any more), or no such sale. */
export const REVERSAL_ANSWER_CODES = { reversed: '00', originalNotFound: '25' } as const;
/** Field 39 of the MACed answer to a repeat of a sale the phone reversed. */
export const REVERSED_SALE_RESPONSE_CODE = '12';
/** Field 39 for a request that reuses a terminal id and STAN with different bytes. */
export const DUPLICATE_STAN_RESPONSE_CODE = '94';

/** The service for an MTI and processing code; undefined when none is routed. */
export function serviceFor(mti: string, processingCode: string | null): TerminalServiceId | undefined {
  const routed = mti === REVERSAL_REPEAT_MTI ? TRANSACTION_CODES.reversal.mti : mti;
  for (const c of Object.values(TRANSACTION_CODES)) {
    if (c.mti !== routed) continue;
    // A message without a processing code (0800) routes on its MTI alone.
    if (c.processingCode === undefined || c.processingCode === processingCode) return c.serviceId;
  }
  return undefined;
}
