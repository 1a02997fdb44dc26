/**
 * The access node's push worker: `dialPush` on the task queue `push.<nodeId>`, one originated call
 * per activity (docs/protocols/push.md). A queue of its own keeps push calls apart from the
 * terminal transactions' `lines.<nodeId>` worker; the dialer's line budget bounds them per node.
 */
import type { NativeConnection } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { PushCallOutcome } from '../../domain/push';
import { isFixpayError } from '../../domain/errors';
import type { DeviceProfile } from '../profiles';
import type { PushLine } from './dialer';
import { pushAudioFor } from './onhook-push';

export const PUSH_TASK_QUEUE_PREFIX = 'push.';

/** What `dialPush` needs of a push (the store's row, without the ids it does not use). */
export interface DialPushInput {
  readonly target: {
    readonly id: string;
    readonly calledNumber: string;
    readonly profileId: string;
    readonly text: string;
    readonly sender?: string;
    readonly utcOffsetMinutes: number;
  };
  /** The time shown with the push (the workflow's clock). */
  readonly atMs: number;
}

export function createPushLineActivities(deps: {
  dialer: PushLine;
  profiles: ReadonlyMap<string, DeviceProfile>;
  defaultProfileId: string;
}): { dialPush(input: DialPushInput): Promise<PushCallOutcome> } {
  return {
    dialPush: async ({ target, atMs }) => {
      const profile = deps.profiles.get(target.profileId) ?? deps.profiles.get(deps.defaultProfileId);
      if (profile === undefined) return 'refused';
      let audio: Int16Array;
      try {
        audio = pushAudioFor(target, profile, atMs);
      } catch (e) {
        if (isFixpayError(e)) return 'refused';
        throw e;
      }
      return deps.dialer.dial({
        calledNumber: target.calledNumber,
        ...(target.sender === undefined ? {} : { sender: target.sender }),
        audio,
      });
    },
  };
}

export async function startPushWorker(deps: {
  connection: NativeConnection;
  namespace: string;
  nodeId: string;
  dataConverter: DataConverter;
  dialer: PushLine;
  profiles: ReadonlyMap<string, DeviceProfile>;
  defaultProfileId: string;
}): Promise<{ shutdown(): Promise<void> }> {
  const worker = await Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: `${PUSH_TASK_QUEUE_PREFIX}${deps.nodeId}`,
    dataConverter: deps.dataConverter,
    activities: createPushLineActivities(deps),
  });
  const done = worker.run();
  return {
    shutdown: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
