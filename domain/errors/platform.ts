import type { ResultCodeEntry } from './types';

/** FP1xxx: platform, configuration, storage and API. */
export const platformCodes = [
  { code: 'FP1000', name: 'OK', message: 'Approved or completed successfully', httpStatus: 200, retryable: false },
  { code: 'FP1001', name: 'CONFIG_INVALID', message: 'Configuration is invalid', httpStatus: 500, retryable: false },
  { code: 'FP1002', name: 'INTERNAL', message: 'Internal error', httpStatus: 500, retryable: true },
  { code: 'FP1003', name: 'BAD_REQUEST', message: 'The request is malformed', httpStatus: 400, retryable: false },
  { code: 'FP1004', name: 'NOT_FOUND', message: 'The resource does not exist', httpStatus: 404, retryable: false },
  {
    code: 'FP1005',
    name: 'CONFLICT',
    message: 'The resource already exists or changed concurrently',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP1006',
    name: 'UNAUTHORIZED',
    message: 'Credentials are missing or invalid',
    httpStatus: 401,
    retryable: false,
  },
  {
    code: 'FP1007',
    name: 'FORBIDDEN',
    message: 'The credentials do not allow this operation',
    httpStatus: 403,
    retryable: false,
  },
  {
    code: 'FP1008',
    name: 'DATABASE_UNAVAILABLE',
    message: 'The database cannot be reached',
    httpStatus: 503,
    retryable: true,
  },
  {
    code: 'FP1009',
    name: 'TEMPORAL_UNAVAILABLE',
    message: 'The Temporal server cannot be reached',
    httpStatus: 503,
    retryable: true,
  },
  {
    code: 'FP1010',
    name: 'TEMPORAL_CLI_MISSING',
    message: 'No Temporal CLI binary was found or could be built',
    httpStatus: 500,
    retryable: false,
  },
  {
    code: 'FP1011',
    name: 'MIGRATION_FAILED',
    message: 'A database migration failed',
    httpStatus: 500,
    retryable: false,
  },
  {
    code: 'FP1012',
    name: 'MIGRATION_CHECKSUM_MISMATCH',
    message: 'An applied migration was edited after it ran',
    httpStatus: 500,
    retryable: false,
  },
  {
    code: 'FP1013',
    name: 'PORT_IN_USE',
    message: 'A port the platform needs is taken',
    httpStatus: 500,
    retryable: false,
  },
  { code: 'FP1014', name: 'TIMEOUT', message: 'The operation timed out', httpStatus: 504, retryable: true },
] as const satisfies readonly ResultCodeEntry[];
