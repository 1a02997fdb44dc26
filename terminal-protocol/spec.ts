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

export type TransactionKind = 'sign-on' | 'purchase' | 'balance';

/** MTI, processing code (F3) and type code (60.1) per transaction, and the service it asks for. */
export const TRANSACTION_CODES = {
  purchase: { mti: '0200', processingCode: '000000', typeCode: '22', serviceId: 'purchase' },
  balance: { mti: '0200', processingCode: '310000', typeCode: '01', serviceId: 'balance-inquiry' },
  'sign-on': { mti: '0800', processingCode: undefined, typeCode: '00', serviceId: 'sign-on' },
} as const satisfies Record<
  TransactionKind,
  { mti: string; processingCode: string | undefined; typeCode: string; serviceId: string }
>;

/** The service a terminal request asks for. */
export type TerminalServiceId = (typeof TRANSACTION_CODES)[TransactionKind]['serviceId'];

/** The service for an MTI and processing code; undefined when none is routed. */
export function serviceFor(mti: string, processingCode: string | null): TerminalServiceId | undefined {
  for (const c of Object.values(TRANSACTION_CODES)) {
    if (c.mti !== mti) continue;
    // A message without a processing code (0800) routes on its MTI alone.
    if (c.processingCode === undefined || c.processingCode === processingCode) return c.serviceId;
  }
  return undefined;
}
