/**
 * One delivery attempt of a stored webhook message (called by the `deliverWebhook` activity):
 * builds the body from the stored row, signs it (Standard Webhooks), POSTs it with a timeout and
 * records the attempt. A 2xx answer delivers; anything else (status, timeout, refused connection)
 * is a failed attempt the workflow retries on its schedule. Safe to repeat: the attempt row is
 * upserted and a delivered message is not sent again.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { PrismaClient } from '../generated/prisma/client';
import { FixpayError } from '../domain/errors';
import { WebhookEgressPolicy } from './webhook-egress';
import { partnerWebhookSecret, signWebhook } from './webhook-signing';

/** Longest wait for the partner's endpoint per attempt. */
export const WEBHOOK_ATTEMPT_TIMEOUT_MS = 10_000;

export interface AttemptResult {
  readonly delivered: boolean;
  readonly statusCode: number | null;
}

export interface WebhookSenderDeps {
  readonly prisma: PrismaClient;
  readonly webhookMasterKey: Buffer;
  readonly timeoutMs?: number;
  readonly now?: () => Date;
  /** Where deliveries may connect; public addresses only when absent (webhook-egress.ts). */
  readonly egress?: WebhookEgressPolicy;
}

/**
 * One POST through the egress policy: the socket connects only to an address the policy permits
 * (its `lookup`; an address literal is checked here, as sockets do not look literals up), follows
 * no redirect and reads no more of the answer than its status.
 */
export function postThrough(
  egress: WebhookEgressPolicy,
  url: string,
  headers: OutgoingHttpHeaders,
  body: string,
  timeoutMs: number,
): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  const u = new URL(url);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (isIP(host) !== 0 && !egress.permits(host))
    return Promise.reject(
      new FixpayError('WEBHOOK_URL_FORBIDDEN', `webhook endpoint ${host} is an address deliveries may not reach`),
    );
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        lookup: egress.lookup,
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
        res.destroy();
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The body a delivery sends: stable across attempts and replays of one message. */
export function webhookBody(d: { eventType: string; createdAt: Date; payload: unknown }): string {
  return JSON.stringify({ type: d.eventType, timestamp: d.createdAt.toISOString(), data: d.payload });
}

export class WebhookSender {
  private readonly now: () => Date;
  private readonly egress: WebhookEgressPolicy;

  constructor(private readonly deps: WebhookSenderDeps) {
    this.now = deps.now ?? (() => new Date());
    this.egress = deps.egress ?? new WebhookEgressPolicy();
  }

  async attempt(deliveryId: string, attempt: number): Promise<AttemptResult> {
    const { prisma } = this.deps;
    const d = await prisma.webhookDelivery.findUnique({ where: { id: deliveryId }, include: { partner: true } });
    if (d === null) return { delivered: false, statusCode: null };
    if (d.status === 'delivered') return { delivered: true, statusCode: null };
    const url = d.partner.webhookUrl;
    let statusCode: number | null = null;
    let error: string | null = null;
    const started = Date.now();
    if (url === null) {
      error = 'no webhook endpoint';
    } else {
      const body = webhookBody(d);
      const ts = Math.floor(this.now().getTime() / 1000);
      const secret = partnerWebhookSecret(this.deps.webhookMasterKey, d.partnerId, d.partner.webhookSecretVersion);
      try {
        const res = await postThrough(
          this.egress,
          url,
          {
            'content-type': 'application/json',
            'user-agent': 'fixpay-webhooks/1',
            'webhook-id': d.messageId,
            'webhook-timestamp': String(ts),
            'webhook-signature': signWebhook(secret, d.messageId, ts, body),
          },
          body,
          this.deps.timeoutMs ?? WEBHOOK_ATTEMPT_TIMEOUT_MS,
        );
        statusCode = res.status;
      } catch (e) {
        error = (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 256);
      }
    }
    const durationMs = Date.now() - started;
    const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300;
    await prisma.$transaction([
      prisma.webhookAttempt.upsert({
        where: { deliveryId_attempt: { deliveryId, attempt } },
        create: { deliveryId, attempt, statusCode, error, durationMs },
        update: { statusCode, error, durationMs, at: this.now() },
      }),
      prisma.webhookDelivery.update({
        where: { id: deliveryId },
        data: { attempts: attempt, ...(delivered ? { status: 'delivered', deliveredAt: this.now() } : {}) },
      }),
    ]);
    return { delivered, statusCode };
  }

  async markFailed(deliveryId: string): Promise<void> {
    await this.deps.prisma.webhookDelivery.updateMany({
      where: { id: deliveryId, status: 'pending' },
      data: { status: 'failed' },
    });
  }
}
