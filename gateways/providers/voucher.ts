/**
 * A top-up PIN (game card, Q coins) sealed the moment the connector reads it: AES-256-GCM under
 * the voucher key, so workflow history, logs and the database only ever see `v1.<keyId>.<iv>.<data>.<tag>`.
 * The terminal hand-over opens it to print the receipt (docs/providers.md §Vouchers).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { FixpayError } from '../../domain/errors';

export interface VoucherKey {
  readonly id: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

const b64 = (b: Buffer): string => b.toString('base64url');

export function sealVoucher(pin: string, k: VoucherKey): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', k.key, iv);
  c.setAAD(Buffer.from(`fixpay-voucher:${k.id}`));
  const data = Buffer.concat([c.update(pin, 'utf8'), c.final()]);
  return `v1.${k.id}.${b64(iv)}.${b64(data)}.${b64(c.getAuthTag())}`;
}

export function openVoucher(sealed: string, keys: readonly VoucherKey[]): string {
  const [v, id, iv, data, tag, ...rest] = sealed.split('.');
  const k = keys.find((x) => x.id === id);
  if (v !== 'v1' || k === undefined || iv === undefined || data === undefined || tag === undefined || rest.length > 0)
    throw new FixpayError('PROVIDER_REJECTED', 'not a sealed voucher under a known key');
  try {
    const d = createDecipheriv('aes-256-gcm', k.key, Buffer.from(iv, 'base64url'));
    d.setAAD(Buffer.from(`fixpay-voucher:${k.id}`));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(data, 'base64url')), d.final()]).toString('utf8');
  } catch {
    throw new FixpayError('PROVIDER_REJECTED', 'sealed voucher does not open');
  }
}

/** The voucher key derived from the platform's LMK (one secret to keep, like the webhook master key). */
export function voucherKeyFromLmk(lmkHex: string): Buffer {
  return createHmac('sha256', Buffer.from(lmkHex, 'hex')).update('fixpay voucher key v1').digest();
}
