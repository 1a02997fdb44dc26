import { checkNodeId, controlOrigin, setNodeDraining } from './nodes';
import type { AuditSink } from './runs';

const never: AuditSink = {
  record: () => Promise.reject(new Error('nothing may be recorded for bad input')),
};

describe('fixpay ops drain|undrain input', () => {
  it('takes node ids of the configured shape and refuses the rest', () => {
    expect(checkNodeId('city-a.01_x')).toBe('city-a.01_x');
    for (const bad of [undefined, '', 'city a', 'a/b', 'x'.repeat(65), 'node;rm', 'ñ'])
      expect(() => checkNodeId(bad)).toThrow(expect.objectContaining({ codeName: 'BAD_REQUEST' }) as Error);
  });

  it('reaches only http(s) endpoints given as host:port or URL, never with credentials', () => {
    expect(controlOrigin('10.0.0.5:9464')).toBe('http://10.0.0.5:9464');
    expect(controlOrigin('https://node-a.example:9464/metrics')).toBe('https://node-a.example:9464');
    for (const bad of [
      'file:///etc/passwd',
      'gopher://x:1',
      'node-a',
      'http://user:pw@node-a:9464',
      '10.0.0.5:9464/../x',
      ' 10.0.0.5:9464',
    ])
      expect(() => controlOrigin(bad)).toThrow(expect.objectContaining({ codeName: 'BAD_REQUEST' }) as Error);
  });

  it('refuses before any request or audit record: bad reason, operator, wait', async () => {
    const base = {
      nodeId: 'city-a',
      target: '127.0.0.1:1',
      token: 't'.repeat(32),
      drain: true,
      reason: 'maintenance window',
      operator: 'alice',
    };
    for (const [o, name] of [
      [{ ...base, reason: 'short' }, 'OPS_REASON_REFUSED'],
      [{ ...base, reason: 'card 6225880000000001 stuck' }, 'OPS_REASON_REFUSED'],
      [{ ...base, reason: 'line one\nline two ok' }, 'OPS_REASON_REFUSED'],
      [{ ...base, operator: 'al ice' }, 'BAD_REQUEST'],
      [{ ...base, waitMs: -1 }, 'BAD_REQUEST'],
      [{ ...base, waitMs: 3_600_001 }, 'BAD_REQUEST'],
      [{ ...base, nodeId: '../x' }, 'BAD_REQUEST'],
    ] as const)
      await expect(setNodeDraining(never, o)).rejects.toMatchObject({ codeName: name });
  });

  it('an unreachable endpoint is FP1050 and nothing is recorded', async () => {
    await expect(
      setNodeDraining(never, {
        nodeId: 'city-a',
        target: '127.0.0.1:1',
        token: 't'.repeat(32),
        drain: true,
        reason: 'maintenance window',
        operator: 'alice',
      }),
    ).rejects.toMatchObject({ codeName: 'OPS_METRICS_UNREACHABLE' });
  });
});
