/**
 * `fixpay ops` on Temporal: list, describe, find stuck runs, terminate and retry them. Reads only
 * what is never encrypted (ids, status, times, search attributes, activity names and attempts), so
 * it needs no codec key and shows no payload; failure messages are scrubbed of card numbers.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import Long from 'long';
import { FixpayError } from '../../domain/errors';
import { scrubText } from '../../domain/masking';

export const RUN_STATUSES = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  terminated: 'Terminated',
  canceled: 'Canceled',
  'timed-out': 'TimedOut',
  'continued-as-new': 'ContinuedAsNew',
} as const;
export type RunStatus = keyof typeof RUN_STATUSES;

const STATUS_BY_NUMBER: readonly string[] = [
  'unspecified',
  'running',
  'completed',
  'failed',
  'canceled',
  'terminated',
  'continued-as-new',
  'timed-out',
];

export interface RunFilter {
  readonly service?: string;
  readonly terminal?: string;
  readonly stan?: string;
  readonly status?: string;
  /** Started before this instant (stuck runs). */
  readonly startedBefore?: Date;
  readonly limit?: number;
}

export interface RunRow {
  readonly workflowId: string;
  readonly runId: string;
  readonly type: string;
  readonly status: string;
  readonly service?: string;
  readonly terminal?: string;
  readonly stan?: string;
  readonly outcome?: string;
  readonly startedAt?: string;
  readonly closedAt?: string;
  readonly historyLength: number;
  /** `deployment:build` the run is on (Worker Versioning, ADR 0022). */
  readonly workerVersion?: string;
}

export interface PendingActivityView {
  readonly activity: string;
  readonly state: string;
  readonly attempt: number;
  readonly lastFailure?: string;
  readonly lastStartedAt?: string;
}

export interface RunDetail extends RunRow {
  readonly taskQueue?: string;
  readonly pendingActivities: readonly PendingActivityView[];
  readonly versioningBehavior?: string;
}

const SERVICE = /^[a-z][a-z0-9-]{0,63}$/;
const TERMINAL = /^[A-Za-z0-9]{1,16}$/;
const STAN = /^\d{6}$/;
const WORKFLOW_ID = /^[\x21-\x7e]{1,255}$/;
export const LIMIT_MAX = 1_000;

/** Checks every filter value against its shape, so nothing reaches the query language unchecked. */
export function checkFilter(f: RunFilter): void {
  if (f.service !== undefined && !SERVICE.test(f.service))
    throw new FixpayError(
      'BAD_REQUEST',
      `--service must be a service id like purchase (got ${JSON.stringify(f.service)})`,
    );
  if (f.terminal !== undefined && !TERMINAL.test(f.terminal))
    throw new FixpayError(
      'BAD_REQUEST',
      `--terminal must be 1-16 letters or digits (got ${JSON.stringify(f.terminal)})`,
    );
  if (f.stan !== undefined && !STAN.test(f.stan))
    throw new FixpayError('BAD_REQUEST', `--stan must be six digits (got ${JSON.stringify(f.stan)})`);
  if (f.status !== undefined && !(f.status in RUN_STATUSES))
    throw new FixpayError(
      'BAD_REQUEST',
      `--status must be one of ${Object.keys(RUN_STATUSES).join(', ')} (got ${JSON.stringify(f.status)})`,
    );
  if (f.limit !== undefined && (!Number.isInteger(f.limit) || f.limit < 1 || f.limit > LIMIT_MAX))
    throw new FixpayError('BAD_REQUEST', `--limit must be 1..${LIMIT_MAX}`);
}

/** The visibility query of a filter (values checked by `checkFilter`). */
export function runQuery(f: RunFilter): string {
  checkFilter(f);
  const parts: string[] = [];
  if (f.service !== undefined) parts.push(`ServiceId = '${f.service}'`);
  if (f.terminal !== undefined) parts.push(`TerminalId = '${f.terminal}'`);
  if (f.status !== undefined) parts.push(`ExecutionStatus = '${RUN_STATUSES[f.status as RunStatus]}'`);
  if (f.startedBefore !== undefined) parts.push(`StartTime < '${f.startedBefore.toISOString()}'`);
  return parts.join(' AND ');
}

