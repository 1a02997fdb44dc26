import type { ResultCodeEntry } from './types';

/** FP8500–FP8549: provider connectors (bill and top-up aggregators), their profiles and reconciliation. */
export const providerCodes = [
  {
    code: 'FP8500',
    name: 'PROVIDER_PROFILE_INVALID',
    message: 'A provider profile, biller or operator file does not match its schema',
    httpStatus: 422,
    retryable: false,
  },
  {
    code: 'FP8501',
    name: 'PROVIDER_UNKNOWN',
    message: 'No provider, biller, operator or product of that id is loaded',
    httpStatus: 404,
    retryable: false,
  },
  {
    code: 'FP8502',
    name: 'PROVIDER_FIELD_INVALID',
    message: 'A customer parameter or number does not match the biller or operator rules',
    httpStatus: 422,
    retryable: false,
  },
  {
    code: 'FP8503',
    name: 'PROVIDER_AMOUNT_INVALID',
    message: 'The amount breaks the product or biller rule (exact, at least, range or channel limits)',
    httpStatus: 422,
    retryable: false,
  },
  {
    code: 'FP8504',
    name: 'PROVIDER_UNAVAILABLE',
    message: 'The provider did not answer or answered with a retryable error',
    httpStatus: 503,
    retryable: true,
  },
  {
    code: 'FP8505',
    name: 'PROVIDER_REJECTED',
    message: 'The provider refused the request as malformed or unauthorised',
    httpStatus: 502,
    retryable: false,
  },
  {
    code: 'FP8506',
    name: 'PROVIDER_DUPLICATE_REFERENCE',
    message: 'The provider already holds a different request under this reference',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP8507',
    name: 'PROVIDER_NOT_REVERSIBLE',
    message: 'The provider completed the transaction and cannot cancel or reverse it',
    httpStatus: 409,
    retryable: true,
  },
  {
    code: 'FP8508',
    name: 'PROVIDER_SIGNATURE_INVALID',
    message: 'A provider request or callback signature is missing, stale or wrong',
    httpStatus: 401,
    retryable: false,
  },
  {
    code: 'FP8509',
    name: 'PROVIDER_REPORT_INVALID',
    message: 'A provider report or journal file for reconciliation is malformed',
    httpStatus: 422,
    retryable: false,
  },
] as const satisfies readonly ResultCodeEntry[];
