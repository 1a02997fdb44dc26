/**
 * payShield-style host command codec shared by the `fixpay hsm` server and the network client
 * (docs/protocols/hsm-host-commands.md): framing (2-byte length that does not count itself), an
 * echoed header, two-character command codes, fixed and length-prefixed ASCII fields, error codes.
 */
import { FixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import { parseKeyBlockHeader } from '../crypto/tr31';
import { KEY_TYPES } from '../port';
import type { KeyAlgorithm, KeyType, MacAlgorithm, PinBlockFormat } from '../port';

/** Named defaults for the link; the config module may override them. */
export const HOST_PROTOCOL_DEFAULTS = {
  /** Header length in characters (payShield: configurable, often 4); used as a trace number. */
  headerLength: 4,
  /** Largest message either side accepts, after the length prefix. */
  messageBytesMax: 70_000,
  /** How long the client waits for an answer. */
  requestTimeoutMs: 5_000,
  /** How long the client waits for a TCP connection. */
  connectTimeoutMs: 3_000,
  /** Requests the client keeps in flight on one connection. */
  inFlightMax: 256,
} as const;

/**
 * Splits a byte stream into messages. `push` returns every complete message; `append` + `next`
 * let a reader take one at a time (the server, for backpressure). Throws HSM_PROTOCOL_ERROR on an
 * oversized frame, as soon as its length prefix arrives.
 */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly messageBytesMax: number) {}

  /** Bytes received and not yet taken (complete and partial frames). */
  get bufferedBytes(): number {
    return this.buffer.length;
  }

  append(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.checkLength();
  }

  /** True when a whole message is buffered. */
  hasMessage(): boolean {
    return this.buffer.length >= 2 && this.buffer.length >= 2 + this.buffer.readUInt16BE(0);
  }

  /** The next whole message, or undefined. */
  next(): Buffer | undefined {
    if (!this.hasMessage()) return undefined;
    const length = this.buffer.readUInt16BE(0);
    const out = this.buffer.subarray(2, 2 + length);
    this.buffer = this.buffer.subarray(2 + length);
    this.checkLength();
    return out;
  }

  push(chunk: Buffer): Buffer[] {
    this.append(chunk);
    const out: Buffer[] = [];
    for (let m = this.next(); m !== undefined; m = this.next()) out.push(m);
    return out;
  }

  private checkLength(): void {
    if (this.buffer.length >= 2 && this.buffer.readUInt16BE(0) > this.messageBytesMax) {
      throw new FixpayError('HSM_PROTOCOL_ERROR', 'message too long');
    }
  }
}

/** Prefixes a message with its 2-byte length. */
export function frame(message: string): Buffer {
  const body = Buffer.from(message, 'latin1');
  if (body.length > 0xffff) throw new FixpayError('HSM_INPUT_INVALID', 'message too long');
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  body.copy(out, 2);
  return out;
}

/** Builds a message field by field. */
export class FieldWriter {
  private parts: string[] = [];

  fixed(value: string, length: number): this {
    if (value.length !== length) throw new FixpayError('HSM_INPUT_INVALID', `field of ${length} characters`);
    this.parts.push(value);
    return this;
  }

  /** A key handle (`S` + key block): self-delimiting. */
  key(handle: string): this {
    if (!/^S[BD]\d{4}/.test(handle) || Number(handle.slice(2, 6)) !== handle.length - 1) {
      throw new FixpayError('HSM_KEY_INVALID', 'not a key handle');
    }
    this.parts.push(handle);
    return this;
  }

  /** 4 hex digits of length, then the text. */
  variable(text: string): this {
    if (text.length > 0xffff) throw new FixpayError('HSM_INPUT_INVALID', 'field too long');
    this.parts.push(text.length.toString(16).toUpperCase().padStart(4, '0'), text);
    return this;
  }

  /** Binary data as a variable-length hex field. */
  bytes(data: Uint8Array): this {
    return this.variable(Buffer.from(data).toString('hex').toUpperCase());
  }

  toString(): string {
    return this.parts.join('');
  }
}

/** Reads a message field by field; any shortfall is HSM_PROTOCOL_ERROR. */
export class FieldReader {
  private pos = 0;

  constructor(private readonly text: string) {}

  /** Throws HSM_PROTOCOL_ERROR naming the field and offset. */
  fail(what: string): never {
    throw new FixpayError('HSM_PROTOCOL_ERROR', `bad ${what} at offset ${this.pos}`);
  }

  fixed(length: number, what = 'field'): string {
    if (this.pos + length > this.text.length) this.fail(what);
    const value = this.text.slice(this.pos, this.pos + length);
    this.pos += length;
    return value;
  }

  key(): string {
    if (this.text[this.pos] !== 'S') this.fail('key');
    const length = Number(this.text.slice(this.pos + 2, this.pos + 6));
    if (!Number.isInteger(length) || length < 16) this.fail('key');
    return this.fixed(1 + length, 'key');
  }

  variable(what = 'field'): string {
    const length = parseInt(this.fixed(4, what), 16);
    if (!Number.isInteger(length)) this.fail(what);
    return this.fixed(length, what);
  }

