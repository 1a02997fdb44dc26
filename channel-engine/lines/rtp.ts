/**
 * RTP (RFC 3550) packets and a receive jitter buffer for G.711 packets of 10 to 60 ms (ADR 0015,
 * amendment of 2026-12-05: a peer may packetise as the answer's `a=ptime` asks).
 *
 * The jitter buffer reorders by sequence number, holds at most `depthPackets`, and releases a
 * gap as lost when a later packet has waited `maxDelayMs` or the buffer is full. Lost audio is
 * replaced by silence of the length that was lost, taken from the RTP timestamps when the caller
 * gives them (so the audio after a gap keeps its place in time whatever the packet sizes), else
 * from the size of the last packet played. For FSK, silence makes the demodulator drop carrier,
 * so the link layer sees a truncated frame and asks for a retransmission, which is what we want
 * (repeating the last packet would forge bits).
 */
import type { Result } from '../../domain/result';

export const RTP_VERSION = 2;
export const RTP_HEADER_BYTES = 12;
/** Largest RTP datagram accepted (G.711 at 20 ms is 172 bytes). */
export const MAX_RTP_PACKET_BYTES = 1500;
/** G.711 payload sizes accepted: whole milliseconds (8 samples) from 10 to 60 ms at 8 kHz. */
export const G711_SAMPLES_PER_MS = 8;
export const MIN_G711_PAYLOAD_BYTES = 10 * G711_SAMPLES_PER_MS;
export const MAX_G711_PAYLOAD_BYTES = 60 * G711_SAMPLES_PER_MS;

/**
 * Why a G.711 payload of `bytes` is refused, or undefined when it is accepted: 80–480 bytes
 * (10–60 ms) in whole milliseconds. Anything else is not a packetisation a G.711 sender uses
 * (RFC 3551 §4.5.14 frames by the millisecond; no peer offers ptime outside 10–60 for G.711 here)
 * and would let one packet stand for an arbitrary stretch of audio.
 */
export function g711PayloadProblem(bytes: number): string | undefined {
  if (bytes < MIN_G711_PAYLOAD_BYTES) return `payload of ${bytes} bytes is shorter than 10 ms`;
  if (bytes > MAX_G711_PAYLOAD_BYTES) return `payload of ${bytes} bytes is longer than 60 ms`;
  if (bytes % G711_SAMPLES_PER_MS !== 0) return `payload of ${bytes} bytes is not a whole number of milliseconds`;
  return undefined;
}

export interface RtpPacket {
  readonly payloadType: number;
  readonly marker: boolean;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly payload: Uint8Array;
}

/**
 * An RTP header as `parseRtpHeader` leaves it: the fixed fields and where the payload lies in the
 * datagram. One object is reused for every packet a socket receives, so the receive path
 * allocates nothing per packet to read a header.
 */
export interface RtpHeader {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** The payload is `data[payloadOffset, payloadEnd)`. */
  payloadOffset: number;
  payloadEnd: number;
}

export const emptyRtpHeader = (): RtpHeader => ({
  payloadType: 0,
  marker: false,
  sequenceNumber: 0,
  timestamp: 0,
  ssrc: 0,
  payloadOffset: 0,
  payloadEnd: 0,
});

/**
 * Reads an RTP header into `out` (CSRCs, header extension and padding are skipped). Returns why the
 * datagram is not RTP, or undefined when `out` now describes it; on a refusal `out` is left in
 * an unspecified state.
 */
export function parseRtpHeader(data: Uint8Array, out: RtpHeader): string | undefined {
  if (data.length < RTP_HEADER_BYTES) return 'shorter than the RTP header';
  if (data.length > MAX_RTP_PACKET_BYTES) return 'too large';
  const b0 = data[0] ?? 0;
  const b1 = data[1] ?? 0;
  if (b0 >> 6 !== RTP_VERSION) return 'not RTP version 2';
  const padding = (b0 & 0x20) !== 0;
  const extension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  const payloadType = b1 & 0x7f;
  if (payloadType >= 72 && payloadType <= 76) return 'RTCP packet type on the RTP port';
  let offset = RTP_HEADER_BYTES + 4 * csrcCount;
  if (extension) {
    if (data.length < offset + 4) return 'truncated header extension';
    offset += 4 + 4 * u16(data, offset + 2);
  }
  let end = data.length;
  if (padding) {
    const pad = data[data.length - 1] ?? 0;
    if (pad === 0) return 'zero padding count';
    end -= pad;
  }
  if (offset > end) return 'header longer than the packet';
  out.payloadType = payloadType;
  out.marker = (b1 & 0x80) !== 0;
  out.sequenceNumber = u16(data, 2);
  out.timestamp = u32(data, 4);
  out.ssrc = u32(data, 8);
  out.payloadOffset = offset;
  out.payloadEnd = end;
  return undefined;
}

