/**
 * The partner API's routes (docs/partners.md). They are registered from the OpenAPI document by
 * operationId: a handler the document does not name, or an operation without a handler, stops
 * start-up. Per request, in order: the API key (401), the per-key rate limit (429 + Retry-After),
 * the Idempotency-Key of a write (400), the document's validation (400/404/405), the handler, and
 * for writes the stored answer (a retry with the same key and request gets it again, another
 * request 409).
 */
import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { FixpayError } from '../domain/errors';
import type { IdempotencyStore } from '../partners/idempotency';
import { IDEMPOTENCY_KEY_LENGTH_MAX, requestHash } from '../partners/idempotency';
import type { KeyMode, Scope } from '../partners/keys';
import type { RateLimiter } from '../partners/rate-limit';
import type { PartnerService, Principal } from '../partners/service';
import { KEY_ROTATION_OVERLAP_S_DEFAULT, requireScope } from '../partners/service';
import type { CatalogueStore } from '../gateways/providers/catalogue-store';
import { PARTNER_CATALOGUE_HANDLERS } from './catalogue';
import type { StatementService } from '../partners/statements';
import { statementCsv } from '../partners/statements';
import { expressPath, specOperations } from './openapi';

export interface PartnerApiDeps {
  readonly service: PartnerService;
  readonly idempotency: IdempotencyStore;
  readonly rateLimiter: RateLimiter;
  /** Daily statements (`/v1/statements/{date}`); absent: that operation answers 404. */
  readonly statements?: StatementService;
  /** Catalogue management (`/v1/catalogue`, ADR 0029); absent: those operations answer 404. */
  readonly catalogue?: CatalogueStore;
}

interface Call {
  readonly principal: Principal;
  readonly body: Record<string, unknown>;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, unknown>>;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
  /** Sent as this media type (a string body) instead of JSON. */
  readonly contentType?: string;
}

type Handler = (service: PartnerService, call: Call, deps: PartnerApiDeps) => Promise<Answer>;

const ok = (body: unknown, status = 200): Answer => ({ status, body });
const param = (call: Call, name: string): string => call.params[name] ?? '';

/** One handler per operationId of api/openapi.yaml (getHealth is api/app.ts's). */
export const PARTNER_HANDLERS: Readonly<Record<string, Handler>> = {
  signUp: async (s, c) => {
    const { partner, key } = await s.signUp(
      { name: String(c.body['name']), email: String(c.body['email']) },
      'signup:api',
    );
    return ok({ partner, key }, 201);
  },
  getAccount: async (s, c) => {
    requireScope(c.principal, 'account:read');
    return ok(await s.account(c.principal.partnerId));
  },
  updateAccount: async (s, c) => {
    const b = c.body;
    return ok(
      await s.updateAccount(c.principal, {
        ...(typeof b['legalName'] === 'string' ? { legalName: b['legalName'] } : {}),
        ...(typeof b['country'] === 'string' ? { country: b['country'] } : {}),
        ...(b['acceptTerms'] === true ? { acceptTerms: true } : {}),
        ...(typeof b['webhookUrl'] === 'string' ? { webhookUrl: b['webhookUrl'] } : {}),
      }),
    );
  },
  listKeys: async (s, c) => ok({ data: await s.listKeys(c.principal) }),
  createKey: async (s, c) =>
    ok(await s.createKey(c.principal, { mode: c.body['mode'] as KeyMode, scopes: c.body['scopes'] as Scope[] }), 201),
  rotateKey: async (s, c) => {
    const overlap = c.body['overlapSeconds'];
    return ok(
      await s.rotateKey(
        c.principal,
        param(c, 'keyId'),
        typeof overlap === 'number' ? overlap : KEY_ROTATION_OVERLAP_S_DEFAULT,
      ),
      201,
    );
  },
  revokeKey: async (s, c) => ok(await s.revokeKey(c.principal, param(c, 'keyId'))),
  listBills: async (s, c) => {
    const status = c.query['status'];
    return ok({
      data: await s.listBills(
        c.principal,
        status === 'open' || status === 'paid' || status === 'cancelled' ? status : undefined,
      ),
    });
  },
  createBill: async (s, c) => {
    const b = c.body;
    const amount = b['amount'] as { minor: number; currency: string };
    return ok(
      await s.createBill(c.principal, {
        customerRef: String(b['customerRef']),
        amount: { minor: amount.minor, currency: amount.currency },
        description: String(b['description']),
        ...(typeof b['dueDate'] === 'string' ? { dueDate: b['dueDate'] } : {}),
      }),
      201,
    );
  },
  getBill: async (s, c) => ok(await s.getBill(c.principal, param(c, 'billId'))),
  payTestBill: async (s, c) => ok(await s.payTestBill(c.principal, param(c, 'billId'))),
  getWebhookEndpoint: async (s, c) => {
    const secret = await s.webhookSecret(c.principal);
    const account = await s.account(c.principal.partnerId);
    return ok({ url: account.webhookUrl, secret });
  },
  listWebhookDeliveries: async (s, c) => ok({ data: await s.listDeliveries(c.principal) }),
  getWebhookDelivery: async (s, c) => ok(await s.getDelivery(c.principal, param(c, 'deliveryId'))),
  replayWebhookDelivery: async (s, c) => ok(await s.replayDelivery(c.principal, param(c, 'deliveryId')), 202),
  listAuditEvents: async (s, c) => ok({ data: await s.auditEvents(c.principal) }),
  getStatement: async (_s, c, d) => {
    if (d.statements === undefined) throw new FixpayError('NOT_FOUND', 'statements are not served by this API');
    const statement = await d.statements.statement(c.principal, param(c, 'date'));
    return c.query['format'] === 'csv'
      ? { status: 200, body: statementCsv(statement), contentType: 'text/csv; charset=utf-8' }
      : ok(statement);
  },
  ...Object.fromEntries(
    Object.entries(PARTNER_CATALOGUE_HANDLERS).map(([id, h]): [string, Handler] => [
      id,
      (_s, c, d) => h(c, d.catalogue),
    ]),
  ),
};

