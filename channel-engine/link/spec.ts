/**
 * The link layer's spec, as data. A device profile carries one of these; the codec, the frame
 * hunter and the ARQ read only this, so a new terminal model is a new profile. See
 * docs/protocols/link.md.
 */
import type { CheckKind } from './check';

/** Frame type codes. DATA and ACK carry the alternating sequence bit in bit 0 (code | seq). */
export interface FrameTypeCodes {
  /** Link establishment (host → terminal after answer). */
  readonly est: number;
  /** Release: the sender is done and will hang up. */
  readonly rel: number;
  /** DATA with sequence 0; sequence 1 is `data | 1`. */
  readonly data: number;
  /** ACK0; ACK1 is `ack | 1`. */
  readonly ack: number;
  /** NAK (ES 201 912 ERROR); payload is one cause byte. */
  readonly nak: number;
}

export interface SegmentFlag {
  /** The type-byte bit used as the segmentation flag (ES 201 912: 0x80). */
  readonly bit: number;
  /**
   * `more-follows`: set on every DATA segment but the last (ES 201 912 protocol 2).
   * `last-segment`: set on the last DATA segment and on every single frame (protocol 1).
   */
  readonly meaning: 'more-follows' | 'last-segment';
}

export interface LinkSpec {
  readonly types: FrameTypeCodes;
  readonly segmentFlag: SegmentFlag;
  /** Width of the length field: 1 byte (ES 201 912) or 2 bytes big-endian. */
  readonly lengthBytes: 1 | 2;
  /** Largest payload one frame may carry; larger announced lengths are rejected (FP3502). */
  readonly maxPayloadBytes: number;
  /** Largest reassembled message (FP3506 above it). */
  readonly maxMessageBytes: number;
  readonly check: CheckKind;
  /** Byte order of a CRC-16 on the line. */
  readonly checkByteOrder: 'big' | 'little';
}

/** NAK cause bytes, as in ES 201 912 protocol 1 ERROR frames. */
export const NAK_CAUSE = { checkMismatch: 0x01, badLength: 0x02, unknownType: 0x03, unspecified: 0xff } as const;
export type NakCause = (typeof NAK_CAUSE)[keyof typeof NAK_CAUSE];

/** A decoded link frame. */
export type Frame =
  | { readonly kind: 'data'; readonly seq: 0 | 1; readonly more: boolean; readonly payload: Uint8Array }
  | { readonly kind: 'ack'; readonly seq: 0 | 1 }
  | { readonly kind: 'nak'; readonly cause: number }
  | { readonly kind: 'est'; readonly payload: Uint8Array }
  | { readonly kind: 'rel' };

/** Returns the problems of a spec (empty when sound): distinct type codes, flag outside them, limits in range. */
export function linkSpecProblems(spec: LinkSpec): string[] {
  const problems: string[] = [];
  const { est, rel, data, ack, nak } = spec.types;
  const codes = [est, rel, nak, data, data | 1, ack, ack | 1];
  if ((data & 1) !== 0) problems.push('types.data must have bit 0 clear (bit 0 is the sequence bit)');
  if ((ack & 1) !== 0) problems.push('types.ack must have bit 0 clear (bit 0 is the sequence bit)');
  if (new Set(codes).size !== codes.length) problems.push('frame type codes (with sequence bits) must be distinct');
  for (const c of codes) {
    if (c < 0 || c > 0xff) problems.push(`type code ${c} is not a byte`);
    if ((c & spec.segmentFlag.bit) !== 0) problems.push(`type code 0x${c.toString(16)} overlaps the segment flag`);
  }
  const flag = spec.segmentFlag.bit;
  if (flag <= 0 || flag > 0xff || (flag & (flag - 1)) !== 0) problems.push('segmentFlag.bit must be a single bit');
  const lengthLimit = spec.lengthBytes === 1 ? 0xff : 0xffff;
  if (spec.maxPayloadBytes < 1 || spec.maxPayloadBytes > lengthLimit)
    problems.push(`maxPayloadBytes must be 1..${lengthLimit} for a ${spec.lengthBytes}-byte length`);
  if (spec.maxMessageBytes < spec.maxPayloadBytes) problems.push('maxMessageBytes must be ≥ maxPayloadBytes');
  return problems;
}
