/**
 * Operator actions as Temporal runs (ADR 0033): `fixpay ops drain|undrain` and `fixpay ops
 * reversal replay` start a run on the central worker whose one activity records the audit row and
 * makes the change. The run's id carries the operator's operation id, so a repeated command (a
 * CLI that crashed and is run again) attaches to the same run and the action is made once. A
 * refusal (catalogue code) is the run's result, not a failure; anything else is retried.
 */
import { FixpayError, isFixpayError, resultCode } from '../domain/errors';

export type OperatorAction =
  | {
      readonly kind: 'node.drain' | 'node.undrain';
      readonly nodeId: string;
      /** The node's control endpoint (`host:port` or URL), as the worker reaches it. */
      readonly target: string;
      /** Drain: wait this long for the node's live calls to end. */
      readonly waitMs?: number;
    }
  | { readonly kind: 'reversal.replay'; readonly key: string };

export interface OperatorActionInput {
  readonly operationId: string;
  readonly operator: string;
  readonly reason: string;
  readonly action: OperatorAction;
}

export type OperatorActionOutcome =
  | {
      readonly ok: true;
      readonly operator: string;
      readonly kind: OperatorAction['kind'];
      readonly result: Readonly<Record<string, string | number | boolean>>;
    }
  | {
      readonly ok: false;
      readonly operator: string;
      readonly kind: OperatorAction['kind'];
      readonly code: string;
      readonly codeName: string;
      /** The detail after the catalogue message (what the CLI printed before). */
      readonly detail: string | undefined;
    };

/** The run's id for an operation: the same operation id always names the same run. */
export function operatorActionWorkflowId(input: Pick<OperatorActionInput, 'operationId' | 'action'>): string {
  const subject = input.action.kind === 'reversal.replay' ? input.action.key : input.action.nodeId;
  return `ops:${input.action.kind}:${subject}:${input.operationId}`;
}

const OPERATION_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function checkOperationId(id: string | undefined): string {
  if (id === undefined || !OPERATION_ID.test(id))
    throw new FixpayError('BAD_REQUEST', 'the operation id is letters, digits, . _ - (up to 64)');
  return id;
}

export interface OperatorActionDeps {
  /**
   * Records the audit row (once per operation: `details.operationId`, `details.workflowId`) and
   * makes the change; the wiring binds it to the ops functions and the operator token.
   */
  readonly perform: (
    input: OperatorActionInput & { readonly workflowId: string },
  ) => Promise<Readonly<Record<string, string | number | boolean>>>;
}

export interface OperatorActionActivities {
  performOperatorAction(input: OperatorActionInput & { readonly workflowId: string }): Promise<OperatorActionOutcome>;
}

/** The catalogue message's detail part of a FixpayError's message. */
function detailOf(e: FixpayError): string | undefined {
  const prefix = `${resultCode(e.codeName).message}: `;
  return e.message.startsWith(prefix) ? e.message.slice(prefix.length) : undefined;
}

export function createOperatorActionActivities(deps: OperatorActionDeps): OperatorActionActivities {
  return {
    async performOperatorAction(input) {
      checkOperationId(input.operationId);
      const base = { operator: input.operator, kind: input.action.kind };
      try {
        return { ok: true, ...base, result: await deps.perform(input) };
      } catch (e) {
        // A refusal (bad input, wrong node, not replayable, node unreachable) ends the run with it:
        // the operator decides what next. Anything else is retried by the run.
        if (!isFixpayError(e) || e.codeName === 'INTERNAL') throw e;
        return { ok: false, ...base, code: e.code, codeName: e.codeName, detail: detailOf(e) };
      }
    },
  };
}
