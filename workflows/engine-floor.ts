/**
 * Bundle entry for `npm run bench:e2e`: the engine floor. A workflow that does nothing but the
 * same sequence of local and remote activity calls as one purchase run (read from a purchase's
 * history), with no-op activities and a tiny input, so "purchase / engine floor" shows what the
 * platform adds on top of what Temporal itself costs for that shape.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

export interface EngineFloorActivities {
  floorStep(i: number): Promise<number>;
}

const remote = proxyActivities<EngineFloorActivities>({
  startToCloseTimeout: 10_000,
  retry: { maximumAttempts: 3 },
});
const local = proxyLocalActivities<EngineFloorActivities>({
  startToCloseTimeout: 10_000,
  retry: { maximumAttempts: 3 },
});

/** Runs `steps` (one letter per call in order, `L` local, `R` remote); returns how many ran. */
export async function floorSteps(steps: string): Promise<number> {
  let i = 0;
  for (const s of steps) {
    i += 1;
    await (s === 'L' ? local.floorStep(i) : remote.floorStep(i));
  }
  return i;
}

/** `steps`: one letter per call in order, `L` local, `R` remote. Returns how many ran. */
export async function engineFloor(steps: string): Promise<number> {
  return floorSteps(steps);
}
