/**
 * Replay gate for the interpreter: histories of real runs on the dev server (captured by
 * interpreter.wf.test.ts with UPDATE_HISTORIES=1) replay offline against the current interpreter.
 * Any change to the order of commands the interpreter issues for a plan fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { quietTemporalRuntime, testDataConverter } from '../test/support/temporal';

const HISTORIES = join(__dirname, '__histories__', 'interpreter');

describe('interpreter replay gate', () => {
  const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json') && f !== 'index.json');
  // The workflow id of each captured run: the interpreter derives child ids and keys from it.
  const ids = JSON.parse(readFileSync(join(HISTORIES, 'index.json'), 'utf8')) as Record<string, string>;

  it('has committed interpreter histories', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  it('replays every committed history deterministically', async () => {
    quietTemporalRuntime();
    const histories = files.map((file) => ({
      workflowId: ids[file] ?? file,
      history: historyFromJSON(JSON.parse(readFileSync(join(HISTORIES, file), 'utf8'))),
    }));
    const results = Worker.runReplayHistories(
      { workflowsPath: require.resolve('./interpreter'), dataConverter: testDataConverter() },
      histories,
    );
    const failures: string[] = [];
    for await (const r of results) if (r.error !== undefined) failures.push(`${r.workflowId}: ${String(r.error)}`);
    expect(failures).toEqual([]);
  }, 60_000);
});
