import fc from 'fast-check';
import { isFixpayError } from '../../domain/errors';
import {
  alawDecode,
  alawEncode,
  alawToLinear,
  levelDbm0,
  linearToAlaw,
  linearToMulaw,
  measureSnrDb,
  mulawDecode,
  mulawEncode,
  mulawToLinear,
  addNoise,
  readWav,
  Rng,
  sineAmplitude,
  writeWav,
  type WavEncoding,
} from './index';

// ITU-T G.711 (11/88), Tables 5 and 6: the "digital milliwatt" sequences (1 kHz at 0 dBm0).
const MULAW_DMW = [0x1e, 0x0b, 0x0b, 0x1e, 0x9e, 0x8b, 0x8b, 0x9e];
const ALAW_DMW = [0x34, 0x21, 0x21, 0x34, 0xb4, 0xa1, 0xa1, 0xb4];

describe('G.711', () => {
  it('decodes the ITU-T digital milliwatt to a 1 kHz sine at 0 dBm0 (±0.2 dB)', () => {
    const mu = mulawDecode(Uint8Array.from([...MULAW_DMW, ...MULAW_DMW]));
    const a = alawDecode(Uint8Array.from([...ALAW_DMW, ...ALAW_DMW]));
    expect(Math.abs(levelDbm0(mu))).toBeLessThan(0.2);
    expect(Math.abs(levelDbm0(a))).toBeLessThan(0.2);
    // the sequence is a sine: samples 0..3 positive phase in the second half, antisymmetric
    for (let i = 0; i < 4; i++) expect(mu[i]).toBe(-(mu[i + 4] ?? 0));
  });

  it('encodes a 0 dBm0 1 kHz sine at phase π/8 to the digital milliwatt codes', () => {
    const amp = sineAmplitude(0);
    const pcm = Int16Array.from({ length: 8 }, (_, i) =>
      Math.round(amp * Math.sin(((2 * i + 1) * Math.PI) / 8 + Math.PI)),
    );
    expect([...mulawEncode(pcm)]).toEqual(MULAW_DMW);
    expect([...alawEncode(pcm)]).toEqual(ALAW_DMW);
  });

  it('matches the G.711 end points: zero, smallest step and full scale', () => {
    // μ-law: 0xFF = +0, 0x7F = −0, 0x80 = +8031 (14-bit) = +32124, 0x00 = −32124, 0xFE = +2 (14-bit) = +8
    expect([0xff, 0x7f, 0x80, 0x00, 0xfe].map(mulawToLinear)).toEqual([0, 0, 32124, -32124, 8]);
    // A-law: 0xD5 = +1 (13-bit, mid-riser) = +8, 0x55 = −8, 0xAA = +4032 (13-bit) = +32256, 0x2A = −32256
    expect([0xd5, 0x55, 0xaa, 0x2a].map(alawToLinear)).toEqual([8, -8, 32256, -32256]);
    expect(linearToMulaw(0)).toBe(0xff);
    expect(linearToMulaw(32767)).toBe(0x80);
    expect(linearToMulaw(-32768)).toBe(0x00);
    expect(linearToAlaw(0)).toBe(0xd5);
    expect(linearToAlaw(32767)).toBe(0xaa);
    expect(linearToAlaw(-32768)).toBe(0x2a);
  });

  it('decode∘encode is the identity on codes, and encode is monotonic', () => {
    for (let c = 0; c < 256; c++) {
      expect(linearToMulaw(mulawToLinear(c))).toBe(c === 0x7f ? 0xff : c);
      expect(linearToAlaw(alawToLinear(c))).toBe(c);
    }
    let prevMu = -Infinity;
    let prevA = -Infinity;
    for (let x = -32768; x < 32768; x += 7) {
      const mu = mulawToLinear(linearToMulaw(x));
      const a = alawToLinear(linearToAlaw(x));
      expect(mu).toBeGreaterThanOrEqual(prevMu);
      expect(a).toBeGreaterThanOrEqual(prevA);
      prevMu = mu;
      prevA = a;
    }
  });

  it('quantisation error stays within half a step (SNR ≥ 33 dB for a −10 dBm0 sine)', () => {
    const amp = sineAmplitude(-10);
    const pcm = Int16Array.from({ length: 8000 }, (_, i) =>
      Math.round(amp * Math.sin((2 * Math.PI * 1013 * i) / 8000)),
    );
    expect(measureSnrDb(pcm, mulawDecode(mulawEncode(pcm)))).toBeGreaterThan(33);
    expect(measureSnrDb(pcm, alawDecode(alawEncode(pcm)))).toBeGreaterThan(33);
  });
});

