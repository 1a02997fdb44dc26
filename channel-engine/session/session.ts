/**
 * The per-call terminal session, as a pure table-driven state machine. The engine feeds it call,
 * link and platform events and performs the actions it returns; the session itself never touches
 * sockets, audio or timers.
 *
 *   offered ─accept→ answered ─(answer delay)→ handshake ─(first frame)→ ready
 *   ready ─request→ processing ─answer→ sending ─sent→ ready
 *   ready ─prompt→ sending ; any ─hang-up→ releasing ─(release delay)→ ended ; BYE → ended
 *
 * One timer slot serves all states (answer delay, handshake, idle, release are exclusive).
 */
import type { ResultCodeName } from '../../domain/errors';

export type SessionStateName =
  'offered' | 'answered' | 'handshake' | 'ready' | 'processing' | 'sending' | 'releasing' | 'ended';

export const SESSION_STATES: readonly SessionStateName[] = [
  'offered',
  'answered',
  'handshake',
  'ready',
  'processing',
  'sending',
  'releasing',
  'ended',
];

export type SessionTimer = 'answer-delay' | 'handshake' | 'idle' | 'release';

export interface SessionTimers {
  readonly answerDelayMs: number;
  readonly handshakeTimeoutMs: number;
  readonly handshakeRetries: number;
  readonly idleTimeoutMs: number;
  readonly releaseDelayMs: number;
}

export interface SessionState {
  readonly name: SessionStateName;
  /** EST frames sent so far. */
  readonly estSent: number;
  /** Why the call ended or is ending (OK for a normal end). */
  readonly outcome: ResultCodeName | undefined;
}

export type SessionEvent =
  /** The engine takes the call. */
  | { readonly type: 'accept' }
  | { readonly type: 'timer'; readonly timer: SessionTimer }
  /** Any valid link frame from the terminal (proves the link is up; restarts the idle timer). */
  | { readonly type: 'frame-received' }
  /** A complete message from the terminal. */
  | { readonly type: 'request'; readonly payload: Uint8Array }
  | { readonly type: 'handler-answered'; readonly payload: Uint8Array }
  | { readonly type: 'handler-failed'; readonly codeName: ResultCodeName }
  /** The link delivered our message (ACKed); `holdMs` replaces the idle timeout once (a screen is up). */
  | { readonly type: 'sent'; readonly holdMs?: number }
  | { readonly type: 'send-failed'; readonly codeName: ResultCodeName }
  /** The platform pushes a message to the terminal on the live call. */
  | { readonly type: 'prompt'; readonly payload: Uint8Array }
  /** The platform, the operator or drain wants the call ended. */
  | { readonly type: 'hangup-requested'; readonly codeName: ResultCodeName }
  /** The terminal sent REL. */
  | { readonly type: 'rel-received' }
  /** The line went down (BYE, TCP close). */
  | { readonly type: 'remote-hangup' };

export type SessionAction =
  | { readonly type: 'answer' }
  | { readonly type: 'reject'; readonly codeName: ResultCodeName }
  | { readonly type: 'send-control'; readonly frame: 'est' | 'rel' }
  | { readonly type: 'send-message'; readonly payload: Uint8Array; readonly purpose: 'response' | 'prompt' }
  | { readonly type: 'handle-request'; readonly payload: Uint8Array }
  | { readonly type: 'set-timer'; readonly timer: SessionTimer; readonly ms: number }
  | { readonly type: 'clear-timer' }
  | { readonly type: 'prompt-refused'; readonly codeName: 'SESSION_NOT_ACTIVE' }
  /** Hang the line up (BYE / close). */
  | { readonly type: 'hangup' }
  /** The session is over; the outcome is final. */
  | { readonly type: 'ended'; readonly outcome: ResultCodeName };

export interface SessionResult {
  readonly state: SessionState;
  readonly actions: readonly SessionAction[];
}

export const INITIAL_SESSION: SessionState = { name: 'offered', estSent: 0, outcome: undefined };

const to = (state: SessionState, name: SessionStateName, patch: Partial<SessionState> = {}): SessionState => ({
  ...state,
  ...patch,
  name,
});
const stay = (state: SessionState, actions: SessionAction[] = []): SessionResult => ({ state, actions });

function release(state: SessionState, t: SessionTimers, outcome: ResultCodeName, sendRel: boolean): SessionResult {
  return {
    state: to(state, 'releasing', { outcome }),
    actions: [
      ...(sendRel ? [{ type: 'send-control', frame: 'rel' } as const] : []),
      { type: 'set-timer', timer: 'release', ms: t.releaseDelayMs },
    ],
  };
}

function end(state: SessionState, outcome: ResultCodeName, hangup: boolean): SessionResult {
  return {
    state: to(state, 'ended', { outcome }),
    actions: [{ type: 'clear-timer' }, ...(hangup ? [{ type: 'hangup' } as const] : []), { type: 'ended', outcome }],
  };
}

