/**
 * Workflow interceptor (runs inside the workflow sandbox, so it does no I/O): when a run ends, it
 * reports its workflow type, service id, outcome and how it ended to the worker through the
 * `runMetrics` sink, which counts it (worker/metrics.ts). The service id and outcome are the run's
 * own search attributes, so nothing the interpreter does changes. Sinks are not called during
 * replay: a run is counted once per worker that completes it, not once per replay.
 */
import { ContinueAsNew, isCancellation, proxySinks, workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { Sinks, WorkflowInterceptorsFactory } from '@temporalio/workflow';

/** How a run ended, as the metric's `status` label. */
export type RunEnd = 'completed' | 'failed' | 'cancelled' | 'continued';

export interface RunMetricsSinks extends Sinks {
  runMetrics: {
    ended(workflowType: string, serviceId: string, outcome: string, status: RunEnd): void;
  };
}

const { runMetrics } = proxySinks<RunMetricsSinks>();
const SERVICE_ID = defineSearchAttributeKey('ServiceId', 'KEYWORD');
const OUTCOME = defineSearchAttributeKey('Outcome', 'KEYWORD');

function report(status: RunEnd): void {
  const info = workflowInfo();
  const attributes = info.typedSearchAttributes;
  runMetrics.ended(info.workflowType, attributes.get(SERVICE_ID) ?? 'none', attributes.get(OUTCOME) ?? 'none', status);
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      async execute(input, next) {
        try {
          const result = await next(input);
          report('completed');
          return result;
        } catch (e) {
          report(e instanceof ContinueAsNew ? 'continued' : isCancellation(e) ? 'cancelled' : 'failed');
          throw e;
        }
      },
    },
  ],
});
