/**
 * Data sealing: AES-GCM (NIST SP 800-38D) with a 96-bit IV and a 128-bit tag, over Node's `crypto`.
 * The HSM seals the card bureau's file and PIN mailer blocks under a bureau key with it, and keeps
 * card numbers at rest under a key derived from the LMK. Pure functions of their inputs: the IV is
 * the caller's (random per message in the HSM; fixed in the published vectors).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

/** GCM IV length, bytes (the 96-bit IV SP 800-38D recommends). */
export const GCM_IV_BYTES = 12;
/** GCM tag length, bytes. */
export const GCM_TAG_BYTES = 16;

export class SealError extends Error {}

function cipherName(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  if (key.length === 16) return 'aes-128-gcm';
  if (key.length === 24) return 'aes-192-gcm';
  if (key.length === 32) return 'aes-256-gcm';
  throw new SealError('AES-GCM needs a 16, 24 or 32 byte key');
}

/** Seals `plaintext` (and authenticates `aad`): ciphertext and tag. */
export function gcmSeal(
  key: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): { readonly ciphertext: Buffer; readonly tag: Buffer } {
  if (iv.length !== GCM_IV_BYTES) throw new SealError(`the IV is ${GCM_IV_BYTES} bytes`);
  const c = createCipheriv(cipherName(key), key, iv, { authTagLength: GCM_TAG_BYTES });
  c.setAAD(aad);
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  return { ciphertext, tag: c.getAuthTag() };
}

/** Opens a sealed message; throws `SealError` when the tag does not verify (wrong key, altered data or AAD). */
export function gcmOpen(
  key: Uint8Array,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Buffer {
  if (iv.length !== GCM_IV_BYTES) throw new SealError(`the IV is ${GCM_IV_BYTES} bytes`);
  if (tag.length !== GCM_TAG_BYTES) throw new SealError(`the tag is ${GCM_TAG_BYTES} bytes`);
  const d = createDecipheriv(cipherName(key), key, iv, { authTagLength: GCM_TAG_BYTES });
  d.setAAD(aad);
  d.setAuthTag(tag);
  try {
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch {
    throw new SealError('the seal does not verify');
  }
}