/** Operations answered elsewhere (api/app.ts). */
export const OPERATIONS_OUTSIDE_PARTNERS: readonly string[] = [
  'getHealth',
  // The operator API (api/operator.ts).
  'onboardCustomer',
  'orderTerminal',
  'getTerminal',
  'terminalCommand',
  'listRebindings',
  'listApprovals',
  'decideApproval',
  'addCardRange',
  'issueCardBatch',
  'getCard',
  'cardCommand',
  'getCampaignReport',
  'operatorListCatalogue',
  'operatorGetCatalogueEntry',
  'operatorPutCatalogueEntry',
  'operatorDeleteCatalogueEntry',
  'validateDefinition',
  'testDefinition',
  'deployDefinition',
  'getDefinition',
  'releaseDefinition',
];

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const BEARER = /^Bearer ([\x21-\x7E]{1,200})$/;

/** Partner requests served at once by one API process; more are shed with 503 (bounded queueing). */
export const PARTNER_IN_FLIGHT_MAX = 128;
/**
 * How long the oldest partner request in flight may have waited, while others wait too, before new
 * ones are shed. The count alone does not bound the wait: on the embedded database (one transaction
 * at a time) on a busy machine, 128 requests in flight waited longer than a client's timeout, so
 * answers came after the caller had given up (a stored bill whose 201 nobody read).
 */
export const PARTNER_QUEUE_BUDGET_MS = 2_000;
/** Requests in flight below which age sheds nothing (one slow request alone is not congestion). */
export const PARTNER_CONGESTED_MIN = 8;

/**
 * Sheds partner requests with 503 + Retry-After when `max` are in flight, or when at least
 * `congestedMin` are in flight and the oldest has waited longer than `budgetMs` (a sojourn bound:
 * the queue in front of the database is full of old work, so new work would only wait longer).
 */
export function inFlightLimit(
  max: number = PARTNER_IN_FLIGHT_MAX,
  budgetMs: number = PARTNER_QUEUE_BUDGET_MS,
  now: () => number = () => performance.now(),
  congestedMin: number = PARTNER_CONGESTED_MIN,
): RequestHandler {
  const started = new Set<{ readonly at: number }>();
  const oldestAge = (t: number): number => {
    let oldest = t;
    for (const s of started) if (s.at < oldest) oldest = s.at;
    return t - oldest;
  };
  return (_req, res, next) => {
    const t = now();
    if (started.size >= max || (started.size >= congestedMin && oldestAge(t) > budgetMs)) {
      res.setHeader('Retry-After', '1');
      next(new FixpayError('API_OVERLOADED'));
      return;
    }
    const entry = { at: t };
    started.add(entry);
    res.once('close', () => {
      started.delete(entry);
    });
    next();
  };
}

/** The signed-up-but-unauthenticated caller of signUp. */
const ANONYMOUS: Principal = { partnerId: '', keyId: '', mode: 'test', scopes: new Set(), actor: 'anonymous' };

