/**
 * Request/response matching (the jPOS QMUX idea): a response is matched to its request by the MTI
 * class plus configurable key fields (default terminal id 41 + STAN 11). The mux owns the timeouts
 * and keeps a bounded log of every response it could not match, the usual cause of "timeouts"
 * that are really key mismatches.
 */
import { FixpayError } from '../../domain/errors';
import type { FieldValue, IsoMessage } from '../iso8583';
import { summarizeMessage, toHex } from '../iso8583';
import type { GatewayLogger } from './logger';
import { silentLogger } from './logger';

export const MUX_KEY_FIELDS_DEFAULT: readonly number[] = [41, 11];
export const MUX_IN_FLIGHT_MAX_DEFAULT = 1000;
export const MUX_UNMATCHED_LOG_MAX_DEFAULT = 200;
/** How long a timed-out key is remembered, so a late response is logged as late rather than unknown. */
export const MUX_LATE_MEMORY_MS_DEFAULT = 10 * 60_000;

export interface MuxOptions {
  readonly keyFields?: readonly number[];
  readonly inFlightMax?: number;
  readonly unmatchedLogMax?: number;
  readonly lateMemoryMs?: number;
  readonly logger?: GatewayLogger;
}

export interface UnmatchedResponse {
  readonly at: Date;
  readonly key: string;
  /**
   * late: its request had timed out; unknown: no request had this key; malformed: it could not be
   * decoded; bad-mac: its MAC was missing or wrong (or could not be checked), so it is no answer.
   */
  readonly reason: 'late' | 'unknown' | 'malformed' | 'bad-mac';
  /** Masked summary (MTI, STAN, terminal, response code). */
  readonly summary: Readonly<Record<string, string>>;
}

interface Pending {
  resolve(msg: IsoMessage): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

function keyPart(v: FieldValue | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return toHex(v);
  return JSON.stringify(v);
}

/** True for response and advice-response MTIs (function digit 1 or 3: x110, x130, x410, x510, x810…). */
export function isResponseMti(mti: string): boolean {
  const f = mti.charCodeAt(2) - 48;
  return f === 1 || f === 3;
}

export class Mux {
  private readonly pending = new Map<string, Pending>();
  private readonly timedOut = new Map<string, number>();
  private readonly unmatchedLog: UnmatchedResponse[] = [];
  private readonly keyFields: readonly number[];
  private readonly inFlightMax: number;
  private readonly unmatchedLogMax: number;
  private readonly lateMemoryMs: number;
  private readonly logger: GatewayLogger;

  /** `send` writes a request; it throws CARD_NETWORK_UNAVAILABLE when nothing was written. */
  constructor(
    private readonly send: (msg: IsoMessage) => void,
    options: MuxOptions = {},
  ) {
    this.keyFields = options.keyFields ?? MUX_KEY_FIELDS_DEFAULT;
    this.inFlightMax = options.inFlightMax ?? MUX_IN_FLIGHT_MAX_DEFAULT;
    this.unmatchedLogMax = options.unmatchedLogMax ?? MUX_UNMATCHED_LOG_MAX_DEFAULT;
    this.lateMemoryMs = options.lateMemoryMs ?? MUX_LATE_MEMORY_MS_DEFAULT;
    this.logger = options.logger ?? silentLogger;
  }