/** Parses an RTP packet (CSRCs, header extension and padding are skipped). */
export function parseRtp(data: Uint8Array): Result<RtpPacket, string> {
  const h = emptyRtpHeader();
  const error = parseRtpHeader(data, h);
  if (error !== undefined) return { ok: false, error };
  return {
    ok: true,
    value: {
      payloadType: h.payloadType,
      marker: h.marker,
      sequenceNumber: h.sequenceNumber,
      timestamp: h.timestamp,
      ssrc: h.ssrc,
      // A view, not a copy: every datagram arrives in a buffer of its own.
      payload: data.subarray(h.payloadOffset, h.payloadEnd),
    },
  };
}

const u16 = (b: Uint8Array, at: number): number => (((b[at] ?? 0) << 8) | (b[at + 1] ?? 0)) >>> 0;
const u32 = (b: Uint8Array, at: number): number => ((u16(b, at) << 16) | u16(b, at + 2)) >>> 0;

export function buildRtp(p: RtpPacket): Uint8Array {
  const out = new Uint8Array(RTP_HEADER_BYTES + p.payload.length);
  const view = new DataView(out.buffer);
  out[0] = RTP_VERSION << 6;
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  view.setUint16(2, p.sequenceNumber & 0xffff);
  view.setUint32(4, p.timestamp >>> 0);
  view.setUint32(8, p.ssrc >>> 0);
  out.set(p.payload, RTP_HEADER_BYTES);
  return out;
}

export interface JitterBufferOptions {
  /** Packets held before a gap is declared lost. */
  readonly depthPackets: number;
  /** How long a packet waits for a missing predecessor before the gap is declared lost. */
  readonly maxDelayMs: number;
  /** A sequence jump larger than this restarts the buffer (new stream). */
  readonly maxDropoutPackets: number;
  /**
   * Longest gap filled with silence, in ms of audio (a longer gap is filled up to this and the
   * rest skipped). In ms, not packets, so it means the same at any packetisation.
   */
  readonly maxConcealMs: number;
}

export const DEFAULT_JITTER_BUFFER: JitterBufferOptions = {
  depthPackets: 5,
  maxDelayMs: 60,
  maxDropoutPackets: 3000,
  maxConcealMs: 1000,
};

export interface JitterStats {
  received: number;
  lost: number;
  late: number;
  duplicates: number;
  reordered: number;
  restarts: number;
}

/** An in-order payload, or `lost` with the number of payload bytes it stood for. */
export type PlayoutFrame =
  { readonly kind: 'audio'; readonly payload: Uint8Array } | { readonly kind: 'lost'; readonly bytes: number };

/** Returned when there is nothing to play out (never written to). */
const NOTHING: PlayoutFrame[] = [];

const seqDiff = (a: number, b: number): number => ((a - b + 0x8000) & 0xffff) - 0x8000;

interface Held {
  readonly payload: Uint8Array;
  readonly arrivedMs: number;
  readonly timestamp: number | undefined;
}

export class JitterBuffer {
  private expected: number | undefined;
  private readonly pending = new Map<number, Held>();
  private lastPayloadBytes = 160;
  /** RTP timestamp just after the last payload played (undefined until one with a timestamp). */
  private nextTimestamp: number | undefined;
  readonly stats: JitterStats = { received: 0, lost: 0, late: 0, duplicates: 0, reordered: 0, restarts: 0 };

  constructor(private readonly options: JitterBufferOptions = DEFAULT_JITTER_BUFFER) {}

  /**
   * One received packet; returns what can be played now. `timestamp` (the packet's RTP timestamp,
   * 8 kHz for G.711) sizes the silence of a lost gap exactly; without it a lost packet is taken to
   * be as long as the last one played.
   */
  push(sequenceNumber: number, payload: Uint8Array, nowMs: number, timestamp?: number): PlayoutFrame[] {
    this.stats.received++;
    if (this.expected === undefined) this.expected = sequenceNumber;
    const diff = seqDiff(sequenceNumber, this.expected);
    if (Math.abs(diff) > this.options.maxDropoutPackets) {
      this.stats.restarts++;
      const out = this.flush();
      this.expected = sequenceNumber;
      this.nextTimestamp = undefined;
      return [...out, ...this.insert(sequenceNumber, payload, nowMs, timestamp)];
    }
    if (diff < 0) {
      this.stats.late++;
      return [];
    }
    if (diff === 0 && this.pending.size === 0) {
      // In order with nothing held (the common case): straight out, nothing stored.
      this.played(payload.length, timestamp);
      this.expected = (sequenceNumber + 1) & 0xffff;
      return [{ kind: 'audio', payload }];
    }
    if (this.pending.has(sequenceNumber)) {
      this.stats.duplicates++;
      return [];
    }
    return this.insert(sequenceNumber, payload, nowMs, timestamp);
  }

