import { FixpayError } from '../domain/errors';
import { checkOperationId, createOperatorActionActivities, operatorActionWorkflowId } from './operator-actions';
import type { OperatorActionInput } from './operator-actions';

const input: OperatorActionInput & { workflowId: string } = {
  operationId: 'op-1',
  operator: 'alice',
  reason: 'maintenance of the host',
  action: { kind: 'node.drain', nodeId: 'city-a', target: '127.0.0.1:9464' },
  workflowId: 'ops:node.drain:city-a:op-1',
};

describe('operator actions as runs', () => {
  it('names the run by action, subject and operation id', () => {
    expect(operatorActionWorkflowId(input)).toBe('ops:node.drain:city-a:op-1');
    expect(
      operatorActionWorkflowId({ operationId: 'x', action: { kind: 'reversal.replay', key: 'T1:000001:20261204' } }),
    ).toBe('ops:reversal.replay:T1:000001:20261204:x');
  });

  it('refuses operation ids that are not a plain name', () => {
    expect(checkOperationId('op-1.2_b')).toBe('op-1.2_b');
    for (const bad of [undefined, '', 'a b', 'a:b', 'x'.repeat(65), '../x'])
      expect(() => checkOperationId(bad)).toThrow(/operation id/);
  });

  it('returns the result with the operator, and a refusal as the outcome (code, name, detail)', async () => {
    const ok = createOperatorActionActivities({ perform: () => Promise.resolve({ draining: true, liveCalls: 0 }) });
    await expect(ok.performOperatorAction(input)).resolves.toEqual({
      ok: true,
      operator: 'alice',
      kind: 'node.drain',
      result: { draining: true, liveCalls: 0 },
    });
    const refused = createOperatorActionActivities({
      perform: () => Promise.reject(new FixpayError('OPS_NODE_MISMATCH', '127.0.0.1:9464 is node city-b, not city-a')),
    });
    await expect(refused.performOperatorAction(input)).resolves.toMatchObject({
      ok: false,
      operator: 'alice',
      codeName: 'OPS_NODE_MISMATCH',
      detail: '127.0.0.1:9464 is node city-b, not city-a',
    });
  });

  it('lets anything else fail the attempt (the run retries it), and checks the operation id first', async () => {
    const broken = createOperatorActionActivities({ perform: () => Promise.reject(new Error('socket hang up')) });
    await expect(broken.performOperatorAction(input)).rejects.toThrow('socket hang up');
    let called = false;
    const never = createOperatorActionActivities({
      perform: () => {
        called = true;
        return Promise.resolve({});
      },
    });
    await expect(never.performOperatorAction({ ...input, operationId: 'a b' })).rejects.toThrow(/operation id/);
    expect(called).toBe(false);
  });
});
