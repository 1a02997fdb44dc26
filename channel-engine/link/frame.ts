/**
 * Link frame codec: `type | length | payload | check`, driven by a LinkSpec. `decodeFrame` checks
 * one exact frame; `FrameHunter` finds frames in a noisy byte stream (junk before and after
 * bursts, truncated and corrupted frames) and reports every rejection with its result code.
 */
import type { ResultCodeName } from '../../domain/errors';
import type { Result } from '../../domain/result';
import { checkLength, computeCheck } from './check';
import { NAK_CAUSE } from './spec';
import type { Frame, LinkSpec, NakCause } from './spec';

export interface LinkRejection {
  readonly codeName: Extract<
    ResultCodeName,
    | 'LINK_FRAME_TRUNCATED'
    | 'LINK_CHECK_MISMATCH'
    | 'LINK_LENGTH_INVALID'
    | 'LINK_TYPE_UNKNOWN'
    | 'LINK_TRAILING_BYTES'
    | 'LINK_PAYLOAD_TOO_LARGE'
  >;
  /** The cause byte a NAK would carry. */
  readonly nakCause: NakCause;
  readonly detail: string;
}

type TypeInfo =
  | { kind: 'data'; seq: 0 | 1; flag: boolean }
  | { kind: 'ack'; seq: 0 | 1; flag: boolean }
  | { kind: 'nak' | 'est' | 'rel'; flag: boolean };

/** Classifies a type byte, or undefined when the spec does not define it. */
export function classifyType(spec: LinkSpec, byte: number): TypeInfo | undefined {
  const flag = (byte & spec.segmentFlag.bit) !== 0;
  const code = byte & ~spec.segmentFlag.bit & 0xff;
  const t = spec.types;
  if (code === t.data || code === (t.data | 1)) return { kind: 'data', seq: (code & 1) as 0 | 1, flag };
  if (code === t.ack || code === (t.ack | 1)) return { kind: 'ack', seq: (code & 1) as 0 | 1, flag };
  if (code === t.nak) return { kind: 'nak', flag };
  if (code === t.est) return { kind: 'est', flag };
  if (code === t.rel) return { kind: 'rel', flag };
  return undefined;
}

function typeByte(spec: LinkSpec, frame: Frame): number {
  const t = spec.types;
  const lastMeaning = spec.segmentFlag.meaning === 'last-segment';
  switch (frame.kind) {
    case 'data': {
      const flagged = lastMeaning ? !frame.more : frame.more;
      return t.data | frame.seq | (flagged ? spec.segmentFlag.bit : 0);
    }
    case 'ack':
      return t.ack | frame.seq | (lastMeaning ? spec.segmentFlag.bit : 0);
    case 'nak':
      return t.nak | (lastMeaning ? spec.segmentFlag.bit : 0);
    case 'est':
      return t.est | (lastMeaning ? spec.segmentFlag.bit : 0);
    case 'rel':
      return t.rel | (lastMeaning ? spec.segmentFlag.bit : 0);
  }
}

function payloadOf(frame: Frame): Uint8Array {
  switch (frame.kind) {
    case 'data':
    case 'est':
      return frame.payload;
    case 'nak':
      return Uint8Array.of(frame.cause & 0xff);
    case 'ack':
    case 'rel':
      return new Uint8Array(0);
  }
}

/** Bytes of header (type + length). */
export function headerLength(spec: LinkSpec): number {
  return 1 + spec.lengthBytes;
}

/** Total on-line size of a frame carrying `payloadBytes`. */
export function frameLength(spec: LinkSpec, payloadBytes: number): number {
  return headerLength(spec) + payloadBytes + checkLength(spec.check);
}

