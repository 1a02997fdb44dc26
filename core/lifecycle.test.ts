import { nextTerminalState, canSignOn, canTransact } from './lifecycle';
import { TERMINAL_EVENTS, TERMINAL_STATES, type TerminalEvent, type TerminalState } from './model';

// The expected lifecycle, written out independently of TERMINAL_TRANSITIONS: one row per state,
// one column per event in declaration order (bind, unbind, activate, downloadKeys, suspend,
// resume, retire, replacePsam, moveLine). `-` = refused with TERMINAL_TRANSITION_INVALID.
const EXPECTED: Record<TerminalState, string> = {
  registered: 'bound      -          -          -          -          -          retired    -          -',
  bound: '     -          registered activated  -          -          -          retired    -          -',
  activated: ' -          -          -          in_service suspended  -          retired    activated  activated',
  in_service: '-          -          -          in_service suspended  -          retired    activated  in_service',
  suspended: ' -          -          -          -          -          activated  retired    suspended  suspended',
  retired: '   -          -          -          -          -          -          -          -          -',
};

const rows = TERMINAL_STATES.flatMap((state) => {
  const cells = EXPECTED[state].trim().split(/\s+/);
  return TERMINAL_EVENTS.map(
    (event, i) => [state, event, cells[i]] as [TerminalState, TerminalEvent, string | undefined],
  );
});

describe('terminal lifecycle: every state × event', () => {
  it('covers all states and events', () => {
    expect(rows).toHaveLength(TERMINAL_STATES.length * TERMINAL_EVENTS.length);
    expect(rows.every(([, , cell]) => cell !== undefined)).toBe(true);
  });

  it.each(rows)('%s + %s → %s', (state, event, expected) => {
    const r = nextTerminalState(state, event);
    if (expected === '-') {
      expect(r).toMatchObject({ ok: false, code: 'TERMINAL_TRANSITION_INVALID' });
    } else {
      expect(r).toEqual({ ok: true, value: expected });
    }
  });

  it('lets only a terminal in service transact, and an activated one sign on', () => {
    expect(TERMINAL_STATES.filter(canTransact)).toEqual(['in_service']);
    expect(TERMINAL_STATES.filter(canSignOn)).toEqual(['activated', 'in_service']);
  });

  it('walks the whole life of a terminal', () => {
    const path: TerminalEvent[] = [
      'bind',
      'activate',
      'downloadKeys',
      'downloadKeys',
      'suspend',
      'resume',
      'downloadKeys',
      'retire',
    ];
    let state: TerminalState = 'registered';
    for (const e of path) {
      const r = nextTerminalState(state, e);
      if (!r.ok) throw new Error(r.detail);
      state = r.value;
    }
    expect(state).toBe('retired');
  });
});
