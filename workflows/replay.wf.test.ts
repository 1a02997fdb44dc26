/**
 * The replay gate: every history committed in workflows/__histories__/ replays against the current
 * workflow code, offline. A non-deterministic change fails here before it ships.
 * Histories are captured from real runs (see each workflow's *.wf.test.ts, UPDATE_HISTORIES=1).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { quietTemporalRuntime, testDataConverter } from '../test/support/temporal';

const HISTORIES = join(__dirname, '__histories__');

describe('replay gate', () => {
  const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));

  it('has committed histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)(
    'replays %s deterministically',
    async (file) => {
      quietTemporalRuntime();
      const history = historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')));
      await Worker.runReplayHistory(
        { workflowsPath: require.resolve('../worker/workflows'), dataConverter: testDataConverter() },
        history,
        file,
      );
    },
    60_000,
  );
});
