/**
 * Starts the durable run of a stored webhook delivery: workflow `webhook:<deliveryId>` on the
 * central task queue. Starting a run that already exists is harmless (the id is the delivery's),
 * so a retry of the API call or the start-up sweep cannot send a message twice.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import type { DeliveryStarter } from '../partners/service';

export interface DeliveryRunOptions {
  readonly taskQueue: string;
  /** Waits between attempts (WEBHOOK_RETRY_DELAYS_MS by default). */
  readonly retryDelaysMs: readonly number[];
}

export function webhookWorkflowId(deliveryId: string): string {
  return `webhook:${deliveryId}`;
}

export function temporalDeliveryStarter(client: Client, options: DeliveryRunOptions): DeliveryStarter {
  return async (deliveryId) => {
    try {
      await client.workflow.start('webhookDeliveryWorkflow', {
        taskQueue: options.taskQueue,
        workflowId: webhookWorkflowId(deliveryId),
        // A finished run is never started again: a message goes out once per delivery.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        args: [{ deliveryId, retryDelaysMs: [...options.retryDelaysMs] }],
      });
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    }
  };
}
