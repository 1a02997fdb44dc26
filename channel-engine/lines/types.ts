/**
 * The port between line drivers (SIP/RTP, TCP PCM) and the engine. A driver offers each
 * incoming call to the host; the host accepts (and gets a handle to play audio and hang up) or
 * refuses (draining, no free line). Audio is 16-bit linear PCM at 8 kHz in both directions.
 */
import type { ResultCodeName } from '../../domain/errors';

/** The logger shape line code needs (pino's methods fit). Never pass card data. */
export interface LineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export const SILENT_LOGGER: LineLogger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

export const SAMPLE_RATE_HZ = 8000;
/** One 20 ms G.711 frame. */
export const FRAME_SAMPLES = 160;
export const FRAME_MS = 20;

export interface CallOffer {
  /** Unique on this node while the call lives, e.g. `sip:<Call-ID>` or `tcp:<n>`. */
  readonly lineId: string;
  readonly driver: string;
  /** From the signalling (P-Asserted-Identity, From, TCP HELLO), never from terminal data. */
  readonly callerNumber: string | undefined;
  readonly calledNumber: string | undefined;
  /**
   * The signalling came from a trusted source (a configured SIP trunk): the engine lets such calls
   * use the reserved lines. Absent means untrusted.
   */
  readonly trustedSource?: boolean;
}

export interface LineCall {
  readonly offer: CallOffer;
  /** Queues audio; it leaves in real time, 20 ms per frame. */
  play(pcm: Int16Array): void;
  /** True while queued audio has not all left. */
  readonly playing: boolean;
  /** Ends the call from our side (BYE, socket close). Idempotent. */
  hangup(): void;
}

export interface CallListener {
  /**
   * Received audio, in order. The samples are lent for the duration of the call: a driver may
   * reuse the array for the next packet (the SIP driver decodes every in-order packet into one
   * buffer), so a listener that keeps audio beyond the call copies it.
   */
  onAudio(pcm: Int16Array): void;
  /** All queued audio has left the line. */
  onPlayoutDone(): void;
  /** The call is over (either side); called once. */
  onHangup(reason: 'remote' | 'local' | 'timeout' | 'error'): void;
}

export type OfferAnswer =
  | { readonly accept: true; attach(call: LineCall): CallListener }
  | {
      readonly accept: false;
      readonly codeName: Extract<
        ResultCodeName,
        'ENGINE_DRAINING' | 'ENGINE_LINES_EXHAUSTED' | 'ENGINE_LINES_RESERVED'
      >;
    };

export interface LineHost {
  offer(offer: CallOffer): OfferAnswer;
  /** True while the node drains: drivers advertise it (SIP OPTIONS 503) and refuse new calls. */
  readonly draining: boolean;
}

export interface LineDriver {
  readonly name: string;
  start(host: LineHost): Promise<void>;
  /** Closes sockets; live calls are hung up. */
  stop(): Promise<void>;
  /** Counters for metrics (malformed messages, lost packets, calls). */
  metrics(): Record<string, number>;
}
