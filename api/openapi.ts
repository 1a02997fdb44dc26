/**
 * The partner API's contract, `api/openapi.yaml` (OpenAPI 3.1): read once, it drives request and
 * response validation (express-openapi-validator, ajv underneath), the routes registered by
 * operationId (api/partners.ts) and the reference page at `/docs`. Nothing else describes a route.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import type { OpenAPIV3 } from 'express-openapi-validator/dist/framework/types';
import { parse } from 'yaml';
import { FixpayError } from '../domain/errors';
import type { ResultCodeName } from '../domain/errors';
import { scrubText } from '../domain/masking';
import { HttpProblem } from '../infra/http';

export const OPENAPI_FILE = join(__dirname, 'openapi.yaml');

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface SpecOperation {
  readonly method: HttpMethod;
  /** As written in the spec: `/v1/bills/{billId}`. */
  readonly path: string;
  readonly operationId: string;
  /** Whether the operation needs an API key (the document's default unless it says `security: []`). */
  readonly authenticated: boolean;
}

let cached: { text: string; doc: OpenAPIV3.DocumentV3_1 } | undefined;

/** The document's text and parsed form (read once). Throws when the file is missing or not YAML. */
export function partnerSpec(): { text: string; doc: OpenAPIV3.DocumentV3_1 } {
  if (cached === undefined) {
    const text = readFileSync(OPENAPI_FILE, 'utf8');
    cached = { text, doc: parse(text) as OpenAPIV3.DocumentV3_1 };
  }
  return cached;
}

/** Every operation of the document. */
export function specOperations(doc: OpenAPIV3.DocumentV3_1 = partnerSpec().doc): SpecOperation[] {
  const out: SpecOperation[] = [];
  const defaultSecured = (doc.security ?? []).length > 0;
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const op = (item as Record<string, OpenAPIV3.OperationObject | undefined> | undefined)?.[method];
      if (op?.operationId === undefined) continue;
      const security = op.security ?? doc.security ?? [];
      out.push({
        method,
        path,
        operationId: op.operationId,
        authenticated: defaultSecured && security.length > 0,
      });
    }
  }
  return out;
}

/** `/v1/bills/{billId}` → `/v1/bills/:billId`. */
export function expressPath(specPath: string): string {
  return specPath.replace(/\{(\w+)\}/g, ':$1');
}

/**
 * Validates requests and responses of the `/v1/` paths against the document. Unknown paths and
 * methods under `/v1/` are refused by it (404/405); security is checked by api/partners.ts.
 */
export function openApiValidator(): RequestHandler[] {
  return OpenApiValidator.middleware({
    apiSpec: structuredClone(partnerSpec().doc),
    validateApiSpec: true,
    validateRequests: { allowUnknownQueryParameters: false, coerceTypes: false, removeAdditional: false },
    validateResponses: true,
    validateSecurity: false,
    ignorePaths: (path: string) => !path.startsWith('/v1/') && !path.startsWith('/operator/v1/'),
  }) as RequestHandler[];
}

const STATUS_CODES: Readonly<Record<number, ResultCodeName>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

interface ValidatorError {
  status: number;
  message?: string;
  errors?: { path?: string; message?: string }[];
  headers?: Record<string, string>;
}

function isValidatorError(e: unknown): e is ValidatorError {
  return (
    e instanceof Error &&
    typeof (e as Partial<ValidatorError>).status === 'number' &&
    Array.isArray((e as Partial<ValidatorError>).errors)
  );
}

/**
 * Turns the validator's errors into catalogue problems: a request the document refuses is the
 * caller's mistake (its status), a response it refuses is ours (500, logged, no detail leaked).
 */
export function validatorErrors(log?: { error(obj: object, msg?: string): void }): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (!isValidatorError(err)) {
      next(err);
      return;
    }
    const detail = scrubText(
      (err.errors ?? [])
        .slice(0, 5)
        .map((e) => `${e.path ?? ''} ${e.message ?? ''}`.trim())
        .join('; ')
        .slice(0, 500),
    );
    const code = STATUS_CODES[err.status];
    if (code === undefined || err.status >= 500) {
      log?.error(
        { method: req.method, path: req.path.slice(0, 200), error: detail },
        'response does not match the spec',
      );
      next(new FixpayError('INTERNAL'));
      return;
    }
    const allow = err.headers?.['Allow'] ?? err.headers?.['allow'];
    if (allow !== undefined) res.setHeader('Allow', allow);
    next(new HttpProblem(err.status, new FixpayError(code, detail === '' ? undefined : detail)));
  };
}
