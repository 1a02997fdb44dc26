/**
 * dBm0 convention (as spandsp): a full-scale 16-bit sine is +3.14 dBm0, so a 0 dBm0 sine has a
 * peak of 32767·10^(−3.14/20) ≈ 22,765 (the G.711 digital milliwatt decodes to ≈ 0 dBm0).
 */
export const DBM0_FULL_SCALE_SINE = 3.14;

/** Peak amplitude of a sine at `levelDbm0`. */
export function sineAmplitude(levelDbm0: number): number {
  return 32767 * Math.pow(10, (levelDbm0 - DBM0_FULL_SCALE_SINE) / 20);
}

/** Mean-square value (LSB²) of any signal at `levelDbm0`. */
export function meanSquareAt(levelDbm0: number): number {
  const a = sineAmplitude(levelDbm0);
  return (a * a) / 2;
}

/** Level in dBm0 of a signal with the given mean square (LSB²). */
export function dbm0OfMeanSquare(meanSquare: number): number {
  if (meanSquare <= 0) return -Infinity;
  return 10 * Math.log10(meanSquare / meanSquareAt(0));
}

/** Level of 16-bit samples in dBm0 (−Infinity for silence or no samples). */
export function levelDbm0(pcm: Int16Array | Float64Array): number {
  let p = 0;
  for (let i = 0; i < pcm.length; i++) {
    const x = pcm[i] ?? 0;
    p += x * x;
  }
  return pcm.length === 0 ? -Infinity : dbm0OfMeanSquare(p / pcm.length);
}

/** Multiplies samples by the gain `db`, clipping to 16 bits. */
export function applyGainDb(pcm: Int16Array, db: number): Int16Array {
  const g = Math.pow(10, db / 20);
  const out = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) {
    const v = Math.round((pcm[i] ?? 0) * g);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}
