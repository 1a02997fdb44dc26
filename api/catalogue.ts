/**
 * Catalogue management by API (docs/providers.md §Catalogue by API, ADR 0029): the partner
 * operations under `/v1/catalogue` (a partner's own entries, scopes `catalogue:read|write`, the
 * key's mode) and the operator's under `/operator/v1/catalogue` (every entry, any mode, an owner).
 * Both call `CatalogueStore`, which validates with the provider loader's own schema.
 */
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { FixpayError } from '../domain/errors';
import type {
  CatalogueActor,
  CatalogueKind,
  CatalogueMode,
  CatalogueStore,
} from '../gateways/providers/catalogue-store';
import { CATALOGUE_KINDS } from '../gateways/providers/catalogue-store';
import type { IdempotencyStore } from '../partners/idempotency';
import { requestHash } from '../partners/idempotency';
import type { Principal } from '../partners/service';
import { requireScope } from '../partners/service';

/** The document kind a path segment names (the document has checked the segment). */
export function catalogueKind(segment: unknown): CatalogueKind | undefined {
  if (segment === undefined) return undefined;
  const kind = Object.entries(CATALOGUE_KINDS).find(([path]) => path === segment)?.[1];
  if (kind === undefined) throw new FixpayError('BAD_REQUEST', 'unknown catalogue kind');
  return kind;
}

function store(catalogue: CatalogueStore | undefined): CatalogueStore {
  if (catalogue === undefined) throw new FixpayError('NOT_FOUND', 'the catalogue is not served by this API');
  return catalogue;
}

const partnerActor = (p: Principal): CatalogueActor => ({ kind: 'partner', partnerId: p.partnerId, actor: p.actor });

interface PartnerCall {
  readonly principal: Principal;
  readonly body: Record<string, unknown>;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, unknown>>;
}

type Answer = { readonly status: number; readonly body: unknown };

/** The partner's catalogue operations (merged into PARTNER_HANDLERS). */
export const PARTNER_CATALOGUE_HANDLERS: Readonly<
  Record<string, (c: PartnerCall, catalogue: CatalogueStore | undefined) => Promise<Answer>>
> = {
  listCatalogue: async (c, catalogue) => {
    requireScope(c.principal, 'catalogue:read');
    const data = await store(catalogue).list(
      partnerActor(c.principal),
      c.principal.mode,
      catalogueKind(c.query['kind']),
    );
    return { status: 200, body: { data } };
  },
  getCatalogueEntry: async (c, catalogue) => {
    requireScope(c.principal, 'catalogue:read');
    const kind = catalogueKind(c.params['kind']) ?? 'Provider';
    return {
      status: 200,
      body: await store(catalogue).get(partnerActor(c.principal), c.principal.mode, kind, c.params['entryId'] ?? ''),
    };
  },
  putCatalogueEntry: async (c, catalogue) => {
    requireScope(c.principal, 'catalogue:write');
    const { entry, created } = await store(catalogue).put(partnerActor(c.principal), {
      mode: c.principal.mode,
      kind: catalogueKind(c.params['kind']) ?? 'Provider',
      id: c.params['entryId'] ?? '',
      document: c.body,
    });
    return { status: created ? 201 : 200, body: entry };
  },
  deleteCatalogueEntry: async (c, catalogue) => {
    requireScope(c.principal, 'catalogue:write');
    const kind = catalogueKind(c.params['kind']) ?? 'Provider';
    return {
      status: 200,
      body: await store(catalogue).remove(partnerActor(c.principal), c.principal.mode, kind, c.params['entryId'] ?? ''),
    };
  },
};

export interface OperatorCatalogueDeps {
  readonly catalogue?: CatalogueStore;
  /** Stored answers of the operator's catalogue writes (by Idempotency-Key); without it, PUT's own idempotence. */
  readonly idempotency?: IdempotencyStore;
}

const modeOf = (req: Request): CatalogueMode => (req.query['mode'] === 'test' ? 'test' : 'live');

/**
 * A write with its Idempotency-Key: the same key and request answer the stored answer again,
 * another request 409; an error releases the key.
 */
export async function idempotent(
  deps: OperatorCatalogueDeps,
  req: Request,
  operatorId: string,
  run: () => Promise<Answer>,
): Promise<Answer> {
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0 || key.length > 255) throw new FixpayError('IDEMPOTENCY_KEY_MISSING');
  const idem = deps.idempotency;
  if (idem === undefined) return run();
  const scope = `operator:${createHash('sha256').update(operatorId).digest('hex').slice(0, 32)}`;
  const claim = await idem.claim(scope, key, requestHash(req.method, req.originalUrl, (req.body as unknown) ?? null));
  if (claim.kind === 'conflict') throw new FixpayError('PARTNER_IDEMPOTENCY_KEY_REUSED');
  if (claim.kind === 'in-progress') throw new FixpayError('IDEMPOTENCY_IN_PROGRESS');
  if (claim.kind === 'replay') return { status: claim.status, body: claim.body };
  let a: Answer;
  try {
    a = await run();
  } catch (e) {
    await idem.release(scope, key);
    throw e;
  }
  await idem.finish(scope, key, a.status, a.body);
  return a;
}

/** The operator's catalogue operations (merged into OPERATOR_HANDLERS). */
export const OPERATOR_CATALOGUE_HANDLERS: Readonly<
  Record<string, (deps: OperatorCatalogueDeps, req: Request, who: { id: string; actor: string }) => Promise<Answer>>
> = {
  operatorListCatalogue: async (deps, req, who) => ({
    status: 200,
    body: {
      data: await store(deps.catalogue).list(
        { kind: 'operator', actor: who.actor },
        modeOf(req),
        catalogueKind(req.query['kind']),
      ),
    },
  }),
  operatorGetCatalogueEntry: async (deps, req, who) => ({
    status: 200,
    body: await store(deps.catalogue).get(
      { kind: 'operator', actor: who.actor },
      modeOf(req),
      catalogueKind(req.params['kind']) ?? 'Provider',
      String(req.params['entryId']),
    ),
  }),
  operatorPutCatalogueEntry: (deps, req, who) =>
    idempotent(deps, req, who.id, async () => {
      const owner = req.query['owner'];
      const { entry, created } = await store(deps.catalogue).put(
        { kind: 'operator', actor: who.actor },
        {
          mode: modeOf(req),
          kind: catalogueKind(req.params['kind']) ?? 'Provider',
          id: String(req.params['entryId']),
          document: req.body as unknown,
          ...(typeof owner === 'string' ? { owner } : {}),
        },
      );
      return { status: created ? 201 : 200, body: entry };
    }),
  operatorDeleteCatalogueEntry: (deps, req, who) =>
    idempotent(deps, req, who.id, async () => ({
      status: 200,
      body: await store(deps.catalogue).remove(
        { kind: 'operator', actor: who.actor },
        modeOf(req),
        catalogueKind(req.params['kind']) ?? 'Provider',
        String(req.params['entryId']),
      ),
    })),
};