  /** Matching key: MTI version + class (`02` for 0200/0210, `04` for 0400/0401/0410) and the key fields. */
  keyOf(msg: IsoMessage): string {
    let key = msg.mti.slice(0, 2);
    for (const id of this.keyFields) key += `|${keyPart(msg.fields.get(id))}`;
    return key;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Responses that matched no request, oldest first (bounded). */
  get unmatched(): readonly UnmatchedResponse[] {
    return this.unmatchedLog;
  }

  /**
   * Sends `msg` and waits for its response. Rejects with CARD_NETWORK_NO_RESPONSE after `timeoutMs`
   * (the request was sent: the caller must assume money may have moved), CARD_NETWORK_UNAVAILABLE
   * when nothing was sent, MUX_LIMIT_REACHED / MUX_DUPLICATE_KEY before sending, or
   * CARD_NETWORK_RESPONSE_MALFORMED when the matching response could not be decoded.
   */
  request(msg: IsoMessage, timeoutMs: number): Promise<IsoMessage> {
    const key = this.keyOf(msg);
    if (this.pending.size >= this.inFlightMax) {
      return Promise.reject(new FixpayError('MUX_LIMIT_REACHED', `${this.pending.size} requests in flight`));
    }
    if (this.pending.has(key)) return Promise.reject(new FixpayError('MUX_DUPLICATE_KEY', `key ${key}`));
    return new Promise<IsoMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        this.rememberTimedOut(key);
        reject(new FixpayError('CARD_NETWORK_NO_RESPONSE', `no ${msg.mti} response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(key, { resolve, reject, timer });
      try {
        this.send(msg);
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(key);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  /** Hands a decoded response to its waiting request. Returns false (and logs it) when none waits. */
  deliver(msg: IsoMessage): boolean {
    const key = this.keyOf(msg);
    const p = this.pending.get(key);
    if (p === undefined) {
      this.recordUnmatched(key, this.timedOut.has(key) ? 'late' : 'unknown', msg);
      return false;
    }
    clearTimeout(p.timer);
    this.pending.delete(key);
    p.resolve(msg);
    return true;
  }

  /**
   * A response that failed to decode: when the fields decoded before the fault give its key, its
   * request fails now with CARD_NETWORK_RESPONSE_MALFORMED; otherwise it is logged and the request
   * will time out.
   */
  deliverMalformed(partial: IsoMessage, error: FixpayError): boolean {
    const key = this.keyOf(partial);
    const p = partial.mti === '' ? undefined : this.pending.get(key);
    if (p === undefined) {
      this.recordUnmatched(key, 'malformed', partial);
      return false;
    }
    clearTimeout(p.timer);
    this.pending.delete(key);
    p.reject(new FixpayError('CARD_NETWORK_RESPONSE_MALFORMED', error.message, { cause: error }));
    return true;
  }

  /**
   * A response that failed authentication: logged as `bad-mac` and otherwise ignored. Its request
   * keeps waiting, for the genuine answer or its timeout (then the reversal path): a forged answer
   * must neither settle nor fail a request. `detail` says what was wrong (no secret in it).
   */
  reject(msg: IsoMessage, detail: string): void {
    this.recordUnmatched(this.keyOf(msg), 'bad-mac', msg, detail);
  }

  /** Fails every waiting request (shutdown). They count as sent: callers reverse them. */
  failAll(reason: string): void {
    for (const [key, p] of this.pending) {
      clearTimeout(p.timer);
      this.rememberTimedOut(key);
      p.reject(new FixpayError('CARD_NETWORK_NO_RESPONSE', reason));
    }
    this.pending.clear();
  }

  private rememberTimedOut(key: string): void {
    const now = Date.now();
    this.timedOut.set(key, now);
    if (this.timedOut.size > this.inFlightMax) {
      for (const [k, at] of this.timedOut) {
        if (now - at < this.lateMemoryMs && this.timedOut.size <= this.inFlightMax) break;
        this.timedOut.delete(k);
      }
    }
  }

  private recordUnmatched(key: string, reason: UnmatchedResponse['reason'], msg: IsoMessage, detail?: string): void {
    const entry: UnmatchedResponse = { at: new Date(), key, reason, summary: summarizeMessage(msg) };
    this.unmatchedLog.push(entry);
    if (this.unmatchedLog.length > this.unmatchedLogMax) this.unmatchedLog.shift();
    this.logger.warn(
      { event: 'iso8583.unmatched_response', reason, ...(detail === undefined ? {} : { detail }), ...entry.summary },
      'unmatched ISO 8583 response',
    );
  }
}
