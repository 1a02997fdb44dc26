/**
 * The partner platform's use cases (docs/partners.md): sign-up with a sandbox key at once,
 * onboarding requirements before live keys, scoped keys that rotate with overlap and revoke,
 * bills delivered by service providers, and the signed payment confirmations sent to them.
 * The HTTP API (api/partners.ts) and the developer page (api/developers.ts) both call this; no
 * caller writes these tables directly. Every change is written to the append-only audit log.
 * Nothing here stores or logs a key in clear: only SHA-256 digests (partners/keys.ts).
 */
import { FixpayError } from '../domain/errors';
import type { PartnerBill, PartnerApiKey, Partner, WebhookAttempt, WebhookDelivery } from '../generated/prisma/client';
import type { PrismaClient } from '../generated/prisma/client';
import { ALL_SCOPES, hashToken, newApiKey, newId, tokenMode, type KeyMode, type Scope } from './keys';
import { WebhookEgressPolicy } from './webhook-egress';
import { partnerWebhookSecret } from './webhook-signing';

/** What a partner must provide before it may hold live keys. */
export const REQUIREMENTS = ['business_profile', 'terms_accepted', 'webhook_endpoint'] as const;
export type Requirement = (typeof REQUIREMENTS)[number];

/** How long a rotated key keeps working unless the caller says otherwise. */
export const KEY_ROTATION_OVERLAP_S_DEFAULT = 24 * 60 * 60;
/** Longest overlap a rotation may ask for. */
export const KEY_ROTATION_OVERLAP_S_MAX = 7 * 24 * 60 * 60;
/** Most rows a list answers with. */
export const LIST_LIMIT_MAX = 100;

/** The caller behind an API key. */
export interface Principal {
  readonly partnerId: string;
  readonly keyId: string;
  readonly mode: KeyMode;
  readonly scopes: ReadonlySet<Scope>;
  /** Who is written into the audit log. */
  readonly actor: string;
}

export interface PartnerView {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly legalName: string | null;
  readonly country: string | null;
  readonly webhookUrl: string | null;
  readonly capabilities: { readonly sandbox: 'active'; readonly live: 'active' | 'pending_requirements' };
  readonly requirements: readonly Requirement[];
  readonly createdAt: string;
}

export interface KeyView {
  readonly id: string;
  readonly mode: KeyMode;
  readonly prefix: string;
  readonly scopes: readonly Scope[];
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
}

/** A key as answered once, when made: with its secret. */
export interface NewKeyView extends KeyView {
  readonly secret: string;
}

export interface BillView {
  readonly id: string;
  readonly mode: KeyMode;
  readonly customerRef: string;
  readonly amount: { readonly minor: number; readonly currency: string };
  readonly description: string;
  readonly dueDate: string | null;
  readonly status: 'open' | 'paid' | 'cancelled';
  readonly paidAt: string | null;
  readonly createdAt: string;
}

export interface DeliveryView {
  readonly id: string;
  readonly messageId: string;
  readonly eventType: string;
  readonly status: 'pending' | 'delivered' | 'failed';
  readonly attempts: number;
  readonly replayOf: string | null;
  readonly createdAt: string;
  readonly deliveredAt: string | null;
  readonly attemptLog?: readonly {
    readonly attempt: number;
    readonly at: string;
    readonly statusCode: number | null;
    readonly error: string | null;
  }[];
}

export interface AuditView {
  readonly id: string;
  readonly occurredAt: string;
  readonly actor: string;
  readonly action: string;
  readonly details: unknown;
}

/** Starts the durable delivery run of a stored delivery; starting one twice is harmless. */
export type DeliveryStarter = (deliveryId: string) => Promise<void>;

