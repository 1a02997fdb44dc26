/**
 * Operator actions as runs (ADR 0033): the worker side binds the run's activity to the ops
 * functions (nodes.ts, reversals.ts) with an audit sink that writes one row per operation id; the
 * CLI side starts the run (or attaches to it, same operation id) and waits for its outcome.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import type { OperatorActionDeps, OperatorActionInput, OperatorActionOutcome } from '../../activities/operator-actions';
import { checkOperationId, operatorActionWorkflowId } from '../../activities/operator-actions';
import { FixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import type { PrismaClient } from '../../generated/prisma/client';
import { PrismaReversalQueue } from '../../gateways/card-network/prisma-store';
import { setNodeDraining } from './nodes';
import { replayReversal } from './reversals';
import type { AuditSink } from './runs';

/** The audit rows of one operation: written once, however often the activity is attempted. */
export function operationAuditSink(prisma: PrismaClient, operationId: string, workflowId: string): AuditSink {
  return {
    async record(e) {
      const seen = await prisma.auditEvent.findFirst({
        where: { action: e.action, subject: e.subject, details: { path: ['operationId'], equals: operationId } },
        select: { id: true },
      });
      if (seen !== null) return;
      await prisma.auditEvent.create({ data: { ...e, details: { ...e.details, operationId, workflowId } } });
    },
  };
}

type Flat = Record<string, string | number | boolean>;
const flat = (o: object): Flat =>
  Object.fromEntries(
    Object.entries(o).filter(
      (kv): kv is [string, string | number | boolean] =>
        typeof kv[1] === 'string' || typeof kv[1] === 'number' || typeof kv[1] === 'boolean',
    ),
  );

/** The worker's `perform`: the ops functions with the operation's audit sink and the operator token. */
export function operatorActionPerformer(deps: {
  readonly prisma: PrismaClient;
  readonly operatorToken: string;
}): OperatorActionDeps['perform'] {
  return async (input) => {
    const audit = operationAuditSink(deps.prisma, input.operationId, input.workflowId);
    const a = input.action;
    if (a.kind === 'reversal.replay') {
      const view = await replayReversal(new PrismaReversalQueue(deps.prisma), audit, {
        key: a.key,
        reason: input.reason,
        operator: input.operator,
      });
      return flat(view);
    }
    const r = await setNodeDraining(audit, {
      nodeId: a.nodeId,
      target: a.target,
      token: deps.operatorToken,
      drain: a.kind === 'node.drain',
      reason: input.reason,
      operator: input.operator,
      ...(a.waitMs === undefined ? {} : { waitMs: a.waitMs }),
    });
    return { ...flat(r.state), callsEnded: r.callsEnded };
  };
}

export const OPERATOR_ACTION_WORKFLOW = 'operatorActionWorkflow';

/**
 * Starts the operation's run on the central task queue, or attaches to it when the operation id
 * was used before (a CLI that crashed and is run again), and waits for its outcome. A refusal is
 * thrown as the catalogue error it was, so the CLI's exit codes stay what they were.
 */
export async function runOperatorAction(
  client: Client,
  taskQueue: string,
  input: Omit<OperatorActionInput, 'operationId'> & { readonly operationId?: string },
  onStarted: (workflowId: string, attached: boolean) => void = () => undefined,
): Promise<{ workflowId: string; outcome: OperatorActionOutcome & { ok: true } }> {
  const operationId = checkOperationId(input.operationId ?? randomUUID());
  const full: OperatorActionInput = { ...input, operationId };
  const workflowId = operatorActionWorkflowId(full);
  let attached = false;
  try {
    await client.workflow.start(OPERATOR_ACTION_WORKFLOW, {
      taskQueue,
      workflowId,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      args: [full],
    });
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    attached = true;
  }
  onStarted(workflowId, attached);
  const outcome = (await client.workflow.getHandle(workflowId).result()) as OperatorActionOutcome;
  if (!outcome.ok) throw new FixpayError(outcome.codeName as ResultCodeName, outcome.detail);
  return { workflowId, outcome };
}
