/**
 * Card BIN routing: the route whose BIN range matches the PAN's leading digits, the most specific
 * first (longest prefix, then narrowest range). Works on the first digits only; the PAN itself is
 * never kept or logged.
 */
import type { BinRoute, CoreResult } from './model';
import { refuse } from './model';

/** Longest BIN prefix a range may name (ISO/IEC 7812 allows 8; some schemes route on more). */
export const BIN_DIGITS_MAX = 11;

/** Checks one range: digits only, same length, low ≤ high, at most BIN_DIGITS_MAX digits. */
export function validateBinRange(low: string, high: string): CoreResult<{ low: string; high: string }> {
  const digits = new RegExp(`^\\d{1,${BIN_DIGITS_MAX}}$`);
  if (!digits.test(low) || !digits.test(high) || low.length !== high.length || low > high)
    return refuse('BIN_RANGE_INVALID', `${low}..${high}`);
  return { ok: true, value: { low, high } };
}

/** The route for a card number (or for its leading digits); BIN_NOT_ROUTED when none matches. */
export function routeCard(panOrPrefix: string, routes: readonly BinRoute[]): CoreResult<BinRoute> {
  let best: BinRoute | undefined;
  let bestWidth = 0n;
  for (const r of routes) {
    const n = r.binLow.length;
    if (panOrPrefix.length < n) continue;
    const prefix = panOrPrefix.slice(0, n);
    if (prefix < r.binLow || prefix > r.binHigh) continue;
    const width = BigInt(r.binHigh) - BigInt(r.binLow);
    if (best === undefined || n > best.binLow.length || (n === best.binLow.length && width < bestWidth)) {
      best = r;
      bestWidth = width;
    }
  }
  return best === undefined
    ? refuse('BIN_NOT_ROUTED', `no route for BIN ${panOrPrefix.slice(0, 6)}`)
    : { ok: true, value: best };
}
