/**
 * Activities of the webhook delivery workflow (workflows/webhook-delivery.ts): one signed attempt,
 * and marking a delivery failed once its schedule is spent. The sender (partners/webhook-sender.ts)
 * does the I/O; tests pass a fake to the same factory.
 */
export interface WebhookAttemptPort {
  attempt(deliveryId: string, attempt: number): Promise<{ delivered: boolean; statusCode: number | null }>;
  markFailed(deliveryId: string): Promise<void>;
}

export interface WebhookActivities {
  deliverWebhook(input: {
    deliveryId: string;
    attempt: number;
  }): Promise<{ delivered: boolean; statusCode: number | null }>;
  markWebhookFailed(deliveryId: string): Promise<void>;
}

export function createWebhookActivities(deps: { sender: WebhookAttemptPort }): WebhookActivities {
  return {
    deliverWebhook: ({ deliveryId, attempt }) => deps.sender.attempt(deliveryId, attempt),
    markWebhookFailed: (deliveryId) => deps.sender.markFailed(deliveryId),
  };
}