describe('WAV', () => {
  it.each<WavEncoding>(['pcm16', 'mulaw', 'alaw'])('round-trips %s', (enc) => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 500 }), (xs) => {
        const pcm = Int16Array.from(xs);
        const w = readWav(writeWav(pcm, enc));
        expect(w.encoding).toBe(enc);
        expect(w.sampleRateHz).toBe(8000);
        expect(w.truncated).toBe(false);
        const expected =
          enc === 'pcm16' ? pcm : enc === 'mulaw' ? mulawDecode(mulawEncode(pcm)) : alawDecode(alawEncode(pcm));
        expect([...w.samples]).toEqual([...expected]);
      }),
      { numRuns: 30 },
    );
  });

  function header(rate: number, channels: number, format = 1, bits = 16): Uint8Array {
    const w = writeWav(new Int16Array(4));
    const dv = new DataView(w.buffer);
    dv.setUint16(20, format, true);
    dv.setUint16(22, channels, true);
    dv.setUint32(24, rate, true);
    dv.setUint16(34, bits, true);
    return w;
  }

  it.each<[string, Uint8Array, string]>([
    ['an empty file', new Uint8Array(0), 'AUDIO_BAD_WAV'],
    ['a non-RIFF file', new TextEncoder().encode('hello world, this is not a wav'), 'AUDIO_BAD_WAV'],
    ['44.1 kHz', header(44100, 1), 'AUDIO_UNSUPPORTED_FORMAT'],
    ['stereo', header(8000, 2), 'AUDIO_UNSUPPORTED_FORMAT'],
    ['float samples', header(8000, 1, 3, 32), 'AUDIO_UNSUPPORTED_FORMAT'],
    ['a cut fmt chunk', writeWav(new Int16Array(4)).subarray(0, 30), 'AUDIO_BAD_WAV'],
    ['no data chunk', writeWav(new Int16Array(4)).subarray(0, 36), 'AUDIO_BAD_WAV'],
  ])('refuses %s with a catalogue error', (_name, buf, code) => {
    let err: unknown;
    try {
      readWav(buf);
    } catch (e) {
      err = e;
    }
    expect(isFixpayError(err)).toBe(true);
    expect(isFixpayError(err) ? err.codeName : '').toBe(code);
  });

  it('keeps the samples of a truncated data chunk and says so', () => {
    const w = writeWav(Int16Array.from([1, 2, 3, 4, 5]));
    const cut = readWav(w.subarray(0, w.length - 3));
    expect(cut.truncated).toBe(true);
    expect([...cut.samples]).toEqual([1, 2, 3]); // 7 of 10 data bytes: 3 whole samples
  });

  it('never crashes on garbage: it parses or throws a FixpayError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, riff) => {
        const buf = riff ? Uint8Array.from([...writeWav(new Int16Array(2)).subarray(0, 12), ...bytes]) : bytes;
        try {
          readWav(buf);
        } catch (e) {
          expect(isFixpayError(e)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('noise and levels', () => {
  it('is reproducible from its seed and has the requested SNR (±0.2 dB)', () => {
    const amp = sineAmplitude(-14);
    const pcm = Int16Array.from({ length: 80000 }, (_, i) =>
      Math.round(amp * Math.sin((2 * Math.PI * 1300 * i) / 8000)),
    );
    const a = addNoise(pcm, -14, 10, new Rng(42));
    const b = addNoise(pcm, -14, 10, new Rng(42));
    expect([...a.subarray(0, 100)]).toEqual([...b.subarray(0, 100)]);
    expect(Math.abs(measureSnrDb(pcm, a) - 10)).toBeLessThan(0.2);
    expect(Math.abs(levelDbm0(pcm) + 14)).toBeLessThan(0.05);
  });

  it('generates white noise: flat spectrum (adjacent-sample correlation ≈ 0)', () => {
    const rng = new Rng(1);
    let c = 0;
    let p = 0;
    let prev = 0;
    for (let i = 0; i < 100000; i++) {
      const x = rng.gaussian();
      c += x * prev;
      p += x * x;
      prev = x;
    }
    expect(Math.abs(c / p)).toBeLessThan(0.02);
    expect(Math.abs(p / 100000 - 1)).toBeLessThan(0.02);
  });
});
