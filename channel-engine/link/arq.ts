/**
 * Stop-and-wait ARQ for one half-duplex link, as a pure state machine: `arqStep(state, event)`
 * returns the next state and the actions to perform (transmit a frame, start/cancel the ACK
 * timer, deliver a message, report success or failure). The same machine runs on both ends
 * (the engine, and the terminal simulator/tests), each direction with its own alternating bit.
 *
 * Sender: idle → transmitting (frame on the line) → awaiting-ack → next segment | idle.
 * A NAK or an ACK timeout retransmits the segment, at most `maxRetransmissions` times.
 * Receiver: a DATA frame with the expected bit is ACKed and kept; a duplicate (our ACK was
 * lost) is ACKed again and dropped; a rejected frame is NAKed with its cause.
 */
import type { ResultCodeName } from '../../domain/errors';
import type { LinkRejection } from './frame';
import type { Frame, LinkSpec } from './spec';

export interface ArqTimers {
  /** How long to wait for an ACK after our frame has left the line. */
  readonly ackTimeoutMs: number;
  /** Retransmissions of one segment before giving up (FP3520). */
  readonly maxRetransmissions: number;
}

export const DEFAULT_ARQ_TIMERS: ArqTimers = { ackTimeoutMs: 2000, maxRetransmissions: 3 };

export type ArqPhase = 'idle' | 'transmitting' | 'awaiting-ack';

export interface ArqState {
  readonly phase: ArqPhase;
  /** Segments of the message being sent, and which one is in flight. */
  readonly segments: readonly Uint8Array[];
  readonly index: number;
  /** Retransmissions of the current segment so far. */
  readonly retransmissions: number;
  /** Sequence bit of the next (or in-flight) DATA frame we send. */
  readonly txSeq: 0 | 1;
  /** Sequence bit we expect on the next new DATA frame. */
  readonly rxSeq: 0 | 1;
  /** Segments of the message being received. */
  readonly rxParts: readonly Uint8Array[];
  readonly rxBytes: number;
}

export type ArqEvent =
  | { readonly type: 'send'; readonly message: Uint8Array }
  /** Our last transmission has left the line (audio played out). */
  | { readonly type: 'tx-done' }
  | { readonly type: 'frame'; readonly frame: Frame }
  | { readonly type: 'rejected'; readonly rejection: LinkRejection }
  | { readonly type: 'ack-timeout' };

export type ArqAction =
  | { readonly type: 'transmit'; readonly frame: Frame; readonly retransmission: boolean }
  | { readonly type: 'start-ack-timer'; readonly ms: number }
  | { readonly type: 'cancel-ack-timer' }
  | { readonly type: 'deliver'; readonly message: Uint8Array }
  | { readonly type: 'sent' }
  | { readonly type: 'send-failed'; readonly codeName: ResultCodeName }
  /** EST or REL from the peer: for the session. */
  | { readonly type: 'control'; readonly frame: Extract<Frame, { kind: 'est' | 'rel' }> }
  /** Something the caller should count (bad frame, duplicate, stray ACK). */
  | { readonly type: 'count'; readonly counter: ArqCounter };

export type ArqCounter = 'rejected' | 'duplicate' | 'stray-ack' | 'nak-received' | 'message-too-large';

export interface ArqResult {
  readonly state: ArqState;
  readonly actions: readonly ArqAction[];
}

export const INITIAL_ARQ_STATE: ArqState = {
  phase: 'idle',
  segments: [],
  index: 0,
  retransmissions: 0,
  txSeq: 0,
  rxSeq: 0,
  rxParts: [],
  rxBytes: 0,
};

/** Splits a message into frame payloads of at most `maxPayloadBytes` (an empty message is one empty frame). */
export function segment(message: Uint8Array, maxPayloadBytes: number): Uint8Array[] {
  if (message.length === 0) return [new Uint8Array(0)];
  const parts: Uint8Array[] = [];
  for (let at = 0; at < message.length; at += maxPayloadBytes) parts.push(message.slice(at, at + maxPayloadBytes));
  return parts;
}

