import type { ResultCodeEntry } from './types';

/** FP8400–FP8449: the partner API — keys, modes, scopes, onboarding, idempotency, rate limits, bills, webhooks. */
export const partnerCodes = [
  {
    code: 'FP8400',
    name: 'PARTNER_WRONG_MODE',
    message: 'The API key is of the wrong mode (test or live) for this operation',
    httpStatus: 403,
    retryable: false,
  },
  {
    code: 'FP8401',
    name: 'PARTNER_SCOPE_MISSING',
    message: 'The API key lacks the scope this operation needs',
    httpStatus: 403,
    retryable: false,
  },
  {
    code: 'FP8402',
    name: 'PARTNER_REQUIREMENTS_OUTSTANDING',
    message: 'Live keys need every onboarding requirement met first',
    httpStatus: 403,
    retryable: false,
  },
  {
    code: 'FP8403',
    name: 'IDEMPOTENCY_KEY_MISSING',
    message: 'Every write needs an Idempotency-Key header',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP8404',
    name: 'PARTNER_IDEMPOTENCY_KEY_REUSED',
    message: 'The idempotency key was already used with a different request',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP8405',
    name: 'IDEMPOTENCY_IN_PROGRESS',
    message: 'A request with this idempotency key is still being processed',
    httpStatus: 409,
    retryable: true,
  },
  {
    code: 'FP8406',
    name: 'RATE_LIMITED',
    message: 'Too many requests for this API key; retry after the time given',
    httpStatus: 429,
    retryable: true,
  },
  {
    code: 'FP8407',
    name: 'BILL_NOT_PAYABLE',
    message: 'The bill is not open',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP8408',
    name: 'CSRF_INVALID',
    message: 'The form is stale or was not sent by this page',
    httpStatus: 403,
    retryable: false,
  },
  {
    code: 'FP8409',
    name: 'WEBHOOK_ENDPOINT_MISSING',
    message: 'The partner has no webhook endpoint',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP8410',
    name: 'API_OVERLOADED',
    message: 'The API is serving as many requests as it can; retry after the time given',
    httpStatus: 503,
    retryable: true,
  },
  {
    code: 'FP8411',
    name: 'WEBHOOK_URL_FORBIDDEN',
    message: 'The webhook endpoint is a loopback, private, link-local or reserved address',
    httpStatus: 422,
    retryable: false,
  },
] as const satisfies readonly ResultCodeEntry[];
