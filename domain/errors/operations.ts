import type { ResultCodeEntry } from './types';

/** FP1040–FP1079: platform hardening — plan admission, payload encryption, HTTP limits, supervision, operator actions. */
export const operationsCodes = [
  {
    code: 'FP1040',
    name: 'SVC_PLAN_NOT_REGISTERED',
    message: 'The plan is not a registered version of its service (refused to run)',
    httpStatus: 403,
    retryable: false,
  },
  {
    code: 'FP1041',
    name: 'CODEC_PAYLOAD_UNENCRYPTED',
    message: 'The payload is not encrypted by the platform codec (refused)',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP1042',
    name: 'PAYLOAD_TOO_LARGE',
    message: 'The request body is larger than allowed',
    httpStatus: 413,
    retryable: false,
  },
  {
    code: 'FP1043',
    name: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'The request body has an unsupported content type or charset',
    httpStatus: 415,
    retryable: false,
  },
  {
    code: 'FP1044',
    name: 'METHOD_NOT_ALLOWED',
    message: 'The resource does not support this method',
    httpStatus: 405,
    retryable: false,
  },
  {
    code: 'FP1045',
    name: 'PROCESS_NOT_OURS',
    message: 'A port the platform needs is held by a process it did not start',
    httpStatus: 500,
    retryable: false,
  },
  {
    code: 'FP1046',
    name: 'CHILD_PROCESS_FAILED',
    message: 'A supervised process kept failing and was given up',
    httpStatus: 503,
    retryable: true,
  },
  {
    code: 'FP1047',
    name: 'OPS_RUN_NOT_RETRYABLE',
    message: 'The run cannot be retried: only a failed, terminated or timed-out run is (money never moves twice)',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP1048',
    name: 'OPS_RUN_NOT_OPEN',
    message: 'The run is already closed',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP1049',
    name: 'OPS_REASON_REFUSED',
    message: 'An operator action needs a reason of 8 to 500 characters without card data',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP1050',
    name: 'OPS_METRICS_UNREACHABLE',
    message: "A node's metrics endpoint did not answer",
    httpStatus: 503,
    retryable: true,
  },
  {
    code: 'FP1051',
    name: 'OPS_VERSION_UNKNOWN',
    message: 'The worker build is not a version of the deployment (no worker of it has polled)',
    httpStatus: 409,
    retryable: true,
  },
] as const satisfies readonly ResultCodeEntry[];