/** Encodes one frame. Fails with LINK_PAYLOAD_TOO_LARGE when the payload exceeds the spec. */
export function encodeFrame(spec: LinkSpec, frame: Frame): Result<Uint8Array, LinkRejection> {
  const payload = payloadOf(frame);
  if (payload.length > spec.maxPayloadBytes)
    return {
      ok: false,
      error: {
        codeName: 'LINK_PAYLOAD_TOO_LARGE',
        nakCause: NAK_CAUSE.badLength,
        detail: `${payload.length} > ${spec.maxPayloadBytes} bytes`,
      },
    };
  const head = headerLength(spec);
  const out = new Uint8Array(frameLength(spec, payload.length));
  out[0] = typeByte(spec, frame);
  if (spec.lengthBytes === 1) out[1] = payload.length;
  else {
    out[1] = payload.length >>> 8;
    out[2] = payload.length & 0xff;
  }
  out.set(payload, head);
  out.set(computeCheck(spec.check, out.subarray(0, head + payload.length), spec.checkByteOrder), head + payload.length);
  return { ok: true, value: out };
}

function readLength(spec: LinkSpec, bytes: Uint8Array | readonly number[], at: number): number {
  return spec.lengthBytes === 1 ? (bytes[at] ?? 0) : ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
}

function buildFrame(spec: LinkSpec, info: TypeInfo, payload: Uint8Array): Result<Frame, LinkRejection> {
  switch (info.kind) {
    case 'data': {
      const more = spec.segmentFlag.meaning === 'more-follows' ? info.flag : !info.flag;
      return { ok: true, value: { kind: 'data', seq: info.seq, more, payload } };
    }
    case 'ack':
      return payload.length === 0
        ? { ok: true, value: { kind: 'ack', seq: info.seq } }
        : {
            ok: false,
            error: { codeName: 'LINK_LENGTH_INVALID', nakCause: NAK_CAUSE.badLength, detail: 'ACK with payload' },
          };
    case 'nak':
      return payload.length === 1
        ? { ok: true, value: { kind: 'nak', cause: payload[0] ?? NAK_CAUSE.unspecified } }
        : {
            ok: false,
            error: { codeName: 'LINK_LENGTH_INVALID', nakCause: NAK_CAUSE.badLength, detail: 'NAK needs 1 byte' },
          };
    case 'est':
      return { ok: true, value: { kind: 'est', payload } };
    case 'rel':
      return payload.length === 0
        ? { ok: true, value: { kind: 'rel' } }
        : {
            ok: false,
            error: { codeName: 'LINK_LENGTH_INVALID', nakCause: NAK_CAUSE.badLength, detail: 'REL with payload' },
          };
  }
}

function verifyCheck(spec: LinkSpec, bytes: Uint8Array, payloadLength: number): boolean {
  const covered = headerLength(spec) + payloadLength;
  const expected = computeCheck(spec.check, bytes.subarray(0, covered), spec.checkByteOrder);
  for (let i = 0; i < expected.length; i++) if (bytes[covered + i] !== expected[i]) return false;
  return true;
}

/** Decodes exactly one frame; any defect is a rejection with its result code. */
export function decodeFrame(spec: LinkSpec, bytes: Uint8Array): Result<Frame, LinkRejection> {
  const first = bytes[0];
  if (first === undefined)
    return { ok: false, error: { codeName: 'LINK_FRAME_TRUNCATED', nakCause: NAK_CAUSE.badLength, detail: 'empty' } };
  const info = classifyType(spec, first);
  if (info === undefined)
    return {
      ok: false,
      error: { codeName: 'LINK_TYPE_UNKNOWN', nakCause: NAK_CAUSE.unknownType, detail: `type 0x${first.toString(16)}` },
    };
  const head = headerLength(spec);
  if (bytes.length < head)
    return {
      ok: false,
      error: { codeName: 'LINK_FRAME_TRUNCATED', nakCause: NAK_CAUSE.badLength, detail: 'no length' },
    };
  const length = readLength(spec, bytes, 1);
  if (length > spec.maxPayloadBytes)
    return {
      ok: false,
      error: {
        codeName: 'LINK_LENGTH_INVALID',
        nakCause: NAK_CAUSE.badLength,
        detail: `${length} > ${spec.maxPayloadBytes}`,
      },
    };
  const total = frameLength(spec, length);
  if (bytes.length < total)
    return {
      ok: false,
      error: { codeName: 'LINK_FRAME_TRUNCATED', nakCause: NAK_CAUSE.badLength, detail: `${bytes.length} < ${total}` },
    };
  if (!verifyCheck(spec, bytes, length))
    return {
      ok: false,
      error: { codeName: 'LINK_CHECK_MISMATCH', nakCause: NAK_CAUSE.checkMismatch, detail: spec.check },
    };
  if (bytes.length > total)
    return {
      ok: false,
      error: {
        codeName: 'LINK_TRAILING_BYTES',
        nakCause: NAK_CAUSE.badLength,
        detail: `${bytes.length - total} extra`,
      },
    };
  return buildFrame(spec, info, bytes.slice(head, head + length));
}