function dataFrame(state: ArqState): Frame {
  return {
    kind: 'data',
    seq: state.txSeq,
    more: state.index < state.segments.length - 1,
    payload: state.segments[state.index] ?? new Uint8Array(0),
  };
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function retransmit(state: ArqState, timers: ArqTimers, cause: ArqCounter | undefined): ArqResult {
  const counted: ArqAction[] = cause === undefined ? [] : [{ type: 'count', counter: cause }];
  if (state.retransmissions >= timers.maxRetransmissions)
    return {
      state: { ...state, phase: 'idle', segments: [], index: 0, retransmissions: 0 },
      actions: [...counted, { type: 'cancel-ack-timer' }, { type: 'send-failed', codeName: 'LINK_RETRIES_EXHAUSTED' }],
    };
  const next: ArqState = { ...state, phase: 'transmitting', retransmissions: state.retransmissions + 1 };
  return {
    state: next,
    actions: [
      ...counted,
      { type: 'cancel-ack-timer' },
      { type: 'transmit', frame: dataFrame(next), retransmission: true },
    ],
  };
}

function onData(state: ArqState, spec: LinkSpec, frame: Extract<Frame, { kind: 'data' }>): ArqResult {
  const ack: ArqAction = { type: 'transmit', frame: { kind: 'ack', seq: frame.seq }, retransmission: false };
  if (frame.seq !== state.rxSeq) return { state, actions: [{ type: 'count', counter: 'duplicate' }, ack] };
  const rxBytes = state.rxBytes + frame.payload.length;
  if (rxBytes > spec.maxMessageBytes)
    return {
      state: { ...state, rxParts: [], rxBytes: 0 },
      actions: [
        { type: 'count', counter: 'message-too-large' },
        { type: 'transmit', frame: { kind: 'nak', cause: 0x02 }, retransmission: false },
      ],
    };
  const rxSeq = state.rxSeq === 0 ? 1 : 0;
  if (frame.more)
    return { state: { ...state, rxSeq, rxParts: [...state.rxParts, frame.payload], rxBytes }, actions: [ack] };
  const message = concat([...state.rxParts, frame.payload], rxBytes);
  return { state: { ...state, rxSeq, rxParts: [], rxBytes: 0 }, actions: [ack, { type: 'deliver', message }] };
}

function onAck(state: ArqState, seq: 0 | 1): ArqResult {
  if (state.phase === 'idle' || seq !== state.txSeq)
    return { state, actions: [{ type: 'count', counter: 'stray-ack' }] };
  const txSeq = state.txSeq === 0 ? 1 : 0;
  const index = state.index + 1;
  if (index >= state.segments.length)
    return {
      state: { ...state, phase: 'idle', segments: [], index: 0, retransmissions: 0, txSeq },
      actions: [{ type: 'cancel-ack-timer' }, { type: 'sent' }],
    };
  const next: ArqState = { ...state, phase: 'transmitting', index, retransmissions: 0, txSeq };
  return {
    state: next,
    actions: [{ type: 'cancel-ack-timer' }, { type: 'transmit', frame: dataFrame(next), retransmission: false }],
  };
}

/** One step of the ARQ machine. Pure. */
export function arqStep(state: ArqState, event: ArqEvent, spec: LinkSpec, timers: ArqTimers): ArqResult {
  switch (event.type) {
    case 'send': {
      if (state.phase !== 'idle') return { state, actions: [{ type: 'send-failed', codeName: 'LINK_BUSY' }] };
      if (event.message.length > spec.maxMessageBytes)
        return { state, actions: [{ type: 'send-failed', codeName: 'LINK_MESSAGE_TOO_LARGE' }] };
      const next: ArqState = {
        ...state,
        phase: 'transmitting',
        segments: segment(event.message, spec.maxPayloadBytes),
        index: 0,
        retransmissions: 0,
      };
      return { state: next, actions: [{ type: 'transmit', frame: dataFrame(next), retransmission: false }] };
    }
    case 'tx-done':
      if (state.phase !== 'transmitting') return { state, actions: [] };
      return {
        state: { ...state, phase: 'awaiting-ack' },
        actions: [{ type: 'start-ack-timer', ms: timers.ackTimeoutMs }],
      };
    case 'ack-timeout':
      if (state.phase !== 'awaiting-ack') return { state, actions: [] };
      return retransmit(state, timers, undefined);
    case 'rejected':
      return {
        state,
        actions: [
          { type: 'count', counter: 'rejected' },
          { type: 'transmit', frame: { kind: 'nak', cause: event.rejection.nakCause }, retransmission: false },
        ],
      };
    case 'frame': {
      const frame = event.frame;
      switch (frame.kind) {
        case 'data':
          return onData(state, spec, frame);
        case 'ack':
          return onAck(state, frame.seq);
        case 'nak':
          if (state.phase === 'idle') return { state, actions: [{ type: 'count', counter: 'nak-received' }] };
          return retransmit(state, timers, 'nak-received');
        case 'est':
        case 'rel':
          return { state, actions: [{ type: 'control', frame }] };
      }
    }
  }
}
