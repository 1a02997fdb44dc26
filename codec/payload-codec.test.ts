/**
 * Payload codec round trips with `@temporalio/common` payload types and converters, key rotation,
 * and the failure converter that encodes messages and stack traces.
 */
import { randomBytes } from 'node:crypto';
import { ApplicationFailure, defaultPayloadConverter, METADATA_ENCODING_KEY } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import fc from 'fast-check';
import { isFixpayError } from '../domain/errors';
import { createDataConverter } from './data-converter';
import { failureConverter } from './failure-converter';
import { AesGcmPayloadCodec, codecKeysFromText, deserializePayload, serializePayload } from './payload-codec';

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };

describe('AesGcmPayloadCodec', () => {
  const codec = new AesGcmPayloadCodec([k1, k2]);

  it('round-trips any JSON value through the default payload converter and hides the clear text', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const payload = defaultPayloadConverter.toPayload(value);
        const [encoded] = await codec.encode([payload]);
        const [decoded] = await codec.decode([encoded as Payload]);
        expect(defaultPayloadConverter.fromPayload(decoded as Payload)).toEqual(
          defaultPayloadConverter.fromPayload(payload),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('encrypts card data: the encoded payload carries the key id and none of the clear bytes', async () => {
    const payload = defaultPayloadConverter.toPayload({ pan: '4012345678909', amount: 100 });
    const [encoded] = await codec.encode([payload]);
    expect(Buffer.from(encoded?.metadata?.[METADATA_ENCODING_KEY] ?? []).toString()).toBe('binary/encrypted');
    expect(Buffer.from(encoded?.metadata?.['encryption-key-id'] ?? []).toString()).toBe('k2');
    expect(Buffer.from(encoded?.data ?? []).toString('latin1')).not.toContain('4012345678909');
  });

  it('rotates: new payloads use the newest key, old ones still decrypt, unknown keys are refused', async () => {
    const old = new AesGcmPayloadCodec([k1]);
    const [byOld] = await old.encode([defaultPayloadConverter.toPayload('before rotation')]);
    const [decoded] = await codec.decode([byOld as Payload]);
    expect(defaultPayloadConverter.fromPayload(decoded as Payload)).toBe('before rotation');
    const [byNew] = await codec.encode([defaultPayloadConverter.toPayload('after')]);
    const error: unknown = await old.decode([byNew as Payload]).catch((e: unknown) => e);
    expect(isFixpayError(error, 'CODEC_KEY_UNKNOWN')).toBe(true);
  });

  it('refuses a tampered payload or a swapped key id with CODEC_PAYLOAD_INVALID', async () => {
    const [encoded] = await codec.encode([defaultPayloadConverter.toPayload('x')]);
    const data = Buffer.from(encoded?.data ?? []);
    data[20] = (data[20] ?? 0) ^ 1;
    const e1: unknown = await codec.decode([{ ...encoded, data }]).catch((e: unknown) => e);
    expect(isFixpayError(e1, 'CODEC_PAYLOAD_INVALID')).toBe(true);
    const swapped = { ...encoded, metadata: { ...encoded?.metadata, 'encryption-key-id': Buffer.from('k1') } };
    const e2: unknown = await codec.decode([swapped]).catch((e: unknown) => e);
    expect(isFixpayError(e2, 'CODEC_PAYLOAD_INVALID')).toBe(true);
  });

  it('refuses payloads it did not encrypt (plain JSON, binary, none) with CODEC_PAYLOAD_UNENCRYPTED', async () => {
    for (const payload of [
      defaultPayloadConverter.toPayload('plain'),
      defaultPayloadConverter.toPayload(new Uint8Array([1, 2, 3])),
      defaultPayloadConverter.toPayload(undefined),
      { data: Buffer.from('{"plan":{}}') },
    ]) {
      const error: unknown = await codec.decode([payload]).catch((e: unknown) => e);
      expect(isFixpayError(error, 'CODEC_PAYLOAD_UNENCRYPTED')).toBe(true);
    }
  });

  it('serialises payloads as Temporal protobuf bytes and back (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.oneof(fc.string(), fc.constant('__proto__')), fc.uint8Array()),
        fc.uint8Array(),
        (metadata, data) => {
          const back = deserializePayload(serializePayload({ metadata, data }));
          expect(Object.fromEntries(Object.entries(back.metadata ?? {}).map(([k, v]) => [k, Array.from(v)]))).toEqual(
            Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Array.from(v)])),
          );
          expect(Array.from(back.data ?? [])).toEqual(Array.from(data));
        },
      ),
    );
  });

  it('refuses bad keys and parses key text', () => {
    expect(() => new AesGcmPayloadCodec([])).toThrow();
    expect(() => new AesGcmPayloadCodec([{ id: 'a', key: randomBytes(16) }])).toThrow();
    expect(() => new AesGcmPayloadCodec([k1, k1])).toThrow();
    const keys = codecKeysFromText(`a:${'00'.repeat(32)}, b:${'11'.repeat(32)}`);
    expect(keys.map((k) => k.id)).toEqual(['a', 'b']);
    expect(() => codecKeysFromText('a:1234')).toThrow();
  });
});

describe('createDataConverter', () => {
  it('wires the codec and a failure converter that encodes messages and stack traces', async () => {
    const converter = createDataConverter([k1]);
    expect(converter.payloadCodecs).toHaveLength(1);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require(converter.failureConverterPath ?? '') as { failureConverter: unknown };
    expect(loaded.failureConverter).toBe(failureConverter);

    const failure = failureConverter.errorToFailure(
      ApplicationFailure.nonRetryable('gateway said: card 4012345678909 declined', 'HSM_MAC_INVALID'),
      defaultPayloadConverter,
    );
    expect(failure.message).toBe('Encoded failure');
    expect(JSON.stringify(failure)).not.toContain('4012345678909');
    const attributes = failure.encodedAttributes as Payload;
    const [encrypted] = await (converter.payloadCodecs?.[0]?.encode([attributes]) ?? Promise.resolve([]));
    const [decrypted] = await (converter.payloadCodecs?.[0]?.decode([encrypted as Payload]) ?? Promise.resolve([]));
    expect(defaultPayloadConverter.fromPayload(decrypted as Payload)).toMatchObject({
      message: 'gateway said: card 4012345678909 declined',
    });
    const back = failureConverter.failureToError(
      { ...failure, encodedAttributes: decrypted ?? null },
      defaultPayloadConverter,
    );
    expect(back.message).toBe('gateway said: card 4012345678909 declined');
  });
});
