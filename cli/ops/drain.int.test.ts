/**
 * `fixpay ops drain|undrain <node>` as an operator runs it: the real CLI in a child process, a real
 * channel engine with its TCP PCM driver behind the node's metrics listener and control routes
 * (infra/metrics.ts, as `fixpay access-node` serves them), phones over the real FSK modem with a
 * backup number, the audit log in a real PostgreSQL database. A call in progress on the drained
 * node finishes (a purchase on it is approved); a new call is refused and goes to the backup node;
 * the drain waits until the call has ended; undrain takes calls again. Each action is a run on the
 * central worker's task queue (ADR 0033: a real Temporal dev server and the operator-action worker,
 * which holds the operator token): the run names the operator and the outcome, and the same
 * --operation-id given again attaches to the same run instead of acting again.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelEngine } from '../../channel-engine/engine';
import { registerAccessNodeMetrics } from '../../channel-engine/access/metrics';
import { TcpPcmLineDriver } from '../../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../../channel-engine/profiles';
import { loadConfig, processEnv } from '../../config';
import { openDatabase } from '../../infra/database';
import type { Database } from '../../infra/database';
import { ControlSlot, createMetricsRegistry, startMetricsServer } from '../../infra/metrics';
import type { MetricsServer } from '../../infra/metrics';
import { FakeIssuer } from '../../simulator/terminal/__fixtures__/fake-issuer';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import { PosTerminal } from '../../simulator/terminal/terminal';
import { createDatabase } from '../../test/support/roles';
import { startOpsWorker } from '../../test/support/ops-worker';
import type { OpsWorker } from '../../test/support/ops-worker';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

const BIN = join(__dirname, '..', '..', 'bin', 'fixpay.js');
const serverUrl = loadConfig().database.url;
const describeWithPostgres = serverUrl === undefined ? describe.skip : describe;
if (serverUrl === undefined) console.warn('drain.int.test.ts skipped: the audit log needs DATABASE_URL');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Node {
  readonly engine: ChannelEngine;
  readonly port: number;
  readonly endpoint: MetricsServer;
}

describeWithPostgres('fixpay ops drain and undrain against a real node', () => {
  jest.setTimeout(400_000);
  const token = randomBytes(24).toString('base64url');
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-drain-'));
  const profiles = loadProfiles();
  let database: { url: string; drop(): Promise<void> };
  let db: Database;
  let ops: OpsWorker;
  let a: Node;
  let b: Node;
  let held: Promise<void> = Promise.resolve();

  /** Each node has its own issuer (PSAM counters are checked per issuer). */
  async function startNode(nodeId: string): Promise<Node> {
    const issuer = new FakeIssuer();
    await issuer.ready;
    const tcp = new TcpPcmLineDriver({ port: 0, pace: false });
    const engine = new ChannelEngine({
      profiles,
      defaultProfileId: 'es201912-v23',
      // The issuer answers once the test lets it: a purchase held there is a call in progress.
      handler: async (req) => {
        await held;
        return issuer.handler(req);
      },
      handlerTimeoutMs: 170_000,
      nodeId,
    }).addDriver(tcp);
    await engine.start();
    const registry = createMetricsRegistry({ process: 'access-node', node: nodeId });
    registerAccessNodeMetrics(registry, () => engine.metrics());
    const slot = new ControlSlot();
    const state = (): object => ({
      nodeId,
      draining: engine.draining,
      stopping: false,
      liveCalls: engine.liveCalls().length,
    });
    slot.attach({
      drain: () => {
        engine.refuseNewCalls();
        return state();
      },
      undrain: () => {
        engine.undrain();
        return state();
      },
      state,
    });
    const endpoint = await startMetricsServer(registry, '127.0.0.1', 0, { token, slot });
    return { engine, port: tcp.port, endpoint };
  }

  const cli = (args: string[], opts: { token?: string } = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'ops', ...args], {
        env: {
          PATH: processEnv()['PATH'],
          HOME: processEnv()['HOME'],
          FIXPAY_DATA_DIR: dataDir,
          FIXPAY_LOG_LEVEL: 'warn',
          FIXPAY_OPERATOR_TOKEN: opts.token ?? token,
          DATABASE_URL: database.url,
          ...ops.cliEnv,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });

  const phone = (callerNumber: string, psamCounter: number): PosTerminal =>
    new PosTerminal(
      parseTerminalConfig(
        {
          ...EXAMPLE_CONFIG,
          line: {
            ...EXAMPLE_CONFIG.line,
            port: a.port,
            pace: false,
            callerNumber,
            backups: [{ host: '127.0.0.1', port: b.port }],
          },
          timeouts: { ...EXAMPLE_CONFIG.timeouts, responseMs: 160_000 },
        },
        dataDir,
      ),
      { stateStore: new MemoryStateStore({ stan: 0, batch: '000001', psamCounter }) },
    );

  beforeAll(async () => {
    database = await createDatabase(serverUrl ?? '', 'fixpay_drain');
    db = await openDatabase(loadConfig({ DATABASE_URL: database.url }));
    ops = await startOpsWorker(db.prisma, token);
    a = await startNode('city-a');
    b = await startNode('city-b');
  });

  afterAll(async () => {
    for (const n of [a, b]) {
      await n.endpoint.close();
      await n.engine.stop();
    }
    await ops.stop();
    await db.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const target = (n: Node): string => `127.0.0.1:${n.endpoint.port}`;
  const args = (verb: 'drain' | 'undrain', node: string, n: Node, ...more: string[]): string[] => [
    verb,
    node,
    '--metrics',
    target(n),
    '--reason',
    'maintenance of the city-a host',
    '--operator',
    'alice',
    ...more,
  ];

  it('the control routes refuse a missing or wrong token, a wrong method and an unknown action', async () => {
    const base = `http://${target(a)}/control`;
    expect((await fetch(`${base}/drain`, { method: 'POST' })).status).toBe(401);
    const wrong = await fetch(`${base}/drain`, { method: 'POST', headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toMatch(/FP\d{4}/);
    expect(
      (await fetch(`${base}/drain`, { method: 'GET', headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(405);
    expect(
      (await fetch(`${base}/../metrics/x`, { method: 'GET', headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(404);
    expect(
      (await fetch(`${base}/constructor`, { method: 'GET', headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(404);
    expect(a.engine.draining).toBe(false);
  });

  it('bad input exits 2 and changes nothing; a wrong node name exits 1 and changes nothing', async () => {
    // Input checks are unit-tested (nodes.test.ts); here one of them through the CLI's exit code.
    // The operator token is the worker's now (the CLI's is not used): a wrong one is the control
    // routes' 401, checked above.
    const [bad, other] = await Promise.all([
      cli(args('drain', 'city a', a)),
      cli(args('drain', 'city-b', a), { token: randomBytes(24).toString('base64url') }),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/BAD_REQUEST/);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/FP1053 OPS_NODE_MISMATCH/);
    // The refusal is the run's outcome, with the operator.
    const refusedRun = /run (ops:node\.drain:city-b:\S+)/.exec(other.stderr)?.[1] ?? '';
    expect(await ops.env.client.workflow.getHandle(refusedRun).result()).toMatchObject({
      ok: false,
      operator: 'alice',
      codeName: 'OPS_NODE_MISMATCH',
    });
    expect(a.engine.draining).toBe(false);
    expect(await db.prisma.auditEvent.count({ where: { subject: 'node:city-a' } })).toBe(0);
  });

  it('drain: the call in progress finishes, a new call goes to the backup node, the drain waits for the call to end', async () => {
    const busy = phone('057100000001', 100);
    expect((await busy.signOn()).outcome).toBe('approved');
    // The next purchase on this call waits at the issuer until the test lets it go.
    let release: () => void = () => undefined;
    held = new Promise((r) => (release = r));
    const bought = busy.purchase(1_234);
    while (a.engine.metrics().requests < 2) await new Promise((r) => setTimeout(r, 50));
    expect(a.engine.liveCalls()).toHaveLength(1);

    const drained = cli(args('drain', 'city-a', a, '--wait', '2m', '--json'));
    while (!a.engine.draining) await new Promise((r) => setTimeout(r, 50));

    // New call: refused by city-a, answered by city-b (its issuer does not wait).
    const fresh = phone('057100000002', 200);
    const bHeld = held;
    held = Promise.resolve();
    expect((await fresh.signOn()).outcome).toBe('approved');
    await fresh.hangUp();
    expect(fresh.dialled).toMatchObject({ port: b.port, backup: true });
    held = bHeld;

    const nodes = await cli(['nodes', '--metrics', target(a), target(b), '--json']);
    expect(nodes.code).toBe(0);
    const seen = JSON.parse(nodes.stdout) as { node?: string; draining?: boolean; lines?: { busy: number } }[];
    expect(seen.map((n) => [n.node, n.draining, n.lines?.busy])).toEqual([
      ['city-a', true, 1],
      ['city-b', false, 0],
    ]);

    // The call in progress on city-a goes on: its purchase is approved there.
    release();
    const r1 = await bought;
    expect({ outcome: r1.outcome, code: r1.responseCode }).toEqual({ outcome: 'approved', code: '00' });
    expect(busy.dialled).toMatchObject({ port: a.port, backup: false });
    await busy.hangUp();

    const r = await drained;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ nodeId: 'city-a', draining: true, stopping: false, liveCalls: 0 });
    expect(a.engine.metrics()).toMatchObject({ callsRefused: 1 });
    const audit = await db.prisma.auditEvent.findMany({ where: { subject: 'node:city-a' } });
    const drainRun = /run (ops:node\.drain:city-a:\S+)/.exec(r.stderr)?.[1] ?? '';
    expect(audit.map((e) => [e.actor, e.action, e.details])).toEqual([
      [
        'operator:alice',
        'node.drain',
        {
          reason: 'maintenance of the city-a host',
          endpoint: target(a),
          liveCallsBefore: '1',
          operationId: drainRun.split(':').at(-1),
          workflowId: drainRun,
        },
      ],
    ]);
    // The drain was a run: completed, its result the operator and the outcome, found in the UI by
    // its search attributes.
    const handle = ops.env.client.workflow.getHandle(drainRun);
    const described = await handle.describe();
    expect(described.status.name).toBe('COMPLETED');
    const keyword = (name: string): string | undefined =>
      described.typedSearchAttributes.get(defineSearchAttributeKey(name, SearchAttributeType.KEYWORD));
    expect([keyword('ServiceId'), keyword('Outcome')]).toEqual(['ops.node.drain', 'ok']);
    expect(await handle.result()).toMatchObject({
      ok: true,
      operator: 'alice',
      kind: 'node.drain',
      result: { nodeId: 'city-a', draining: true, liveCalls: 0, callsEnded: true },
    });

    // Drained twice: still draining, one more audit row, nothing else.
    const again = await cli(args('drain', 'city-a', a, '--operation-id', 'drain-twice-1'));
    expect(again.code).toBe(0);
    expect(again.stderr).toBe('started run ops:node.drain:city-a:drain-twice-1\n');
    expect(a.engine.draining).toBe(true);
    expect(await db.prisma.auditEvent.count({ where: { subject: 'node:city-a', action: 'node.drain' } })).toBe(2);
    // The same operation id again (the CLI run again after a crash): the same run, no new action.
    const attached = await cli(args('drain', 'city-a', a, '--operation-id', 'drain-twice-1'));
    expect(attached.code).toBe(0);
    expect(attached.stderr).toBe('attached to run ops:node.drain:city-a:drain-twice-1\n');
    expect(await db.prisma.auditEvent.count({ where: { subject: 'node:city-a', action: 'node.drain' } })).toBe(2);
  });

  it('undrain: the node takes calls again', async () => {
    const r = await cli(args('undrain', 'city-a', a));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/node city-a: taking calls/);
    const p = phone('057100000003', 300);
    expect((await p.signOn()).outcome).toBe('approved');
    await p.hangUp();
    expect(p.dialled).toMatchObject({ port: a.port, backup: false });
    expect(await db.prisma.auditEvent.count({ where: { subject: 'node:city-a', action: 'node.undrain' } })).toBe(1);
  });
});
