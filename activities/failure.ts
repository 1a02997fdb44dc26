/**
 * How an activity's expected failure reaches the workflow: an ApplicationFailure whose `type` is
 * the catalogue code name, non-retryable unless the catalogue says retrying may succeed, with the
 * FP code in its details (docs/errors.md). One helper for every activity module.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FixpayError, isFixpayError, type ResultCodeName } from '../domain/errors';

/** A FixpayError as the failure the workflow sees. */
export function fromFixpayError(e: FixpayError): ApplicationFailure {
  return ApplicationFailure.create({
    type: e.codeName,
    message: e.message,
    nonRetryable: !e.retryable,
    details: [{ code: e.code }],
  });
}

/** A catalogue code (and a card-data-free detail) as the failure the workflow sees. */
export function catalogueFailure(name: ResultCodeName, detail: string): ApplicationFailure {
  return fromFixpayError(new FixpayError(name, detail));
}

/** Any thrown value: a FixpayError becomes its ApplicationFailure; other errors pass (retryable). */
export function activityFailure(e: unknown): Error {
  if (isFixpayError(e)) return fromFixpayError(e);
  return e instanceof Error ? e : new Error(String(e));
}