export interface PartnerServiceDeps {
  readonly prisma: PrismaClient;
  readonly webhookMasterKey: Buffer;
  readonly startDelivery: DeliveryStarter;
  readonly now?: () => Date;
  /** Where webhook endpoints may point; public addresses only when absent (webhook-egress.ts). */
  readonly egress?: WebhookEgressPolicy;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function requirementsOf(p: Partner): Requirement[] {
  const out: Requirement[] = [];
  if (p.legalName === null || p.country === null) out.push('business_profile');
  if (p.termsAcceptedAt === null) out.push('terms_accepted');
  if (p.webhookUrl === null) out.push('webhook_endpoint');
  return out;
}

function partnerView(p: Partner): PartnerView {
  const requirements = requirementsOf(p);
  return {
    id: p.id,
    name: p.name,
    email: p.email,
    legalName: p.legalName,
    country: p.country,
    webhookUrl: p.webhookUrl,
    capabilities: { sandbox: 'active', live: requirements.length === 0 ? 'active' : 'pending_requirements' },
    requirements,
    createdAt: p.createdAt.toISOString(),
  };
}

function scopesOf(json: unknown): Scope[] {
  return Array.isArray(json) ? json.filter((s): s is Scope => (ALL_SCOPES as readonly unknown[]).includes(s)) : [];
}

function keyView(k: PartnerApiKey): KeyView {
  return {
    id: k.id,
    mode: k.mode,
    prefix: k.prefix,
    scopes: scopesOf(k.scopes),
    createdAt: k.createdAt.toISOString(),
    expiresAt: iso(k.expiresAt),
    revokedAt: iso(k.revokedAt),
  };
}

export function billView(b: PartnerBill): BillView {
  return {
    id: b.id,
    mode: b.mode,
    customerRef: b.customerRef,
    amount: { minor: Number(b.amountMinor), currency: b.currency },
    description: b.description,
    dueDate: b.dueDate,
    status: b.status,
    paidAt: iso(b.paidAt),
    createdAt: b.createdAt.toISOString(),
  };
}

function deliveryView(d: WebhookDelivery, attempts?: readonly WebhookAttempt[]): DeliveryView {
  return {
    id: d.id,
    messageId: d.messageId,
    eventType: d.eventType,
    status: d.status,
    attempts: d.attempts,
    replayOf: d.replayOf,
    createdAt: d.createdAt.toISOString(),
    deliveredAt: iso(d.deliveredAt),
    ...(attempts === undefined
      ? {}
      : {
          attemptLog: attempts.map((a) => ({
            attempt: a.attempt,
            at: a.at.toISOString(),
            statusCode: a.statusCode,
            error: a.error,
          })),
        }),
  };
}

/** Refuses unless the principal holds `scope`. */
export function requireScope(p: Principal, scope: Scope): void {
  if (!p.scopes.has(scope)) throw new FixpayError('PARTNER_SCOPE_MISSING', `needs ${scope}`);
}

/** Refuses unless the principal's key is of `mode`. */
export function requireMode(p: Principal, mode: KeyMode): void {
  if (p.mode !== mode) throw new FixpayError('PARTNER_WRONG_MODE', `needs a ${mode} key`);
}

export class PartnerService {
  private readonly prisma: PrismaClient;
  private readonly now: () => Date;

  constructor(private readonly deps: PartnerServiceDeps) {
    this.prisma = deps.prisma;
    this.now = deps.now ?? (() => new Date());
  }

  private async audit(actor: string, action: string, partnerId: string, details: object): Promise<void> {
    await this.prisma.auditEvent.create({ data: { actor, action, subject: `partner:${partnerId}`, details } });
  }

  /** A new partner with one sandbox key holding every scope (shown once). */
  async signUp(
    input: { name: string; email: string },
    actor: string,
  ): Promise<{ partner: PartnerView; key: NewKeyView }> {
    const id = newId('ptn');
    const key = newApiKey('test');
    const keyId = newId('key');
    const [partner, row] = await this.prisma.$transaction([
      this.prisma.partner.create({ data: { id, name: input.name, email: input.email } }),
      this.prisma.partnerApiKey.create({
        data: {
          id: keyId,
          partnerId: id,
          mode: 'test',
          prefix: key.prefix,
          secretHash: key.secretHash,
          scopes: [...ALL_SCOPES],
        },
      }),
    ]);
    await this.audit(actor, 'partner.created', id, { keyId });
    return { partner: partnerView(partner), key: { ...keyView(row), secret: key.token } };
  }

