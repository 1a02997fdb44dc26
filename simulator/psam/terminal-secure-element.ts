/**
 * The terminal side of key management, for the terminal simulator: a TMK injected at the
 * key-loading facility, working keys loaded from 0810 field 62 (each checked against its check
 * value), then PIN blocks under the TPK and MACs under the TAK — what a POS phone's secure
 * element does with the keys the host sends.
 */
import { blockCipher } from '../../hsm/crypto/block-cipher';
import type { BlockCipher } from '../../hsm/crypto/block-cipher';
import { equalBytes, fromHex } from '../../hsm/crypto/bytes';
import { keyCheckValue, unionPayEcbMac } from '../../hsm/crypto/mac';
import { encodePinBlock } from '../../hsm/crypto/pin-block';
import { FIELD62_CHECK_VALUE_BYTES, parseField62 } from '../../hsm/terminal-keys';
import type { SignOnKeyLayout } from '../../hsm/terminal-keys';

/** Why field 62 was refused: a check value differed (wrong TMK or corrupted field). */
export class KeyLoadError extends Error {
  constructor(readonly role: 'tpk' | 'tak' | 'tdk') {
    super(`the ${role} check value does not match`);
    this.name = 'KeyLoadError';
  }
}

const cipherFor = (key: Buffer): BlockCipher => blockCipher(key.length === 8 ? 'des' : 'tdes', key);

export class TerminalSecureElement {
  private readonly tmk: BlockCipher;
  private tpk: BlockCipher | undefined;
  private tak: BlockCipher | undefined;
  private tdk: BlockCipher | undefined;

  /** `tmkHex`: the clear TMK as injected (a key-loading device would unwrap it from TR-31). */
  constructor(tmkHex: string) {
    this.tmk = cipherFor(fromHex(tmkHex));
  }

  /** Loads the working keys of an 0810 field 62; throws `KeyLoadError` and keeps the old keys on a mismatch. */
  loadWorkingKeys(layout: SignOnKeyLayout, field62: Uint8Array): void {
    const parsed = parseField62(layout, field62);
    const next: Partial<Record<'tpk' | 'tak' | 'tdk', BlockCipher>> = {};
    for (const role of ['tpk', 'tak', 'tdk'] as const) {
      const entry = parsed[role];
      if (entry === undefined) continue;
      const cipher = cipherFor(this.tmk.decrypt(entry.cryptogram));
      if (!equalBytes(keyCheckValue(cipher, FIELD62_CHECK_VALUE_BYTES), entry.checkValue)) throw new KeyLoadError(role);
      next[role] = cipher;
    }
    this.tpk = next.tpk;
    this.tak = next.tak;
    this.tdk = next.tdk;
  }

  /** Field 52: the PIN as an ISO 9564 format 0 block under the TPK. */
  encryptPin(pin: string, pan: string): Buffer {
    if (this.tpk === undefined) throw new Error('no working keys: sign on first');
    return this.tpk.encrypt(encodePinBlock(0, pin, pan));
  }

  /** Field 64: the UnionPay ECB MAC under the TAK (8 ASCII hex characters). */
  mac(data: Uint8Array): Buffer {
    if (this.tak === undefined) throw new Error('no working keys: sign on first');
    return unionPayEcbMac(this.tak, data);
  }

  /** Track data encryption under the TDK (ECB over whole blocks). */
  encryptTrack(block: Uint8Array): Buffer {
    if (this.tdk === undefined) throw new Error('no TDK in this key layout');
    return this.tdk.encrypt(block);
  }
}
