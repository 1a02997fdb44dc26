/** ISO 8583 codec: specs as data, parts registry, packager, envelope and masked description. */
export * from './describe';
// Explicit lists for encoding and tlv: their fast-path helpers stay internal to the codec.
export type { Padding, TextEncoding } from './encoding';
export { ascii, bcd, byteHex, fromHex, toHex, track } from './encoding';
export * from './envelope';
export type { FieldCodec, FieldValue, Subfields } from './field';
export { isSubfields, isTlvList } from './field';
export * from './message';
export * from './prefix';
export * from './spec';
export * from './specs';
export type { TlvItem } from './tlv';
export { decodeTlv, encodeTlv, TLV_TAG_BYTES_MAX, tlvSize, writeTlv } from './tlv';
