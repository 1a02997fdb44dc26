/**
 * The data converter for every Temporal client and worker of fixpay: plans by reference
 * (`PlanReferenceCodec`, when given a plan source), encrypted payloads (`AesGcmPayloadCodec`) and
 * encoded failure attributes (`failure-converter.ts`).
 *
 *   const dataConverter = createDataConverter(config.codecKeys, registry);
 *   await Client.connect(...); new Client({ connection, dataConverter });
 *   await Worker.create({ ..., dataConverter });
 */
import type { DataConverter } from '@temporalio/common';
import { AesGcmPayloadCodec } from './payload-codec';
import type { CodecKey } from './payload-codec';
import { PlanReferenceCodec } from './plan-reference';
import type { PlanSource } from './plan-reference';

/**
 * `keys` oldest first; the newest encrypts. With `plans`, interpreter inputs carry a stored plan
 * by reference (ADR 0013); every client and worker of one deployment must then have a source.
 * Throws CONFIG_INVALID on bad keys.
 */
export function createDataConverter(keys: readonly CodecKey[], plans?: PlanSource): DataConverter {
  const encryption = new AesGcmPayloadCodec(keys);
  return {
    // Encoding runs first to last, decoding last to first: the reference is made before encryption.
    payloadCodecs: plans === undefined ? [encryption] : [new PlanReferenceCodec(plans), encryption],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
