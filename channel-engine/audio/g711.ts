/**
 * ITU-T G.711 μ-law and A-law, table-driven. Linear samples are 16-bit (the 14-bit μ-law and
 * 13-bit A-law values of G.711 scaled to 16 bits), as RTP PCMU/PCMA peers expect.
 */

const MULAW_BIAS = 0x84;
const MULAW_CLIP = 8159; // 14-bit magnitude limit
const MULAW_SEG_END = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff] as const;
const ALAW_SEG_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff] as const;

function segment(v: number, ends: readonly number[]): number {
  for (let i = 0; i < ends.length; i++) if (v <= (ends[i] ?? 0)) return i;
  return ends.length;
}

function mulawEncodeOne(pcm16: number): number {
  let v = pcm16 >> 2;
  let mask = 0xff;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  }
  if (v > MULAW_CLIP) v = MULAW_CLIP;
  v += MULAW_BIAS >> 2;
  const seg = segment(v, MULAW_SEG_END);
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((v >> (seg + 1)) & 0xf)) ^ mask;
}

function mulawDecodeOne(code: number): number {
  const u = ~code & 0xff;
  const t = (((u & 0x0f) << 3) + MULAW_BIAS) << ((u & 0x70) >> 4);
  return u & 0x80 ? MULAW_BIAS - t : t - MULAW_BIAS;
}

function alawEncodeOne(pcm16: number): number {
  let v = pcm16 >> 3;
  let mask: number;
  if (v >= 0) mask = 0xd5;
  else {
    mask = 0x55;
    v = -v - 1;
  }
  const seg = segment(v, ALAW_SEG_END);
  if (seg >= 8) return 0x7f ^ mask;
  let a = seg << 4;
  a |= seg < 2 ? (v >> 1) & 0x0f : (v >> seg) & 0x0f;
  return a ^ mask;
}

function alawDecodeOne(code: number): number {
  const a = (code ^ 0x55) & 0xff;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

// Tables: 256 decode entries and 65,536 encode entries (indexed by the 16-bit sample as unsigned).
const MULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
for (let c = 0; c < 256; c++) {
  MULAW_DECODE[c] = mulawDecodeOne(c);
  ALAW_DECODE[c] = alawDecodeOne(c);
}
const MULAW_ENCODE = new Uint8Array(65536);
const ALAW_ENCODE = new Uint8Array(65536);
for (let i = 0; i < 65536; i++) {
  const x = i >= 32768 ? i - 65536 : i;
  MULAW_ENCODE[i] = mulawEncodeOne(x);
  ALAW_ENCODE[i] = alawEncodeOne(x);
}

/** μ-law → 16-bit linear. */
export function mulawDecode(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = MULAW_DECODE[codes[i] ?? 0] ?? 0;
  return out;
}

/**
 * μ-law codes `codes[from, to)` → 16-bit linear in `out[0, to - from)`, allocating nothing (the
 * receive path decodes every packet into a buffer it reuses). `out` must be long enough.
 */
export function mulawDecodeInto(codes: Uint8Array, from: number, to: number, out: Int16Array): void {
  for (let i = from, j = 0; i < to; i++, j++) out[j] = MULAW_DECODE[codes[i] ?? 0] ?? 0;
}

/** A-law codes `codes[from, to)` → 16-bit linear in `out[0, to - from)` (see `mulawDecodeInto`). */
export function alawDecodeInto(codes: Uint8Array, from: number, to: number, out: Int16Array): void {
  for (let i = from, j = 0; i < to; i++, j++) out[j] = ALAW_DECODE[codes[i] ?? 0] ?? 0;
}

/** 16-bit linear → μ-law. */
export function mulawEncode(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = MULAW_ENCODE[(pcm[i] ?? 0) & 0xffff] ?? 0;
  return out;
}

/** A-law → 16-bit linear. */
export function alawDecode(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = ALAW_DECODE[codes[i] ?? 0] ?? 0;
  return out;
}

/** 16-bit linear → A-law. */
export function alawEncode(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = ALAW_ENCODE[(pcm[i] ?? 0) & 0xffff] ?? 0;
  return out;
}

/** One sample helpers (for callers that stream). */
export const mulawToLinear = (code: number): number => MULAW_DECODE[code & 0xff] ?? 0;
export const linearToMulaw = (x: number): number => MULAW_ENCODE[x & 0xffff] ?? 0;
export const alawToLinear = (code: number): number => ALAW_DECODE[code & 0xff] ?? 0;
export const linearToAlaw = (x: number): number => ALAW_ENCODE[x & 0xffff] ?? 0;
