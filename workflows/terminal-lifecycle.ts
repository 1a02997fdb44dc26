/**
 * One business-core lifecycle command as a Temporal run (ADR 0020): the run's id names the subject
 * and the caller's request id (`lifecycle:<subject>:<requestId>`), so a repeated request attaches
 * to the same run and is carried out once. The activities write the change and its audit row;
 * personalisation goes through the HSM; retirement also destroys the terminal's keys. A refusal is
 * the run's result (catalogue code), not a failure. Deterministic; imports activity types only.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { LifecycleActivities, LifecycleCommand, LifecycleOutcome } from '../activities/terminal-lifecycle';

/** The card commands (activities/terminal-lifecycle.ts CARD_COMMANDS; a value import is not allowed here). */
export const CARD_KINDS: readonly string[] = [
  'addCardRange',
  'issueCards',
  'activateCard',
  'blockCard',
  'unblockCard',
  'showCard',
  'loadCard',
  'replaceCard',
  'reissuePin',
];

const acts = proxyActivities<LifecycleActivities>({
  startToCloseTimeout: 30_000,
  retry: { maximumAttempts: 5, initialInterval: 500, maximumInterval: 5_000 },
});

export interface TerminalLifecycleInput {
  readonly command: LifecycleCommand;
  readonly actor: string;
}

export async function terminalLifecycleWorkflow(input: TerminalLifecycleInput): Promise<LifecycleOutcome> {
  const base = { command: input.command, actor: input.actor, workflowId: workflowInfo().workflowId };
  if (input.command.kind === 'personalise') return acts.personaliseTerminal(base);
  // A card batch writes once: a failed attempt rolled back whole, so a retry is safe; its answer
  // (the bureau file) comes only from the attempt that wrote.
  if (CARD_KINDS.includes(input.command.kind)) return acts.applyCardCommand(base);
  const outcome = await acts.applyLifecycleCommand(base);
  if (outcome.ok && input.command.kind === 'retire') {
    await acts.destroyTerminalKeys({
      terminalId: input.command.terminalId,
      actor: input.actor,
      workflowId: base.workflowId,
    });
  }
  return outcome;
}
