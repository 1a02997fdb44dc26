/**
 * Temporal payload encryption: AES-256-GCM over the whole serialised payload (metadata and data),
 * the key id in the outer metadata so keys can rotate — encrypt with the newest key, decrypt with
 * any key still known. Card data in workflow inputs, results, memos and (with the failure
 * converter of `data-converter.ts`) failure messages and stack traces never reaches Temporal clear.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { FixpayError } from '../domain/errors';

export const ENCODING_ENCRYPTED = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';
export const METADATA_CIPHER = 'encryption-cipher';
export const CIPHER_NAME = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** One codec key. Ids are public (they travel in metadata); keys are 32 secret bytes. */
export interface CodecKey {
  readonly id: string;
  readonly key: Uint8Array;
}

/** Parses `id:hex64,id:hex64,…` (oldest first) as held in a secret file or environment variable. */
export function codecKeysFromText(text: string): CodecKey[] {
  const keys = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((entry) => {
      const m = /^([A-Za-z0-9._-]{1,64}):([0-9A-Fa-f]{64})$/.exec(entry);
      if (m === null) throw new FixpayError('CONFIG_INVALID', 'codec keys are id:64-hex-digits, comma separated');
      return { id: m[1] ?? '', key: Buffer.from(m[2] ?? '', 'hex') };
    });
  return keys;
}

// --- Temporal's Payload protobuf (map<string, bytes> metadata = 1; bytes data = 2) -----------
// Serialised by hand so the codec needs no protobuf runtime; the bytes are the standard encoding,
// so a codec server in another SDK can read them.

function varint(n: number, out: number[]): void {
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function lengthDelimited(field: number, bytes: Uint8Array, out: Buffer[]): void {
  const head: number[] = [(field << 3) | 2];
  varint(bytes.length, head);
  out.push(Buffer.from(head), Buffer.from(bytes));
}

/** Payload → protobuf bytes. */
export function serializePayload(payload: Payload): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(payload.metadata ?? {})) {
    const entry: Buffer[] = [];
    lengthDelimited(1, Buffer.from(k, 'utf8'), entry);
    lengthDelimited(2, v, entry);
    lengthDelimited(1, Buffer.concat(entry), parts);
  }
  if (payload.data !== undefined && payload.data !== null && payload.data.length > 0)
    lengthDelimited(2, payload.data, parts);
  return Buffer.concat(parts);
}

function readFields(bytes: Buffer, onField: (field: number, value: Buffer) => void): void {
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let shift = 1;
    for (;;) {
      if (pos >= bytes.length) throw new FixpayError('CODEC_PAYLOAD_INVALID', 'truncated varint');
      const b = bytes[pos++] ?? 0;
      result += (b & 0x7f) * shift;
      if ((b & 0x80) === 0) return result;
      shift *= 128;
      if (shift > 2 ** 49) throw new FixpayError('CODEC_PAYLOAD_INVALID', 'varint too long');
    }
  };
  while (pos < bytes.length) {
    const tag = readVarint();
    if ((tag & 7) !== 2) throw new FixpayError('CODEC_PAYLOAD_INVALID', 'unexpected wire type');
    const length = readVarint();
    if (pos + length > bytes.length) throw new FixpayError('CODEC_PAYLOAD_INVALID', 'truncated field');
    onField(tag >> 3, bytes.subarray(pos, pos + length));
    pos += length;
  }
}

/** Protobuf bytes → Payload. */
export function deserializePayload(bytes: Buffer): Payload {
  // Null prototype: a metadata key named `__proto__` stays a key.
  const metadata = Object.create(null) as Record<string, Uint8Array>;
  let data: Uint8Array = new Uint8Array(0);
  readFields(bytes, (field, value) => {
    if (field === 1) {
      let key = '';
      let entryValue: Uint8Array = new Uint8Array(0);
      readFields(value, (f, v) => {
        if (f === 1) key = v.toString('utf8');
        else if (f === 2) entryValue = Uint8Array.from(v);
      });
      metadata[key] = entryValue;
    } else if (field === 2) {
      data = Uint8Array.from(value);
    }
  });
  return { metadata, data };
}

