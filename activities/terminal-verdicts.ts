/**
 * The phone's verdict on a purchase (ADR 0012): the purchase run opens its row in the verdict list
 * before it asks the card network and stands by its answer there; the next verified request of the
 * same terminal confirms it (`confirmWaitingSales`, called by the request verification); a `0400`
 * reverses it (`reverseTerminalSale`, the reversal service). The run learns the verdict through a
 * signal (`TERMINAL_VERDICT_MESSAGE`), so it waits in workflow state, not in an access node.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { activityFailure } from './failure';
import type { TerminalVerdictStore, VerdictState } from './terminal-verdict-store';
import { DELIVER_MESSAGE, TERMINAL_VERDICT_SIGNAL } from '../services/runtime/plan';
import { REVERSAL_ANSWER_CODES } from '../terminal-protocol/spec';

/** The name of the purchase plan's `listen: { signal }` step that takes the verdict. */
export const TERMINAL_VERDICT_MESSAGE = TERMINAL_VERDICT_SIGNAL;

/** What the run is told. */
export type TerminalVerdict = 'confirmed' | 'reversed';

/** Hands a verdict to a run; `gone` when the run has ended (nothing waits any more). */
export type VerdictSignaller = (workflowId: string, verdict: TerminalVerdict) => Promise<'delivered' | 'gone'>;

/** The signaller over the worker's own Temporal client (activities only). */
export const signalThroughWorkerClient: VerdictSignaller = async (workflowId, verdict) => {
  try {
    await Context.current()
      .client.workflow.getHandle(workflowId)
      .signal(DELIVER_MESSAGE, { name: TERMINAL_VERDICT_MESSAGE, value: { verdict } });
    return 'delivered';
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return 'gone';
    throw e;
  }
};

/**
 * Confirms every sale of the terminal still waiting for a verdict, except the one under `stan` (the
 * request is its repeat or its reversal). Called once a request of the terminal has passed its
 * binding and MAC checks. A run that has ended is closed in the list.
 */
export async function confirmWaitingSales(
  store: TerminalVerdictStore,
  signal: VerdictSignaller,
  terminalId: string,
  stan: string,
): Promise<number> {
  const waiting = (await store.waiting(terminalId)).filter((r) => r.stan !== stan && r.workflowId !== null);
  const results = await Promise.all(
    waiting.map(async (r) => {
      const outcome = await signal(r.workflowId ?? '', 'confirmed');
      if (outcome === 'gone') await store.update(r.terminalId, r.stan, { state: 'closed' });
      return outcome;
    }),
  );
  return results.filter((o) => o === 'delivered').length;
}

export interface TerminalVerdictDeps {
  readonly verdicts: TerminalVerdictStore;
  readonly signal?: VerdictSignaller;
}

export interface TerminalVerdictActivities {
  openTerminalVerdict(input: {
    terminalId: string;
    stan: string;
    requestDigest: string;
  }): Promise<{ reversed: boolean }>;
  recordTerminalVerdict(input: {
    terminalId: string;
    stan: string;
    state: VerdictState;
    response?: string;
  }): Promise<{ recorded: boolean }>;
  reverseTerminalSale(input: { terminalId: string; stan: string }): Promise<{
    responseCode: string;
    known: boolean;
    /** The sale was already settled (confirmed, or decided at the deadline): an operator refunds. */
    late: boolean;
  }>;
}

const STATES: readonly VerdictState[] = ['open', 'confirmed', 'reversed', 'declined', 'closed'];

export function createTerminalVerdictActivities(deps: TerminalVerdictDeps): TerminalVerdictActivities {
  const signal = deps.signal ?? signalThroughWorkerClient;
  return {
    /** Opens the sale's row (idempotent); `reversed` when the phone already reversed this STAN. */
    async openTerminalVerdict(input) {
      try {
        const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
        const row = await deps.verdicts.open({ ...input, workflowId });
        return { reversed: row.state === 'reversed' && row.workflowId === null };
      } catch (e) {
        throw activityFailure(e);
      }
    },
    /** Stores the answer the run stands by and where the sale stands. */
    async recordTerminalVerdict(input) {
      try {
        if (!STATES.includes(input.state)) throw new RangeError(`unknown verdict state ${input.state}`);
        await deps.verdicts.update(input.terminalId, input.stan, {
          state: input.state,
          ...(input.response === undefined || input.response === '' ? {} : { answer: input.response }),
        });
        return { recorded: true };
      } catch (e) {
        throw activityFailure(e);
      }
    },
    /**
     * The phone's reversal: the waiting run is told (it reverses at the network and voids the
     * reservation); a sale the host never saw is remembered as reversed and answered 25.
     */
    async reverseTerminalSale(input) {
      try {
        const row = await deps.verdicts.get(input.terminalId, input.stan);
        if (row === undefined || row.workflowId === null) {
          if (row === undefined) await deps.verdicts.tombstone(input.terminalId, input.stan);
          return { responseCode: REVERSAL_ANSWER_CODES.originalNotFound, known: false, late: false };
        }
        if (row.state === 'open') {
          const outcome = await signal(row.workflowId, 'reversed');
          return { responseCode: REVERSAL_ANSWER_CODES.reversed, known: true, late: outcome === 'gone' };
        }
        return {
          responseCode: REVERSAL_ANSWER_CODES.reversed,
          known: true,
          late: row.state === 'confirmed' || row.state === 'closed',
        };
      } catch (e) {
        throw activityFailure(e);
      }
    },
  };
}
