/**
 * `fixpay ops`: the operators' commands (docs/operations/ops.md, ADR 0022). Runs of a service by
 * terminal, STAN and status; stuck runs; terminate and retry with a reason, audited; the reversal
 * queue; the ledger's balance; terminal key check values; line and node state from the metrics
 * endpoints; the central workers' Worker Deployment. Human tables by default, `--json` for scripts.
 * Exit codes: 0 done (and healthy), 1 a check found a problem or the action failed, 2 bad input.
 */
import { Client, Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import type { Config } from '../../config';
import { FixpayError, isFixpayError } from '../../domain/errors';
import { scrubText } from '../../domain/masking';
import { createPrismaClient } from '../../infra/database';
import type { PrismaClient } from '../../infra/database';
import { temporalTls } from '../../infra/temporal/tls';
import { CODEC_PROXY_DEFAULTS, startCodecProxy } from '../../codec/codec-proxy';
import { describeDeployment, openRunsOnBuild, setCurrentBuild } from '../../infra/temporal/deployments';
import { ledgerCheck, nodeStatus, reversalQueue, terminalKeys } from '../ops/checks';
import {
  checkFilter,
  checkOperator,
  checkReason,
  describeRun,
  listRuns,
  retryRun,
  stuckRuns,
  terminateRun,
} from '../ops/runs';
import type { AuditSink, RunDetail, RunRow } from '../ops/runs';
import { checkNodeId, controlOrigin, DRAIN_WAIT_MS_MAX } from '../ops/nodes';
import { checkReversalKey } from '../ops/reversals';
import type { ReversalView } from '../ops/reversals';
import { runOperatorAction } from '../ops/actions';
import { checkOperationId } from '../../activities/operator-actions';
import { createDataConverter } from '../../codec/data-converter';
import { codecKeysFromText } from '../../codec/payload-codec';
import { loadSecrets } from '../../infra/secrets';

interface OutputOptions {
  json?: boolean;
}

/** `90s`, `5m`, `2h`, `1d` or plain milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw new FixpayError('BAD_REQUEST', `duration ${JSON.stringify(text)}: use e.g. 90s, 5m, 2h, 1d`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  return Number(m[1]) * unit;
}

function parseLimit(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,4}$/.test(text)) throw new FixpayError('BAD_REQUEST', `--limit ${JSON.stringify(text)}: a number`);
  return Number(text);
}

const BAD_INPUT = new Set(['BAD_REQUEST', 'OPS_REASON_REFUSED']);

/** Runs an action: its result printed, a failure as `error FPxxxx NAME: …` (JSON with --json). */
function action<A extends unknown[]>(fn: (...args: A) => Promise<number | undefined>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const opts = args.find((a): a is OutputOptions => typeof a === 'object' && a !== null && 'json' in a) ?? {};
    try {
      const code = await fn(...args);
      process.exitCode = code ?? 0;
    } catch (e) {
      const err = isFixpayError(e)
        ? e
        : new FixpayError(
            /UNAVAILABLE|ECONNREFUSED|connect|deadline/i.test(e instanceof Error ? e.message : String(e))
              ? 'TEMPORAL_UNAVAILABLE'
              : 'INTERNAL',
            scrubText(e instanceof Error ? e.message : String(e)).slice(0, 500),
          );
      if (opts.json === true)
        process.stdout.write(
          `${JSON.stringify({ error: { code: err.code, name: err.codeName, message: err.message } })}\n`,
        );
      else process.stderr.write(`error ${err.code} ${err.codeName}: ${err.message}\n`);
      process.exitCode = BAD_INPUT.has(err.codeName) ? 2 : 1;
    }
  };
}

async function withTemporal<T>(fn: (client: Client, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const t = config.temporal;
  const tls = temporalTls(t);
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address: `${t.host}:${t.port}`,
      connectTimeout: 10_000,
      ...(tls === undefined ? {} : { tls }),
    });
  } catch (e) {
    throw new FixpayError('TEMPORAL_UNAVAILABLE', `${t.host}:${t.port} (set FIXPAY_TEMPORAL_HOST/PORT)`, { cause: e });
  }
  try {
    return await fn(new Client({ connection, namespace: t.namespace }), config);
  } finally {
    await connection.close();
  }
}

