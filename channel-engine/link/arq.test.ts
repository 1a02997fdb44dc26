import fc from 'fast-check';
import { arqStep, INITIAL_ARQ_STATE, segment } from './arq';
import type { ArqAction, ArqEvent, ArqPhase, ArqState, ArqTimers } from './arq';
import type { Frame } from './spec';
import { ES201912_SPEC, SPECS } from './__fixtures__/specs';

const spec = ES201912_SPEC;
const timers: ArqTimers = { ackTimeoutMs: 1000, maxRetransmissions: 2 };
const two = Uint8Array.of(1, 2);

type StateName = 'idle' | 'transmitting' | 'awaiting-ack' | 'awaiting-ack-last-try';
const states: Record<StateName, ArqState> = {
  idle: INITIAL_ARQ_STATE,
  transmitting: { ...INITIAL_ARQ_STATE, phase: 'transmitting', segments: [two] },
  'awaiting-ack': { ...INITIAL_ARQ_STATE, phase: 'awaiting-ack', segments: [two] },
  'awaiting-ack-last-try': { ...INITIAL_ARQ_STATE, phase: 'awaiting-ack', segments: [two], retransmissions: 2 },
};

type EventName =
  | 'send'
  | 'tx-done'
  | 'ack-timeout'
  | 'rejected'
  | 'data-last'
  | 'data-more'
  | 'data-duplicate'
  | 'ack-match'
  | 'ack-other'
  | 'nak'
  | 'est'
  | 'rel';
const frame = (f: Frame): ArqEvent => ({ type: 'frame', frame: f });
const events: Record<EventName, ArqEvent> = {
  send: { type: 'send', message: two },
  'tx-done': { type: 'tx-done' },
  'ack-timeout': { type: 'ack-timeout' },
  rejected: {
    type: 'rejected',
    rejection: { codeName: 'LINK_CHECK_MISMATCH', nakCause: 0x01, detail: 'test' },
  },
  'data-last': frame({ kind: 'data', seq: 0, more: false, payload: two }),
  'data-more': frame({ kind: 'data', seq: 0, more: true, payload: two }),
  'data-duplicate': frame({ kind: 'data', seq: 1, more: false, payload: two }),
  'ack-match': frame({ kind: 'ack', seq: 0 }),
  'ack-other': frame({ kind: 'ack', seq: 1 }),
  nak: frame({ kind: 'nak', cause: 1 }),
  est: frame({ kind: 'est', payload: new Uint8Array(0) }),
  rel: frame({ kind: 'rel' }),
};

// Expected next phase and action summary for every state × event. Receive-side events (DATA)
// behave the same in every sender phase: the two directions are independent.
const summary = (a: ArqAction): string =>
  a.type === 'transmit'
    ? `transmit:${a.frame.kind}${a.retransmission ? '(re)' : ''}`
    : a.type === 'count'
      ? `count:${a.counter}`
      : a.type === 'send-failed'
        ? `failed:${a.codeName}`
        : a.type === 'control'
          ? `control:${a.frame.kind}`
          : a.type;

const rx = {
  rejected: ['count:rejected', 'transmit:nak'],
  'data-last': ['transmit:ack', 'deliver'],
  'data-more': ['transmit:ack'],
  'data-duplicate': ['count:duplicate', 'transmit:ack'],
  est: ['control:est'],
  rel: ['control:rel'],
} as const;

const table: Record<StateName, Record<EventName, [ArqPhase, readonly string[]]>> = {
  idle: {
    send: ['transmitting', ['transmit:data']],
    'tx-done': ['idle', []],
    'ack-timeout': ['idle', []],
    rejected: ['idle', rx.rejected],
    'data-last': ['idle', rx['data-last']],
    'data-more': ['idle', rx['data-more']],
    'data-duplicate': ['idle', rx['data-duplicate']],
    'ack-match': ['idle', ['count:stray-ack']],
    'ack-other': ['idle', ['count:stray-ack']],
    nak: ['idle', ['count:nak-received']],
    est: ['idle', rx.est],
    rel: ['idle', rx.rel],
  },
  transmitting: {
    send: ['transmitting', ['failed:LINK_BUSY']],
    'tx-done': ['awaiting-ack', ['start-ack-timer']],
    'ack-timeout': ['transmitting', []],
    rejected: ['transmitting', rx.rejected],
    'data-last': ['transmitting', rx['data-last']],
    'data-more': ['transmitting', rx['data-more']],
    'data-duplicate': ['transmitting', rx['data-duplicate']],
    'ack-match': ['idle', ['cancel-ack-timer', 'sent']],
    'ack-other': ['transmitting', ['count:stray-ack']],
    nak: ['transmitting', ['count:nak-received', 'cancel-ack-timer', 'transmit:data(re)']],
    est: ['transmitting', rx.est],
    rel: ['transmitting', rx.rel],
  },
  'awaiting-ack': {
    send: ['awaiting-ack', ['failed:LINK_BUSY']],
    'tx-done': ['awaiting-ack', []],
    'ack-timeout': ['transmitting', ['cancel-ack-timer', 'transmit:data(re)']],
    rejected: ['awaiting-ack', rx.rejected],
    'data-last': ['awaiting-ack', rx['data-last']],
    'data-more': ['awaiting-ack', rx['data-more']],
    'data-duplicate': ['awaiting-ack', rx['data-duplicate']],
    'ack-match': ['idle', ['cancel-ack-timer', 'sent']],
    'ack-other': ['awaiting-ack', ['count:stray-ack']],
    nak: ['transmitting', ['count:nak-received', 'cancel-ack-timer', 'transmit:data(re)']],
    est: ['awaiting-ack', rx.est],
    rel: ['awaiting-ack', rx.rel],
  },
  'awaiting-ack-last-try': {
    send: ['awaiting-ack', ['failed:LINK_BUSY']],
    'tx-done': ['awaiting-ack', []],
    'ack-timeout': ['idle', ['cancel-ack-timer', 'failed:LINK_RETRIES_EXHAUSTED']],
    rejected: ['awaiting-ack', rx.rejected],
    'data-last': ['awaiting-ack', rx['data-last']],
    'data-more': ['awaiting-ack', rx['data-more']],
    'data-duplicate': ['awaiting-ack', rx['data-duplicate']],
    'ack-match': ['idle', ['cancel-ack-timer', 'sent']],
    'ack-other': ['awaiting-ack', ['count:stray-ack']],
    nak: ['idle', ['count:nak-received', 'cancel-ack-timer', 'failed:LINK_RETRIES_EXHAUSTED']],
    est: ['awaiting-ack', rx.est],
    rel: ['awaiting-ack', rx.rel],
  },
};

