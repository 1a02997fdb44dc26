/**
 * The partner/operator HTTP API (Express). `createApp(deps)` builds routes and middleware without
 * listening, so tests drive it over a real socket on port 0. Errors answer application/problem+json.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { FixpayError, resultCode } from '../domain/errors';
import { scrubText } from '../domain/masking';

export interface HealthCheck {
  readonly name: string;
  check(): Promise<boolean>;
}

export interface AppDeps {
  readonly version: string;
  readonly checks: readonly HealthCheck[];
}

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly code: string;
}

/** The problem+json body for a FixpayError (or INTERNAL for anything else, with no detail leaked). */
export function toProblem(err: unknown): Problem {
  if (err instanceof FixpayError) {
    const entry = resultCode(err.codeName);
    return {
      type: `https://fixpay.dev/errors/${err.code}`,
      title: entry.message,
      status: err.httpStatus,
      detail: scrubText(err.message),
      code: err.code,
    };
  }
  const entry = resultCode('INTERNAL');
  return { type: `https://fixpay.dev/errors/${entry.code}`, title: entry.message, status: 500, code: entry.code };
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '64kb' }));

  app.get('/health', (_req, res, next) => {
    Promise.all(deps.checks.map(async (c) => [c.name, await c.check().catch(() => false)] as const))
      .then((results) => {
        const checks = Object.fromEntries(results);
        const ok = results.every(([, up]) => up);
        res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', version: deps.version, checks });
      })
      .catch(next);
  });

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new FixpayError('NOT_FOUND', `${req.method} ${req.path}`));
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const bodyError = typeof err === 'object' && err !== null && 'type' in err && err.type === 'entity.parse.failed';
    const problem = toProblem(bodyError ? new FixpayError('BAD_REQUEST', 'the body is not valid JSON') : err);
    res.status(problem.status).type('application/problem+json').json(problem);
  });
  return app;
}