// --- the codec -----------------------------------------------------------------------------

/** True when the payload carries this codec's encoding (whether or not it will decrypt). */
export function isEncrypted(payload: Payload): boolean {
  const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
  return encoding !== undefined && Buffer.from(encoding).toString() === ENCODING_ENCRYPTED;
}

/** The (non-secret) encoding name of a refused payload, bounded, for the error detail. */
function describeEncoding(payload: Payload): string {
  const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
  const name = encoding === undefined ? 'none' : Buffer.from(encoding).toString('utf8').slice(0, 40);
  return `encoding ${JSON.stringify(name)}`;
}

/** Runs synchronous work as a promise, so errors reject rather than throw. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

export class AesGcmPayloadCodec implements PayloadCodec {
  // Keys are imported once as KeyObjects: no per-operation key import.
  private readonly keys = new Map<string, KeyObject>();
  private readonly active: { readonly id: string; readonly key: KeyObject; readonly idBytes: Buffer };

  /**
   * `keys` oldest first: the last one encrypts, all of them decrypt. Throws CONFIG_INVALID on an
   * empty list, a duplicate id or a key that is not 32 bytes.
   */
  constructor(keys: readonly CodecKey[]) {
    for (const k of keys) {
      if (k.key.length !== 32) throw new FixpayError('CONFIG_INVALID', `codec key ${k.id} is not 32 bytes`);
      if (this.keys.has(k.id)) throw new FixpayError('CONFIG_INVALID', `codec key id ${k.id} repeats`);
      this.keys.set(k.id, createSecretKey(Buffer.from(k.key)));
    }
    const newest = keys[keys.length - 1];
    if (newest === undefined) throw new FixpayError('CONFIG_INVALID', 'no codec key');
    this.active = {
      id: newest.id,
      key: createSecretKey(Buffer.from(newest.key)),
      idBytes: Buffer.from(newest.id, 'utf8'),
    };
  }

  /** Id of the key new payloads are encrypted with. */
  get activeKeyId(): string {
    return this.active.id;
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return settle(() => payloads.map((p) => this.encrypt(p)));
  }

  /** Rejects with CODEC_PAYLOAD_UNENCRYPTED, CODEC_KEY_UNKNOWN or CODEC_PAYLOAD_INVALID. */
  decode(payloads: Payload[]): Promise<Payload[]> {
    return settle(() => payloads.map((p) => this.decrypt(p)));
  }

  private encrypt(payload: Payload): Payload {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.active.key, iv);
    cipher.setAAD(this.active.idBytes);
    const body = Buffer.concat([cipher.update(serializePayload(payload)), cipher.final()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCODING_ENCRYPTED),
        [METADATA_CIPHER]: Buffer.from(CIPHER_NAME),
        [METADATA_KEY_ID]: this.active.idBytes,
      },
      data: Buffer.concat([iv, body, cipher.getAuthTag()]),
    };
  }

  /**
   * Refuses a payload this codec did not encrypt (CODEC_PAYLOAD_UNENCRYPTED): a plain payload in a
   * workflow input, signal or update was written by a client without the codec keys, and a worker
   * must not act on it. Search attributes and headers never reach a codec (the SDK skips them).
   */
  private decrypt(payload: Payload): Payload {
    if (!isEncrypted(payload)) throw new FixpayError('CODEC_PAYLOAD_UNENCRYPTED', describeEncoding(payload));
    const idBytes = payload.metadata?.[METADATA_KEY_ID];
    const id = idBytes === undefined ? '' : Buffer.from(idBytes).toString('utf8');
    const key = this.keys.get(id);
    if (key === undefined) throw new FixpayError('CODEC_KEY_UNKNOWN', `key id ${id.slice(0, 64)}`);
    const data = Buffer.from(payload.data ?? new Uint8Array(0));
    if (data.length < IV_BYTES + TAG_BYTES) throw new FixpayError('CODEC_PAYLOAD_INVALID', 'too short');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(id, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const clear = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return deserializePayload(clear);
    } catch (e) {
      if (e instanceof FixpayError) throw e;
      throw new FixpayError('CODEC_PAYLOAD_INVALID', 'authentication failed');
    }
  }
}
