/**
 * Standard Webhooks signatures (docs/partners.md): `webhook-signature: v1,<base64 HMAC-SHA256>`
 * over `<webhook-id>.<webhook-timestamp>.<body>`, keyed by the bytes of the `whsec_<base64>`
 * secret. A partner's secret is derived from the platform's webhook master key, its id and a
 * version it can bump; it is never stored.
 */
import { createHmac } from 'node:crypto';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** The master key webhook secrets derive from: an HMAC of the LMK under a fixed label (ADR 0014). */
export function webhookMasterKey(lmkHex: string): Buffer {
  return createHmac('sha256', Buffer.from(lmkHex, 'hex')).update('fixpay webhook secrets v1').digest();
}

export function partnerWebhookSecret(masterKey: Buffer, partnerId: string, version: number): string {
  const key = createHmac('sha256', masterKey).update(`${partnerId}:${version}`).digest();
  return `${WEBHOOK_SECRET_PREFIX}${key.toString('base64')}`;
}

/** The `webhook-signature` header value for one message. */
export function signWebhook(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(6) : secret, 'base64');
  const mac = createHmac('sha256', key).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}