  /**
   * The common case of `push` without allocating: a packet that is the next expected (or the
   * first) while nothing is held plays as it stands. Returns true when it was taken (counted and
   * played: the caller hands its `payloadBytes` of audio on at once), false when the packet needs
   * `push` (nothing was changed). `push` would return exactly that one payload for such a packet.
   */
  inOrder(sequenceNumber: number, payloadBytes: number, timestamp?: number): boolean {
    if (this.pending.size !== 0 || (this.expected !== undefined && this.expected !== sequenceNumber)) return false;
    this.stats.received++;
    this.played(payloadBytes, timestamp);
    this.expected = (sequenceNumber + 1) & 0xffff;
    return true;
  }

  /** Bookkeeping of a payload of `payloadBytes` that plays now (`push`, `poll` and `inOrder`). */
  private played(payloadBytes: number, timestamp: number | undefined): void {
    this.lastPayloadBytes = payloadBytes;
    this.nextTimestamp = timestamp === undefined ? undefined : (timestamp + payloadBytes) >>> 0;
  }

  /** Packets held waiting for a missing predecessor (0 in steady state: `poll` has nothing to do). */
  get held(): number {
    return this.pending.size;
  }

  /** Releases what waited too long; call every frame period. */
  poll(nowMs: number): PlayoutFrame[] {
    if (this.pending.size === 0) return NOTHING;
    const out: PlayoutFrame[] = [];
    for (;;) {
      out.push(...this.drain());
      const oldest = this.oldestPending();
      if (oldest === undefined || nowMs - oldest.arrivedMs < this.options.maxDelayMs) return out;
      out.push(...this.skipToNextPending());
    }
  }

  /** Everything still held, gaps as lost (end of call). */
  flush(): PlayoutFrame[] {
    const out: PlayoutFrame[] = [];
    while (this.pending.size > 0) {
      out.push(...this.drain());
      if (this.pending.size > 0) out.push(...this.skipToNextPending());
    }
    return out;
  }

  private insert(seq: number, payload: Uint8Array, nowMs: number, timestamp: number | undefined): PlayoutFrame[] {
    if (seq !== this.expected) this.stats.reordered++;
    this.pending.set(seq, { payload, arrivedMs: nowMs, timestamp });
    const out = this.drain();
    while (this.pending.size > this.options.depthPackets) {
      out.push(...this.skipToNextPending());
      out.push(...this.drain());
    }
    return out;
  }

  private drain(): PlayoutFrame[] {
    const out: PlayoutFrame[] = [];
    for (;;) {
      if (this.expected === undefined) return out;
      const hit = this.pending.get(this.expected);
      if (hit === undefined) return out;
      this.pending.delete(this.expected);
      this.played(hit.payload.length, hit.timestamp);
      out.push({ kind: 'audio', payload: hit.payload });
      this.expected = (this.expected + 1) & 0xffff;
    }
  }

  private oldestPending(): { arrivedMs: number } | undefined {
    let oldest: { arrivedMs: number } | undefined;
    for (const p of this.pending.values()) if (oldest === undefined || p.arrivedMs < oldest.arrivedMs) oldest = p;
    return oldest;
  }

  /** Declares the gap before the nearest pending packet lost. */
  private skipToNextPending(): PlayoutFrame[] {
    if (this.expected === undefined) return [];
    let nearest: number | undefined;
    let next: Held | undefined;
    for (const [seq, held] of this.pending) {
      const d = seqDiff(seq, this.expected);
      if (nearest === undefined || d < nearest) {
        nearest = d;
        next = held;
      }
    }
    if (nearest === undefined) return [];
    this.stats.lost += nearest;
    this.expected = (this.expected + nearest) & 0xffff;
    return this.conceal(nearest, this.lostSamples(nearest, next?.timestamp));
  }

  /**
   * Samples the `packets` lost packets stood for: the RTP timestamp distance from the end of the
   * last payload played to the next packet, when both are known and it is plausible (more than
   * nothing, at most `packets` of the longest payload accepted); else `packets` of the last size.
   */
  private lostSamples(packets: number, nextTimestamp: number | undefined): number {
    if (this.nextTimestamp !== undefined && nextTimestamp !== undefined) {
      const d = (nextTimestamp - this.nextTimestamp) >>> 0;
      if (d > 0 && d <= packets * MAX_G711_PAYLOAD_BYTES) return d;
    }
    return packets * this.lastPayloadBytes;
  }

  /** Silence for `samples`, in `packets` frames, at most `maxConcealMs` of it. */
  private conceal(packets: number, samples: number): PlayoutFrame[] {
    // Known after the gap: whatever comes next is placed by its own timestamp.
    this.nextTimestamp = undefined;
    let remaining = Math.min(samples, this.options.maxConcealMs * G711_SAMPLES_PER_MS);
    const per = Math.max(1, Math.ceil(samples / packets));
    const out: PlayoutFrame[] = [];
    while (remaining > 0) {
      const bytes = Math.min(per, remaining);
      out.push({ kind: 'lost', bytes });
      remaining -= bytes;
    }
    return out;
  }
}