/** `serviceId:terminalId:stan:date` (docs/architecture.md), or nothing for other workflow ids. */
export function parseRunId(workflowId: string): { service: string; terminal: string; stan: string } | undefined {
  const m = /^([a-z][a-z0-9-]*):([A-Za-z0-9]{1,16}):(\d{6}):\d{8}$/.exec(workflowId);
  return m === null ? undefined : { service: m[1] ?? '', terminal: m[2] ?? '', stan: m[3] ?? '' };
}

type Timestamp = { seconds?: unknown; nanos?: unknown } | null | undefined;
const iso = (t: Timestamp): string | undefined =>
  t === null || t === undefined
    ? undefined
    : new Date(Number(t.seconds ?? 0) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1e6)).toISOString();

/** A search attribute's value: JSON in the payload's data (search attributes bypass the codec). */
function attribute(
  fields: Record<string, { data?: Uint8Array | null } | null | undefined> | null | undefined,
  name: string,
): string | undefined {
  const data = fields?.[name]?.data;
  if (data === null || data === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  } catch {
    // not JSON: not ours
  }
  return undefined;
}

interface RawInfo {
  execution?: { workflowId?: string | null; runId?: string | null } | null;
  type?: { name?: string | null } | null;
  status?: unknown;
  startTime?: Timestamp;
  closeTime?: Timestamp;
  historyLength?: unknown;
  taskQueue?: string | null;
  searchAttributes?: { indexedFields?: Record<string, { data?: Uint8Array | null } | null> | null } | null;
}

function toRow(info: RawInfo): RunRow {
  const workflowId = info.execution?.workflowId ?? '';
  const fields = info.searchAttributes?.indexedFields;
  const parsed = parseRunId(workflowId);
  const service = attribute(fields, 'ServiceId') ?? parsed?.service;
  const terminal = attribute(fields, 'TerminalId') ?? parsed?.terminal;
  const outcome = attribute(fields, 'Outcome');
  const workerVersion = attribute(fields, 'TemporalWorkerDeploymentVersion');
  const startedAt = iso(info.startTime);
  const closedAt = iso(info.closeTime);
  return {
    workflowId,
    runId: info.execution?.runId ?? '',
    type: info.type?.name ?? '',
    status: STATUS_BY_NUMBER[Number(info.status ?? 0)] ?? 'unspecified',
    ...(service === undefined ? {} : { service }),
    ...(terminal === undefined ? {} : { terminal }),
    ...(parsed === undefined ? {} : { stan: parsed.stan }),
    ...(outcome === undefined ? {} : { outcome }),
    ...(startedAt === undefined ? {} : { startedAt }),
    ...(closedAt === undefined ? {} : { closedAt }),
    historyLength: Number(info.historyLength ?? 0),
    ...(workerVersion === undefined ? {} : { workerVersion }),
  };
}

/** Runs matching the filter, newest first; the STAN is matched on the run's id. */
export async function listRuns(client: Client, namespace: string, f: RunFilter): Promise<RunRow[]> {
  const query = runQuery(f);
  const limit = f.limit ?? 100;
  const rows: RunRow[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const r = await client.workflowService.listWorkflowExecutions({
      namespace,
      query,
      pageSize: Math.min(limit, 500),
      ...(nextPageToken === undefined ? {} : { nextPageToken }),
    });
    for (const e of r.executions) {
      const row = toRow(e);
      if (f.stan !== undefined && row.stan !== f.stan) continue;
      rows.push(row);
      if (rows.length >= limit) return rows;
    }
    nextPageToken = r.nextPageToken.length > 0 ? r.nextPageToken : undefined;
  } while (nextPageToken !== undefined);
  return rows;
}