  bytes(what = 'data'): Buffer {
    const hex = this.variable(what);
    if (!/^(?:[0-9A-F]{2})*$/.test(hex)) this.fail(what);
    return Buffer.from(hex, 'hex');
  }

  /** Everything left. */
  rest(): string {
    const value = this.text.slice(this.pos);
    this.pos = this.text.length;
    return value;
  }

  end(): void {
    if (this.pos !== this.text.length) this.fail('trailing data');
  }
}

// ---- code tables (docs/protocols/hsm-host-commands.md) ----------------------------------------

/** payShield key type codes where they name one role; `F..` codes are fixpay's for the others. */
export const KEY_TYPE_CODES: Record<KeyType, string> = {
  ZMK: '000',
  ZPK: '001',
  TPK: '002',
  TAK: '003',
  ZAK: '008',
  BDK: '009',
  ZEK: '00A',
  TMK: 'F00',
  KBPK: 'F01',
  TDK: 'F0A',
  PBOC_MK: 'F0E',
  CVK: '402',
  BUREAU: 'F0D',
  PSAM_SESSION: 'F03',
  COMPONENT: 'F0C',
};

/** Key scheme letters: payShield's Z/U/T for DES lengths; fixpay's 1/2/3 for AES. */
export const ALGORITHM_CODES: Record<KeyAlgorithm, string> = {
  des: 'Z',
  tdes2: 'U',
  tdes3: 'T',
  aes128: '1',
  aes192: '2',
  aes256: '3',
};

export const MAC_ALGORITHM_CODES: Record<MacAlgorithm, string> = {
  'iso9797-1-alg1': '1',
  'x9.19': '3',
  cmac: '5',
  'unionpay-ecb': 'U',
};

/** payShield PIN block format codes: 01 ISO 0, 05 ISO 1, 34 ISO 2, 47 ISO 3, 48 ISO 4. */
export const PIN_FORMAT_CODES: Record<PinBlockFormat, string> = { 0: '01', 1: '05', 2: '34', 3: '47', 4: '48' };

export function decodeFrom<T extends string | number>(table: Record<T, string>, code: string, what: string): T {
  for (const [k, v] of Object.entries(table) as [T, string][])
    if (v === code) return (typeof k === 'string' && /^\d$/.test(k) ? Number(k) : k) as T;
  throw new FixpayError('HSM_INPUT_INVALID', `unknown ${what} code ${code}`);
}

/** Error codes: payShield's where one fits; `F.` are fixpay's. */
const ERROR_CODES: Record<string, ResultCodeName> = {
  '04': 'HSM_KEY_USAGE_MISMATCH',
  '10': 'HSM_KEY_PARITY',
  '13': 'HSM_LMK_INVALID',
  '15': 'HSM_INPUT_INVALID',
  '20': 'HSM_PIN_BLOCK_INVALID',
  '23': 'HSM_PIN_FORMAT_UNSUPPORTED',
  '68': 'HSM_COMMAND_UNSUPPORTED',
  F1: 'HSM_KEY_INVALID',
  F2: 'HSM_KEY_BLOCK_INVALID',
  F3: 'HSM_KEY_CHECK_VALUE_MISMATCH',
  F4: 'HSM_PSAM_COUNTER_REPLAYED',
  F5: 'HSM_KSN_INVALID',
  F6: 'HSM_KEY_NOT_EXPORTABLE',
  F7: 'HSM_PROTOCOL_ERROR',
  F8: 'HSM_KEY_POLICY_REFUSED',
  F9: 'HSM_CLIENT_UNAUTHENTICATED',
  FA: 'HSM_OPERATOR_MODE_REQUIRED',
  FB: 'HSM_BUSY',
};
const ERROR_BY_NAME = new Map<string, string>(Object.entries(ERROR_CODES).map(([code, name]) => [name, code]));

/** The wire error code for a result code; `01` is "verification failed" (MAC or PIN). */
export function errorCodeFor(name: ResultCodeName | undefined): string {
  if (name === 'HSM_MAC_INVALID' || name === 'HSM_PIN_INVALID') return '01';
  return (name === undefined ? undefined : ERROR_BY_NAME.get(name)) ?? '15';
}

/** The result code for a wire error code; `01` means MAC or PIN per the command. */
export function resultCodeFor(errorCode: string, verificationFailure: ResultCodeName): ResultCodeName {
  if (errorCode === '01') return verificationFailure;
  return ERROR_CODES[errorCode] ?? 'HSM_PROTOCOL_ERROR';
}

/** Response code: the command code with its second character advanced (A0 → A1, NC → ND). */
export function responseCode(command: string): string {
  const second = command.charCodeAt(1);
  return command.slice(0, 1) + String.fromCharCode(second === 0x39 ? 0x41 : second + 1);
}

/**
 * The key type a fixpay handle declares in its clear header (optional block `0T`), without
 * unwrapping it; undefined for other handles. Lets the client pick CA/CC, JC/JE, BC/BE locally.
 */
export function handleKeyType(handle: string): KeyType | undefined {
  try {
    const { header } = parseKeyBlockHeader(handle.slice(1));
    const type = header.optionalBlocks.find((b) => b.id === '0T')?.data;
    return (KEY_TYPES as readonly string[]).includes(type ?? '') ? (type as KeyType) : undefined;
  } catch {
    return undefined;
  }
}
