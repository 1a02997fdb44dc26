// The plan by reference (ADR 0013): a stored plan leaves the payload and comes back byte for byte
// from the registry; anything else travels inline; a reference the registry cannot honour is refused.
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { isFixpayError } from '../domain/errors';
import { createDataConverter } from './data-converter';
import { codecKeysFromText } from './payload-codec';
import { METADATA_PLAN_REF, PlanReferenceCodec } from './plan-reference';
import type { PlanSource } from './plan-reference';

const plan = {
  format: 'fixpay.plan/v1',
  serviceId: 'purchase',
  version: '1.2.0',
  steps: [{ id: 'reserve-funds-step', call: 'reserveFunds' }],
};
const HASH = 'sha256:aaaa';
const input = { plan, planHash: HASH, input: { terminalId: 'T0000001', amount: 100 } };

function source(stored: Record<string, { planHash: string; plan: unknown }>): PlanSource & { reads: number } {
  const s = {
    reads: 0,
    storedVersion(serviceId: string, version: string) {
      s.reads += 1;
      return Promise.resolve(stored[`${serviceId}@${version}`]);
    },
  };
  return s;
}

const text = (p: Payload): string => Buffer.from(p.data ?? new Uint8Array(0)).toString('utf8');
const toPayload = (v: unknown): Payload => defaultPayloadConverter.toPayload(v);

describe('PlanReferenceCodec', () => {
  it('replaces a stored plan by its reference and puts it back on decode', async () => {
    const plans = source({ 'purchase@1.2.0': { planHash: HASH, plan } });
    const codec = new PlanReferenceCodec(plans);
    const [encoded] = await codec.encode([toPayload(input)]);
    if (encoded === undefined) throw new Error('no payload');
    expect(text(encoded)).not.toContain('reserve-funds-step');
    expect(JSON.parse(text(encoded))).toEqual({
      planRef: { serviceId: 'purchase', version: '1.2.0', planHash: HASH },
      planHash: HASH,
      input: input.input,
    });
    expect(encoded.metadata?.[METADATA_PLAN_REF]).toBeDefined();
    const [decoded] = await codec.decode([encoded]);
    if (decoded === undefined) throw new Error('no payload');
    expect(decoded.metadata?.[METADATA_PLAN_REF]).toBeUndefined();
    expect(defaultPayloadConverter.fromPayload(decoded)).toEqual(input);
    // The plan text is cached by hash: one registry read for both directions.
    expect(plans.reads).toBe(1);
  });

  it.each([
    [
      'a plan that differs from the stored version (a subplan, an edited plan)',
      { ...input, plan: { ...plan, steps: [] } },
    ],
    ['a hash the registry does not hold under that version', { ...input, planHash: 'sha256:bbbb' }],
    ['a version the registry does not hold', { ...input, plan: { ...plan, version: '9.9.9' } }],
    ['a payload that is not an interpreter input', { amount: 100, plan: 'x' }],
    ['a plan without service id', { ...input, plan: { steps: [] } }],
  ])('keeps %s inline, unchanged', async (_name, value) => {
    const codec = new PlanReferenceCodec(source({ 'purchase@1.2.0': { planHash: HASH, plan } }));
    const payload = toPayload(value);
    const [encoded] = await codec.encode([payload]);
    expect(encoded).toBe(payload);
  });

  it('keeps the plan inline when the registry cannot be read', async () => {
    const codec = new PlanReferenceCodec({ storedVersion: () => Promise.reject(new Error('database down')) });
    const payload = toPayload(input);
    expect((await codec.encode([payload]))[0]).toBe(payload);
  });

  it('refuses a reference whose hash the registry does not hold, and a malformed one', async () => {
    const writer = new PlanReferenceCodec(source({ 'purchase@1.2.0': { planHash: HASH, plan } }));
    const [encoded] = await writer.encode([toPayload(input)]);
    if (encoded === undefined) throw new Error('no payload');
    const other = new PlanReferenceCodec(source({ 'purchase@1.2.0': { planHash: 'sha256:cccc', plan } }));
    const refused: unknown = await other.decode([encoded]).catch((e: unknown) => e);
    expect(isFixpayError(refused, 'SVC_PLAN_NOT_REGISTERED')).toBe(true);
    const garbled = { ...encoded, data: Buffer.from('{"planRef":{"serviceId":1}}') };
    const malformed: unknown = await other.decode([garbled]).catch((e: unknown) => e);
    expect(isFixpayError(malformed, 'CODEC_PAYLOAD_INVALID')).toBe(true);
    const notJson = { ...encoded, data: Buffer.from('{') };
    expect(isFixpayError(await other.decode([notJson]).catch((e: unknown) => e), 'CODEC_PAYLOAD_INVALID')).toBe(true);
  });

  it('runs before encryption: the stored payload is encrypted and holds no plan', async () => {
    const keys = codecKeysFromText('k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    const plans = source({ 'purchase@1.2.0': { planHash: HASH, plan } });
    const converter = createDataConverter(keys, plans);
    const codecs = converter.payloadCodecs ?? [];
    let payloads = [toPayload(input)];
    for (const c of codecs) payloads = await c.encode(payloads);
    const [stored] = payloads;
    if (stored === undefined) throw new Error('no payload');
    expect(text(stored)).not.toContain('T0000001');
    const inline = [toPayload({ ...input, plan: { ...plan, steps: [{ id: 'x'.repeat(4000) }] } })];
    let inlineStored = inline;
    for (const c of codecs) inlineStored = await c.encode(inlineStored);
    expect(stored.data?.length ?? 0).toBeLessThan((inlineStored[0]?.data?.length ?? 0) - 3000);
    for (const c of [...codecs].reverse()) payloads = await c.decode(payloads);
    expect(defaultPayloadConverter.fromPayload(payloads[0] ?? stored)).toEqual(input);
  });
});
