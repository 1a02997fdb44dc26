/**
 * A real Temporal dev server for workflow tests, from the CLI binary that `fixpay temporal install`
 * (or .ci/run) builds. Each test file starts its own in-memory server on a free port.
 */
import type { DataConverter } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createDataConverter } from '../../codec/data-converter';
import { codecKeysFromText } from '../../codec/payload-codec';
import type { PlanSource } from '../../codec/plan-reference';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { loadConfig, processEnv } from '../../config';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/search-attributes';
import { findTemporalCli } from '../../infra/temporal/cli';
import { dynamicConfigArgs } from '../../infra/temporal/dev-server';

/** Path of the Temporal CLI, or a clear error telling how to get one. */
export function temporalCliPath(): string {
  const config = loadConfig();
  const found = findTemporalCli(config.temporal, processEnv()['PATH']);
  if (found?.kind !== 'binary') {
    throw new Error(
      'No Temporal CLI found. Run `npm run fixpay -- temporal install` (builds it with Go into ' +
        `${config.temporal.cacheDir}) or set FIXPAY_TEMPORAL_CLI to an existing binary.`,
    );
  }
  return found.path;
}

/** A fixed, public test key: tests and committed histories use it; never a real deployment. */
export const TEST_CODEC_KEYS = 'test-1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

/** The data converter every test client and worker uses: encrypted payloads as in production. */
/** The test codec keys; with `plans`, interpreter inputs carry stored plans by reference (ADR 0013). */
export function testDataConverter(plans?: PlanSource): DataConverter {
  return createDataConverter(codecKeysFromText(TEST_CODEC_KEYS), plans);
}

let runtimeInstalled = false;

/** Keeps the SDK's own logging to warnings so test output stays readable. */
const sdkLogSinks = new Set<(line: string) => void>();

/** Also sends the SDK's log lines (warn and above) to `sink`, e.g. to scan them for card data. */
export function onTemporalSdkLog(sink: (line: string) => void): () => void {
  sdkLogSinks.add(sink);
  return () => {
    sdkLogSinks.delete(sink);
  };
}

export function quietTemporalRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => {
      const line = `${entry.level} ${entry.message} ${JSON.stringify(entry.meta ?? {})}`;
      process.stderr.write(`${line}\n`);
      for (const sink of sdkLogSinks) sink(line);
    }),
  });
}

/** Starts a real dev server with the platform's search attributes. Call `teardown()` after. */
export async function startTestServer(plans?: PlanSource): Promise<TestWorkflowEnvironment> {
  quietTemporalRuntime();
  return TestWorkflowEnvironment.createLocal({
    client: { dataConverter: testDataConverter(plans) },
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      searchAttributes: SEARCH_ATTRIBUTE_NAMES.map((n) => defineSearchAttributeKey(n, SearchAttributeType.KEYWORD)),
      // The same dynamic configuration as `fixpay dev` (queue reader poll rates: ADR 0008).
      extraArgs: dynamicConfigArgs(),
    },
  });
}