describe('link ARQ: every state × event', () => {
  const cases = (Object.keys(table) as StateName[]).flatMap((s) =>
    (Object.keys(events) as EventName[]).map((e) => [s, e] as const),
  );
  it('covers every combination', () => {
    expect(cases).toHaveLength(Object.keys(states).length * Object.keys(events).length);
  });
  it.each(cases)('%s + %s', (s, e) => {
    const [phase, actions] = table[s][e];
    const r = arqStep(states[s], events[e], spec, timers);
    expect(r.state.phase).toBe(phase);
    expect(r.actions.map(summary)).toEqual(actions);
  });
});

describe('link ARQ details', () => {
  it('toggles sequence bits and reassembles segments', () => {
    const small = { ...spec, maxPayloadBytes: 3 };
    const message = Uint8Array.of(1, 2, 3, 4, 5, 6, 7);
    expect(segment(message, 3).map((p) => [...p])).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    let sender = arqStep(INITIAL_ARQ_STATE, { type: 'send', message }, small, timers);
    let receiver: ArqState = INITIAL_ARQ_STATE;
    const delivered: Uint8Array[] = [];
    let guard = 0;
    while (sender.state.phase !== 'idle' && guard++ < 20) {
      const tx = sender.actions.find((a) => a.type === 'transmit');
      if (tx?.type !== 'transmit') break;
      const r = arqStep(receiver, { type: 'frame', frame: tx.frame }, small, timers);
      receiver = r.state;
      for (const a of r.actions) if (a.type === 'deliver') delivered.push(a.message);
      const ack = r.actions.find((a) => a.type === 'transmit');
      if (ack?.type !== 'transmit') throw new Error('no ack');
      sender = arqStep(sender.state, { type: 'frame', frame: ack.frame }, small, timers);
    }
    expect(delivered.map((m) => [...m])).toEqual([[...message]]);
    expect(sender.state.txSeq).toBe(1); // three segments: 0, 1, 0 → next is 1
    expect(receiver.rxSeq).toBe(1);
  });

  it('refuses messages above maxMessageBytes', () => {
    const r = arqStep(
      INITIAL_ARQ_STATE,
      { type: 'send', message: new Uint8Array(spec.maxMessageBytes + 1) },
      spec,
      timers,
    );
    expect(r.actions).toEqual([{ type: 'send-failed', codeName: 'LINK_MESSAGE_TOO_LARGE' }]);
  });

  it.each(SPECS)('delivers each message exactly once over a lossy, corrupting channel (property, %s)', (_n, s) => {
    // Two ARQ ends; each frame in either direction is lost, corrupted or delivered by a seeded choice.
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 700 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.constantFrom('ok', 'ok', 'ok', 'lost', 'corrupt'), { minLength: 64, maxLength: 64 }),
        (messages, fate) => {
          const t: ArqTimers = { ackTimeoutMs: 1, maxRetransmissions: 50 };
          let a: ArqState = INITIAL_ARQ_STATE;
          let b: ArqState = INITIAL_ARQ_STATE;
          let f = 0;
          const got: number[][] = [];
          for (const m of messages) {
            let r = arqStep(a, { type: 'send', message: m }, s, t);
            let done = false;
            for (let step = 0; step < 500; step++) {
              a = r.state;
              const tx = r.actions.filter((x) => x.type === 'transmit');
              if (r.actions.some((x) => x.type === 'send-failed')) throw new Error('gave up');
              if (r.actions.some((x) => x.type === 'sent')) {
                done = true;
                break;
              }
              let next: ArqEvent = { type: 'ack-timeout' };
              r = arqStep(a, { type: 'tx-done' }, s, t);
              a = r.state;
              for (const x of tx) {
                const fateOut = fate[f++ % fate.length];
                if (fateOut === 'lost') continue;
                const ev: ArqEvent =
                  fateOut === 'corrupt'
                    ? { type: 'rejected', rejection: { codeName: 'LINK_CHECK_MISMATCH', nakCause: 1, detail: '' } }
                    : { type: 'frame', frame: x.frame };
                const rb = arqStep(b, ev, s, t);
                b = rb.state;
                for (const y of rb.actions) if (y.type === 'deliver') got.push([...y.message]);
                for (const y of rb.actions) {
                  if (y.type !== 'transmit') continue;
                  const fateBack = fate[f++ % fate.length];
                  if (fateBack === 'lost') continue;
                  next =
                    fateBack === 'corrupt'
                      ? { type: 'ack-timeout' } // a corrupted ACK is never seen; the sender times out
                      : { type: 'frame', frame: y.frame };
                }
              }
              r = arqStep(a, next, s, t);
            }
            a = r.state;
            expect(done).toBe(true);
          }
          expect(got).toEqual(messages.map((m) => [...m]));
        },
      ),
      { numRuns: 100 },
    );
  });
});
