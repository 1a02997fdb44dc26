/**
 * `fixpay ops drain|undrain <node>`: an access node stops taking new calls (its phones' calls are
 * refused — SIP 503, TCP PCM reject — and redial their backup number), lets its calls in progress
 * finish, and says so in `ops nodes`; undrain takes calls again. The node is reached on its
 * control routes beside `/metrics` (infra/metrics.ts) with the operator token; the action is
 * written to the audit log before it is made, and the node must be the one named.
 */
import { FixpayError } from '../../domain/errors';
import { checkOperator, checkReason } from './runs';
import type { AuditSink } from './runs';

/** A node's state as its control endpoint reports it. */
export interface NodeState {
  readonly nodeId: string;
  readonly draining: boolean;
  readonly stopping: boolean;
  readonly liveCalls: number;
}

/** Longest `--wait` for a drained node's calls to end, ms. */
export const DRAIN_WAIT_MS_MAX = 3_600_000;
/** How often `--wait` asks the node for its live calls, ms. */
export const DRAIN_POLL_MS = 500;
/** One control request's time limit, ms. */
export const CONTROL_TIMEOUT_MS = 10_000;

const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function checkNodeId(nodeId: string | undefined): string {
  if (nodeId === undefined || !NODE_ID.test(nodeId))
    throw new FixpayError('BAD_REQUEST', 'the node id is letters, digits, . _ - (up to 64)');
  return nodeId;
}

/** The control endpoint's origin from `host:port` or an http(s) URL (its path is ignored). */
export function controlOrigin(target: string): string {
  let url: URL;
  try {
    if (target.includes('://') && !/^https?:\/\//.test(target)) throw new Error('scheme');
    if (!target.includes('://') && !/^[A-Za-z0-9.-]{1,253}:\d{1,5}$/.test(target)) throw new Error('shape');
    url = new URL(target.includes('://') ? target : `http://${target}`);
  } catch {
    throw new FixpayError('BAD_REQUEST', `--metrics ${JSON.stringify(target)} is not host:port or a URL`);
  }
  if (url.username !== '' || url.password !== '')
    throw new FixpayError('BAD_REQUEST', '--metrics must not carry credentials (the token comes from the settings)');
  return url.origin;
}

function parseState(body: unknown): NodeState {
  const o = body as Partial<Record<keyof NodeState, unknown>> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    typeof o.nodeId !== 'string' ||
    typeof o.draining !== 'boolean' ||
    typeof o.stopping !== 'boolean' ||
    typeof o.liveCalls !== 'number'
  )
    throw new FixpayError('OPS_CONTROL_UNAVAILABLE', 'the endpoint did not answer with a node state');
  return { nodeId: o.nodeId, draining: o.draining, stopping: o.stopping, liveCalls: o.liveCalls };
}

/** One control request; the node's catalogue error is passed on, an unreachable node is FP1050. */
export async function callControl(
  origin: string,
  token: string,
  action: 'drain' | 'undrain' | 'state',
): Promise<NodeState> {
  let res: Response;
  try {
    res = await fetch(`${origin}/control/${action}`, {
      method: action === 'state' ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(CONTROL_TIMEOUT_MS),
      redirect: 'error',
    });
  } catch (e) {
    throw new FixpayError('OPS_METRICS_UNREACHABLE', `${new URL(origin).host}: ${(e as Error).message}`);
  }
  const text = (await res.text()).slice(0, 4096);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const err = (body as { error?: { name?: unknown; message?: unknown } } | undefined)?.error;
    if (res.status === 401) throw new FixpayError('UNAUTHORIZED', 'the node refused the operator token');
    if (res.status === 404) throw new FixpayError('OPS_CONTROL_UNAVAILABLE', 'the endpoint has no control routes');
    throw new FixpayError(
      'OPS_CONTROL_UNAVAILABLE',
      `HTTP ${res.status}${typeof err?.message === 'string' ? `: ${err.message.slice(0, 200)}` : ''}`,
    );
  }
  return parseState(body);
}

/**
 * Drains (or undrains) the named node: checks it is that node, records the action, makes it; with
 * `waitMs`, waits until its live calls have ended (exit 1 from the caller when they have not).
 */
export async function setNodeDraining(
  audit: AuditSink,
  o: {
    readonly nodeId: string;
    readonly target: string;
    readonly token: string;
    readonly drain: boolean;
    readonly reason: string;
    readonly operator: string;
    readonly waitMs?: number;
  },
): Promise<{ state: NodeState; callsEnded: boolean }> {
  const nodeId = checkNodeId(o.nodeId);
  const reason = checkReason(o.reason);
  const operator = checkOperator(o.operator);
  const origin = controlOrigin(o.target);
  if (o.waitMs !== undefined && (o.waitMs < 0 || o.waitMs > DRAIN_WAIT_MS_MAX))
    throw new FixpayError('BAD_REQUEST', `--wait is at most ${DRAIN_WAIT_MS_MAX / 60_000} minutes`);
  const before = await callControl(origin, o.token, 'state');
  if (before.nodeId !== nodeId)
    throw new FixpayError('OPS_NODE_MISMATCH', `${new URL(origin).host} is node ${before.nodeId}, not ${nodeId}`);
  await audit.record({
    actor: `operator:${operator}`,
    action: o.drain ? 'node.drain' : 'node.undrain',
    subject: `node:${nodeId}`,
    details: { reason, endpoint: new URL(origin).host, liveCallsBefore: String(before.liveCalls) },
  });
  let state = await callControl(origin, o.token, o.drain ? 'drain' : 'undrain');
  if (!o.drain && state.draining)
    throw new FixpayError('OPS_CONTROL_UNAVAILABLE', `node ${nodeId} is stopping: it takes no calls again`);
  if (!o.drain || o.waitMs === undefined) return { state, callsEnded: state.liveCalls === 0 };
  const until = Date.now() + o.waitMs;
  while (state.liveCalls > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    state = await callControl(origin, o.token, 'state');
  }
  return { state, callsEnded: state.liveCalls === 0 };
}
