/**
 * Activities of the push campaign workflow (workflows/push-campaign.ts). Central: prepare a run
 * (select the audience, check the text against each terminal's display, store the pushes), record
 * each call's outcome, report. The call itself (`dialPush`) runs on the access node's push queue
 * (channel-engine/push/line-activities.ts). Push text is checked, never card data.
 */
import type { PushCallOutcome, PushDisplay, PushReport } from '../domain/push';
import { checkPushText, DEFAULT_PUSH_DISPLAY } from '../domain/push';
import { isFixpayError } from '../domain/errors';
import type { PrismaPushStore, PushAudience, PushTarget, PushVia } from '../core/push-store';
import { encodeNotices, NOTICES_PER_ANSWER_MAX } from '../terminal-protocol/conversation';

export type { PushTarget } from '../core/push-store';

export interface PreparePushRunInput {
  readonly campaignId: string;
  readonly runKey: string;
  readonly audience: PushAudience;
  readonly text: string;
  readonly sender?: string;
}

export interface PushCentralActivities {
  preparePushRun(input: PreparePushRunInput): Promise<PushTarget[]>;
  recordPushOutcome(input: { id: string; outcome: PushCallOutcome; via: PushVia }): Promise<string>;
  pushCampaignReport(campaignId: string): Promise<PushReport>;
}

/** What the access node's push queue runs. */
export interface PushLineActivities {
  dialPush(input: { target: PushTarget; atMs: number }): Promise<PushCallOutcome>;
}

export function createPushCentralActivities(deps: {
  store: PrismaPushStore;
  /** The display of a device profile, if the profile describes one. */
  displayOf: (profileId: string) => PushDisplay | undefined;
}): PushCentralActivities {
  return {
    preparePushRun: async (input) => {
      const candidates = await deps.store.audience(input.audience);
      const refusals = new Map<string, string>();
      for (const c of candidates) {
        try {
          checkPushText(input.text, deps.displayOf(c.profileId) ?? DEFAULT_PUSH_DISPLAY);
        } catch (e) {
          refusals.set(c.terminalId, isFixpayError(e) ? e.code : 'failed');
        }
      }
      return deps.store.createRun({
        campaignId: input.campaignId,
        runKey: input.runKey,
        text: input.text,
        ...(input.sender === undefined ? {} : { sender: input.sender }),
        candidates,
        refusals,
      });
    },
    recordPushOutcome: ({ id, outcome, via }) => deps.store.record(id, outcome, via),
    pushCampaignReport: (campaignId) => deps.store.report(campaignId),
  };
}

/** In-call push (ADR 0021): the notice answer's content, and its receipt once the phone ACKed it. */
export interface TerminalNoticeActivities {
  takeTerminalNotices(input: { terminalId: string }): Promise<{ field59: string; ids: string[]; count: number }>;
  recordTerminalNotices(input: { ids: readonly string[]; delivered: boolean }): Promise<{ delivered: number }>;
}

export function createTerminalNoticeActivities(deps: {
  store: Pick<PrismaPushStore, 'pendingForTerminal' | 'record'>;
}): TerminalNoticeActivities {
  return {
    takeTerminalNotices: async ({ terminalId }) => {
      const pending = await deps.store.pendingForTerminal(terminalId, NOTICES_PER_ANSWER_MAX);
      const { field59, count } = encodeNotices(
        pending.map((p) => ({ ...(p.sender === undefined ? {} : { sender: p.sender }), text: p.text })),
      );
      return { field59: Buffer.from(field59).toString('hex'), ids: pending.slice(0, count).map((p) => p.id), count };
    },
    recordTerminalNotices: async ({ ids, delivered }) => {
      if (!delivered) return { delivered: 0 };
      let n = 0;
      for (const id of ids) if ((await deps.store.record(id, 'delivered', 'in-call')) === 'delivered') n++;
      return { delivered: n };
    },
  };
}
