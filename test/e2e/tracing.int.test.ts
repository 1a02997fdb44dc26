/**
 * One trace per transaction (issue 17): `fixpay dev`'s composition (startPlatform) in this process
 * with the in-memory span exporter; a simulated phone's purchase over FSK. The access node's request
 * span is the root; the verification run, the purchase run and every activity down to the card
 * network authorisation and the post after the phone's verdict share its trace id. No card data in
 * any span.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startPlatform } from '../../cli/platform';
import { accessClientIdentity } from '../../cli/roles';
import type { Platform } from '../../cli/platform';
import { loadConfig } from '../../config';
import { DEMO } from '../../demo/seed';
import { createLogger } from '../../infra/logging';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../../simulator/terminal/config';
import { runTerminalScript } from '../../simulator/terminal/script';
import { createDatabase, freePort } from '../support/roles';
import { spawnEmbeddedDatabase } from '../support/database';

const CARD = { track2: '6225880000000001=30122011234567890', pin: '123456', pan: '6225880000000001' };

/** A database of its own on the machine's PostgreSQL (the demo world seeds it). */
async function freshDatabase(server: string): Promise<{ url: string; stop(): Promise<void> }> {
  const db = await createDatabase(server, 'fixpay_tracing');
  return { url: db.url, stop: () => db.drop() };
}

