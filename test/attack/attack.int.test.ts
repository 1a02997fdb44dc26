/**
 * The quick slice of the attack suite (`npm run attack` is the full run): the targets started on
 * loopback with free ports, every short attack that is not in KNOWN_OPEN, then the check that every
 * process still serves and a legitimate purchase is approved. Asserts 0 defects.
 */
import { ATTACKS, KNOWN_OPEN } from './index';
import { renderTable, runAttacks } from './runner';
import { Targets } from './targets';

describe('attack suite, quick slice', () => {
  let ctx: Targets | undefined;
  afterAll(async () => {
    await ctx?.stop();
  }, 60_000);

  it('no attack of the quick slice finds a defect', async () => {
    ctx = await Targets.start();
    const selected = ATTACKS.filter((a) => a.quick === true && a.destructive !== true && !KNOWN_OPEN.includes(a.id));
    const results = await runAttacks(ctx, selected);
    console.log(renderTable(results));
    expect(results.filter((r) => r.verdict !== 'refused').map((r) => `${r.id}: ${r.verdict} ${r.evidence}`)).toEqual(
      [],
    );
  }, 600_000);
});
