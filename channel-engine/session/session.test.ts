import { INITIAL_SESSION, SESSION_STATES, sessionStep } from './session';
import type { SessionAction, SessionEvent, SessionState, SessionStateName, SessionTimers } from './session';

const t: SessionTimers = {
  answerDelayMs: 300,
  handshakeTimeoutMs: 4000,
  handshakeRetries: 2,
  idleTimeoutMs: 10000,
  releaseDelayMs: 200,
};
const p = Uint8Array.of(1);

const events = {
  accept: { type: 'accept' },
  'timer:answer-delay': { type: 'timer', timer: 'answer-delay' },
  'timer:handshake': { type: 'timer', timer: 'handshake' },
  'timer:idle': { type: 'timer', timer: 'idle' },
  'timer:release': { type: 'timer', timer: 'release' },
  'frame-received': { type: 'frame-received' },
  request: { type: 'request', payload: p },
  'handler-answered': { type: 'handler-answered', payload: p },
  'handler-failed': { type: 'handler-failed', codeName: 'SESSION_HANDLER_FAILED' },
  sent: { type: 'sent' },
  'send-failed': { type: 'send-failed', codeName: 'LINK_RETRIES_EXHAUSTED' },
  prompt: { type: 'prompt', payload: p },
  'hangup-requested': { type: 'hangup-requested', codeName: 'ENGINE_DRAINING' },
  'rel-received': { type: 'rel-received' },
  'remote-hangup': { type: 'remote-hangup' },
} as const satisfies Record<string, SessionEvent>;
type EventName = keyof typeof events;

const summary = (a: SessionAction): string => {
  switch (a.type) {
    case 'send-control':
      return `send:${a.frame}`;
    case 'send-message':
      return `send:${a.purpose}`;
    case 'set-timer':
      return `timer:${a.timer}`;
    case 'ended':
      return `ended:${a.outcome}`;
    case 'reject':
      return `reject:${a.codeName}`;
    default:
      return a.type;
  }
};

// '-' = ignored (same state, no action). Otherwise: next state, then the actions in order.
const IGN = '-';
const REFUSE = 'prompt-refused';
const BYE = (outcome: string): string => `ended(${outcome}) | clear-timer ended:${outcome}`;
const REL_BY_US = (outcome: string): string => `releasing(${outcome}) | send:rel timer:release`;
const REL_BY_TERMINAL = 'releasing(OK) | timer:release';
const table: Record<SessionStateName, Record<EventName, string>> = {
  offered: {
    accept: 'answered | answer timer:answer-delay',
    'timer:answer-delay': IGN,
    'timer:handshake': IGN,
    'timer:idle': IGN,
    'timer:release': IGN,
    'frame-received': IGN,
    request: IGN,
    'handler-answered': IGN,
    'handler-failed': IGN,
    sent: IGN,
    'send-failed': IGN,
    prompt: `offered | ${REFUSE}`,
    'hangup-requested': 'ended(ENGINE_DRAINING) | reject:ENGINE_DRAINING ended:ENGINE_DRAINING',
    'rel-received': IGN,
    'remote-hangup': BYE('OK'),
  },
  answered: {
    accept: IGN,
    'timer:answer-delay': 'handshake | send:est timer:handshake',
    'timer:handshake': IGN,
    'timer:idle': IGN,
    'timer:release': IGN,
    'frame-received': 'ready | timer:idle',
    request: 'processing | clear-timer handle-request',
    'handler-answered': IGN,
    'handler-failed': IGN,
    sent: IGN,
    'send-failed': IGN,
    prompt: `answered | ${REFUSE}`,
    'hangup-requested': 'ended(ENGINE_DRAINING) | clear-timer hangup ended:ENGINE_DRAINING',
    'rel-received': IGN,
    'remote-hangup': BYE('OK'),
  },
  handshake: {
    accept: IGN,
    'timer:answer-delay': IGN,
    'timer:handshake': 'handshake | send:est timer:handshake',
    'timer:idle': IGN,
    'timer:release': IGN,
    'frame-received': 'ready | timer:idle',
    request: 'processing | clear-timer handle-request',
    'handler-answered': IGN,
    'handler-failed': IGN,
    sent: IGN,
    'send-failed': IGN,
    prompt: `handshake | ${REFUSE}`,
    'hangup-requested': REL_BY_US('ENGINE_DRAINING'),
    'rel-received': REL_BY_TERMINAL,
    'remote-hangup': BYE('OK'),
  },
  ready: {
    accept: IGN,
    'timer:answer-delay': IGN,
    'timer:handshake': IGN,
    'timer:idle': REL_BY_US('SESSION_IDLE_TIMEOUT'),
    'timer:release': IGN,
    'frame-received': 'ready | timer:idle',
    request: 'processing | clear-timer handle-request',
    'handler-answered': IGN,
    'handler-failed': IGN,
    sent: IGN,
    'send-failed': IGN,
    prompt: 'sending | clear-timer send:prompt',
    'hangup-requested': REL_BY_US('ENGINE_DRAINING'),
    'rel-received': REL_BY_TERMINAL,
    'remote-hangup': BYE('OK'),
  },
  processing: {
    accept: IGN,
    'timer:answer-delay': IGN,
    'timer:handshake': IGN,
    'timer:idle': IGN,
    'timer:release': IGN,
    'frame-received': IGN,
    request: IGN,
    'handler-answered': 'sending | send:response',
    'handler-failed': REL_BY_US('SESSION_HANDLER_FAILED'),
    sent: IGN,
    'send-failed': IGN,
    prompt: `processing | ${REFUSE}`,
    'hangup-requested': REL_BY_US('ENGINE_DRAINING'),
    'rel-received': REL_BY_TERMINAL,
    'remote-hangup': BYE('OK'),
  },
  sending: {
    accept: IGN,
    'timer:answer-delay': IGN,
    'timer:handshake': IGN,
    'timer:idle': IGN,
    'timer:release': IGN,
    'frame-received': IGN,
    request: IGN,
    'handler-answered': IGN,
    'handler-failed': IGN,
    sent: 'ready | timer:idle',
    'send-failed': 'ended(LINK_RETRIES_EXHAUSTED) | clear-timer hangup ended:LINK_RETRIES_EXHAUSTED',
    prompt: `sending | ${REFUSE}`,
    'hangup-requested': REL_BY_US('ENGINE_DRAINING'),
    'rel-received': REL_BY_TERMINAL,
    'remote-hangup': BYE('OK'),
  },
  releasing: {
    accept: IGN,
    'timer:answer-delay': IGN,
    'timer:handshake': IGN,
    'timer:idle': IGN,
    'timer:release': 'ended(OK) | clear-timer hangup ended:OK',
    'frame-received': IGN,
    request: IGN,
    'handler-answered': IGN,
    'handler-failed': IGN,
    sent: IGN,
    'send-failed': IGN,
    prompt: `releasing | ${REFUSE}`,
    'hangup-requested': IGN,
    'rel-received': IGN,
    'remote-hangup': BYE('OK'),
  },
  ended: {
    accept: IGN,
    'timer:answer-delay': IGN,
    'timer:handshake': IGN,
    'timer:idle': IGN,
    'timer:release': IGN,
    'frame-received': IGN,
    request: IGN,
    'handler-answered': IGN,
    'handler-failed': IGN,
    sent: IGN,
    'send-failed': IGN,
    prompt: `ended | ${REFUSE}`,
    'hangup-requested': IGN,
    'rel-received': IGN,
    'remote-hangup': IGN,
  },
};