  /** The principal behind a token, or undefined for an unknown, expired or revoked key. */
  async authenticate(token: string): Promise<Principal | undefined> {
    const mode = tokenMode(token);
    if (mode === undefined) return undefined;
    const row = await this.prisma.partnerApiKey.findUnique({ where: { secretHash: hashToken(token) } });
    if (row === null || row.mode !== mode || row.revokedAt !== null) return undefined;
    if (row.expiresAt !== null && row.expiresAt <= this.now()) return undefined;
    return {
      partnerId: row.partnerId,
      keyId: row.id,
      mode: row.mode,
      scopes: new Set(scopesOf(row.scopes)),
      actor: `key:${row.id}`,
    };
  }

  private async partner(partnerId: string): Promise<Partner> {
    const p = await this.prisma.partner.findUnique({ where: { id: partnerId } });
    if (p === null) throw new FixpayError('NOT_FOUND', 'partner');
    return p;
  }

  async account(partnerId: string): Promise<PartnerView> {
    return partnerView(await this.partner(partnerId));
  }

  /** Fills onboarding requirements: business profile, terms, webhook endpoint. */
  async updateAccount(
    p: Principal,
    input: { legalName?: string; country?: string; acceptTerms?: boolean; webhookUrl?: string },
  ): Promise<PartnerView> {
    requireScope(p, 'account:write');
    const data: { legalName?: string; country?: string; termsAcceptedAt?: Date; webhookUrl?: string } = {};
    if (input.legalName !== undefined) data.legalName = input.legalName;
    if (input.country !== undefined) data.country = input.country;
    if (input.acceptTerms === true) data.termsAcceptedAt = this.now();
    if (input.webhookUrl !== undefined) data.webhookUrl = checkWebhookUrl(input.webhookUrl, this.deps.egress);
    const row = await this.prisma.partner.update({ where: { id: p.partnerId }, data });
    await this.audit(p.actor, 'account.updated', p.partnerId, { fields: Object.keys(data) });
    return partnerView(row);
  }

  async listKeys(p: Principal): Promise<KeyView[]> {
    requireScope(p, 'keys:read');
    const rows = await this.prisma.partnerApiKey.findMany({
      where: { partnerId: p.partnerId },
      orderBy: { createdAt: 'asc' },
      take: LIST_LIMIT_MAX,
    });
    return rows.map(keyView);
  }

  /** A new key; live keys only when no requirement is outstanding. A key never grants more than its maker holds. */
  async createKey(p: Principal, input: { mode: KeyMode; scopes: readonly Scope[] }): Promise<NewKeyView> {
    requireScope(p, 'keys:write');
    for (const s of input.scopes) requireScope(p, s);
    if (input.mode === 'live') {
      const outstanding = requirementsOf(await this.partner(p.partnerId));
      if (outstanding.length > 0) throw new FixpayError('PARTNER_REQUIREMENTS_OUTSTANDING', outstanding.join(', '));
    }
    const key = newApiKey(input.mode);
    const row = await this.prisma.partnerApiKey.create({
      data: {
        id: newId('key'),
        partnerId: p.partnerId,
        mode: input.mode,
        prefix: key.prefix,
        secretHash: key.secretHash,
        scopes: [...new Set(input.scopes)],
      },
    });
    await this.audit(p.actor, 'key.created', p.partnerId, { keyId: row.id, mode: row.mode, scopes: input.scopes });
    return { ...keyView(row), secret: key.token };
  }

  private async ownKey(p: Principal, keyId: string): Promise<PartnerApiKey> {
    const row = await this.prisma.partnerApiKey.findUnique({ where: { id: keyId } });
    if (row?.partnerId !== p.partnerId) throw new FixpayError('NOT_FOUND', 'key');
    return row;
  }

