/**
 * HTTP hardening shared by the partner/operator API (`api/app.ts`) and the payload codec endpoint
 * (`codec/codec-server.ts`): security headers on every response, JSON bodies only (UTF-8, no
 * compression, a named size limit), and one error handler that answers every failure — ours, the
 * body parser's, a wrong method, an unknown path — as application/problem+json, never Express's HTML
 * pages and never a 500 for a client's mistake.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import { FixpayError, resultCode } from '../domain/errors';
import type { ResultCodeName } from '../domain/errors';
import { scrubText } from '../domain/masking';

/**
 * Headers every JSON endpoint sends: no MIME sniffing, nothing cached (answers can carry decrypted
 * payloads or account data), no content may load or frame anything, no referrer leaves.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly code: string;
}

/**
 * The problem+json body for an error: a FixpayError keeps its code and (scrubbed) detail; anything
 * else is INTERNAL with no detail leaked. `status` overrides the catalogue's HTTP status (a codec
 * failure is the caller's mistake at the endpoint, a configuration problem in a worker).
 */
export function toProblem(err: unknown, status?: number): Problem {
  if (err instanceof FixpayError) {
    const entry = resultCode(err.codeName);
    return {
      type: `https://fixpay.dev/errors/${err.code}`,
      title: entry.message,
      status: status ?? err.httpStatus,
      detail: scrubText(err.message),
      code: err.code,
    };
  }
  const entry = resultCode('INTERNAL');
  return { type: `https://fixpay.dev/errors/${entry.code}`, title: entry.message, status: 500, code: entry.code };
}

/** Answers with a problem+json body. */
export function sendProblem(res: Response, err: unknown, status?: number): void {
  const problem = toProblem(err, status);
  res.status(problem.status).type(PROBLEM_CONTENT_TYPE).json(problem);
}

/** An error carrying the HTTP status it must be answered with (e.g. a codec failure at the endpoint). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly error: FixpayError,
  ) {
    super(error.message);
    this.name = 'HttpProblem';
  }
}

/** Sets SECURITY_HEADERS on every response; install first, so refusals carry them too. */
export function securityHeaders(): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    next();
  };
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/i;

function hasBody(req: { readonly headers: IncomingHttpHeaders }): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * JSON bodies only: a request with a body of another content type, a charset other than UTF-8 or a
 * content encoding (a compressed body could inflate past the limit) is refused with 415; a body
 * larger than `limitBytes` with 413; malformed JSON with 400.
 */
export function jsonBody(limitBytes: number): RequestHandler[] {
  const typeCheck: RequestHandler = (req, _res, next) => {
    if (!hasBody(req)) {
      next();
      return;
    }
    const [mediaType = '', ...params] = (req.headers['content-type'] ?? '').split(';').map((s) => s.trim());
    const charset = params
      .map((p) => /^charset\s*=\s*"?([^";]*)"?$/i.exec(p)?.[1])
      .find((c) => c !== undefined)
      ?.toLowerCase();
    if (!JSON_TYPE.test(mediaType)) {
      next(new FixpayError('UNSUPPORTED_MEDIA_TYPE', 'send application/json'));
      return;
    }
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      next(new FixpayError('UNSUPPORTED_MEDIA_TYPE', 'the charset must be utf-8'));
      return;
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      next(new FixpayError('UNSUPPORTED_MEDIA_TYPE', 'compressed bodies are not accepted'));
      return;
    }
    next();
  };
  return [typeCheck, express.json({ limit: limitBytes, inflate: false, strict: true, type: (req) => hasBody(req) })];
}

/** Answers 405 (with `Allow`) for a known path asked with another method. Mount with `app.all(path, …)` after its routes. */
export function methodNotAllowed(allowed: readonly string[]): RequestHandler {
  const allow = allowed.join(', ');
  return (req, res) => {
    res.setHeader('Allow', allow);
    sendProblem(res, new FixpayError('METHOD_NOT_ALLOWED', `${req.method} (allowed: ${allow})`));
  };
}

/** Answers 404 problem+json for every path no route took. Mount after every route. */
export function notFound(): RequestHandler {
  return (req, res) => {
    sendProblem(res, new FixpayError('NOT_FOUND', `${req.method} ${req.path.slice(0, 200)}`));
  };
}

/** The body parser's error types (`err.type`) and what the caller did wrong. */
const BODY_ERRORS: Readonly<Record<string, readonly [ResultCodeName, string]>> = {
  'entity.too.large': ['PAYLOAD_TOO_LARGE', 'the body is larger than allowed'],
  'parameters.too.many': ['PAYLOAD_TOO_LARGE', 'too many parameters'],
  'charset.unsupported': ['UNSUPPORTED_MEDIA_TYPE', 'the charset must be utf-8'],
  'encoding.unsupported': ['UNSUPPORTED_MEDIA_TYPE', 'compressed bodies are not accepted'],
  'entity.parse.failed': ['BAD_REQUEST', 'the body is not valid JSON'],
  'request.aborted': ['BAD_REQUEST', 'the body was cut short'],
  'request.size.invalid': ['BAD_REQUEST', 'the body does not match its Content-Length'],
};

/** Minimal logger the handler reports unexpected errors to. */
export interface HttpErrorLog {
  error(obj: object, msg?: string): void;
}

/**
 * The one error handler: FixpayError → its status; body-parser errors → 400/413/415; anything else
 * → 500 INTERNAL without detail (logged when a logger is given). Mount last.
 */
export function errorHandler(log?: HttpErrorLog): ErrorRequestHandler {
  return (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof HttpProblem) {
      sendProblem(res, err.error, err.status);
      return;
    }
    const type = typeof err === 'object' && err !== null && 'type' in err ? err.type : undefined;
    const bodyError = typeof type === 'string' ? BODY_ERRORS[type] : undefined;
    if (bodyError !== undefined) {
      sendProblem(res, new FixpayError(bodyError[0], bodyError[1]));
      return;
    }
    if (!(err instanceof FixpayError)) {
      const message = err instanceof Error ? err.message : String(err);
      log?.error({ method: req.method, path: req.path.slice(0, 200), error: scrubText(message) }, 'request failed');
    }
    sendProblem(res, err);
  };
}