describe('tracing: one trace per transaction, from the line to the card network', () => {
  jest.setTimeout(240_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'fixpay-tracing-'));
  const exporter = new InMemorySpanExporter();
  let platform: Platform | undefined;
  let database: { url: string; stop(): Promise<void> } | undefined;

  beforeAll(async () => {
    const [temporal, ui, api, codec, metrics] = await Promise.all(Array.from({ length: 5 }, () => freePort()));
    // The machine's PostgreSQL when set; else embedded PGlite in a child process (PGlite's WASM
    // loader needs ES module support jest does not give).
    const server = loadConfig().database.url;
    database = server === undefined ? await spawnEmbeddedDatabase() : await freshDatabase(server);
    const url = database.url;
    const config = loadConfig({
      FIXPAY_DATA_DIR: dataDir,
      FIXPAY_LOG_LEVEL: 'warn',
      FIXPAY_TEMPORAL_PORT: String(temporal),
      FIXPAY_TEMPORAL_UI_PORT: String(ui),
      DATABASE_URL: url,
      FIXPAY_API_PORT: String(api),
      FIXPAY_CODEC_PORT: String(codec),
      FIXPAY_METRICS_PORT: String(metrics),
      FIXPAY_TCP_PCM_PORT: '0',
      FIXPAY_SIP_PORT: '0',
    });
    platform = await startPlatform(config, createLogger('tracing-test', { level: 'error' }), {
      spanExporter: exporter,
    });
  }, 240_000);

  afterAll(async () => {
    await platform?.stop();
    await database?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the purchase is one trace: request span → verification and purchase runs → activities', async () => {
    const t = DEMO.terminals[0];
    if (t === undefined || platform === undefined) throw new Error('no platform');
    const config = parseTerminalConfig(
      {
        ...EXAMPLE_CONFIG,
        terminalId: t.terminalId,
        psam: { ...EXAMPLE_CONFIG.psam, serial: t.psamNo },
        card: { track2: CARD.track2, pin: CARD.pin },
        line: {
          ...EXAMPLE_CONFIG.line,
          transport: 'tcp-pcm',
          host: '127.0.0.1',
          port: platform.tcpPcmPort,
          pace: false,
          callerNumber: t.ani,
        },
      },
      dataDir,
    );
    const r = await runTerminalScript(
      { config, stateStore: new MemoryStateStore({ stan: 500, batch: '000001', psamCounter: 500 }) },
      // The balance inquiry is the phone's verdict on the purchase (ADR 0012): the run posts then.
      [{ step: 'sign-on' }, { step: 'purchase', amountMinor: 4_321 }, { step: 'balance' }, { step: 'hang-up' }],
    );
    expect(r.transactions.map((x) => x.outcome)).toEqual(['approved', 'approved', 'approved']);

    // Workflow spans reach the exporter through a sink when their task completes: wait for the post.
    const deadline = Date.now() + 30_000;
    let trace: ReadableSpan[] = [];
    while (Date.now() < deadline) {
      const spans = exporter.getFinishedSpans();
      const byTrace = new Map<string, ReadableSpan[]>();
      for (const s of spans) byTrace.set(s.spanContext().traceId, [...(byTrace.get(s.spanContext().traceId) ?? []), s]);
      trace = [...byTrace.values()].find((group) => group.some((s) => s.name === 'RunActivity:authorizeCard')) ?? [];
      if (trace.some((s) => s.name === 'RunActivity:postReservation')) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    const names = trace.map((s) => s.name);
    // The root: the access node's request, with no parent.
    const roots = trace.filter((s) => s.parentSpanId === undefined);
    expect(roots.map((s) => s.name)).toEqual(['fixpay.request']);
    expect(roots[0]?.attributes['fixpay.node']).toBe(loadConfig().access.nodeId);
    for (const expected of [
      'StartWorkflow:verifyTerminalRequestWorkflow',
      'RunWorkflow:verifyTerminalRequestWorkflow',
      'StartWorkflow:serviceInterpreter',
      'RunWorkflow:serviceInterpreter',
      'RunActivity:verifyTerminalMac',
      'RunActivity:reserveFunds',
      'RunActivity:authorizeCard',
      'RunActivity:postReservation',
      // On the access node's lines worker: the answer handed to the phone's call.
      'RunActivity:deliverTerminalResponse',
    ])
      expect(names).toContain(expected);
    // Every span's parent is in the same trace (nothing dangles).
    const ids = new Set(trace.map((s) => s.spanContext().spanId));
    for (const s of trace) if (s.parentSpanId !== undefined) expect(ids).toContain(s.parentSpanId);
    console.log(`tracing: the purchase's trace as the in-memory exporter holds it\n${traceTree(trace)}`);

    // fixpay dev starts the run eagerly on its central worker (ADR 0013): the run's first workflow
    // task was started by the access node's client, not polled by the worker.
    const connection = await Connection.connect({ address: platform.temporalAddress });
    try {
      const client = new Client({ connection });
      const ids: string[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowType = 'serviceInterpreter'` }))
        if (w.workflowId.startsWith(`purchase:${t.terminalId}:`)) ids.push(w.workflowId);
      expect(ids).toHaveLength(1);
      const history = await client.workflow.getHandle(ids[0] ?? '').fetchHistory();
      const firstTask = (history.events ?? []).find(
        (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
      );
      expect(firstTask?.workflowTaskStartedEventAttributes?.identity).toBe(
        accessClientIdentity(loadConfig().access.nodeId),
      );
    } finally {
      await connection.close();
    }

    // The sign-on was a trace of its own.
    const traces = new Set(exporter.getFinishedSpans().map((s) => s.spanContext().traceId));
    expect(traces.size).toBeGreaterThanOrEqual(2);

    // No card data anywhere in the spans: names, attributes, events, status.
    const text = JSON.stringify(
      exporter.getFinishedSpans().map((s) => [s.name, s.attributes, s.events, s.status, s.resource.attributes]),
    );
    expect(text).not.toContain(CARD.pan);
    expect(text).not.toContain(CARD.track2.slice(0, 16));
  });
});

/** One line per span, children indented under their parent: start offset and duration in ms, fixpay's and the ids' attributes. */
function traceTree(spans: readonly ReadableSpan[]): string {
  const ms = (t: readonly [number, number]): number => t[0] * 1000 + t[1] / 1e6;
  const t0 = Math.min(...spans.map((s) => ms(s.startTime)));
  const children = new Map<string | undefined, ReadableSpan[]>();
  for (const s of spans) children.set(s.parentSpanId, [...(children.get(s.parentSpanId) ?? []), s]);
  const lines: string[] = [`trace ${spans[0]?.spanContext().traceId ?? ''}`];
  const walk = (parent: string | undefined, depth: number): void => {
    for (const s of [...(children.get(parent) ?? [])].sort((a, b) => ms(a.startTime) - ms(b.startTime))) {
      const attrs = Object.entries(s.attributes)
        .filter(([k]) => k.startsWith('fixpay.') || k === 'temporalWorkflowId' || k === 'temporalActivityId')
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
      lines.push(
        `${'  '.repeat(depth)}${s.name}  +${(ms(s.startTime) - t0).toFixed(1)} ms  ${(ms(s.endTime) - ms(s.startTime)).toFixed(1)} ms${attrs === '' ? '' : `  ${attrs}`}`,
      );
      walk(s.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join('\n');
}