function grpcCode(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

const ACTIVITY_STATES = ['unspecified', 'scheduled', 'started', 'cancel-requested', 'paused', 'pause-requested'];

/** One run (the latest of the id unless `runId` is given) with its pending activities. */
export async function describeRun(
  client: Client,
  namespace: string,
  workflowId: string,
  runId?: string,
): Promise<RunDetail> {
  if (!WORKFLOW_ID.test(workflowId)) throw new FixpayError('BAD_REQUEST', 'a run id is 1-255 printable characters');
  try {
    const r = await client.workflowService.describeWorkflowExecution({
      namespace,
      execution: { workflowId, ...(runId === undefined ? {} : { runId }) },
    });
    const info = (r.workflowExecutionInfo ?? {}) as RawInfo & {
      versioningInfo?: { behavior?: unknown } | null;
    };
    const behavior = info.versioningInfo?.behavior;
    return {
      ...toRow(info),
      ...(info.taskQueue ? { taskQueue: info.taskQueue } : {}),
      ...(behavior === undefined || behavior === null
        ? {}
        : { versioningBehavior: ['unspecified', 'pinned', 'auto-upgrade'][Number(behavior)] ?? 'unknown' }),
      pendingActivities: r.pendingActivities.map((a) => {
        const lastFailure = a.lastFailure?.message;
        const lastStartedAt = iso(a.lastStartedTime);
        return {
          activity: a.activityType?.name ?? '',
          state: ACTIVITY_STATES[a.state ?? 0] ?? 'unknown',
          attempt: a.attempt ?? 0,
          ...(lastFailure ? { lastFailure: scrubText(lastFailure).slice(0, 300) } : {}),
          ...(lastStartedAt === undefined ? {} : { lastStartedAt }),
        };
      }),
    };
  } catch (e) {
    if (grpcCode(e) === 5) throw new FixpayError('NOT_FOUND', `no run ${workflowId}`, { cause: e });
    throw e;
  }
}

/** Running runs started before `olderThanMs` ago, each with its pending activities. */
export async function stuckRuns(
  client: Client,
  namespace: string,
  o: { olderThanMs: number; service?: string; limit?: number; now?: Date },
): Promise<RunDetail[]> {
  const startedBefore = new Date((o.now ?? new Date()).getTime() - o.olderThanMs);
  const rows = await listRuns(client, namespace, {
    status: 'running',
    startedBefore,
    ...(o.service === undefined ? {} : { service: o.service }),
    limit: o.limit ?? 100,
  });
  const out: RunDetail[] = [];
  for (const r of rows) {
    try {
      out.push(await describeRun(client, namespace, r.workflowId, r.runId));
    } catch (e) {
      if (!(e instanceof FixpayError && e.codeName === 'NOT_FOUND')) throw e;
    }
  }
  return out;
}

/** A reason an operator gives: 8-500 characters, no card number, no control characters. */
export function checkReason(reason: string | undefined): string {
  const r = (reason ?? '').trim();
  if (r.length < 8 || r.length > 500) throw new FixpayError('OPS_REASON_REFUSED', 'give --reason "…" (8-500 chars)');
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\x00-\x1f\x7f]/.test(r)) throw new FixpayError('OPS_REASON_REFUSED', 'the reason has control characters');
  if (scrubText(r) !== r) throw new FixpayError('OPS_REASON_REFUSED', 'the reason looks like it holds card data');
  return r;
}

const OPERATOR = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export function checkOperator(operator: string | undefined): string {
  if (operator === undefined || !OPERATOR.test(operator))
    throw new FixpayError('BAD_REQUEST', '--operator must name who acts (letters, digits, . _ @ -; up to 64)');
  return operator;
}

/** Where an operator action is recorded before it is made (the append-only audit log). */
export interface AuditSink {
  record(e: { actor: string; action: string; subject: string; details: Record<string, string> }): Promise<void>;
}

