import type { ResultCodeEntry } from './types';

/**
 * FP37xx: information push (docs/protocols/push.md, ADR 0021). FP370x campaigns and their text,
 * FP371x originated calls and delivery.
 */
export const pushCodes = [
  {
    code: 'FP3700',
    name: 'PUSH_CAMPAIGN_INVALID',
    message: 'The campaign definition does not match its schema or is unsafe',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP3701',
    name: 'PUSH_TEXT_UNSAFE',
    message: 'The push text holds control, bidirectional-override, non-ASCII characters or card data',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP3702',
    name: 'PUSH_TEXT_TOO_LONG',
    message: "The push text does not fit the terminal's display",
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP3703',
    name: 'PUSH_CAMPAIGN_NOT_FOUND',
    message: 'No campaign has this id',
    httpStatus: 404,
    retryable: false,
  },
  {
    code: 'FP3710',
    name: 'PUSH_LINE_BUSY',
    message: "The terminal's line is busy",
    httpStatus: 503,
    retryable: true,
  },
  {
    code: 'FP3711',
    name: 'PUSH_NO_ANSWER',
    message: "The terminal's line did not answer or could not be reached",
    httpStatus: 504,
    retryable: true,
  },
  {
    code: 'FP3712',
    name: 'PUSH_LINE_BUDGET',
    message: "The access node's budget of lines for push calls is used up",
    httpStatus: 503,
    retryable: true,
  },
  {
    code: 'FP3713',
    name: 'PUSH_NO_RECEIPT',
    message: 'The on-hook message was sent but the far end did not confirm it',
    httpStatus: 504,
    retryable: true,
  },
  {
    code: 'FP3714',
    name: 'PUSH_REFUSED',
    message: 'The far end refused the push call (unknown or barred number)',
    httpStatus: 502,
    retryable: false,
  },
] as const satisfies readonly ResultCodeEntry[];
