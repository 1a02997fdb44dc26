import { FixpayError } from '../../domain/errors';

/**
 * On-hook data messages in the caller-ID format of ETSI EN 300 659-3 and Bellcore GR-30
 * (MDMF and SDMF): message type, message length, body, checksum (two's complement of the
 * mod-256 sum of every preceding byte). See docs/protocols/callerid.md.
 */

/** Message types (EN 300 659-3 / GR-30, as listed by spandsp adsi.h). */
export const MESSAGE_TYPE = {
  sdmfCallerId: 0x04,
  sdmfMessageWaiting: 0x06,
  callSetup: 0x80,
  messageWaiting: 0x82,
  adviceOfCharge: 0x86,
  sms: 0x89,
} as const;

/** Parameter types of MDMF messages. */
export const PARAM_TYPE = {
  dateTime: 0x01,
  callingNumber: 0x02,
  calledNumber: 0x03,
  numberAbsent: 0x04,
  name: 0x07,
  nameAbsent: 0x08,
  visualIndicator: 0x0b,
  messageId: 0x0d,
  callType: 0x11,
  messageCount: 0x13,
  charge: 0x20,
  displayInformation: 0x50,
  serviceInformation: 0x55,
} as const;

/** The length field is one byte. */
export const MESSAGE_BODY_BYTES_MAX = 255;

export interface MdmfParameter {
  type: number;
  value: Uint8Array;
}

export type CallerIdMessage =
  { format: 'mdmf'; type: number; params: MdmfParameter[] } | { format: 'sdmf'; type: number; body: Uint8Array };

/** SDMF types have the top bit clear; MDMF types have it set. */
export function isMdmfType(type: number): boolean {
  return (type & 0x80) !== 0;
}

function checksum(bytes: Uint8Array, end: number): number {
  let sum = 0;
  for (let i = 0; i < end; i++) sum += bytes[i] ?? 0;
  return -sum & 0xff;
}

/** Encodes a message to its bytes, checksum included. Throws CALLERID_TOO_LONG / CALLERID_BAD_MESSAGE. */
export function encodeMessage(m: CallerIdMessage): Uint8Array {
  if (!Number.isInteger(m.type) || m.type < 0 || m.type > 0xff) {
    throw new FixpayError('CALLERID_BAD_MESSAGE', `message type ${m.type} is not a byte`);
  }
  if (isMdmfType(m.type) !== (m.format === 'mdmf')) {
    throw new FixpayError('CALLERID_BAD_MESSAGE', `type 0x${m.type.toString(16)} does not match format ${m.format}`);
  }
  let body: Uint8Array;
  if (m.format === 'sdmf') {
    body = m.body;
  } else {
    const parts: number[] = [];
    for (const p of m.params) {
      if (!Number.isInteger(p.type) || p.type < 0 || p.type > 0xff) {
        throw new FixpayError('CALLERID_BAD_MESSAGE', `parameter type ${p.type} is not a byte`);
      }
      if (p.value.length > MESSAGE_BODY_BYTES_MAX) {
        throw new FixpayError('CALLERID_TOO_LONG', `parameter 0x${p.type.toString(16)} has ${p.value.length} bytes`);
      }
      parts.push(p.type, p.value.length, ...p.value);
    }
    body = Uint8Array.from(parts);
  }
  if (body.length > MESSAGE_BODY_BYTES_MAX) {
    throw new FixpayError('CALLERID_TOO_LONG', `body of ${body.length} bytes exceeds ${MESSAGE_BODY_BYTES_MAX}`);
  }
  const out = new Uint8Array(body.length + 3);
  out[0] = m.type;
  out[1] = body.length;
  out.set(body, 2);
  out[out.length - 1] = checksum(out, out.length - 1);
  return out;
}

/**
 * Decodes one message that starts at `bytes[0]` and occupies exactly `bytes`.
 * Throws CALLERID_BAD_MESSAGE (truncated, bad parameter lengths), CALLERID_CHECKSUM.
 */
export function decodeMessage(bytes: Uint8Array): CallerIdMessage {
  if (bytes.length < 3)
    throw new FixpayError('CALLERID_BAD_MESSAGE', `${bytes.length} bytes is shorter than a message`);
  const type = bytes[0] ?? 0;
  const len = bytes[1] ?? 0;
  if (bytes.length !== len + 3) {
    throw new FixpayError('CALLERID_BAD_MESSAGE', `length field says ${len} body bytes, got ${bytes.length - 3}`);
  }
  if (checksum(bytes, bytes.length - 1) !== bytes[bytes.length - 1]) {
    throw new FixpayError('CALLERID_CHECKSUM');
  }
  const body = bytes.subarray(2, 2 + len);
  if (!isMdmfType(type)) return { format: 'sdmf', type, body: Uint8Array.from(body) };
  const params: MdmfParameter[] = [];
  let o = 0;
  while (o < body.length) {
    if (o + 2 > body.length) throw new FixpayError('CALLERID_BAD_MESSAGE', `parameter header cut at byte ${o}`);
    const pt = body[o] ?? 0;
    const pl = body[o + 1] ?? 0;
    if (o + 2 + pl > body.length) {
      throw new FixpayError('CALLERID_BAD_MESSAGE', `parameter 0x${pt.toString(16)} runs past the message`);
    }
    params.push({ type: pt, value: Uint8Array.from(body.subarray(o + 2, o + 2 + pl)) });
    o += 2 + pl;
  }
  return { format: 'mdmf', type, params };
}

/** Printable ASCII to bytes (numbers, names, notices). Throws CALLERID_BAD_MESSAGE for other characters. */
export function asciiBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) {
      throw new FixpayError('CALLERID_BAD_MESSAGE', `character ${i} is not printable ASCII; pass bytes instead`);
    }
    out[i] = c;
  }
  return out;
}

export interface NoticeFields {
  /** MMDDHHMM (8 digits). */
  dateTime?: string;
  callingNumber?: string;
  name?: string;
  /** Display text: printable ASCII, or bytes already in the terminal's character set. */
  display?: string | Uint8Array;
}

/**
 * Builds an MDMF message: a call set-up (0x80) when there is no display text, else an SMS /
 * display-information message (0x89 with parameter 0x50), which is how the platform pushes notices.
 */
export function buildNotice(fields: NoticeFields): CallerIdMessage {
  const params: MdmfParameter[] = [];
  if (fields.dateTime !== undefined) {
    if (!/^\d{8}$/.test(fields.dateTime)) throw new FixpayError('CALLERID_BAD_MESSAGE', 'dateTime must be MMDDHHMM');
    params.push({ type: PARAM_TYPE.dateTime, value: asciiBytes(fields.dateTime) });
  }
  if (fields.callingNumber !== undefined) {
    if (!/^[0-9*#+]{1,20}$/.test(fields.callingNumber)) {
      throw new FixpayError('CALLERID_BAD_MESSAGE', 'callingNumber must be 1-20 digits');
    }
    params.push({ type: PARAM_TYPE.callingNumber, value: asciiBytes(fields.callingNumber) });
  }
  if (fields.name !== undefined) params.push({ type: PARAM_TYPE.name, value: asciiBytes(fields.name) });
  if (fields.display !== undefined) {
    const v = typeof fields.display === 'string' ? asciiBytes(fields.display) : fields.display;
    params.push({ type: PARAM_TYPE.displayInformation, value: v });
  }
  return {
    format: 'mdmf',
    type: fields.display === undefined ? MESSAGE_TYPE.callSetup : MESSAGE_TYPE.sms,
    params,
  };
}