const idle = (t: SessionTimers, holdMs?: number): SessionAction => ({
  type: 'set-timer',
  timer: 'idle',
  ms: holdMs === undefined ? t.idleTimeoutMs : Math.max(holdMs, t.idleTimeoutMs),
});

/** One step of the session machine. Pure. Events that make no sense in a state are ignored. */
export function sessionStep(state: SessionState, event: SessionEvent, t: SessionTimers): SessionResult {
  const s = state.name;
  if (s === 'ended')
    return event.type === 'prompt'
      ? stay(state, [{ type: 'prompt-refused', codeName: 'SESSION_NOT_ACTIVE' }])
      : stay(state);

  // Events handled the same way in every live state.
  if (event.type === 'remote-hangup') return end(state, state.outcome ?? 'OK', false);
  if (event.type === 'prompt' && s !== 'ready')
    return stay(state, [{ type: 'prompt-refused', codeName: 'SESSION_NOT_ACTIVE' }]);

  switch (s) {
    case 'offered':
      if (event.type === 'accept')
        return {
          state: to(state, 'answered'),
          actions: [{ type: 'answer' }, { type: 'set-timer', timer: 'answer-delay', ms: t.answerDelayMs }],
        };
      if (event.type === 'hangup-requested')
        return {
          state: to(state, 'ended', { outcome: event.codeName }),
          actions: [
            { type: 'reject', codeName: event.codeName },
            { type: 'ended', outcome: event.codeName },
          ],
        };
      return stay(state);

    case 'answered':
      if (event.type === 'timer' && event.timer === 'answer-delay')
        return {
          state: to(state, 'handshake', { estSent: 1 }),
          actions: [
            { type: 'send-control', frame: 'est' },
            { type: 'set-timer', timer: 'handshake', ms: t.handshakeTimeoutMs },
          ],
        };
      if (event.type === 'hangup-requested') return end(state, event.codeName, true);
      if (event.type === 'frame-received' || event.type === 'request')
        // The terminal spoke first: accept it as the handshake.
        return sessionStep(to(state, 'handshake'), event, t);
      return stay(state);

    case 'handshake':
      if (event.type === 'timer' && event.timer === 'handshake') {
        if (state.estSent > t.handshakeRetries) return end(state, 'SESSION_HANDSHAKE_TIMEOUT', true);
        return {
          state: to(state, 'handshake', { estSent: state.estSent + 1 }),
          actions: [
            { type: 'send-control', frame: 'est' },
            { type: 'set-timer', timer: 'handshake', ms: t.handshakeTimeoutMs },
          ],
        };
      }
      if (event.type === 'frame-received') return { state: to(state, 'ready'), actions: [idle(t)] };
      if (event.type === 'request')
        return {
          state: to(state, 'processing'),
          actions: [{ type: 'clear-timer' }, { type: 'handle-request', payload: event.payload }],
        };
      if (event.type === 'hangup-requested') return release(state, t, event.codeName, true);
      if (event.type === 'rel-received') return release(state, t, 'OK', false);
      return stay(state);

    case 'ready':
      if (event.type === 'timer' && event.timer === 'idle') return release(state, t, 'SESSION_IDLE_TIMEOUT', true);
      if (event.type === 'frame-received') return stay(state, [idle(t)]);
      if (event.type === 'request')
        return {
          state: to(state, 'processing'),
          actions: [{ type: 'clear-timer' }, { type: 'handle-request', payload: event.payload }],
        };
      if (event.type === 'prompt')
        return {
          state: to(state, 'sending'),
          actions: [{ type: 'clear-timer' }, { type: 'send-message', payload: event.payload, purpose: 'prompt' }],
        };
      if (event.type === 'hangup-requested') return release(state, t, event.codeName, true);
      if (event.type === 'rel-received') return release(state, t, 'OK', false);
      return stay(state);

    case 'processing':
      if (event.type === 'handler-answered')
        return {
          state: to(state, 'sending'),
          actions: [{ type: 'send-message', payload: event.payload, purpose: 'response' }],
        };
      if (event.type === 'handler-failed') return release(state, t, event.codeName, true);
      if (event.type === 'hangup-requested') return release(state, t, event.codeName, true);
      if (event.type === 'rel-received') return release(state, t, 'OK', false);
      return stay(state);

    case 'sending':
      if (event.type === 'sent') return { state: to(state, 'ready'), actions: [idle(t, event.holdMs)] };
      if (event.type === 'send-failed') return end(state, event.codeName, true);
      if (event.type === 'hangup-requested') return release(state, t, event.codeName, true);
      if (event.type === 'rel-received') return release(state, t, 'OK', false);
      return stay(state);

    case 'releasing':
      if (event.type === 'timer' && event.timer === 'release') return end(state, state.outcome ?? 'OK', true);
      return stay(state);
  }
}