/** A client with the payload codec: a run's input is encrypted like every payload (the worker refuses plain ones). */
async function withTemporalCodec<T>(fn: (client: Client, config: Config) => Promise<T>): Promise<T> {
  return withTemporal((c, config) => {
    // Only the codec keys are needed here (FIXPAY_CODEC_KEYS, or the data folder's secrets file).
    const codecKeys = config.security.codecKeys ?? loadSecrets(config.security, { generate: false }).codecKeys;
    const client = new Client({
      connection: c.connection,
      namespace: config.temporal.namespace,
      dataConverter: createDataConverter(codecKeysFromText(codecKeys)),
    });
    return fn(client, config);
  });
}

/** Says which run carries the operator's action (stderr: --json output stays one document). */
const announceRun =
  (operationId: string | undefined) =>
  (workflowId: string, attached: boolean): void => {
    process.stderr.write(
      `${attached ? 'attached to' : 'started'} run ${workflowId}${operationId === undefined ? ' (run again with --operation-id <the last part> to attach after a crash)' : ''}\n`,
    );
  };

async function withDatabase<T>(fn: (prisma: PrismaClient) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const url = config.database.url;
  if (url === undefined)
    throw new FixpayError(
      'CONFIG_INVALID',
      'set DATABASE_URL to the platform database (ops reads it, never migrates it)',
    );
  const prisma = createPrismaClient(url, 2, config.database.connectTimeoutMs);
  try {
    return await fn(prisma);
  } catch (e) {
    if (isFixpayError(e)) throw e;
    const message = e instanceof Error ? e.message : String(e);
    throw new FixpayError(
      /connect|ECONNREFUSED|does not exist|authentication/i.test(message) ? 'DATABASE_UNAVAILABLE' : 'INTERNAL',
      scrubText(message).slice(0, 500),
      { cause: e },
    );
  } finally {
    await prisma.$disconnect();
  }
}

function auditSink(prisma: PrismaClient): AuditSink {
  return {
    record: async (e) => {
      await prisma.auditEvent.create({ data: e });
    },
  };
}

