/**
 * The data converter for every Temporal client and worker of fixpay: encrypted payloads
 * (`AesGcmPayloadCodec`) and encoded failure attributes (`failure-converter.ts`).
 *
 *   const dataConverter = createDataConverter(config.codecKeys);
 *   await Client.connect(...); new Client({ connection, dataConverter });
 *   await Worker.create({ ..., dataConverter });
 */
import type { DataConverter } from '@temporalio/common';
import { AesGcmPayloadCodec } from './payload-codec';
import type { CodecKey } from './payload-codec';

/** `keys` oldest first; the newest encrypts. Throws CONFIG_INVALID on bad keys. */
export function createDataConverter(keys: readonly CodecKey[]): DataConverter {
  return {
    payloadCodecs: [new AesGcmPayloadCodec(keys)],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