export type HuntEvent =
  { readonly type: 'frame'; readonly frame: Frame } | { readonly type: 'rejected'; readonly rejection: LinkRejection };

export interface HuntStats {
  /** Bytes skipped while hunting for a type byte (line noise, trailing junk). */
  junkBytes: number;
  frames: number;
  rejected: number;
}

/**
 * Finds frames in a byte stream. Bytes that cannot start a frame are skipped (counted as junk);
 * an absurd length drops the candidate type byte and hunts on; a bad check drops the whole
 * claimed frame (hunting inside it could accept a phantom frame); a frame cut by the end of a
 * carrier burst is reported as truncated. Its buffer never exceeds one maximal frame.
 */
export class FrameHunter {
  private buf: number[] = [];
  readonly stats: HuntStats = { junkBytes: 0, frames: 0, rejected: 0 };

  constructor(private readonly spec: LinkSpec) {}

  /** Feeds received bytes; returns the frames and rejections they complete. */
  push(bytes: Iterable<number>): HuntEvent[] {
    for (const b of bytes) this.buf.push(b & 0xff);
    return this.scan();
  }

  /**
   * The carrier dropped: a frame in progress is truncated. A lone type byte (shorter than a
   * header) is counted as junk, not as a frame: bursts often end with one junk character.
   */
  endOfBurst(): HuntEvent[] {
    const events: HuntEvent[] = [];
    if (this.buf.length > 0 && this.buf.length < headerLength(this.spec)) {
      this.stats.junkBytes += this.buf.length;
      this.buf = [];
    } else if (this.buf.length > 0) {
      events.push(
        this.reject({
          codeName: 'LINK_FRAME_TRUNCATED',
          nakCause: NAK_CAUSE.badLength,
          detail: `${this.buf.length} bytes at end of burst`,
        }),
      );
      this.buf = [];
    }
    return events;
  }

  reset(): void {
    this.buf = [];
  }

  private reject(rejection: LinkRejection): HuntEvent {
    this.stats.rejected++;
    return { type: 'rejected', rejection };
  }

  private scan(): HuntEvent[] {
    const events: HuntEvent[] = [];
    const spec = this.spec;
    const head = headerLength(spec);
    for (;;) {
      const first = this.buf[0];
      if (first === undefined) return events;
      if (classifyType(spec, first) === undefined) {
        this.buf.shift();
        this.stats.junkBytes++;
        continue;
      }
      if (this.buf.length < head) return events;
      const length = readLength(spec, this.buf, 1);
      if (length > spec.maxPayloadBytes) {
        events.push(
          this.reject({
            codeName: 'LINK_LENGTH_INVALID',
            nakCause: NAK_CAUSE.badLength,
            detail: `${length} > ${spec.maxPayloadBytes}`,
          }),
        );
        this.buf.shift();
        continue;
      }
      const total = frameLength(spec, length);
      if (this.buf.length < total) return events;
      const candidate = Uint8Array.from(this.buf.splice(0, total));
      const decoded = decodeFrame(spec, candidate);
      if (decoded.ok) {
        this.stats.frames++;
        events.push({ type: 'frame', frame: decoded.value });
      } else events.push(this.reject(decoded.error));
    }
  }
}
