import type { ResultCodeEntry } from './types';

/** FP8600–FP8619: the ticketing connector kind (air, cinema, lottery), its offers and holds (ADR 0023). */
export const ticketingCodes = [
  {
    code: 'FP8600',
    name: 'TICKET_OFFER_UNKNOWN',
    message: 'No airline, cinema show or lottery game of that id is loaded, or the provider does not know it',
    httpStatus: 404,
    retryable: false,
  },
  {
    code: 'FP8601',
    name: 'TICKET_SELECTION_INVALID',
    message: 'The booking reference, seats or lottery boards do not match the offer rules',
    httpStatus: 422,
    retryable: false,
  },
  {
    code: 'FP8602',
    name: 'TICKET_HOLD_EXPIRED',
    message: 'The booking or seat hold expired (or passed its ticketing deadline) before payment',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP8603',
    name: 'TICKET_SALES_CLOSED',
    message: 'The lottery draw is not open for sales (scheduled, past its cut-off or closed)',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP8604',
    name: 'TICKET_UNAVAILABLE',
    message: 'The seats are taken or the booking is no longer payable',
    httpStatus: 409,
    retryable: false,
  },
  {
    code: 'FP8605',
    name: 'TICKET_AMOUNT_MISMATCH',
    message: 'The amount differs from what the provider holds for the booking, seats or boards',
    httpStatus: 422,
    retryable: false,
  },
] as const satisfies readonly ResultCodeEntry[];
