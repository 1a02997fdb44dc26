import type { ResultCodeEntry } from './types';

/** FP8700–FP8749: card services from the phone — transfer between cards, credit-card repayment (ADR 0024). */
export const cardServiceCodes = [
  {
    code: 'FP8700',
    name: 'CARD_TARGET_INVALID',
    message: 'The target card number is not 12–19 digits with a valid check digit',
    httpStatus: 400,
    retryable: false,
  },
  {
    code: 'FP8701',
    name: 'CARD_TARGET_SAME',
    message: 'The target card is the card paying',
    httpStatus: 400,
    retryable: false,
  },
] as const satisfies readonly ResultCodeEntry[];
