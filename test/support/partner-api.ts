/**
 * The partner API on a real socket over a freshly migrated test database, for integration tests
 * and the load bench. `startDelivery` is the caller's: a real Temporal client in the webhook tests,
 * a recorder elsewhere.
 */
import { WebhookEgressPolicy } from '../../partners/webhook-egress';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../api/app';
import type { AppDeps } from '../../api/app';
import { IdempotencyStore } from '../../partners/idempotency';
import { RateLimiter, type RateLimit } from '../../partners/rate-limit';
import { PartnerService, type DeliveryStarter } from '../../partners/service';
import { webhookMasterKey } from '../../partners/webhook-signing';
import type { PrismaClient } from '../../generated/prisma/client';
import { CatalogueStore, catalogueSecretKey } from '../../gateways/providers/catalogue-store';
import type { ProviderCatalog } from '../../gateways/providers/profile';
import { ledgerPostingLookup } from '../../api/statements';
import { StatementService } from '../../partners/statements';

export interface PartnerApi {
  readonly base: string;
  readonly service: PartnerService;
  readonly masterKey: Buffer;
  readonly catalogue: CatalogueStore;
  close(): Promise<void>;
}

export interface PartnerApiOptions {
  readonly prisma: PrismaClient;
  readonly startDelivery?: DeliveryStarter;
  readonly rateLimit?: RateLimit;
  /** The LMK webhook secrets derive from (hex); random when absent. */
  readonly lmkHex?: string;
  readonly port?: number;
  readonly extra?: Partial<AppDeps>;
  /** Networks webhook URLs may name; loopback by default (tests' receivers listen there). */
  readonly webhookAllowedNetworks?: string;
  /** The provider directory's own documents, for the catalogue's id and terminal-code checks. */
  readonly providerFiles?: () => ProviderCatalog;
}

/** Loopback, where test receivers listen. */
export const LOOPBACK_NETWORKS = '127.0.0.0/8,::1/128';

export async function startPartnerApi(options: PartnerApiOptions): Promise<PartnerApi> {
  const lmk = options.lmkHex ?? randomBytes(32).toString('hex');
  const masterKey = webhookMasterKey(lmk);
  const egress = new WebhookEgressPolicy(options.webhookAllowedNetworks ?? LOOPBACK_NETWORKS);
  const service = new PartnerService({
    prisma: options.prisma,
    webhookMasterKey: masterKey,
    startDelivery: options.startDelivery ?? (() => Promise.resolve()),
    egress,
  });
  const catalogue = new CatalogueStore({
    prisma: options.prisma,
    sealKey: catalogueSecretKey(lmk),
    checkEndpointHost: (host) => egress.checkHost(host),
    ...(options.providerFiles === undefined ? {} : { files: options.providerFiles }),
  });
  const app = createApp({
    version: 'test',
    checks: [],
    partners: {
      service,
      idempotency: new IdempotencyStore(options.prisma),
      rateLimiter: new RateLimiter(options.rateLimit),
      catalogue,
      statements: new StatementService(options.prisma, ledgerPostingLookup(options.prisma)),
    },
    ...options.extra,
  });
  const server: Server = app.listen(options.port ?? 0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    service,
    masterKey,
    catalogue,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A JSON call with an optional key and Idempotency-Key; answers status, headers and parsed body. */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: { key?: string; idem?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key !== undefined) headers['authorization'] = `Bearer ${opts.key}`;
  if (opts.idem !== undefined) headers['idempotency-key'] = opts.idem;
  const body = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    parsed = { text };
  }
  return { status: res.status, headers: res.headers, body: parsed };
}
