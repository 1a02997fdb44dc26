/**
 * The bank simulator's side of the network MAC (docs/protocols/iso8583.md, "Message
 * authentication"): ANSI X9.19 with padding method 1 under a clear double-length ZAK, over the
 * packed message from the MTI up to, not including, field 64/128. A simulator holds its test key
 * in clear, as a real network's HSM would hold its own.
 */
import type { IsoMessage, MessageCodec } from '../../gateways/iso8583';
import {
  MAC_FIELD_PRIMARY,
  MAC_FIELD_SECONDARY,
  macFieldFor,
  NETWORK_MAC_BYTES,
} from '../../gateways/card-network/mac';
import type { BlockCipher } from '../../hsm/crypto/block-cipher';
import { blockCipher } from '../../hsm/crypto/block-cipher';
import { equalBytes } from '../../hsm/crypto/bytes';
import { macAlgorithm3 } from '../../hsm/crypto/mac';

export class SimulatorMac {
  private readonly left: BlockCipher;
  private readonly right: BlockCipher;

  /** `zak`: 16 bytes (K‖K′). Throws RangeError on another length. */
  constructor(zak: Uint8Array) {
    if (zak.length !== 16) throw new RangeError('the ZAK is a double-length DES key (16 bytes)');
    this.left = blockCipher('des', zak.subarray(0, 8));
    this.right = blockCipher('des', zak.subarray(8, 16));
  }

  /** X9.19 MAC of `data`. */
  mac(data: Uint8Array): Buffer {
    return macAlgorithm3(this.left, this.right, data, 1);
  }

  /** Packs `msg` with its MAC in field 64 or 128 (replacing any there). */
  pack(codec: MessageCodec, msg: IsoMessage): Buffer {
    const fields = new Map(msg.fields);
    fields.delete(MAC_FIELD_PRIMARY);
    fields.delete(MAC_FIELD_SECONDARY);
    fields.set(macFieldFor(fields), new Uint8Array(NETWORK_MAC_BYTES));
    const packed = Buffer.from(codec.pack({ mti: msg.mti, fields }));
    const at = packed.length - NETWORK_MAC_BYTES;
    packed.set(this.mac(packed.subarray(0, at)), at);
    return packed;
  }

  /** True when `msg`, decoded from `body`, ends with the right MAC in the right field. */
  verify(msg: IsoMessage, body: Uint8Array): boolean {
    const field = macFieldFor(msg.fields);
    const other = field === MAC_FIELD_PRIMARY ? MAC_FIELD_SECONDARY : MAC_FIELD_PRIMARY;
    const mac = msg.fields.get(field);
    if (msg.fields.has(other) || !(mac instanceof Uint8Array) || mac.length !== NETWORK_MAC_BYTES) return false;
    const at = body.length - NETWORK_MAC_BYTES;
    if (at < 0 || !equalBytes(body.subarray(at), mac)) return false;
    return equalBytes(this.mac(body.subarray(0, at)), mac);
  }
}