  /** A new key with the same mode and scopes; the old one keeps working for `overlapSeconds`. */
  async rotateKey(p: Principal, keyId: string, overlapSeconds: number): Promise<NewKeyView> {
    requireScope(p, 'keys:write');
    const old = await this.ownKey(p, keyId);
    if (old.revokedAt !== null || old.rotatedTo !== null)
      throw new FixpayError('CONFLICT', 'key already rotated or revoked');
    const key = newApiKey(old.mode);
    const id = newId('key');
    const expiresAt = new Date(this.now().getTime() + overlapSeconds * 1000);
    const [row] = await this.prisma.$transaction([
      this.prisma.partnerApiKey.create({
        data: {
          id,
          partnerId: p.partnerId,
          mode: old.mode,
          prefix: key.prefix,
          secretHash: key.secretHash,
          scopes: scopesOf(old.scopes),
        },
      }),
      this.prisma.partnerApiKey.update({ where: { id: keyId }, data: { expiresAt, rotatedTo: id } }),
    ]);
    await this.audit(p.actor, 'key.rotated', p.partnerId, { keyId, newKeyId: id, overlapSeconds });
    return { ...keyView(row), secret: key.token };
  }

  async revokeKey(p: Principal, keyId: string): Promise<KeyView> {
    requireScope(p, 'keys:write');
    const old = await this.ownKey(p, keyId);
    const row =
      old.revokedAt === null
        ? await this.prisma.partnerApiKey.update({ where: { id: keyId }, data: { revokedAt: this.now() } })
        : old;
    await this.audit(p.actor, 'key.revoked', p.partnerId, { keyId });
    return keyView(row);
  }

  /** Stores a bill, open, for the bill-payment service to present at the phone (not built yet). */
  async createBill(
    p: Principal,
    input: { customerRef: string; amount: { minor: number; currency: string }; description: string; dueDate?: string },
  ): Promise<BillView> {
    requireScope(p, 'bills:write');
    const row = await this.prisma.partnerBill.create({
      data: {
        id: newId('bill'),
        partnerId: p.partnerId,
        mode: p.mode,
        customerRef: input.customerRef,
        amountMinor: BigInt(input.amount.minor),
        currency: input.amount.currency,
        description: input.description,
        dueDate: input.dueDate ?? null,
        status: 'open',
      },
    });
    await this.audit(p.actor, 'bill.created', p.partnerId, { billId: row.id, mode: p.mode });
    return billView(row);
  }

  async listBills(p: Principal, status?: 'open' | 'paid' | 'cancelled'): Promise<BillView[]> {
    requireScope(p, 'bills:read');
    const rows = await this.prisma.partnerBill.findMany({
      where: { partnerId: p.partnerId, mode: p.mode, ...(status === undefined ? {} : { status }) },
      orderBy: { createdAt: 'desc' },
      take: LIST_LIMIT_MAX,
    });
    return rows.map(billView);
  }

  async getBill(p: Principal, billId: string): Promise<BillView> {
    requireScope(p, 'bills:read');
    const row = await this.prisma.partnerBill.findUnique({ where: { id: billId } });
    if (row?.partnerId !== p.partnerId || row.mode !== p.mode) throw new FixpayError('NOT_FOUND', 'bill');
    return billView(row);
  }

  /**
   * Sandbox only: marks an open bill paid and queues the `bill.paid` confirmation, in one
   * transaction (the bill cannot be paid twice: the update is conditional on `open`).
   */
  async payTestBill(p: Principal, billId: string): Promise<{ bill: BillView; delivery: DeliveryView | null }> {
    requireMode(p, 'test');
    requireScope(p, 'bills:write');
    const bill = await this.getBill(p, billId);
    if (bill.status !== 'open') throw new FixpayError('BILL_NOT_PAYABLE', bill.status);
    const partner = await this.partner(p.partnerId);
    const paidAt = this.now();
    const paid = { ...bill, status: 'paid' as const, paidAt: paidAt.toISOString() };
    const deliveryId = newId('dlv');
    const result = await this.prisma.$transaction(async (tx) => {
      const changed = await tx.partnerBill.updateMany({
        where: { id: billId, status: 'open' },
        data: { status: 'paid', paidAt },
      });
      if (changed.count !== 1) return null;
      if (partner.webhookUrl === null) return undefined;
      return tx.webhookDelivery.create({
        data: {
          id: deliveryId,
          messageId: newId('msg'),
          partnerId: p.partnerId,
          mode: p.mode,
          eventType: 'bill.paid',
          payload: { bill: paid },
          status: 'pending',
        },
      });
    });
    if (result === null) throw new FixpayError('BILL_NOT_PAYABLE', 'paid concurrently');
    await this.audit(p.actor, 'bill.paid', p.partnerId, { billId, deliveryId: result?.id ?? null });
    if (result !== undefined) await this.deps.startDelivery(result.id);
    return { bill: paid, delivery: result === undefined ? null : deliveryView(result) };
  }

