/** Which catalogue calls may run as local activities, and what the compiler makes of it (ADR 0008). */
import { join } from 'node:path';
import { compileDefinition } from '../compiler/compile';
import { compileFiles } from '../compiler/load';
import type { PlanStep } from '../runtime/plan';
import { catalogueEntries, defaultCatalogue } from './entries';

const catalogue = defaultCatalogue();

function calls(steps: readonly PlanStep[]): { id: string; activity: string; local: boolean }[] {
  return steps.flatMap((s) => {
    switch (s.kind) {
      case 'call':
        return [{ id: s.id, activity: s.activity, local: s.local === true }];
      case 'switch':
        return [...s.cases.flatMap((c) => calls(c.steps)), ...calls(s.default ?? [])];
      case 'parallel':
        return s.branches.flatMap((b) => calls(b));
      case 'foreach':
        return calls(s.steps);
      default:
        return [];
    }
  });
}

describe('local activities in the catalogue', () => {
  it('are only declared for idempotent calls without effect, never for compensations', () => {
    const wrong = catalogueEntries
      .filter((e) => e.local === true)
      .filter((e) => !e.idempotent || e.effect !== 'none' || e.undoes !== undefined || e.settles !== undefined);
    expect(wrong.map((e) => e.name)).toEqual([]);
  });

  it('compile the purchase: checks, PIN and signing local; money and the line hand-over as activities', () => {
    const [purchase] = compileFiles([join(__dirname, '..', '..', 'definitions', 'purchase.yaml')], catalogue);
    if (purchase?.plan === null || purchase?.plan === undefined) throw new Error('purchase does not compile');
    const byId = Object.fromEntries(calls(purchase.plan.steps).map((c) => [c.id, c.local]));
    expect(byId).toMatchObject({ binding: true, mac: true, pin: true, answer: true });
    expect(byId).toMatchObject({ reserve: false, auth: false, post: false, deliver: false });
    for (const c of calls(purchase.plan.steps)) {
      const entry = catalogue.get(c.activity);
      if (c.local) expect(entry).toMatchObject({ local: true, idempotent: true, effect: 'none' });
    }
  });

  it('keep a call with a taskQueue an ordinary activity, and leave the field out otherwise', () => {
    const r = compileDefinition(
      `
apiVersion: fixpay/v1
kind: Service
metadata: { id: probe, version: 1.0.0 }
spec:
  businessKey: "\${input.terminalId}"
  input: { type: object, required: [terminalId], properties: { terminalId: { type: string } } }
  steps:
    - id: here
      call: checkBinding
      with: { terminalId: "\${input.terminalId}", ani: "1" }
      timeout: 2s
      retry: { maxAttempts: 2 }
    - id: there
      call: checkBinding
      with: { terminalId: "\${input.terminalId}", ani: "1" }
      taskQueue: "lines.n1"
      timeout: 2s
      retry: { maxAttempts: 2 }
  output: { bound: "\${steps.here.bound}" }
`,
      'probe.yaml',
      { catalogue },
    );
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
    const [here, there] = r.plan.steps;
    expect(here).toMatchObject({ kind: 'call', local: true });
    expect(there).toMatchObject({ kind: 'call' });
    expect(there !== undefined && 'local' in there).toBe(false);
  });
});
