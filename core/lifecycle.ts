/**
 * The terminal lifecycle as a table (STYLE item 13/18): register → bind (phone number + PSAM) →
 * activate (operator approval) → download keys (first sign-on; later key rotations stay in
 * service) → suspend / resume → retire. A resumed terminal must download keys again before it
 * transacts: suspension invalidates its working keys.
 */
import type { CoreResult, TerminalEvent, TerminalState } from './model';
import { refuse } from './model';

/** Next state for each allowed (state, event); a missing entry is refused. */
export const TERMINAL_TRANSITIONS: Readonly<Record<TerminalState, Partial<Record<TerminalEvent, TerminalState>>>> = {
  registered: { bind: 'bound', retire: 'retired' },
  bound: { unbind: 'registered', activate: 'activated', retire: 'retired' },
  activated: {
    downloadKeys: 'in_service',
    suspend: 'suspended',
    retire: 'retired',
    replacePsam: 'activated',
    moveLine: 'activated',
  },
  in_service: {
    downloadKeys: 'in_service',
    suspend: 'suspended',
    retire: 'retired',
    replacePsam: 'activated',
    moveLine: 'in_service',
  },
  suspended: { resume: 'activated', retire: 'retired', replacePsam: 'suspended', moveLine: 'suspended' },
  retired: {},
};

/** The state a terminal starts in when registered. */
export const TERMINAL_INITIAL_STATE: TerminalState = 'registered';

/** Applies one lifecycle event; TERMINAL_TRANSITION_INVALID when the table has no entry. */
export function nextTerminalState(state: TerminalState, event: TerminalEvent): CoreResult<TerminalState> {
  const next = TERMINAL_TRANSITIONS[state][event];
  return next === undefined
    ? refuse('TERMINAL_TRANSITION_INVALID', `${event} is not allowed in state ${state}`)
    : { ok: true, value: next };
}

/** Only a terminal in service may transact. */
export function canTransact(state: TerminalState): boolean {
  return state === 'in_service';
}

/** A terminal may sign on (download keys) when activated or in service; its first sign-on puts it in service. */
export function canSignOn(state: TerminalState): boolean {
  return state === 'activated' || state === 'in_service';
}
