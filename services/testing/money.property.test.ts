/**
 * Property: whatever combination of faults hits the calls of a shipped definition (failures,
 * timeouts, successes that time out, on any attempts), the run ends and money stays balanced.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { defaultCatalogue } from '../catalogue/entries';
import { FakeWorld } from '../catalogue/fake';
import { compileFiles, definitionFiles } from '../compiler/load';
import { nestedSteps } from '../runtime/plan';
import type { PlanStep } from '../runtime/plan';
import { runFake } from './fake-runtime';
import type { Fault } from './fake-runtime';

const catalogue = defaultCatalogue();
const defs = compileFiles(definitionFiles(join(__dirname, '..', '..', 'definitions')), catalogue).filter(
  (d) => d.plan !== null && d.tests.length > 0,
);

function callIds(steps: readonly PlanStep[], out: string[] = []): string[] {
  for (const s of steps) {
    if (s.kind === 'call') out.push(s.id, ...(s.compensation === null ? [] : [`~${s.id}`]));
    if (s.kind === 'emit') out.push(s.id);
    nestedSteps(s).forEach((nested) => callIds(nested, out));
  }
  return out;
}

describe('money stays balanced under any combination of faults', () => {
  it.each(defs.map((d) => [d.serviceId, d] as const))('%s', async (_id, d) => {
    const plan = d.plan;
    const base = d.tests[0];
    if (plan === null || base === undefined) throw new Error('no plan');
    const ids = callIds(plan.steps);
    const fault: fc.Arbitrary<Fault> = fc.record({
      kind: fc.constantFrom<Fault['kind']>('fail', 'timeout', 'ambiguous'),
      // Compensations and post-pivot steps retry until success: their faults must clear eventually.
      attempts: fc.integer({ min: 1, max: 12 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...ids), fault, { maxKeys: 4 }), async (faults) => {
        const world = new FakeWorld(catalogue);
        const { result } = await runFake(
          world,
          { plan, planHash: d.planHash ?? '', input: base.input },
          {
            workflowId: `${plan.serviceId}:prop`,
            faults: new Map(Object.entries(faults)),
            messages: base.messages ?? {},
          },
        );
        expect(world.violations(result.outcome)).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});
