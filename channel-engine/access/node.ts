/**
 * The access node (`fixpay access-node`): the channel engine with its TCP PCM and SIP line
 * drivers, the access handler that has each request verified and then starts or attaches to its
 * run, and the Temporal worker on `lines.<nodeId>` that hands the run's answer to the call. Holds no
 * key and no money: a Temporal client, a worker, and read access to the definition registry.
 */
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import type { Config } from '../../config';
import type { Registry } from '../../services/registry/registry';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import type { EngineMetrics, RequestHandler, TerminalRequest } from '../engine';
import { ChannelEngine } from '../engine';
import { splitCidrList } from '../lines/sip/admission';
import { SipLineDriver } from '../lines/sip/uas';
import { TcpPcmLineDriver } from '../lines/tcp-pcm';
import type { LineLogger } from '../lines/types';
import { loadProfiles } from '../profiles';
import { assertTimeoutOrder } from '../../domain/timeouts';
import { createAccessHandler, promptHangupNotifier, ResponseBoard, startLinesWorker } from './handler';
import { createProfileResolver } from './profile-resolver';
import type { BoundProfileLookup } from './profile-resolver';
import { timeoutFigures } from './timeouts';
import type { AnsweredRequest } from './handler';
import { DEFAULT_PUSH_DIALER_OPTIONS, PushDialer, type PushLine } from '../push/dialer';
import { SipPushDialer } from '../push/sip-dialer';
import { startPushWorker } from '../push/line-activities';
import { NextCallDelivery, withCallEndHook, type PendingPushes } from '../push/next-call';
import type { LineDriver } from '../lines/types';

/** How long a stopping node lets its live calls finish before it releases them, ms. */
export const ACCESS_DRAIN_TIMEOUT_MS = 5_000;
/** After the drain, how long it waits for requests still in progress (after cancelling them), ms. */
export const IN_FLIGHT_STOP_WAIT_MS = 2_000;

export interface AccessNodeDeps {
  readonly config: Config;
  readonly log: LineLogger;
  readonly registry: Registry;
  readonly client: Client;
  readonly connection: NativeConnection;
  readonly dataConverter: DataConverter;
  /** Task queue of the central worker that verifies requests. */
  readonly centralTaskQueue: string;
  /**
   * `client` is on the native connection of a central worker in this process: the verification and
   * the run start eagerly (docs/adr/0013-purchase-cost.md).
   */
  readonly eagerStart?: boolean;
  readonly onAnswered?: (answered: AnsweredRequest) => void;
  readonly drainTimeoutMs?: number;
  /**
   * Caller number → device profile of the terminal bound to it (the database). Absent: every call
   * gets the called number's or the default profile.
   */
  readonly boundProfile?: BoundProfileLookup;
  /**
   * Opens the root span of each request's trace (infra/tracing.ts); the workflow start, the run
   * and its activities become its children through the Temporal client's interceptor.
   */
  readonly tracer?: Tracer;
  /**
   * The pending-push store (docs/protocols/push.md). With it and `access.pushGatewayHost` set, the
   * node serves `push.<nodeId>` and delivers a terminal's pending pushes after its calls.
   */
  readonly pendingPushes?: PendingPushes;
}

export interface AccessNode {
  readonly tcpPcmPort: number;
  readonly sipPort: number;
  /** Live calls right now. */
  liveCalls(): number;
  /** The channel engine's counters and capacity (channel-engine/access/metrics.ts exports them). */
  metrics(): EngineMetrics;
  /** An operator's drain: new calls refused, live calls go on (`fixpay ops drain`). */
  drain(): AccessNodeState;
  /** Takes calls again; refused (state unchanged) once the node is stopping. */
  undrain(): AccessNodeState;
  state(): AccessNodeState;
  /** Stops taking calls, lets the live ones finish (up to the drain timeout), then stops. */
  stop(): Promise<void>;
}

/** What `fixpay ops drain|undrain|nodes` sees of a node through its control endpoint. */
export interface AccessNodeState {
  readonly nodeId: string;
  readonly draining: boolean;
  /** True once the node is stopping (SIGTERM): it never takes calls again. */
  readonly stopping: boolean;
  readonly liveCalls: number;
}

/** One request as a span: node, line and profile as attributes (no caller number, no payload). */
function traced(tracer: Tracer, inner: RequestHandler, req: TerminalRequest): Promise<Uint8Array> {
  return tracer.startActiveSpan(
    'fixpay.request',
    {
      kind: SpanKind.SERVER,
      attributes: { 'fixpay.node': req.nodeId, 'fixpay.line': req.lineId, 'fixpay.profile': req.profileId },
    },
    async (span) => {
      try {
        const answer = await inner(req);
        span.setAttribute('fixpay.answer_bytes', answer.length);
        return answer;
      } catch (e) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.name : 'error' });
        throw e;
      } finally {
        span.end();
      }
    },
  );
}

