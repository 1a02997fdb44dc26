/**
 * fixpay's layout of the terminal-side fields the public UnionPay sources leave open
 * (docs/protocols/terminal-messages.md): the PSAM block in field 63.2 and the working keys in
 * field 62. One definition for both ends: the host (activities) and the terminal simulator.
 */
import type { Subfields } from './field';

/** Field 63.2 is exactly this many characters in the terminal spec. */
export const FIELD63_RESERVED_CHARS = 60;
/** Tag opening our PSAM block in field 63.2 (layout version 1). */
export const PSAM_BLOCK_TAG = 'PS1';

/** The PSAM data the host needs to derive the per-transaction key (payments.md §3.2). */
export interface PsamBlock {
  /** 8-byte PSAM serial (diversification factor), 16 hex digits. */
  readonly serial: string;
  /** 6-byte terminal number written in the PSAM, 12 hex digits. */
  readonly terminalNumber: string;
  /** 4-byte PSAM random number for this transaction, 8 hex digits. */
  readonly random: string;
  /** PSAM transaction counter, 0–65535. */
  readonly counter: number;
}

/**
 * Field 63.2: `PS1` + serial + terminal number + random + counter (4 hex), zero-filled to 60.
 * Throws RangeError on a malformed block.
 */
export function encodePsamBlock(block: PsamBlock): string {
  if (!/^[0-9A-F]{16}$/.test(block.serial)) throw new RangeError('PSAM serial must be 16 upper-case hex digits');
  if (!/^[0-9A-F]{12}$/.test(block.terminalNumber)) throw new RangeError('PSAM terminal number must be 12 hex digits');
  if (!/^[0-9A-F]{8}$/.test(block.random)) throw new RangeError('PSAM random must be 8 hex digits');
  if (!Number.isInteger(block.counter) || block.counter < 0 || block.counter > 0xffff)
    throw new RangeError('PSAM counter must be 0..65535');
  const text =
    PSAM_BLOCK_TAG +
    block.serial +
    block.terminalNumber +
    block.random +
    block.counter.toString(16).toUpperCase().padStart(4, '0');
  return text.padEnd(FIELD63_RESERVED_CHARS, '0');
}

/** Reads the PSAM block from field 63.2; undefined when 63.2 does not hold one. */
export function decodePsamBlock(field63: Subfields | undefined): PsamBlock | undefined {
  const text = field63?.['2'];
  if (text === undefined) return undefined;
  const m = /^PS1([0-9A-F]{16})([0-9A-F]{12})([0-9A-F]{8})([0-9A-F]{4})0*$/.exec(text);
  if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined || m[4] === undefined) return undefined;
  return { serial: m[1], terminalNumber: m[2], random: m[3], counter: parseInt(m[4], 16) };
}

/** Field 62 bytes → the terminal spec's sub-fields (1–6: key, check value, …) for packing an 0810. */
export function field62Subfields(field62: Uint8Array): Subfields {
  const sizes = [16, 4, 16, 4, 16, 4];
  const out: Record<string, string> = {};
  let pos = 0;
  sizes.forEach((n, i) => {
    if (pos >= field62.length) return;
    out[String(i + 1)] = Buffer.from(field62.subarray(pos, pos + n))
      .toString('hex')
      .toUpperCase();
    pos += n;
  });
  return out;
}
