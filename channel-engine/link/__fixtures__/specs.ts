import type { LinkSpec } from '../spec';

/** ES 201 912-style: 1-byte length, byte-sum check, 0x80 = more follows (protocol 2 sense). */
export const ES201912_SPEC: LinkSpec = {
  types: { est: 0x7f, rel: 0x17, data: 0x10, ack: 0x14, nak: 0x13 },
  segmentFlag: { bit: 0x80, meaning: 'more-follows' },
  lengthBytes: 1,
  maxPayloadBytes: 255,
  maxMessageBytes: 2048,
  check: 'sum8',
  checkByteOrder: 'big',
};

/** CRC-16 profile: 2-byte length, CRC-16/X-25, 0x80 = last segment (protocol 1 sense). */
export const CRC16_SPEC: LinkSpec = {
  types: { est: 0x13, rel: 0x14, data: 0x10, ack: 0x16, nak: 0x12 },
  segmentFlag: { bit: 0x80, meaning: 'last-segment' },
  lengthBytes: 2,
  maxPayloadBytes: 512,
  maxMessageBytes: 4096,
  check: 'crc16-x25',
  checkByteOrder: 'little',
};

export const SPECS: readonly (readonly [string, LinkSpec])[] = [
  ['es201912-sum8', ES201912_SPEC],
  ['crc16-x25', CRC16_SPEC],
];
