/**
 * Bundle entry for `npm run bench:shapes` (ADR 0013, the Update-per-purchase floor): the engine
 * floor of a long-lived workflow per terminal that takes each purchase as an Update, beside the
 * one-workflow-per-purchase floor (`engineFloor`, re-exported so one worker runs both).
 *
 * A purchase is the Update `floorPurchase`: its handler runs the purchase's calls (no-op
 * activities, as in `engineFloor`) and returns. When the run is told to wait for the phone's ACK
 * (`ack: true`), the answer is followed by the ACK, sent either as the Update `floorAck` (its result
 * tells the sender the ACK was accepted by the run) or as the signal `floorAckSignal` (its answer
 * tells the sender only that the server stored it); the run then makes the `post` calls (the post
 * and its record) and reports the purchase done to the worker's process through the `floorBench`
 * sink, so the bench knows when it may send the terminal's next purchase. The run continues as new
 * after `perRun` purchases, so its history stays bounded; `inRun` lets a run start as if it were
 * partway through one. The signal `floorEnd` ends it once every handler has finished.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineSignal,
  defineUpdate,
  proxySinks,
  setHandler,
} from '@temporalio/workflow';
import type { Sinks } from '@temporalio/workflow';
import { floorSteps } from './engine-floor';

export { engineFloor } from './engine-floor';

export interface TerminalFloorInput {
  /** Purchases per run: the run continues as new after this many. */
  readonly perRun: number;
  /** Purchases already counted in this run (a bench spreads the continue-as-new of its terminals). */
  readonly inRun: number;
  /** Whether each purchase waits for the phone's ACK and then makes the `post` calls. */
  readonly ack: boolean;
  /** Calls after the ACK, e.g. `RR` (the post and its record). */
  readonly post: string;
}

export interface TerminalFloorSinks extends Sinks {
  floorBench: {
    /** The purchase `seq` has been posted (its post calls are done). */
    posted(seq: number): void;
  };
}

/** One purchase: its calls, as letters. Returns how many ran. */
export const floorPurchase = defineUpdate<number, [string]>('floorPurchase');
/** The phone's ACK of purchase `seq`, as an Update: returns once the run has recorded it. */
export const floorAck = defineUpdate<null, [number]>('floorAck');
/** The phone's ACK of purchase `seq`, as a signal. */
export const floorAckSignal = defineSignal<[number]>('floorAckSignal');
/** Ends the run once every handler has finished. */
export const floorEnd = defineSignal('floorEnd');
/** Answers once the run is running (its first workflow task done); changes nothing. */
export const floorReady = defineUpdate<number>('floorReady');

const { floorBench } = proxySinks<TerminalFloorSinks>();

/** Returns the purchases counted in this run when ended by `floorEnd`. */
export async function terminalFloor(input: TerminalFloorInput): Promise<number> {
  let inRun = input.inRun;
  // Set by the signal handler (an object, so the loop below reads the handler's write).
  const end = { asked: false };
  const acks: number[] = [];
  setHandler(floorReady, () => inRun);
  setHandler(floorPurchase, async (steps) => {
    const n = await floorSteps(steps);
    if (!input.ack) inRun += 1;
    return n;
  });
  setHandler(floorAck, (seq) => {
    acks.push(seq);
    return null;
  });
  setHandler(floorAckSignal, (seq) => {
    acks.push(seq);
  });
  setHandler(floorEnd, () => {
    end.asked = true;
  });
  for (;;) {
    await condition(() => acks.length > 0 || end.asked || inRun >= input.perRun);
    const seq = acks.shift();
    if (seq !== undefined) {
      await floorSteps(input.post);
      inRun += 1;
      floorBench.posted(seq);
      continue;
    }
    await condition(allHandlersFinished);
    if (end.asked) return inRun;
    await continueAsNew<typeof terminalFloor>({ ...input, inRun: 0 });
  }
}