const print = (o: OutputOptions, value: unknown, human: () => string): void => {
  process.stdout.write(o.json === true ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
};

/** A plain text table: a header row and rows, columns padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const runTable = (rows: readonly RunRow[]): string =>
  rows.length === 0
    ? 'no runs'
    : table(
        ['RUN', 'STATUS', 'OUTCOME', 'STARTED', 'CLOSED', 'VERSION'],
        rows.map((r) => [
          r.workflowId,
          r.status,
          r.outcome ?? '',
          r.startedAt ?? '',
          r.closedAt ?? '',
          r.workerVersion ?? '',
        ]),
      );

const detailText = (d: RunDetail): string =>
  [
    `run        ${d.workflowId} (${d.runId})`,
    `type       ${d.type}`,
    `status     ${d.status}${d.outcome === undefined ? '' : `, outcome ${d.outcome}`}`,
    `service    ${d.service ?? '-'}   terminal ${d.terminal ?? '-'}   stan ${d.stan ?? '-'}`,
    `started    ${d.startedAt ?? '-'}   closed ${d.closedAt ?? '-'}`,
    `history    ${d.historyLength} events   task queue ${d.taskQueue ?? '-'}`,
    `version    ${d.workerVersion ?? '(unversioned)'}${d.versioningBehavior === undefined ? '' : ` ${d.versioningBehavior}`}`,
    ...(d.pendingActivities.length === 0
      ? ['pending    none']
      : d.pendingActivities.map(
          (a) =>
            `pending    ${a.activity} ${a.state} attempt ${a.attempt}${a.lastFailure === undefined ? '' : `: ${a.lastFailure}`}`,
        )),
  ].join('\n');

const OPERATION_ID_HELP =
  'names the action (letters, digits, . _ -): the same id attaches to the same run instead of acting again (default: a new one, printed)';

export function register(program: Command): void {
  const ops = program
    .command('ops')
    .description(
      'operator commands: runs (list, describe, stuck, terminate, retry), reversal queue, ledger balance, key check values, node status, worker deployment. Reads FIXPAY_TEMPORAL_HOST/PORT/NAMESPACE and DATABASE_URL; --json on every command; exit 0 ok, 1 problem found or action failed, 2 bad input',
    );

  ops
    .command('runs')
    .description('list runs, newest first, by service, terminal, STAN and status')
    .option('--service <id>', 'service id, e.g. purchase')
    .option('--terminal <id>', 'terminal id, e.g. T0000001')
    .option('--stan <nnnnnn>', 'the STAN (six digits) in the run id')
    .option('--status <status>', 'running, completed, failed, terminated, canceled, timed-out, continued-as-new')
    .option('--limit <n>', 'at most this many runs (1-1000)', '100')
    .option('--json', 'print JSON')
    .action(
      action(
        async (
          o: OutputOptions & { service?: string; terminal?: string; stan?: string; status?: string; limit?: string },
        ) => {
          const filter = {
            ...(o.service === undefined ? {} : { service: o.service }),
            ...(o.terminal === undefined ? {} : { terminal: o.terminal }),
            ...(o.stan === undefined ? {} : { stan: o.stan }),
            ...(o.status === undefined ? {} : { status: o.status }),
            limit: parseLimit(o.limit, 100),
          };
          checkFilter(filter);
          const rows = await withTemporal((c, cfg) => listRuns(c, cfg.temporal.namespace, filter));
          print(o, rows, () => runTable(rows));
        },
      ),
    );

  ops
    .command('describe')
    .description('one run: status, outcome, times, worker version and its pending activities (no payloads)')
    .argument('<run>', 'the run id, e.g. purchase:T0000001:000123:20261203')
    .option('--json', 'print JSON')
    .action(
      action(async (run: string, o: OutputOptions) => {
        const d = await withTemporal((c, cfg) => describeRun(c, cfg.temporal.namespace, run));
        print(o, d, () => detailText(d));
      }),
    );

  ops
    .command('stuck')
    .description('running runs started longer ago than --older-than, with their pending activities and attempts')
    .requiredOption('--older-than <duration>', 'e.g. 90s, 5m, 2h')
    .option('--service <id>', 'only this service')
    .option('--limit <n>', 'at most this many runs (1-1000)', '100')
    .option('--json', 'print JSON')
    .action(
      action(async (o: OutputOptions & { olderThan: string; service?: string; limit?: string }) => {
        const olderThanMs = parseDuration(o.olderThan);
        const limit = parseLimit(o.limit, 100);
        checkFilter({ ...(o.service === undefined ? {} : { service: o.service }), limit });
        const rows = await withTemporal((c, cfg) =>
          stuckRuns(c, cfg.temporal.namespace, {
            olderThanMs,
            limit,
            ...(o.service === undefined ? {} : { service: o.service }),
          }),
        );
        print(o, rows, () => (rows.length === 0 ? 'no stuck runs' : rows.map(detailText).join('\n\n')));
        return rows.length === 0 ? 0 : 1;
      }),
    );

  for (const verb of ['terminate', 'retry'] as const) {
    ops
      .command(verb)
      .description(
        verb === 'terminate'
          ? "terminate an open run; the reason and the operator go to the audit log first, then to the run's history. An armed reversal of the run is still forwarded by the reversal queue"
          : 'retry a failed, terminated or timed-out run from its last completed step (completed steps are not run again; same idempotency keys); audited. A completed run is never retried',
      )
      .argument('<run>', 'the run id')
      .requiredOption('--reason <text>', 'why (8-500 characters, no card data)')
      .requiredOption('--operator <name>', 'who acts (recorded in the audit log and the history)')
      .option('--json', 'print JSON')
      .action(
        action(async (run: string, o: OutputOptions & { reason: string; operator: string }) => {
          checkReason(o.reason);
          checkOperator(o.operator);
          const config = loadConfig();
          if (config.database.url === undefined)
            throw new FixpayError('CONFIG_INVALID', 'set DATABASE_URL: operator actions are recorded in the audit log');
          type Result = RunDetail | { previous: RunDetail; newRunId: string };
          const result = await withDatabase((prisma) =>
            withTemporal((c, cfg): Promise<Result> => {
              const args = { workflowId: run, reason: o.reason, operator: o.operator };
              return verb === 'terminate'
                ? terminateRun(c, cfg.temporal.namespace, auditSink(prisma), args)
                : retryRun(c, cfg.temporal.namespace, auditSink(prisma), args);
            }),
          );
          print(o, result, () =>
            'newRunId' in result
              ? `retried ${run}: new run ${result.newRunId} (was ${result.previous.status})`
              : `terminated ${run} (${result.runId}): now ${result.status}`,
          );
        }),
      );
  }

  ops
    .command('reversals')
    .description('the reversal queue: counts by status, the oldest open reversal, the open ones (masked PAN only)')
    .option('--limit <n>', 'list at most this many open reversals', '50')
    .option('--json', 'print JSON')
    .action(
      action(async (o: OutputOptions & { limit?: string }) => {
        const limit = parseLimit(o.limit, 50);
        const q = await withDatabase((p) => reversalQueue(p, limit));
        print(o, q, () =>
          [
            `reversals  ${Object.entries(q.byStatus)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}`,
            `oldest open ${q.oldestOpenAgeSeconds === undefined ? '-' : `${Math.round(q.oldestOpenAgeSeconds)} s`}`,
            ...(q.open.length === 0
              ? []
              : [
                  table(
                    ['KEY', 'STATUS', 'TERMINAL', 'STAN', 'AMOUNT', 'PAN', 'ATTEMPTS', 'NEXT', 'LAST'],
                    q.open.map((r) => [
                      r.key,
                      r.status,
                      r.terminalId,
                      r.stan,
                      `${r.amountMinor} ${r.currency}`,
                      r.maskedPan ?? '',
                      String(r.attempts),
                      r.nextAttemptAt,
                      r.lastResponseCode ?? r.lastError ?? '',
                    ]),
                  ),
                ]),
          ].join('\n'),
        );
      }),
    );

  ops
    .command('reversal')
    .description('one reversal of the queue')
    .command('replay')
    .argument('<key>', 'the reversal key (the original request’s idempotency key, as `ops reversals` lists it)')
    .description(
      'send a stuck reversal again: an expired (or pending) reversal is due now, with fresh attempts; audited. It lands once however often it is replayed (a done one is refused)',
    )
    .requiredOption('--reason <text>', 'why (8-500 characters, no card data)')
    .requiredOption('--operator <name>', 'who acts (recorded in the audit log and the run)')
    .option('--operation-id <id>', OPERATION_ID_HELP)
    .option('--json', 'print JSON')
    .action(
      action(async (key: string, o: OutputOptions & { reason: string; operator: string; operationId?: string }) => {
        checkReversalKey(key);
        checkReason(o.reason);
        checkOperator(o.operator);
        if (o.operationId !== undefined) checkOperationId(o.operationId);
        const { outcome } = await withTemporalCodec((c, cfg) =>
          runOperatorAction(
            c,
            cfg.temporal.taskQueue,
            {
              operator: o.operator,
              reason: o.reason,
              action: { kind: 'reversal.replay', key },
              ...(o.operationId === undefined ? {} : { operationId: o.operationId }),
            },
            announceRun(o.operationId),
          ),
        );
        const r = outcome.result as unknown as ReversalView;
        print(o, r, () =>
          [
            `reversal ${r.key}: ${r.status}, due now (replay ${r.replays})`,
            `terminal ${r.terminalId} STAN ${r.stan} amount ${r.amountMinor} ${r.currency} card ${r.maskedPan ?? '-'} attempts ${r.attempts}`,
          ].join('\n'),
        );
      }),
    );

  ops
    .command('ledger')
    .description(
      'balance check: per ledger the journal sums to zero (debits = credits, posted and pending) and no account breaks its limit; exit 1 when not',
    )
    .option('--json', 'print JSON')
    .action(
      action(async (o: OutputOptions) => {
        const c = await withDatabase(ledgerCheck);
        print(o, c, () =>
          [
            c.balanced ? 'ledger balanced' : 'LEDGER NOT BALANCED',
            table(
              ['LEDGER', 'DEBITS', 'CREDITS', 'DIFF', 'PENDING DR', 'PENDING CR', 'PENDING DIFF'],
              c.ledgers.map((l) => [
                String(l.ledger),
                l.debitsPosted,
                l.creditsPosted,
                l.postedDifference,
                l.debitsPending,
                l.creditsPending,
                l.pendingDifference,
              ]),
            ),
            `accounts over their limit: ${c.accountsOverLimit}`,
          ].join('\n'),
        );
        return c.balanced ? 0 : 1;
      }),
    );

  ops
    .command('keys')
    .description("terminal keys' check values (master key, current and previous working keys); never a key or handle")
    .option('--terminal <id>', 'one terminal')
    .option('--json', 'print JSON')
    .action(
      action(async (o: OutputOptions & { terminal?: string }) => {
        const keys = await withDatabase((p) => terminalKeys(p, o.terminal));
        print(o, keys, () =>
          keys.length === 0
            ? 'no terminal keys'
            : table(
                ['TERMINAL', 'TMK', 'SET', 'TPK', 'TAK', 'TDK', 'PREVIOUS TPK/TAK', 'UPDATED'],
                keys.map((k) => [
                  k.terminalId,
                  k.tmkCheckValue ?? '',
                  k.version === undefined ? '' : String(k.version),
                  k.current['tpk'] ?? '',
                  k.current['tak'] ?? '',
                  k.current['tdk'] ?? '',
                  [k.previous['tpk'], k.previous['tak']].filter((v) => v !== undefined).join('/'),
                  k.updatedAt,
                ]),
              ),
        );
      }),
    );

  ops
    .command('nodes')
    .description(
      "lines and node state from each node's metrics endpoint (busy/free/reserved, draining, SNR, calls); exit 1 when one is down",
    )
    .requiredOption('--metrics <targets...>', 'host:port of a /metrics endpoint, or its URL; several allowed')
    .option('--json', 'print JSON')
    .action(
      action(async (o: OutputOptions & { metrics: string[] }) => {
        if (o.metrics.length > 200) throw new FixpayError('BAD_REQUEST', 'at most 200 targets');
        const nodes = await nodeStatus(o.metrics);
        print(o, nodes, () =>
          table(
            ['TARGET', 'NODE', 'UP', 'BUSY', 'FREE', 'RESERVED', 'MAX', 'DRAINING', 'SNR LAST', 'ANSWERED', 'NOTE'],
            nodes.map((n) => [
              n.target,
              n.node ?? '',
              n.up ? 'up' : 'DOWN',
              n.lines === undefined ? '' : String(n.lines.busy),
              n.lines === undefined ? '' : String(n.lines.free),
              n.lines === undefined ? '' : String(n.lines.reserved),
              n.lines === undefined ? '' : String(n.lines.max),
              n.draining === undefined ? '' : n.draining ? 'yes' : 'no',
              n.snrDb?.last === undefined ? '' : n.snrDb.last.toFixed(1),
              n.calls?.['answered'] === undefined ? '' : String(n.calls['answered']),
              n.error ?? (n.lines === undefined && n.up ? 'no lines (a worker?)' : ''),
            ]),
          ),
        );
        return nodes.every((n) => n.up) ? 0 : 1;
      }),
    );

  for (const drain of [true, false])
    ops
      .command(drain ? 'drain' : 'undrain')
      .argument('<node>', 'the access node id (FIXPAY_NODE_ID); checked against the endpoint before acting')
      .description(
        drain
          ? 'the access node takes no new calls (SIP 503, TCP PCM reject: phones redial their backup number) and lets its calls in progress finish; audited. `ops nodes` shows DRAINING yes; stop the node once its busy lines are 0'
          : 'the drained access node takes calls again; audited. A node that is stopping is refused',
      )
      .requiredOption('--metrics <target>', "host:port of the node's metrics endpoint (its control routes are there)")
      .requiredOption('--reason <text>', 'why (8-500 characters, no card data)')
      .requiredOption('--operator <name>', 'who acts (recorded in the audit log and the run)')
      .option('--operation-id <id>', OPERATION_ID_HELP)
      .option(
        '--wait <duration>',
        drain ? 'wait until the calls in progress have ended (e.g. 2m); exit 1 if they have not' : 'not used',
      )
      .option('--json', 'print JSON')
      .action(
        action(
          async (
            node: string,
            o: OutputOptions & {
              metrics: string;
              reason: string;
              operator: string;
              wait?: string;
              operationId?: string;
            },
          ) => {
            const waitMs = drain && o.wait !== undefined ? parseDuration(o.wait) : undefined;
            // Checked before any run starts: bad input exits 2 without touching anything.
            checkNodeId(node);
            checkReason(o.reason);
            checkOperator(o.operator);
            controlOrigin(o.metrics);
            if (waitMs !== undefined && (waitMs < 0 || waitMs > DRAIN_WAIT_MS_MAX))
              throw new FixpayError('BAD_REQUEST', `--wait is at most ${DRAIN_WAIT_MS_MAX / 60_000} minutes`);
            if (o.operationId !== undefined) checkOperationId(o.operationId);
            // The central worker acts (it holds the operator token): the run is audited and
            // visible in the UI, and goes on if this command dies.
            const { outcome } = await withTemporalCodec((c, cfg) =>
              runOperatorAction(
                c,
                cfg.temporal.taskQueue,
                {
                  operator: o.operator,
                  reason: o.reason,
                  action: {
                    kind: drain ? 'node.drain' : 'node.undrain',
                    nodeId: node,
                    target: o.metrics,
                    ...(waitMs === undefined ? {} : { waitMs }),
                  },
                  ...(o.operationId === undefined ? {} : { operationId: o.operationId }),
                },
                announceRun(o.operationId),
              ),
            );
            const res = outcome.result;
            const r = {
              state: {
                nodeId: String(res['nodeId']),
                draining: res['draining'] === true,
                stopping: res['stopping'] === true,
                liveCalls: Number(res['liveCalls']),
              },
              callsEnded: res['callsEnded'] === true,
            };
            print(o, r.state, () =>
              [
                `node ${r.state.nodeId}: ${r.state.draining ? 'draining (new calls refused)' : 'taking calls'}`,
                `live calls: ${r.state.liveCalls}${drain && r.callsEnded ? ' (drained: it can be stopped)' : ''}`,
              ].join('\n'),
            );
            return waitMs !== undefined && !r.callsEnded ? 1 : 0;
          },
        ),
      );

  const deployment = ops
    .command('deployment')
    .description("the central workers' Worker Deployment (rolling upgrades, docs/operations/rolling-upgrade.md)");
  deployment
    .command('show')
    .description('versions (build ids), their status, the current build and open runs per build')
    .option('--json', 'print JSON')
    .action(
      action(async (o: OutputOptions) => {
        const view = await withTemporal(async (c, cfg) => {
          const d = await describeDeployment(c, cfg.temporal.namespace, cfg.temporal.workerDeployment);
          if (d === undefined)
            throw new FixpayError(
              'NOT_FOUND',
              `no worker of deployment ${cfg.temporal.workerDeployment} has polled yet`,
            );
          const versions = [];
          for (const v of d.versions)
            versions.push({
              ...v,
              openRuns: await openRunsOnBuild(c, cfg.temporal.namespace, d.name, v.buildId),
            });
          return { ...d, versions };
        });
        print(o, view, () =>
          [
            `deployment ${view.name}: current ${view.currentBuildId ?? '(none)'}${view.rampingBuildId === undefined ? '' : `, ramping ${view.rampingBuildId}`}`,
            table(
              ['BUILD', 'STATUS', 'OPEN RUNS', 'CREATED'],
              view.versions.map((v) => [v.buildId, v.status, String(v.openRuns), v.createdAt ?? '']),
            ),
          ].join('\n'),
        );
      }),
    );
  deployment
    .command('set-current')
    .description(
      'send new runs to this build (its workers must be polling); runs already started stay on their build; audited',
    )
    .argument('<build-id>', 'the build id the new workers run with (FIXPAY_WORKER_BUILD_ID)')
    .requiredOption('--reason <text>', 'why (8-500 characters)')
    .requiredOption('--operator <name>', 'who acts')
    .option('--wait <duration>', 'wait this long for a worker of the build to poll', '30s')
    .option('--json', 'print JSON')
    .action(
      action(async (buildId: string, o: OutputOptions & { reason: string; operator: string; wait: string }) => {
        const reason = checkReason(o.reason);
        const operator = checkOperator(o.operator);
        const waitMs = parseDuration(o.wait);
        await withDatabase((prisma) =>
          withTemporal(async (c, cfg) => {
            const name = cfg.temporal.workerDeployment;
            await auditSink(prisma).record({
              actor: `operator:${operator}`,
              action: 'deployment.set-current',
              subject: `deployment:${name}`,
              details: { buildId, reason },
            });
            await setCurrentBuild(c, {
              namespace: cfg.temporal.namespace,
              deployment: name,
              buildId,
              identity: `fixpay-ops/${operator}`,
              waitMs,
            });
          }),
        );
        print(o, { current: buildId }, () => `current build is now ${buildId}`);
      }),
    );
  deployment
    .command('drained')
    .description('exit 0 when no open run is on this build any more (its workers can be stopped), 1 otherwise')
    .argument('<build-id>', 'the old build id')
    .option('--json', 'print JSON')
    .action(
      action(async (buildId: string, o: OutputOptions) => {
        const open = await withTemporal((c, cfg) =>
          openRunsOnBuild(c, cfg.temporal.namespace, cfg.temporal.workerDeployment, buildId),
        );
        print(o, { buildId, openRuns: open, drained: open === 0 }, () =>
          open === 0 ? `build ${buildId} drained: its workers can be stopped` : `build ${buildId}: ${open} open runs`,
        );
        return open === 0 ? 0 : 1;
      }),
    );

  ops
    .command('codec-proxy')
    .description(
      "run on the operator's machine: a loopback codec endpoint for the Temporal UI that forwards /decode to the platform's codec endpoint with the operator token (FIXPAY_OPERATOR_TOKEN) added; only the UI's origin may use it. Point the UI's codec setting at the printed URL. Ctrl-C stops it",
    )
    .requiredOption('--upstream <url>', "the platform's codec endpoint, e.g. https://codec.example:8089")
    .option('--ui-origin <origins...>', 'origin(s) of the Temporal UI', [...CODEC_PROXY_DEFAULTS.uiOrigins])
    .option('--port <port>', 'loopback port (0 picks one)', '8888')
    .action(
      action(async (o: { upstream: string; uiOrigin: string[]; port: string }) => {
        if (!/^\d{1,5}$/.test(o.port) || Number(o.port) > 65_535)
          throw new FixpayError('BAD_REQUEST', `--port ${JSON.stringify(o.port)}`);
        for (const origin of o.uiOrigin)
          if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(origin))
            throw new FixpayError('BAD_REQUEST', `--ui-origin ${JSON.stringify(origin)}: scheme://host[:port]`);
        const token = loadConfig().security.operatorToken;
        if (token === undefined)
          throw new FixpayError('CONFIG_INVALID', 'set FIXPAY_OPERATOR_TOKEN (the operator token)');
        const proxy = await startCodecProxy({
          upstream: o.upstream,
          operatorToken: token,
          uiOrigins: o.uiOrigin,
          port: Number(o.port),
        });
        process.stdout.write(
          `fixpay codec-proxy ready: ${proxy.url} (for ${o.uiOrigin.join(', ')}) -> ${new URL(o.upstream).origin}\n`,
        );
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            void proxy.close().then(resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        return 0;
      }),
    );
}
