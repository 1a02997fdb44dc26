/**
 * api/openapi.yaml is the contract: every route the app serves is in it (besides the HTML pages
 * and the document itself), every operation in it is served, and every handler names an operation.
 */
import type express from 'express';
import { createApp } from './app';
import { expressPath, partnerSpec, specOperations } from './openapi';
import { OPERATIONS_OUTSIDE_PARTNERS, PARTNER_HANDLERS } from './partners';
import type { PartnerApiDeps } from './partners';
import type { OperatorApiDeps } from './operator';

/** Pages for people, not API operations: documented in docs/partners.md. */
const PAGES = ['GET /openapi.yaml', 'GET /docs', 'GET /docs/scalar.js'];
const isPage = (route: string): boolean => PAGES.includes(route) || / \/developers(\/|$)/.test(route);

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** `METHOD path` of every route, walking routers mounted at the root. */
function routesOf(app: express.Express): string[] {
  const out: string[] = [];
  const walk = (stack: readonly Layer[]): void => {
    for (const layer of stack) {
      if (layer.route !== undefined) {
        const methods = Object.entries(layer.route.methods);
        // `app.all(path, methodNotAllowed)`: the 405 answer for the other methods, not a route.
        if (methods.length > 20) continue;
        for (const [m, on] of methods) if (on && m !== '_all') out.push(`${m.toUpperCase()} ${layer.route.path}`);
      } else if (layer.handle?.stack !== undefined) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return out;
}

describe('the OpenAPI document and the app', () => {
  // Nothing is called: the routes are only listed.
  const deps = { service: {}, idempotency: {}, rateLimiter: {} } as unknown as PartnerApiDeps;
  const operator = { operators: [], core: {}, prisma: {}, runLifecycle: () => undefined } as unknown as OperatorApiDeps;
  const app = createApp({ version: 'test', checks: [], partners: deps, operator });
  const routes = routesOf(app);
  const operations = specOperations().map((o) => `${o.method.toUpperCase()} ${expressPath(o.path)}`);

  it('serves every operation of the document', () => {
    expect(operations.length).toBeGreaterThan(10);
    expect(operations.filter((o) => !routes.includes(o))).toEqual([]);
  });

  it('describes every route the app serves, besides the pages for people', () => {
    expect(routes.filter((r) => !operations.includes(r) && !isPage(r))).toEqual([]);
  });

  it('has exactly one handler per operation', () => {
    const ids = specOperations().map((o) => o.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Object.keys(PARTNER_HANDLERS).sort()).toEqual(
      ids.filter((id) => !OPERATIONS_OUTSIDE_PARTNERS.includes(id)).sort(),
    );
  });

  it('declares an Idempotency-Key on every write and a problem answer on every /v1 operation', () => {
    const paths = partnerSpec().doc.paths ?? {};
    const missing: string[] = [];
    for (const op of specOperations().filter((o) => o.path.startsWith('/v1/'))) {
      const item = (paths[op.path] ?? {}) as Record<string, { parameters?: { $ref?: string }[]; responses?: object }>;
      const operation = item[op.method];
      const refs = (operation?.parameters ?? []).map((p) => p.$ref);
      if (op.method !== 'get' && !refs.includes('#/components/parameters/IdempotencyKey'))
        missing.push(`${op.operationId}: Idempotency-Key`);
      if (!Object.keys(operation?.responses ?? {}).includes('default')) missing.push(`${op.operationId}: default`);
    }
    expect(missing).toEqual([]);
  });
});
