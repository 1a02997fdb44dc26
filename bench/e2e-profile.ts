/**
 * Meters for `npm run bench:e2e`: where a purchase's CPU goes (this process, the Temporal dev
 * server, the database process), its database round trips by statement kind, and what its
 * workflows cost in Temporal (workflow tasks, local and remote activities, history bytes).
 * Linux only for the CPU split (/proc); elsewhere those figures read 0.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { Client as TemporalClient } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Client as PgClient } from 'pg';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

function procStat(pid: number): { ppid: number; cpuMs: number } | undefined {
  try {
    const after = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return { ppid: Number(after[1]), cpuMs: ((Number(after[11]) + Number(after[12])) * 1000) / USER_HZ };
  } catch {
    return undefined; // ended meanwhile, or no /proc
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Every descendant of this process with its CPU ms and whether it is the embedded database. */
function descendants(): { pid: number; cpuMs: number; database: boolean }[] {
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
  const stats = new Map<number, { ppid: number; cpuMs: number }>();
  for (const pid of pids) {
    const st = procStat(pid);
    if (st !== undefined) stats.set(pid, st);
  }
  const mine = new Set([process.pid]);
  const out: { pid: number; cpuMs: number; database: boolean }[] = [];
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, st] of stats) {
      if (mine.has(pid) || !mine.has(st.ppid)) continue;
      mine.add(pid);
      out.push({ pid, cpuMs: st.cpuMs, database: cmdline(pid).includes(' db serve') });
      grew = true;
    }
  }
  return out;
}

export interface CpuSplit {
  /** This process: worker, activities, access handler, bank simulator, HSM, Prisma. */
  readonly selfMs: number;
  /** The Temporal dev server (and any other child that is not the database). */
  readonly temporalMs: number;
  /** The database: the PGlite child process, or the PostgreSQL backends of the bench's database. */
  readonly databaseMs: number;
}

/**
 * CPU by process. For PostgreSQL, `backendPids` lists the server processes serving the bench's
 * database (they are not our children); their CPU is read from /proc as well (same machine).
 */
export class CpuMeter {
  private constructor(private readonly backendPids: () => Promise<number[]>) {}

  static forEmbedded(): CpuMeter {
    return new CpuMeter(() => Promise.resolve([]));
  }

  /** Meters the backends of `database` on the PostgreSQL server at `url` (bench's own database). */
  static forPostgres(url: string): { meter: CpuMeter; close: () => Promise<void> } {
    const client = new PgClient({ connectionString: url });
    const connected = client.connect();
    const meter = new CpuMeter(async () => {
      await connected;
      const r = await client.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      return r.rows.map((x) => x.pid);
    });
    return { meter, close: () => client.end() };
  }

  async snapshot(): Promise<{ at: CpuSplit; backends: Map<number, number> }> {
    const cpu = process.cpuUsage();
    const children = descendants();
    const backends = new Map<number, number>();
    for (const pid of await this.backendPids()) backends.set(pid, procStat(pid)?.cpuMs ?? 0);
    return {
      at: {
        selfMs: (cpu.user + cpu.system) / 1000,
        temporalMs: children.filter((c) => !c.database).reduce((s, c) => s + c.cpuMs, 0),
        databaseMs: children.filter((c) => c.database).reduce((s, c) => s + c.cpuMs, 0),
      },
      backends,
    };
  }

  /** CPU spent between two snapshots, divided by `per`. */
  static delta(
    a: { at: CpuSplit; backends: Map<number, number> },
    b: { at: CpuSplit; backends: Map<number, number> },
    per: number,
  ): CpuSplit {
    let backendMs = 0;
    for (const [pid, ms] of b.backends) backendMs += ms - (a.backends.get(pid) ?? 0);
    return {
      selfMs: (b.at.selfMs - a.at.selfMs) / per,
      temporalMs: (b.at.temporalMs - a.at.temporalMs) / per,
      databaseMs: (b.at.databaseMs - a.at.databaseMs + backendMs) / per,
    };
  }
}

/** Round trips and their wall time per statement kind (`SELECT card_network_reversal`, `BEGIN`). */
export type RoundTrips = Map<string, { count: number; ms: number }>;

const TABLE = /\b(?:FROM|INTO|UPDATE)\s+(?:"?\w+"?\.)?"?(\w+)"?/i;

