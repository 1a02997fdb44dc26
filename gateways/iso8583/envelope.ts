/**
 * What sits between the length header and the MTI on a UnionPay-style terminal link
 * (payments.md §2.1): a 5-byte TPDU, the dial-up LRI block that the NAC inserts with the
 * caller's number (ANI) and the number dialled (DNIS), and the 6-byte application header.
 * Pure bytes; the channel decides which parts a link has.
 */
import { FixpayError } from '../../domain/errors';
import { toHex } from './encoding';

export const TPDU_BYTES = 5;
export const LRI_BLOCK_BYTES = 33;
/** The LRI block's fixed head: "LRI", 0x00, and 0x1C (28 bytes follow). */
export const LRI_HEAD = Buffer.from([0x4c, 0x52, 0x49, 0x00, 0x1c]);
const LRI_NUMBER_BYTES = 8;
const LRI_TAIL_BYTES = 12;

export interface Tpdu {
  /** 0x60 for a TPDU. */
  readonly id: number;
  /** Destination address (NII), four hex digits. */
  readonly destination: string;
  /** Source address, four hex digits. */
  readonly source: string;
}

export interface LriBlock {
  /** Caller's number (ANI) as digits; the trustworthy source of the terminal's line. */
  readonly ani: string;
  /** Number dialled (DNIS) as digits. */
  readonly dnis: string;
  /** The 12-byte tail, uppercase hex, kept for logging and re-emission. */
  readonly tail: string;
}

export interface EnvelopeOptions {
  /** 5 for a TPDU, 0 for none. */
  readonly tpduBytes: 0 | 5;
  readonly applicationHeaderBytes: number;
  /**
   * When the LRI block is present: `never`; `auto` (the bytes after the TPDU start with the LRI head);
   * or a list of TPDUs (hex) that mark telephone access, for which the block is required.
   */
  readonly lri: 'never' | 'auto' | readonly string[];
}

export interface Envelope {
  readonly tpdu?: Tpdu;
  readonly lri?: LriBlock;
  /** Application header, uppercase hex (12 digits on the UnionPay terminal link). */
  readonly applicationHeader?: string;
}

export interface OpenedEnvelope extends Envelope {
  /** The ISO 8583 message after the envelope. */
  readonly body: Buffer;
}

function numberDigits(bytes: Buffer): string {
  // BCD digits; F nibbles are padding. The exact padding of ANI/DNIS is not public: we accept F
  // anywhere after the digits and leading zeros stay (they are part of some numbering plans).
  const hex = bytes.toString('hex').toUpperCase();
  const digits = hex.replace(/F+$/, '');
  if (!/^\d*$/.test(digits)) throw new FixpayError('ISO8583_FRAME_INVALID', 'LRI number is not BCD');
  return digits;
}

function numberBytes(digits: string): Buffer {
  if (!/^\d{0,16}$/.test(digits)) throw new FixpayError('ISO8583_FIELD_INVALID', 'LRI number must be up to 16 digits');
  return Buffer.from(digits.padEnd(LRI_NUMBER_BYTES * 2, 'F'), 'hex');
}

