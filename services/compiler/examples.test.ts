/** Every shipped definition compiles and passes its own tests plus the generated fault matrix. */
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { runDefinitionTests, runFaultMatrix } from '../testing/run-tests';
import { compileFiles, definitionFiles } from './load';
import { formatDiagnostic } from './diagnostics';

const catalogue = defaultCatalogue();
const defs = compileFiles(definitionFiles(join(__dirname, '..', '..', 'definitions')), catalogue);

describe('example definitions', () => {
  it('ship payment, balance inquiry, top-up, bill payment and lottery', () => {
    expect(defs.map((d) => d.serviceId).sort()).toEqual(
      expect.arrayContaining(['balance-inquiry', 'bill-payment', 'lottery-ticket', 'mobile-topup', 'payment']),
    );
  });

  it.each(defs.map((d) => [d.serviceId, d] as const))(
    '%s compiles, passes its tests and the fault matrix',
    async (_id, d) => {
      expect(d.diagnostics.map(formatDiagnostic)).toEqual([]);
      if (d.plan === null || d.planHash === null) throw new Error('no plan');
      expect(d.tests.length).toBeGreaterThan(0);
      const reports = [
        ...(await runDefinitionTests(d.plan, d.planHash, d.tests, catalogue)),
        ...(await runFaultMatrix(d.plan, d.planHash, d.tests, catalogue)),
      ];
      expect(reports.filter((r) => !r.passed).map((r) => `${r.name}: ${r.problems.join('; ')}`)).toEqual([]);
      expect(d.plan.estimate.historyEvents).toBeLessThanOrEqual(d.plan.estimate.maxHistoryEvents);
    },
  );

  it('marks money services so they start with REJECT_DUPLICATE', () => {
    const money = Object.fromEntries(defs.map((d) => [d.serviceId, d.plan?.money]));
    expect(money).toMatchObject({ payment: true, 'mobile-topup': true, 'balance-inquiry': false });
  });
});
