/**
 * Message authentication on the card network link (docs/protocols/iso8583.md, "Message
 * authentication"). Every message, both ways, ends with an 8-byte MAC: field 64 when the message
 * has no secondary bitmap, field 128 when it has one. The MAC input is the packed message from
 * the MTI up to, not including, the MAC field (no length header); the algorithm is ANSI X9.19
 * (ISO/IEC 9797-1 algorithm 3, padding method 1) under the zone MAC key (ZAK). The key stays in
 * the HSM: this module sees only a `MessageAuthenticator` the wiring builds from the HSM port and
 * a key handle.
 */
import { FixpayError, isFixpayError } from '../../domain/errors';
import type { FieldValue, IsoMessage, MessageCodec } from '../iso8583';

/** Bytes of the MAC in field 64 / 128. */
export const NETWORK_MAC_BYTES = 8;
/** MAC field without a secondary bitmap. */
export const MAC_FIELD_PRIMARY = 64;
/** MAC field when the message has a secondary bitmap (any of fields 65–127). */
export const MAC_FIELD_SECONDARY = 128;

/** Computes and checks MACs under the link's key; the key itself never leaves the HSM. */
export interface MessageAuthenticator {
  /** The 8-byte MAC of `data`. Rejects when the HSM cannot compute it. */
  generate(data: Uint8Array): Promise<Uint8Array>;
  /** True when `mac` is the MAC of `data`; false when it is not. Rejects when the HSM cannot check it. */
  verify(data: Uint8Array, mac: Uint8Array): Promise<boolean>;
}

/** The part of the HSM port the link needs (structurally `HsmPort`, which this adapter may not import). */
export interface MacHsm<K> {
  generateMac(request: {
    readonly key: K;
    readonly algorithm: 'x9.19';
    readonly padding: 1;
    readonly data: Uint8Array;
  }): Promise<Uint8Array>;
  verifyMac(request: {
    readonly key: K;
    readonly algorithm: 'x9.19';
    readonly padding: 1;
    readonly data: Uint8Array;
    readonly mac: Uint8Array;
  }): Promise<void>;
}

/** The network's MAC (X9.19, padding 1) through an HSM and the ZAK's handle. */
export function hsmMessageAuthenticator<K>(hsm: MacHsm<K>, zak: K): MessageAuthenticator {
  return {
    generate: (data) => hsm.generateMac({ key: zak, algorithm: 'x9.19', padding: 1, data }),
    verify: async (data, mac) => {
      try {
        await hsm.verifyMac({ key: zak, algorithm: 'x9.19', padding: 1, data, mac });
        return true;
      } catch (e) {
        if (isFixpayError(e, 'HSM_MAC_INVALID')) return false;
        throw e;
      }
    },
  };
}

/** Which field carries the MAC of a message with these fields (fields 64 and 128 themselves do not count). */
export function macFieldFor(fields: ReadonlyMap<number, FieldValue>): number {
  for (const id of fields.keys()) if (id > 64 && id < 128) return MAC_FIELD_SECONDARY;
  return MAC_FIELD_PRIMARY;
}

/** Why a received message is refused; `ok` when its MAC verifies. */
export type MacVerdict = 'ok' | 'missing-mac' | 'bad-mac' | 'mac-unverified';

const PLACEHOLDER = new Uint8Array(NETWORK_MAC_BYTES);

/** Signs outgoing messages and checks incoming ones against the bytes they arrived as. */
export class NetworkMac {
  constructor(
    private readonly codec: MessageCodec,
    private readonly authenticator: MessageAuthenticator,
  ) {}

  /**
   * The message with its MAC in field 64 or 128 (a MAC already there is replaced). Throws
   * ISO8583_FIELD_INVALID when the message does not pack; rejects when the HSM fails.
   */
  async sign(msg: IsoMessage): Promise<IsoMessage> {
    const fields = new Map(msg.fields);
    fields.delete(MAC_FIELD_PRIMARY);
    fields.delete(MAC_FIELD_SECONDARY);
    const macField = macFieldFor(fields);
    fields.set(macField, PLACEHOLDER);
    const packed = this.codec.pack({ mti: msg.mti, fields });
    // The MAC field is the last field and fixed-length, so the input is everything before its 8 bytes.
    const mac = await this.authenticator.generate(packed.subarray(0, packed.length - NETWORK_MAC_BYTES));
    if (mac.length !== NETWORK_MAC_BYTES) throw new FixpayError('INTERNAL', `MAC of ${mac.length} bytes`);
    fields.set(macField, mac);
    return { mti: msg.mti, fields };
  }

  /**
   * Checks a decoded message against `body`, the bytes it was decoded from (MTI to the end, no
   * length header). Never throws: an HSM failure is `mac-unverified`.
   */
  async check(msg: IsoMessage, body: Uint8Array): Promise<MacVerdict> {
    const inPrimary = msg.fields.get(MAC_FIELD_PRIMARY);
    const inSecondary = msg.fields.get(MAC_FIELD_SECONDARY);
    if (inPrimary === undefined && inSecondary === undefined) return 'missing-mac';
    // One MAC, in the field the bitmap calls for, and it must be the message's last bytes.
    if (inPrimary !== undefined && inSecondary !== undefined) return 'bad-mac';
    const macField = inPrimary === undefined ? MAC_FIELD_SECONDARY : MAC_FIELD_PRIMARY;
    const expectedField = macFieldFor(msg.fields);
    const mac = inPrimary ?? inSecondary;
    if (macField !== expectedField || !(mac instanceof Uint8Array) || mac.length !== NETWORK_MAC_BYTES)
      return 'bad-mac';
    const at = body.length - NETWORK_MAC_BYTES;
    if (at < 0 || !Buffer.from(body.buffer, body.byteOffset + at, NETWORK_MAC_BYTES).equals(mac)) return 'bad-mac';
    try {
      return (await this.authenticator.verify(body.subarray(0, at), mac)) ? 'ok' : 'bad-mac';
    } catch {
      return 'mac-unverified';
    }
  }
}
