/** The terminal message activity: the card-data-free summary of a request (terminal-protocol/). */
import { requestBytes, summarizeTerminalRequest } from '../terminal-protocol/messages';
import type { TerminalRequestSummary } from '../terminal-protocol/messages';

export interface OpenTerminalRequestInput {
  /** The request bytes, hex (sensitive: holds track 2 and the PIN block). */
  readonly request: string;
}

export interface TerminalMessageActivities {
  /** The card-data-free summary of the request (safe to store and branch on). */
  describeTerminalRequest(input: OpenTerminalRequestInput): Promise<TerminalRequestSummary>;
}

export function createTerminalMessageActivities(): TerminalMessageActivities {
  return {
    describeTerminalRequest: (input) => Promise.resolve(summarizeTerminalRequest(requestBytes(input.request))),
  };
}