/** Terminates an open run: audited first, then terminated with the reason and the operator. */
export async function terminateRun(
  client: Client,
  namespace: string,
  audit: AuditSink,
  o: { workflowId: string; reason: string; operator: string },
): Promise<RunDetail> {
  const reason = checkReason(o.reason);
  const operator = checkOperator(o.operator);
  const run = await describeRun(client, namespace, o.workflowId);
  if (run.status !== 'running') throw new FixpayError('OPS_RUN_NOT_OPEN', `${o.workflowId} is ${run.status}`);
  await audit.record({
    actor: `operator:${operator}`,
    action: 'run.terminate',
    subject: `run:${o.workflowId}`,
    details: { runId: run.runId, reason, ...(run.service === undefined ? {} : { service: run.service }) },
  });
  await client.workflowService.terminateWorkflowExecution({
    namespace,
    workflowExecution: { workflowId: o.workflowId, runId: run.runId },
    reason: `${reason} (operator ${operator})`,
    identity: `fixpay-ops/${operator}`,
  });
  return describeRun(client, namespace, o.workflowId, run.runId);
}

/**
 * Where a retry starts: the workflow task that scheduled the last activity to fail or time out
 * (so that activity runs again and everything before it stays done), else the last completed
 * workflow task (a terminated run carries on where it was stopped). 0 when there is none.
 */
async function retryPoint(client: Client, namespace: string, workflowId: string, runId: string): Promise<number> {
  let lastTaskCompleted = 0;
  let failedActivityTask = 0;
  const scheduledBy = new Map<number, number>();
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace,
      execution: { workflowId, runId },
      maximumPageSize: 500,
      ...(nextPageToken === undefined ? {} : { nextPageToken }),
    });
    for (const e of page.history?.events ?? []) {
      const id = Number(e.eventId ?? 0);
      if (e.workflowTaskCompletedEventAttributes) lastTaskCompleted = id;
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (scheduled) scheduledBy.set(id, Number(scheduled.workflowTaskCompletedEventId ?? 0));
      const failed = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
      if (failed) failedActivityTask = scheduledBy.get(Number(failed.scheduledEventId ?? 0)) ?? 0;
    }
    nextPageToken = page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken !== undefined);
  return failedActivityTask > 0 ? failedActivityTask : lastTaskCompleted;
}

/**
 * Retries a failed, terminated or timed-out run from its last completed workflow task: a new run
 * of the same id replays what was done (completed activities are not run again) and carries on
 * from the step that failed, under the same idempotency keys. A completed run is never re-run.
 */
export async function retryRun(
  client: Client,
  namespace: string,
  audit: AuditSink,
  o: { workflowId: string; reason: string; operator: string },
): Promise<{ previous: RunDetail; newRunId: string }> {
  const reason = checkReason(o.reason);
  const operator = checkOperator(o.operator);
  const run = await describeRun(client, namespace, o.workflowId);
  if (!['failed', 'terminated', 'timed-out'].includes(run.status))
    throw new FixpayError('OPS_RUN_NOT_RETRYABLE', `${o.workflowId} is ${run.status}`);
  const resetPoint = await retryPoint(client, namespace, o.workflowId, run.runId);
  if (resetPoint === 0)
    throw new FixpayError('OPS_RUN_NOT_RETRYABLE', `${o.workflowId} never completed a workflow task`);
  await audit.record({
    actor: `operator:${operator}`,
    action: 'run.retry',
    subject: `run:${o.workflowId}`,
    details: { runId: run.runId, reason, fromEvent: String(resetPoint) },
  });
  const r = await client.workflowService.resetWorkflowExecution({
    namespace,
    workflowExecution: { workflowId: o.workflowId, runId: run.runId },
    reason: `${reason} (operator ${operator})`,
    workflowTaskFinishEventId: Long.fromNumber(resetPoint),
    requestId: randomUUID(),
    identity: `fixpay-ops/${operator}`,
  });
  return { previous: run, newRunId: (r as { runId?: string | null }).runId ?? '' };
}