export function statementKind(sql: string): string {
  const verb = (/^\s*(\w+)/.exec(sql)?.[1] ?? '?').toUpperCase();
  const table = TABLE.exec(sql)?.[1];
  return table === undefined ? verb : `${verb} ${table}`;
}

const trips: RoundTrips = new Map();
let installed = false;

/**
 * Counts every query this process sends through `pg` (Prisma's adapter and the bench's own
 * clients), by statement kind, with the time until its answer. Installed once; read with
 * `roundTrips()` and subtract snapshots.
 */
export function installRoundTripCounter(): void {
  if (installed) return;
  installed = true;
  const proto = PgClient.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]): unknown {
    const first = args[0];
    const text =
      typeof first === 'string'
        ? first
        : typeof first === 'object' && first !== null && 'text' in first && typeof first.text === 'string'
          ? first.text
          : '';
    const kind = statementKind(text);
    const started = performance.now();
    const record = (): void => {
      const t = trips.get(kind) ?? { count: 0, ms: 0 };
      t.count += 1;
      t.ms += performance.now() - started;
      trips.set(kind, t);
    };
    const result = original.apply(this, args);
    if (result instanceof Promise) void result.then(record, record);
    else record();
    return result;
  };
}

export function roundTrips(): RoundTrips {
  return new Map([...trips].map(([k, v]) => [k, { ...v }]));
}

export function roundTripsSince(before: RoundTrips): RoundTrips {
  const out: RoundTrips = new Map();
  for (const [k, v] of trips) {
    const b = before.get(k) ?? { count: 0, ms: 0 };
    if (v.count > b.count) out.set(k, { count: v.count - b.count, ms: v.ms - b.ms });
  }
  return out;
}

export interface WorkflowCost {
  readonly workflowType: string;
  readonly historyBytes: number;
  readonly events: number;
  readonly workflowTasks: number;
  readonly localActivities: number;
  readonly remoteActivities: string[];
  readonly children: number;
  /** The calls in order, one letter each (L local, R remote): the engine floor's shape. */
  readonly steps: string;
  /** History bytes by event type (`WorkflowExecutionStarted`, `MarkerRecorded`, …). */
  readonly bytesByEvent: Map<string, number>;
}

const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/**
 * What one finished workflow cost in Temporal, from its history (fetched through the client). With
 * `runId`, that run only (e.g. a run that continued as new), not the latest run of the id.
 */
export async function workflowCost(client: TemporalClient, workflowId: string, runId?: string): Promise<WorkflowCost> {
  const handle =
    runId === undefined
      ? client.workflow.getHandle(workflowId)
      : client.workflow.getHandle(workflowId, runId, { followRuns: false });
  await handle.result().catch(() => undefined);
  const history = await handle.fetchHistory();
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  let workflowType = '?';
  let workflowTasks = 0;
  let localActivities = 0;
  let children = 0;
  let steps = '';
  const remoteActivities: string[] = [];
  const bytesByEvent = new Map<string, number>();
  for (const e of history.events ?? []) {
    const type = temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? '?';
    const name = type.replace(/^EVENT_TYPE_/, '');
    bytesByEvent.set(
      name,
      (bytesByEvent.get(name) ?? 0) + temporal.api.history.v1.HistoryEvent.encode(e).finish().length,
    );
    const started = e.workflowExecutionStartedEventAttributes;
    if (started?.workflowType?.name != null) workflowType = started.workflowType.name;
    if (e.workflowTaskCompletedEventAttributes != null) workflowTasks += 1;
    if (e.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER) {
      localActivities += 1;
      steps += 'L';
    }
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled != null) {
      remoteActivities.push(scheduled.activityType?.name ?? '?');
      steps += 'R';
    }
    if (e.startChildWorkflowExecutionInitiatedEventAttributes != null) children += 1;
  }
  return {
    workflowType,
    historyBytes: bytes,
    events: history.events?.length ?? 0,
    workflowTasks,
    localActivities,
    remoteActivities,
    children,
    steps,
    bytesByEvent,
  };
}

/** Workflow ids started at or after `since` (and before `until`, when given): a visibility query. */
export async function workflowsStartedSince(client: TemporalClient, since: Date, until?: Date): Promise<string[]> {
  const ids: string[] = [];
  const query =
    `StartTime >= '${since.toISOString()}'` + (until === undefined ? '' : ` AND StartTime < '${until.toISOString()}'`);
  for await (const w of client.workflow.list({ query })) ids.push(w.workflowId);
  return ids;
}
