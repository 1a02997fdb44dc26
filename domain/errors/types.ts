/** One entry of the result-code catalogue. Codes are never renumbered; retired ones stay with `deprecated`. */
export interface ResultCodeEntry {
  /** Stable code, `FP` + four digits; the first digit names the concern (see docs/errors.md). */
  readonly code: `FP${number}`;
  /** Stable symbolic name used in code. */
  readonly name: string;
  /** Human message, safe to show to operators: never contains card data. */
  readonly message: string;
  /** HTTP status for the partner API (problem+json). */
  readonly httpStatus: number;
  /** Whether retrying the same request may succeed. */
  readonly retryable: boolean;
  readonly deprecated?: true;
}