/** Throws CONFIG_INVALID when the node's timeouts are out of order (domain/timeouts.ts). */
export async function startAccessNode(deps: AccessNodeDeps): Promise<AccessNode> {
  assertTimeoutOrder(timeoutFigures(deps.config));
  const a = deps.config.access;
  const board = new ResponseBoard();
  const stopping = new AbortController();
  // Requests in progress, so the stop lets them finish before the Temporal connection closes.
  const inFlight = new Set<Promise<Uint8Array>>();
  const tracked =
    (inner: RequestHandler): RequestHandler =>
    (req) => {
      const p = deps.tracer === undefined ? inner(req) : traced(deps.tracer, inner, req);
      inFlight.add(p);
      p.then(
        () => inFlight.delete(p),
        () => inFlight.delete(p),
      );
      return p;
    };
  // Built before the lines worker starts, so a refused setting (a bad CIDR, reservedLines not
  // below maxLines) fails the start with nothing to undo.
  const tcp = new TcpPcmLineDriver({ host: a.host, port: a.tcpPcmPort, maxCalls: a.maxLines }, deps.log);
  const sip = new SipLineDriver(
    {
      host: a.host,
      port: a.sipPort,
      maxCalls: a.maxLines,
      allowedSources: splitCidrList(a.sipAllowedSources),
      trunkSources: splitCidrList(a.sipTrunkSources),
      ackTimeoutMs: a.sipAckTimeoutMs,
      inviteRatePerSecond: a.sipInviteRatePerSecond,
      inviteBurst: a.sipInviteBurst,
      sharedRtpSocket: a.sipSharedRtp,
      sharedRtpReceiveBufferBytes: a.sipSharedRtpReceiveBufferBytes,
      ptimeMs: a.sipPtimeMs,
    },
    deps.log,
  );
  // Information push (ADR 0021): the dialer, and the next-call hook around the line drivers.
  const profiles = loadProfiles();
  const dialer: PushLine | undefined =
    a.pushGatewayHost === ''
      ? undefined
      : a.pushLine === 'sip'
        ? new SipPushDialer(
            {
              trunkHost: a.pushGatewayHost,
              trunkPort: a.pushGatewayPort,
              localHost: a.host,
              maxLines: a.pushMaxLines,
              answerTimeoutMs: DEFAULT_PUSH_DIALER_OPTIONS.answerTimeoutMs,
              receiptTimeoutMs: DEFAULT_PUSH_DIALER_OPTIONS.receiptTimeoutMs,
            },
            deps.log,
          )
        : new PushDialer(
            { gatewayHost: a.pushGatewayHost, gatewayPort: a.pushGatewayPort, maxLines: a.pushMaxLines },
            deps.log,
          );
  const nextCall =
    dialer === undefined || deps.pendingPushes === undefined
      ? undefined
      : new NextCallDelivery(
          deps.pendingPushes,
          dialer,
          { afterCallDelayMs: 500, profiles, defaultProfileId: a.defaultProfileId },
          deps.log,
        );
  const hooked = (d: LineDriver): LineDriver =>
    nextCall === undefined
      ? d
      : withCallEndHook(d, (offer) => {
          nextCall.callEnded(offer);
        });
  const engine = new ChannelEngine(
    {
      nodeId: a.nodeId,
      maxLines: a.maxLines,
      reservedLines: a.reservedLines,
      profiles,
      defaultProfileId: a.defaultProfileId,
      ...(deps.boundProfile === undefined
        ? {}
        : {
            resolveProfile: createProfileResolver(deps.boundProfile, {
              lookupTimeoutMs: a.profileLookupTimeoutMs,
              cacheTtlMs: a.profileCacheTtlMs,
              cacheMaxEntries: a.profileCacheMaxEntries,
            }).resolve,
          }),
      handler: tracked(
        createAccessHandler({
          client: deps.client,
          registry: deps.registry,
          board,
          nodeId: a.nodeId,
          answerTimeoutMs: a.answerTimeoutMs,
          verifyTaskQueue: deps.centralTaskQueue,
          eagerStart: deps.eagerStart === true,
          signal: stopping.signal,
          ...(deps.onAnswered === undefined ? {} : { onAnswered: deps.onAnswered }),
        }),
      ),
      // A run whose prompt is on a call that ends learns it (ADR 0018).
      onCallEnded: promptHangupNotifier(deps.client, board),
    },
    deps.log,
  )
    .addDriver(hooked(tcp))
    .addDriver(hooked(sip));
  // The lines worker talks to the engine built above (its activities run after start).
  const lines = await startLinesWorker({
    connection: deps.connection,
    namespace: deps.config.temporal.namespace,
    nodeId: a.nodeId,
    board,
    dataConverter: deps.dataConverter,
    lines: () => engine,
    ...(deps.tracer === undefined ? {} : { tracer: deps.tracer }),
  });
  const push =
    dialer === undefined
      ? undefined
      : await startPushWorker({
          connection: deps.connection,
          namespace: deps.config.temporal.namespace,
          nodeId: a.nodeId,
          dataConverter: deps.dataConverter,
          dialer,
          profiles,
          defaultProfileId: a.defaultProfileId,
        }).catch(async (e: unknown) => {
          await lines.shutdown();
          throw e;
        });
  try {
    await engine.start();
  } catch (e) {
    await push?.shutdown();
    await lines.shutdown();
    throw e;
  }
  let stopCalled = false;
  const state = (): AccessNodeState => ({
    nodeId: a.nodeId,
    draining: engine.draining,
    stopping: stopCalled,
    liveCalls: engine.liveCalls().length,
  });
  return {
    tcpPcmPort: tcp.port,
    sipPort: sip.port,
    liveCalls: () => engine.liveCalls().length,
    metrics: () => engine.metrics(),
    state,
    drain: () => {
      engine.refuseNewCalls();
      return state();
    },
    undrain: () => {
      if (!stopCalled) engine.undrain();
      return state();
    },
    stop: async () => {
      stopCalled = true;
      // No new calls; the live ones finish (their runs still reach this node's lines worker).
      await engine.drain(deps.drainTimeoutMs ?? ACCESS_DRAIN_TIMEOUT_MS);
      stopping.abort();
      await engine.stop();
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_STOP_WAIT_MS).unref()),
      ]);
      await push?.shutdown();
      await nextCall?.idle();
      dialer?.close();
      await lines.shutdown();
    },
  };
}
