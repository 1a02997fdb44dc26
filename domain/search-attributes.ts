/**
 * The search attributes the platform registers on every Temporal namespace it uses. All are
 * Keyword: exact-match filters in the Temporal UI. They bypass the payload codec, so they never
 * carry card data (the definitions compiler enforces that).
 */
export const SEARCH_ATTRIBUTES = {
  ServiceId: 'KEYWORD',
  ServiceVersion: 'KEYWORD',
  PlanHash: 'KEYWORD',
  TerminalId: 'KEYWORD',
  Outcome: 'KEYWORD',
} as const;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;

export const SEARCH_ATTRIBUTE_NAMES = Object.keys(SEARCH_ATTRIBUTES) as readonly SearchAttributeName[];
