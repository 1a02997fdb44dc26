/**
 * Length framing on a TCP stream: a 2-byte binary length (NAC style, terminal links) or four ASCII
 * digits (network links). Only framing: what the payload holds is the envelope's and packager's job.
 */
import { FixpayError } from '../../domain/errors';

export type LengthPrefix = 'binary2' | 'ascii4';

/** Largest frame payload accepted by default, bytes; a peer announcing more is cut off. */
export const FRAME_BYTES_MAX_DEFAULT = 8192;

export interface FramingOptions {
  readonly lengthPrefix: LengthPrefix;
  readonly frameBytesMax?: number;
}

export function prefixBytes(prefix: LengthPrefix): number {
  return prefix === 'binary2' ? 2 : 4;
}

/** Reads the payload length at the start of `bytes`. Throws ISO8583_FRAME_INVALID on a bad ASCII header. */
export function readLength(bytes: Buffer, prefix: LengthPrefix): number {
  if (prefix === 'binary2') return bytes.readUInt16BE(0);
  const text = bytes.toString('latin1', 0, 4);
  if (!/^\d{4}$/.test(text)) throw new FixpayError('ISO8583_FRAME_INVALID', 'length header is not four ASCII digits');
  return Number(text);
}

/** Prepends the length header. Throws ISO8583_FRAME_INVALID when the payload is too long for the header or limit. */
export function encodeFrame(payload: Uint8Array, options: FramingOptions): Buffer {
  const max = Math.min(
    options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT,
    options.lengthPrefix === 'binary2' ? 0xffff : 9999,
  );
  if (payload.length > max)
    throw new FixpayError('ISO8583_FRAME_INVALID', `frame of ${payload.length} bytes exceeds ${max}`);
  const header = Buffer.alloc(prefixBytes(options.lengthPrefix));
  if (options.lengthPrefix === 'binary2') header.writeUInt16BE(payload.length, 0);
  else header.write(String(payload.length).padStart(4, '0'), 0, 'latin1');
  return Buffer.concat([header, payload]);
}

/**
 * Splits a byte stream into frame payloads. `push` returns the complete payloads so far; a bad or
 * oversized header throws ISO8583_FRAME_INVALID (the stream cannot be resynchronised: close it).
 * `pendingBytes` tells, at close, whether a frame was cut short.
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly headerBytes: number;
  private readonly frameBytesMax: number;

  constructor(private readonly options: FramingOptions) {
    this.headerBytes = prefixBytes(options.lengthPrefix);
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT;
  }

  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffer.length < this.headerBytes) break;
      const length = readLength(this.buffer, this.options.lengthPrefix);
      if (length > this.frameBytesMax) {
        throw new FixpayError(
          'ISO8583_FRAME_INVALID',
          `peer announced a ${length}-byte frame, limit ${this.frameBytesMax}`,
        );
      }
      if (length === 0) throw new FixpayError('ISO8583_FRAME_INVALID', 'peer sent an empty frame');
      const end = this.headerBytes + length;
      if (this.buffer.length < end) break;
      frames.push(this.buffer.subarray(this.headerBytes, end));
      this.buffer = this.buffer.subarray(end);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still buffered. */
  get pendingBytes(): number {
    return this.buffer.length;
  }
}
