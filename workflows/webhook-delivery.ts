/**
 * One webhook message to one partner endpoint, as a durable run `webhook:<deliveryId>`: an attempt,
 * then a durable timer from the retry schedule, until the endpoint answers 2xx or the schedule is
 * spent (then the delivery is marked failed). The run survives API and worker restarts; the
 * attempt counter lives in the workflow. Only the delivery id travels in history — the body and the
 * secret stay in the database and the activity.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { WebhookActivities } from '../activities/webhooks';

const { deliverWebhook, markWebhookFailed } = proxyActivities<WebhookActivities>({
  // Above the sender's own per-attempt HTTP timeout (WEBHOOK_ATTEMPT_TIMEOUT_MS, 10 s).
  startToCloseTimeout: '30 seconds',
  // Infrastructure failures (database down) only: an endpoint's refusal is an answer, not an error.
  retry: { maximumAttempts: 5, initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** Waits between attempts: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h (about 10.7 h in all). */
export const WEBHOOK_RETRY_DELAYS_MS: readonly number[] = [
  5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000,
];
/** Most attempts a schedule may ask for. */
export const WEBHOOK_ATTEMPTS_MAX = 20;

export interface WebhookDeliveryInput {
  readonly deliveryId: string;
  /** Waits after each failed attempt; its length + 1 is the number of attempts. */
  readonly retryDelaysMs: readonly number[];
}

export interface WebhookDeliveryOutput {
  readonly delivered: boolean;
  readonly attempts: number;
}

export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<WebhookDeliveryOutput> {
  const delays = input.retryDelaysMs.slice(0, WEBHOOK_ATTEMPTS_MAX - 1);
  for (let attempt = 1; ; attempt++) {
    const { delivered } = await deliverWebhook({ deliveryId: input.deliveryId, attempt });
    if (delivered) return { delivered: true, attempts: attempt };
    const delay = delays[attempt - 1];
    if (delay === undefined) {
      await markWebhookFailed(input.deliveryId);
      return { delivered: false, attempts: attempt };
    }
    await sleep(delay);
  }
}