/** Splits a frame payload into envelope parts and the ISO 8583 body. Throws ISO8583_FRAME_INVALID. */
export function openEnvelope(payload: Buffer, options: EnvelopeOptions): OpenedEnvelope {
  let pos = 0;
  let tpdu: Tpdu | undefined;
  let lri: LriBlock | undefined;
  let applicationHeader: string | undefined;
  if (options.tpduBytes === TPDU_BYTES) {
    if (payload.length < TPDU_BYTES) throw new FixpayError('ISO8583_FRAME_INVALID', 'frame is shorter than a TPDU');
    tpdu = {
      id: payload[0] ?? 0,
      destination: payload.subarray(1, 3).toString('hex').toUpperCase(),
      source: payload.subarray(3, 5).toString('hex').toUpperCase(),
    };
    pos = TPDU_BYTES;
    const tpduHex = payload.subarray(0, TPDU_BYTES).toString('hex').toUpperCase();
    const hasHead = payload.subarray(pos, pos + LRI_HEAD.length).equals(LRI_HEAD);
    const required = typeof options.lri !== 'string' && options.lri.some((t) => t.toUpperCase() === tpduHex);
    if (required && !hasHead)
      throw new FixpayError(
        'ISO8583_FRAME_INVALID',
        `TPDU ${tpduHex} marks dial-up access but the LRI block is missing`,
      );
    if ((required || options.lri === 'auto') && hasHead) {
      if (payload.length < pos + LRI_BLOCK_BYTES)
        throw new FixpayError('ISO8583_FRAME_INVALID', 'LRI block is truncated');
      const at = pos + LRI_HEAD.length;
      lri = {
        ani: numberDigits(payload.subarray(at, at + LRI_NUMBER_BYTES)),
        dnis: numberDigits(payload.subarray(at + LRI_NUMBER_BYTES, at + 2 * LRI_NUMBER_BYTES)),
        tail: toHex(payload.subarray(at + 2 * LRI_NUMBER_BYTES, pos + LRI_BLOCK_BYTES)),
      };
      pos += LRI_BLOCK_BYTES;
    }
  }
  if (options.applicationHeaderBytes > 0) {
    if (payload.length < pos + options.applicationHeaderBytes) {
      throw new FixpayError('ISO8583_FRAME_INVALID', 'frame is shorter than its application header');
    }
    applicationHeader = toHex(payload.subarray(pos, pos + options.applicationHeaderBytes));
    pos += options.applicationHeaderBytes;
  }
  return {
    ...(tpdu === undefined ? {} : { tpdu }),
    ...(lri === undefined ? {} : { lri }),
    ...(applicationHeader === undefined ? {} : { applicationHeader }),
    body: payload.subarray(pos),
  };
}

/** Builds a frame payload from envelope parts and a packed body. Throws ISO8583_FIELD_INVALID on bad parts. */
export function closeEnvelope(envelope: Envelope, body: Uint8Array, options: EnvelopeOptions): Buffer {
  const parts: Buffer[] = [];
  if (options.tpduBytes === TPDU_BYTES) {
    const t = envelope.tpdu;
    if (t === undefined || !/^[0-9A-Fa-f]{4}$/.test(t.destination) || !/^[0-9A-Fa-f]{4}$/.test(t.source)) {
      throw new FixpayError('ISO8583_FIELD_INVALID', 'this link needs a TPDU with 4-hex-digit addresses');
    }
    parts.push(Buffer.from([t.id]), Buffer.from(t.destination, 'hex'), Buffer.from(t.source, 'hex'));
    if (envelope.lri !== undefined) {
      const tail = Buffer.from(envelope.lri.tail, 'hex');
      if (tail.length !== LRI_TAIL_BYTES) throw new FixpayError('ISO8583_FIELD_INVALID', 'LRI tail must be 12 bytes');
      parts.push(LRI_HEAD, numberBytes(envelope.lri.ani), numberBytes(envelope.lri.dnis), tail);
    }
  }
  if (options.applicationHeaderBytes > 0) {
    const h = envelope.applicationHeader ?? '';
    if (h.length !== options.applicationHeaderBytes * 2 || !/^[0-9A-Fa-f]*$/.test(h)) {
      throw new FixpayError(
        'ISO8583_FIELD_INVALID',
        `application header must be ${options.applicationHeaderBytes} bytes of hex`,
      );
    }
    parts.push(Buffer.from(h, 'hex'));
  }
  parts.push(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  return Buffer.concat(parts);
}

/** The TPDU of a reply: source and destination swapped. */
export function replyTpdu(tpdu: Tpdu): Tpdu {
  return { id: tpdu.id, destination: tpdu.source, source: tpdu.destination };
}
