/**
 * The access node ↔ centre exchange that verifies a terminal request before it may claim anything
 * (docs/adr/0011-verify-before-identity.md): what is sent, what comes back, the workflow that
 * carries it and its time limits. Pure data; the access node, the workflow and the activity share it.
 */

/** The workflow type the access node starts (under a random id) on the central task queue. */
export const VERIFY_REQUEST_WORKFLOW = 'verifyTerminalRequestWorkflow';
/** One attempt of the check (a database read and one HSM call). */
export const VERIFY_ACTIVITY_TIMEOUT_MS = 2_000;
/** Attempts of the check before the request is declined as failed (96). */
export const VERIFY_ATTEMPTS_MAX = 3;
/** Longest the whole verification may take, retries included (workflow execution timeout). */
export const VERIFY_TIMEOUT_MS = VERIFY_ACTIVITY_TIMEOUT_MS * VERIFY_ATTEMPTS_MAX + 1_000;
/**
 * The verification run's workflow task timeout. The server caps a task's timeout at the run's
 * (VERIFY_TIMEOUT_MS), so with the default one task handed to a worker that can no longer answer
 * (killed, or its link cut while its poll was being answered) timed the whole run out. Shorter, the
 * server hands the task to another worker within the run's time. Local activities running longer
 * keep their task alive (the SDK heartbeats it).
 */
export const VERIFY_TASK_TIMEOUT_MS = 3_000;
/**
 * Verification runs the access node tries before it declines a request 96. A run that gave no
 * verdict (timed out, failed, the server unreachable) claimed nothing: another run is safe.
 */
export const VERIFY_RUNS_MAX = 2;

/** Field 39 for a caller number, terminal or PSAM that are not bound together. */
export const UNBOUND_RESPONSE_CODE = '03';
/** Field 39 for a MAC that does not verify (or a PSAM with no key). */
export const BAD_MAC_RESPONSE_CODE = 'A0';

export interface VerifyTerminalRequestInput {
  /** Request bytes, hex. Sensitive (track 2, PIN block): encrypted payloads only. */
  readonly request: string;
  /** Caller number from the line signalling. */
  readonly ani: string;
}

export interface TerminalRequestVerdict {
  readonly verified: boolean;
  /** `OK`, or the refusal: a binding result code name, `HSM_MAC_INVALID` or `PSAM_UNKNOWN`. */
  readonly reason: string;
  /** Field 39 of the access node's unsigned decline when not verified; `00` otherwise. */
  readonly responseCode: string;
  /**
   * The sale already known under this terminal id and STAN (ADR 0012), when there is one: where it
   * stands, whether this request is byte for byte its request, and the answer the run stands by
   * (hex; no card data). A repeat gets that answer from any access node; other bytes get `94`.
   */
  readonly sale?: {
    readonly state: string;
    readonly sameBytes: boolean;
    readonly answer: string | null;
    /** The sale's run (a repeat on another UTC day computes another id: it must not start a second run). */
    readonly workflowId: string;
  };
}
