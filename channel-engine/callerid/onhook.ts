import { FixpayError } from '../../domain/errors';
import { createDemodulator, createModulator, type Modulation, type ModemEvent } from '../modem';
import { decodeMessage, encodeMessage, type CallerIdMessage } from './message';

/**
 * On-hook data transmission on air: channel seizure (alternating bits, sent as 0x55 characters,
 * which in 8N1 are exactly 0101…01), a mark signal, then the message characters.
 * ETSI EN 300 659-1 uses V.23, Bellcore GR-30 uses Bell 202.
 */

/** 300 seizure bits = 30 characters of 0x55. */
export const DEFAULT_SEIZURE_BITS = 300;
/** 180 mark bits (EN 300 659-1; 80 is a network option, used for caller ID on call waiting). */
export const DEFAULT_MARK_BITS = 180;
export const SEIZURE_BITS_MAX = 3000;
export const MARK_BITS_MAX = 3000;
const TRAIL_MARK_BITS = 5;

export interface OnHookOptions {
  modulation: Modulation;
  levelDbm0?: number;
  /** Multiple of 10 (whole 0x55 characters); 0 to omit (off-hook / "type 2" style). */
  seizureBits?: number;
  markBits?: number;
}

/** Audio for one message. Throws CALLERID_* on a bad message, MODEM_BAD_OPTIONS on bad options. */
export function modulateMessage(message: CallerIdMessage, o: OnHookOptions): Int16Array {
  const seizureBits = o.seizureBits ?? DEFAULT_SEIZURE_BITS;
  const markBits = o.markBits ?? DEFAULT_MARK_BITS;
  if (!Number.isInteger(seizureBits) || seizureBits < 0 || seizureBits > SEIZURE_BITS_MAX || seizureBits % 10 !== 0) {
    throw new FixpayError('MODEM_BAD_OPTIONS', `seizureBits must be a multiple of 10 in [0, ${SEIZURE_BITS_MAX}]`);
  }
  if (!Number.isInteger(markBits) || markBits < 0 || markBits > MARK_BITS_MAX) {
    throw new FixpayError('MODEM_BAD_OPTIONS', `markBits must be an integer in [0, ${MARK_BITS_MAX}]`);
  }
  const bytes = encodeMessage(message);
  const level = o.levelDbm0 === undefined ? {} : { levelDbm0: o.levelDbm0 };
  // Phase stays continuous from the seizure to the message because both parts use one modulator
  // whose lead-in/trail are set per part.
  const seize = createModulator({ modulation: o.modulation, ...level, leadInMarkBits: 0, trailMarkBits: markBits });
  const first = seize.modulate(new Uint8Array(seizureBits / 10).fill(0x55));
  const body = createModulator({
    modulation: o.modulation,
    ...level,
    leadInMarkBits: 0,
    trailMarkBits: TRAIL_MARK_BITS,
  });
  const second = body.modulate(bytes);
  const out = new Int16Array(first.length + second.length);
  out.set(first, 0);
  out.set(second, first.length);
  return out;
}

export type ReceivedMessage =
  | { ok: true; message: CallerIdMessage; bytes: Uint8Array; sampleIndex: number }
  | { ok: false; error: FixpayError; bytes: Uint8Array; sampleIndex: number };

/**
 * Assembles messages from modem events: after carrier-on, skips seizure characters (0x55), reads
 * type and length, then length + 1 more characters, and checks the checksum. A framing error or
 * carrier loss inside a message yields an `ok: false` result.
 */
export class MessageAssembler {
  private buf: number[] = [];
  private start = 0;
  private active = false;

  push(events: readonly ModemEvent[]): ReceivedMessage[] {
    const out: ReceivedMessage[] = [];
    for (const e of events) {
      if (e.type === 'carrier-on') {
        this.buf = [];
        this.active = true;
      } else if (e.type === 'byte') {
        if (!this.active) continue;
        if (this.buf.length === 0) {
          if (e.value === 0x55) continue; // seizure, if the carrier came up early enough to see it
          this.start = e.sampleIndex;
        }
        this.buf.push(e.value);
        const len = this.buf[1];
        if (len !== undefined && this.buf.length === len + 3) out.push(this.finish());
      } else if (e.type === 'framing-error') {
        if (this.active && this.buf.length > 0) out.push(this.fail('framing error inside the message'));
      } else if (this.active && this.buf.length > 0) {
        out.push(this.fail('carrier lost inside the message'));
      } else {
        this.active = false;
      }
    }
    return out;
  }

  private finish(): ReceivedMessage {
    const bytes = Uint8Array.from(this.buf);
    this.buf = [];
    this.active = false;
    try {
      return { ok: true, message: decodeMessage(bytes), bytes, sampleIndex: this.start };
    } catch (err) {
      if (err instanceof FixpayError) return { ok: false, error: err, bytes, sampleIndex: this.start };
      throw err;
    }
  }

  private fail(detail: string): ReceivedMessage {
    const bytes = Uint8Array.from(this.buf);
    this.buf = [];
    this.active = false;
    return { ok: false, error: new FixpayError('CALLERID_BAD_MESSAGE', detail), bytes, sampleIndex: this.start };
  }
}

/** Decodes every message in a recording (convenience for tests and the CLI). */
export function demodulateMessages(pcm: Int16Array, modulation: Modulation): ReceivedMessage[] {
  const rx = createDemodulator({ modulation });
  const asm = new MessageAssembler();
  return asm.push(rx.push(pcm));
}