const stateIn = (name: SessionStateName): SessionState => ({ name, estSent: 1, outcome: undefined });

function describeResult(before: SessionState, after: SessionState, actions: readonly SessionAction[]): string {
  if (actions.length === 0 && after.name === before.name && after.outcome === before.outcome) return IGN;
  const outcome = after.outcome !== before.outcome && after.outcome !== undefined ? `(${after.outcome})` : '';
  return `${after.name}${outcome} | ${actions.map(summary).join(' ')}`;
}

describe('terminal session: every state × event', () => {
  const cases = SESSION_STATES.flatMap((s) => (Object.keys(events) as EventName[]).map((e) => [s, e] as const));
  it('the table covers every state and event', () => {
    expect(Object.keys(table).sort()).toEqual([...SESSION_STATES].sort());
    expect(cases).toHaveLength(SESSION_STATES.length * Object.keys(events).length);
  });
  it.each(cases)('%s + %s', (s, e) => {
    const before = stateIn(s);
    const r = sessionStep(before, events[e], t);
    expect(describeResult(before, r.state, r.actions)).toBe(table[s][e]);
  });
});

describe('terminal session paths', () => {
  it('gives up the handshake after handshakeRetries repetitions of EST', () => {
    let r = sessionStep(INITIAL_SESSION, events.accept, t);
    r = sessionStep(r.state, events['timer:answer-delay'], t);
    const sentEst = () => r.actions.filter((a) => a.type === 'send-control' && a.frame === 'est').length;
    let ests = sentEst();
    for (let i = 0; i < t.handshakeRetries; i++) {
      r = sessionStep(r.state, events['timer:handshake'], t);
      ests += sentEst();
    }
    expect(ests).toBe(1 + t.handshakeRetries);
    r = sessionStep(r.state, events['timer:handshake'], t);
    expect(r.state.name).toBe('ended');
    expect(r.actions.map(summary)).toEqual(['clear-timer', 'hangup', 'ended:SESSION_HANDSHAKE_TIMEOUT']);
  });

  it('runs a whole call: answer, EST, request, response, REL from the terminal, hang-up', () => {
    const steps: SessionEvent[] = [
      events.accept,
      events['timer:answer-delay'],
      events['frame-received'],
      events.request,
      events['handler-answered'],
      events.sent,
      events['rel-received'],
      events['timer:release'],
    ];
    let state = INITIAL_SESSION;
    const names: string[] = [];
    for (const e of steps) {
      state = sessionStep(state, e, t).state;
      names.push(state.name);
    }
    expect(names).toEqual(['answered', 'handshake', 'ready', 'processing', 'sending', 'ready', 'releasing', 'ended']);
    expect(state.outcome).toBe('OK');
  });
});
