/**
 * The failure converter every fixpay client and worker uses, loaded by path (Temporal loads it
 * inside the workflow sandbox too): failure messages and stack traces are moved into an encoded
 * payload, so the payload codec encrypts them — gateway error texts can echo a PAN.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
