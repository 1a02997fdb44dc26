/**
 * The partner/operator HTTP API (Express). `createApp(deps)` builds routes and middleware without
 * listening, so tests drive it over a real socket on port 0. Every response carries the security
 * headers and every error answers application/problem+json (infra/http.ts, shared with the codec
 * endpoint).
 */
import express from 'express';
import { errorHandler, jsonBody, methodNotAllowed, notFound, securityHeaders } from '../infra/http';
import type { HttpErrorLog } from '../infra/http';
import { HealthMonitor } from './health';
import type { HealthCheck } from './health';
import { developersRouter } from './developers';
import { docsRouter } from './docs';
import { openApiValidator, validatorErrors } from './openapi';
import { inFlightLimit, openOperations, partnerGate, partnerRouter } from './partners';
import { operatorGate, operatorRouter } from './operator';
import type { OperatorApiDeps } from './operator';
import type { PartnerApiDeps } from './partners';

export type { HealthCheck } from './health';
export { HEALTH_CACHE_MS, HEALTH_CHECK_TIMEOUT_MS } from './health';
export { toProblem } from '../infra/http';
export type { Problem } from '../infra/http';

/** Largest request body the API reads. */
export const API_BODY_BYTES_MAX = 64 * 1024;

export interface AppDeps {
  readonly version: string;
  readonly checks: readonly HealthCheck[];
  /** How long a health report is reused (HEALTH_CACHE_MS by default). */
  readonly healthCacheMs?: number;
  readonly bodyBytesMax?: number;
  readonly log?: HttpErrorLog;
  /** The partner API (`/v1/`, `/docs`, `/openapi.yaml`); only `/health` without it. */
  readonly partners?: PartnerApiDeps;
  /** Partner requests in progress at most (PARTNER_IN_FLIGHT_MAX by default); more get 503. */
  readonly partnerInFlightMax?: number;
  /** The operator API (`/operator/v1/`, ADR 0020); absent: not served. */
  readonly operator?: OperatorApiDeps;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(securityHeaders());
  if (deps.partners !== undefined) {
    // Pages for people, before the JSON-only body parser (the developer page posts forms).
    app.use(docsRouter());
    app.use(developersRouter(deps.partners.service));
  }
  app.use(jsonBody(deps.bodyBytesMax ?? API_BODY_BYTES_MAX));

  const health = new HealthMonitor(
    deps.checks,
    deps.healthCacheMs === undefined ? {} : { cacheMs: deps.healthCacheMs },
  );
  app.get('/health', (_req, res, next) => {
    health
      .report()
      .then(({ ok, checks }) => {
        res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', version: deps.version, checks });
      })
      .catch(next);
  });
  app.all('/health', methodNotAllowed(['GET', 'HEAD']));

  // Gates first (the operator's own token; the partner key, rate limit and Idempotency-Key), then
  // the document's validation of both, then the routes.
  if (deps.operator !== undefined) app.use('/operator/v1', operatorGate(deps.operator));
  if (deps.partners !== undefined)
    app.use('/v1', inFlightLimit(deps.partnerInFlightMax), partnerGate(deps.partners, openOperations()));
  if (deps.operator !== undefined || deps.partners !== undefined) app.use(openApiValidator());
  if (deps.operator !== undefined) app.use(operatorRouter(deps.operator));
  if (deps.partners !== undefined) app.use(partnerRouter(deps.partners));
  if (deps.operator !== undefined || deps.partners !== undefined) app.use(validatorErrors(deps.log));

  app.use(notFound());
  app.use(errorHandler(deps.log));
  return app;
}