function principalOf(res: Response): Principal {
  return (res.locals['principal'] as Principal | undefined) ?? ANONYMOUS;
}

/**
 * Runs before the document's validation on `/v1/`: the key (unless the operation is open), the
 * rate limit and the Idempotency-Key header of a write. `open` lists the paths needing no key.
 */
export function partnerGate(deps: PartnerApiDeps, open: ReadonlySet<string>): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const run = async (): Promise<void> => {
      const isOpen = open.has(`${req.method} ${req.baseUrl}${req.path}`);
      let bucket = `ip:${req.socket.remoteAddress ?? ''}`;
      if (!isOpen) {
        const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
        const principal = token === undefined ? undefined : await deps.service.authenticate(token);
        if (principal === undefined) {
          res.setHeader('WWW-Authenticate', 'Bearer realm="fixpay"');
          throw new FixpayError('UNAUTHORIZED', 'send Authorization: Bearer fp_test_… or fp_live_…');
        }
        res.locals['principal'] = principal;
        bucket = `key:${principal.keyId}`;
      }
      const decision = deps.rateLimiter.take(bucket);
      if (!decision.ok) {
        res.setHeader('Retry-After', String(decision.retryAfterSeconds));
        throw new FixpayError('RATE_LIMITED');
      }
      if (WRITE_METHODS.has(req.method)) {
        const key = req.headers['idempotency-key'];
        if (typeof key !== 'string' || key.length === 0 || key.length > IDEMPOTENCY_KEY_LENGTH_MAX)
          throw new FixpayError('IDEMPOTENCY_KEY_MISSING');
      }
    };
    run().then(() => next(), next);
  };
}

/**
 * A handler wrapped with the idempotency record of writes: claim, run, store a 2xx answer (an
 * error releases the claim, so a corrected retry may use the same key).
 */
function route(deps: PartnerApiDeps, handler: Handler): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const run = async (): Promise<void> => {
      const principal = principalOf(res);
      const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
      const call: Call = { principal, body, params: req.params as Record<string, string>, query: req.query };
      if (!WRITE_METHODS.has(req.method)) {
        const a = await handler(deps.service, call, deps);
        if (a.contentType !== undefined) res.status(a.status).type(a.contentType).send(a.body);
        else res.status(a.status).json(a.body);
        return;
      }
      const key = String(req.headers['idempotency-key']);
      const scope = principal.partnerId === '' ? 'partner:signup' : `partner:${principal.partnerId}:${principal.mode}`;
      const claim = await deps.idempotency.claim(
        scope,
        key,
        requestHash(req.method, req.path, (req.body as unknown) ?? null),
      );
      if (claim.kind === 'conflict') throw new FixpayError('PARTNER_IDEMPOTENCY_KEY_REUSED');
      if (claim.kind === 'in-progress') throw new FixpayError('IDEMPOTENCY_IN_PROGRESS');
      if (claim.kind === 'replay') {
        res.setHeader('Idempotent-Replayed', 'true');
        res.status(claim.status).json(claim.body);
        return;
      }
      let a: Answer;
      try {
        a = await handler(deps.service, call, deps);
      } catch (e) {
        await deps.idempotency.release(scope, key);
        throw e;
      }
      await deps.idempotency.finish(scope, key, a.status, a.body);
      res.status(a.status).json(a.body);
    };
    run().catch(next);
  };
}

/** The `/v1/` routes, registered from the document. Throws when a handler and the document disagree. */
export function partnerRouter(deps: PartnerApiDeps): express.Router {
  const router = express.Router();
  const operations = specOperations().filter((o) => !OPERATIONS_OUTSIDE_PARTNERS.includes(o.operationId));
  const named = new Set(operations.map((o) => o.operationId));
  const extra = Object.keys(PARTNER_HANDLERS).filter((id) => !named.has(id));
  if (extra.length > 0) throw new Error(`handlers without an operation in api/openapi.yaml: ${extra.join(', ')}`);
  for (const op of operations) {
    const handler = PARTNER_HANDLERS[op.operationId];
    if (handler === undefined) throw new Error(`operation ${op.operationId} of api/openapi.yaml has no handler`);
    router[op.method](expressPath(op.path), route(deps, handler));
  }
  return router;
}

/** `METHOD path` of the operations that need no key (signUp). */
export function openOperations(): ReadonlySet<string> {
  return new Set(
    specOperations()
      .filter((o) => !o.authenticated && o.path.startsWith('/v1/'))
      .map((o) => `${o.method.toUpperCase()} ${o.path}`),
  );
}
