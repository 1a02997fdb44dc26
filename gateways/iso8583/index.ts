/** ISO 8583 codec: specs as data, parts registry, packager, envelope and masked description. */
export * from './describe';
export * from './encoding';
export * from './envelope';
export type { FieldCodec, FieldValue, Subfields } from './field';
export { isSubfields, isTlvList } from './field';
export * from './message';
export * from './prefix';
export * from './spec';
export * from './specs';
export * from './tlv';
