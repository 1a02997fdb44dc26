/**
 * Frame checks as data: the ES 201 912 / EN 300 659 two's-complement byte sum, and CRC-16
 * variants described by their Rocksoft/Williams parameters (as in the reveng CRC catalogue), so
 * a new terminal's CRC is a new table row, not new code.
 */

export interface Crc16Params {
  readonly poly: number;
  readonly init: number;
  /** Reflect each input byte (LSB first). */
  readonly refin: boolean;
  /** Reflect the final register. */
  readonly refout: boolean;
  readonly xorout: number;
  /** CRC of the ASCII bytes "123456789", from the catalogue; checked by the tests. */
  readonly check: number;
}

/** CRC-16 variants seen on terminal links, parameters from the reveng "Catalogue of parametrised CRC algorithms". */
export const CRC16_VARIANTS = {
  'crc16-ccitt-false': { poly: 0x1021, init: 0xffff, refin: false, refout: false, xorout: 0x0000, check: 0x29b1 },
  'crc16-x25': { poly: 0x1021, init: 0xffff, refin: true, refout: true, xorout: 0xffff, check: 0x906e },
  'crc16-kermit': { poly: 0x1021, init: 0x0000, refin: true, refout: true, xorout: 0x0000, check: 0x2189 },
  'crc16-xmodem': { poly: 0x1021, init: 0x0000, refin: false, refout: false, xorout: 0x0000, check: 0x31c3 },
  'crc16-arc': { poly: 0x8005, init: 0x0000, refin: true, refout: true, xorout: 0x0000, check: 0xbb3d },
} as const satisfies Record<string, Crc16Params>;

export type Crc16Variant = keyof typeof CRC16_VARIANTS;
export type CheckKind = 'sum8' | Crc16Variant;

export const CHECK_KINDS: readonly CheckKind[] = ['sum8', ...(Object.keys(CRC16_VARIANTS) as Crc16Variant[])];

function reflect(value: number, bits: number): number {
  let out = 0;
  for (let i = 0; i < bits; i++) if ((value >>> i) & 1) out |= 1 << (bits - 1 - i);
  return out >>> 0;
}

const tableCache = new Map<Crc16Params, Uint16Array>();

function tableFor(p: Crc16Params): Uint16Array {
  const cached = tableCache.get(p);
  if (cached !== undefined) return cached;
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let reg = n << 8;
    for (let b = 0; b < 8; b++) reg = reg & 0x8000 ? ((reg << 1) ^ p.poly) & 0xffff : (reg << 1) & 0xffff;
    table[n] = reg;
  }
  tableCache.set(p, table);
  return table;
}

/** CRC-16 over `bytes` with the given parameters (MSB-first table, reflection applied per byte). */
export function crc16(p: Crc16Params, bytes: Uint8Array): number {
  const table = tableFor(p);
  let reg = p.init & 0xffff;
  for (const raw of bytes) {
    const byte = p.refin ? reflect(raw, 8) : raw;
    reg = ((reg << 8) & 0xffff) ^ (table[((reg >>> 8) ^ byte) & 0xff] ?? 0);
  }
  if (p.refout) reg = reflect(reg, 16);
  return (reg ^ p.xorout) & 0xffff;
}

/** Two's complement of the mod-256 byte sum: all bytes plus this one sum to 0 (ES 201 912, EN 300 659). */
export function sum8(bytes: Uint8Array): number {
  let s = 0;
  for (const b of bytes) s = (s + b) & 0xff;
  return (0x100 - s) & 0xff;
}

/** Number of check bytes a frame carries. */
export function checkLength(kind: CheckKind): 1 | 2 {
  return kind === 'sum8' ? 1 : 2;
}

/** The check bytes for `covered` (big-endian for CRCs unless `byteOrder` says otherwise). */
export function computeCheck(kind: CheckKind, covered: Uint8Array, byteOrder: 'big' | 'little' = 'big'): Uint8Array {
  if (kind === 'sum8') return Uint8Array.of(sum8(covered));
  const crc = crc16(CRC16_VARIANTS[kind], covered);
  return byteOrder === 'big' ? Uint8Array.of(crc >>> 8, crc & 0xff) : Uint8Array.of(crc & 0xff, crc >>> 8);
}
