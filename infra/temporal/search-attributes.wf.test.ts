import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/search-attributes';
import { quietTemporalRuntime, temporalCliPath } from '../../test/support/temporal';
import { ensureSearchAttributes } from './search-attributes';

describe('ensureSearchAttributes on a server started without them', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    quietTemporalRuntime();
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: temporalCliPath() } },
    });
  }, 60_000);
  afterAll(async () => {
    await env.teardown();
  });

  it('adds every platform attribute once, then nothing', async () => {
    const address = env.address;
    const added = await ensureSearchAttributes(address, 'default');
    expect([...added].sort()).toEqual([...SEARCH_ATTRIBUTE_NAMES].sort());
    expect(await ensureSearchAttributes(address, 'default')).toEqual([]);
  }, 60_000);
});
