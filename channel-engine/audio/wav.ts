import { FixpayError } from '../../domain/errors';
import { alawDecode, alawEncode, mulawDecode, mulawEncode } from './g711';

/** Sample encodings we read and write: 16-bit linear PCM, G.711 μ-law, G.711 A-law. */
export type WavEncoding = 'pcm16' | 'mulaw' | 'alaw';

export const WAV_SAMPLE_RATE_HZ = 8000;
/** Largest WAV we accept (1 GiB): about 18 hours of 8 kHz PCM16. */
export const WAV_BYTES_MAX = 1 << 30;

export interface WavAudio {
  encoding: WavEncoding;
  sampleRateHz: number;
  /** Decoded 16-bit linear samples. */
  samples: Int16Array;
  /** True when the data chunk was shorter than its header said (the samples present are kept). */
  truncated: boolean;
}

const FORMAT_PCM = 1;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

function bad(detail: string): FixpayError {
  return new FixpayError('AUDIO_BAD_WAV', detail);
}

/**
 * Parses a RIFF/WAVE file: 8 kHz mono, PCM16, μ-law or A-law (also WAVE_FORMAT_EXTENSIBLE).
 * Throws FixpayError AUDIO_BAD_WAV (malformed) or AUDIO_UNSUPPORTED_FORMAT (other rates,
 * channels, encodings); nothing is resampled.
 */
export function readWav(buf: Uint8Array): WavAudio {
  if (buf.length > WAV_BYTES_MAX) throw bad(`file larger than ${WAV_BYTES_MAX} bytes`);
  if (buf.length < 12) throw bad('shorter than a RIFF header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (o: number): string =>
    String.fromCharCode(buf[o] ?? 0, buf[o + 1] ?? 0, buf[o + 2] ?? 0, buf[o + 3] ?? 0);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw bad('not a RIFF/WAVE file');
  let off = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  while (off + 8 <= buf.length) {
    const id = tag(off);
    const size = dv.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) throw bad('fmt chunk too short');
      let format = dv.getUint16(body, true);
      if (format === FORMAT_EXTENSIBLE) {
        if (size < 40 || body + 40 > buf.length) throw bad('extensible fmt chunk too short');
        format = dv.getUint16(body + 24, true); // first two bytes of the sub-format GUID
      }
      fmt = {
        format,
        channels: dv.getUint16(body + 2, true),
        rate: dv.getUint32(body + 4, true),
        bits: dv.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (fmt === undefined) throw bad('data chunk before fmt chunk');
      const encoding = checkFormat(fmt);
      const available = buf.length - body;
      // 0xFFFFFFFF (and other oversize values) are written by streaming tools that never rewrite the header.
      const truncated = size > available && size !== 0xffffffff;
      const bytes = buf.subarray(body, body + Math.min(size, available));
      return { encoding, sampleRateHz: fmt.rate, samples: decodeSamples(encoding, bytes), truncated };
    }
    off = body + size + (size & 1);
  }
  throw bad(fmt === undefined ? 'no fmt chunk' : 'no data chunk');
}

function checkFormat(fmt: { format: number; channels: number; rate: number; bits: number }): WavEncoding {
  if (fmt.channels !== 1) {
    throw new FixpayError('AUDIO_UNSUPPORTED_FORMAT', `${fmt.channels} channels; only mono is supported`);
  }
  if (fmt.rate !== WAV_SAMPLE_RATE_HZ) {
    throw new FixpayError(
      'AUDIO_UNSUPPORTED_FORMAT',
      `sample rate ${fmt.rate} Hz; only 8000 Hz is supported (resample first, e.g. sox in.wav -r 8000 out.wav)`,
    );
  }
  if (fmt.format === FORMAT_PCM && fmt.bits === 16) return 'pcm16';
  if (fmt.format === FORMAT_MULAW && fmt.bits === 8) return 'mulaw';
  if (fmt.format === FORMAT_ALAW && fmt.bits === 8) return 'alaw';
  throw new FixpayError(
    'AUDIO_UNSUPPORTED_FORMAT',
    `format tag ${fmt.format} with ${fmt.bits} bits; only PCM16, mu-law and A-law are supported`,
  );
}

function decodeSamples(encoding: WavEncoding, bytes: Uint8Array): Int16Array {
  if (encoding === 'mulaw') return mulawDecode(bytes);
  if (encoding === 'alaw') return alawDecode(bytes);
  const n = bytes.length >> 1; // an odd trailing byte is dropped
  const out = new Int16Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
  return out;
}

/** Writes an 8 kHz mono WAV in the given encoding. */
export function writeWav(samples: Int16Array, encoding: WavEncoding = 'pcm16'): Uint8Array {
  const bytesPerSample = encoding === 'pcm16' ? 2 : 1;
  const dataBytes = samples.length * bytesPerSample;
  const fmtSize = encoding === 'pcm16' ? 16 : 18; // non-PCM formats carry cbSize
  const headerBytes = 12 + 8 + fmtSize + (encoding === 'pcm16' ? 0 : 12) + 8;
  const total = headerBytes + dataBytes + (dataBytes & 1);
  if (total > WAV_BYTES_MAX) throw new FixpayError('AUDIO_BAD_INPUT', `WAV would exceed ${WAV_BYTES_MAX} bytes`);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const put = (o: number, s: string): void => {
    for (let i = 0; i < 4; i++) out[o + i] = s.charCodeAt(i);
  };
  put(0, 'RIFF');
  dv.setUint32(4, total - 8, true);
  put(8, 'WAVE');
  put(12, 'fmt ');
  dv.setUint32(16, fmtSize, true);
  const format = encoding === 'pcm16' ? FORMAT_PCM : encoding === 'mulaw' ? FORMAT_MULAW : FORMAT_ALAW;
  dv.setUint16(20, format, true);
  dv.setUint16(22, 1, true);
  dv.setUint32(24, WAV_SAMPLE_RATE_HZ, true);
  dv.setUint32(28, WAV_SAMPLE_RATE_HZ * bytesPerSample, true);
  dv.setUint16(32, bytesPerSample, true);
  dv.setUint16(34, bytesPerSample * 8, true);
  let o = 36;
  if (encoding !== 'pcm16') {
    dv.setUint16(36, 0, true); // cbSize
    o = 38;
    put(o, 'fact');
    dv.setUint32(o + 4, 4, true);
    dv.setUint32(o + 8, samples.length, true);
    o += 12;
  }
  put(o, 'data');
  dv.setUint32(o + 4, dataBytes, true);
  o += 8;
  if (encoding === 'pcm16') {
    for (let i = 0; i < samples.length; i++) dv.setInt16(o + i * 2, samples[i] ?? 0, true);
  } else {
    out.set(encoding === 'mulaw' ? mulawEncode(samples) : alawEncode(samples), o);
  }
  return out;
}