  async listDeliveries(p: Principal): Promise<DeliveryView[]> {
    requireScope(p, 'webhooks:read');
    const rows = await this.prisma.webhookDelivery.findMany({
      where: { partnerId: p.partnerId, mode: p.mode },
      orderBy: { createdAt: 'desc' },
      take: LIST_LIMIT_MAX,
    });
    return rows.map((d) => deliveryView(d));
  }

  private async ownDelivery(p: Principal, id: string): Promise<WebhookDelivery> {
    const row = await this.prisma.webhookDelivery.findUnique({ where: { id } });
    if (row?.partnerId !== p.partnerId || row.mode !== p.mode) throw new FixpayError('NOT_FOUND', 'delivery');
    return row;
  }

  async getDelivery(p: Principal, id: string): Promise<DeliveryView> {
    requireScope(p, 'webhooks:read');
    const row = await this.ownDelivery(p, id);
    const attempts = await this.prisma.webhookAttempt.findMany({
      where: { deliveryId: id },
      orderBy: { attempt: 'asc' },
    });
    return deliveryView(row, attempts);
  }

  /** Sends a delivery's message again as a new delivery with the same `webhook-id`. */
  async replayDelivery(p: Principal, id: string): Promise<DeliveryView> {
    requireScope(p, 'webhooks:write');
    const old = await this.ownDelivery(p, id);
    const partner = await this.partner(p.partnerId);
    if (partner.webhookUrl === null) throw new FixpayError('WEBHOOK_ENDPOINT_MISSING');
    const row = await this.prisma.webhookDelivery.create({
      data: {
        id: newId('dlv'),
        messageId: old.messageId,
        partnerId: p.partnerId,
        mode: p.mode,
        eventType: old.eventType,
        payload: old.payload ?? {},
        status: 'pending',
        replayOf: old.id,
      },
    });
    await this.audit(p.actor, 'webhook.replayed', p.partnerId, { deliveryId: old.id, newDeliveryId: row.id });
    await this.deps.startDelivery(row.id);
    return deliveryView(row);
  }

  /** The partner's current signing secret (derived, never stored). */
  async webhookSecret(p: Principal): Promise<string> {
    requireScope(p, 'webhooks:read');
    const partner = await this.partner(p.partnerId);
    return partnerWebhookSecret(this.deps.webhookMasterKey, partner.id, partner.webhookSecretVersion);
  }

  async auditEvents(p: Principal): Promise<AuditView[]> {
    requireScope(p, 'account:read');
    const rows = await this.prisma.auditEvent.findMany({
      where: { subject: `partner:${p.partnerId}` },
      orderBy: { occurredAt: 'desc' },
      take: LIST_LIMIT_MAX,
    });
    return rows.map((r) => ({
      id: r.id.toString(),
      occurredAt: r.occurredAt.toISOString(),
      actor: r.actor,
      action: r.action,
      details: r.details,
    }));
  }

  /** Starts the runs of deliveries still pending (after a crash between the commit and the start). */
  async resumePendingDeliveries(): Promise<number> {
    const rows = await this.prisma.webhookDelivery.findMany({
      where: { status: 'pending' },
      select: { id: true },
      take: 1000,
    });
    for (const r of rows) await this.deps.startDelivery(r.id);
    return rows.length;
  }
}

/**
 * http(s) URLs only, no credentials in them (BAD_REQUEST), and no host that names a loopback,
 * private or reserved address (WEBHOOK_URL_FORBIDDEN; names are checked again at every delivery).
 */
export function checkWebhookUrl(raw: string, egress: WebhookEgressPolicy = new WebhookEgressPolicy()): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new FixpayError('BAD_REQUEST', 'webhookUrl is not a URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new FixpayError('BAD_REQUEST', 'webhookUrl must be http(s)');
  if (u.username !== '' || u.password !== '')
    throw new FixpayError('BAD_REQUEST', 'webhookUrl must not carry credentials');
  egress.checkHost(u.hostname);
  return u.toString();
}
