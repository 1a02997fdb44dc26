import type { TransactionResult } from '../simulator/terminal/terminal';
import { addLatency, LATENCIES_KEPT, percentile, record, renderLine, renderTable, totalOf } from './demo';
import type { DemoSnapshot, TerminalStats } from './demo';

const stats = (terminalId: string, transport: 'tcp-pcm' | 'sip' = 'tcp-pcm'): TerminalStats => ({
  terminalId,
  transport,
  calls: 0,
  approved: 0,
  purchasesApproved: 0,
  declined: 0,
  failed: 0,
  retransmissions: 0,
  lastResponse: '',
  latenciesMs: [],
  lineTimeMs: 0,
});

const result = (over: Partial<TransactionResult>): TransactionResult => ({
  kind: 'purchase',
  repeated: false,
  outcome: 'approved',
  stan: '000001',
  responseCode: '00',
  responseText: 'APPROVED',
  authorizationCode: undefined,
  rrn: undefined,
  balanceMinor: undefined,
  failure: undefined,
  requestDigest: undefined,
  requestBytes: 0,
  lineTimeMs: 1_000,
  wallTimeMs: 1_500,
  retransmissions: 0,
  naksReceived: 0,
  framesRejected: 0,
  display: [],
  ...over,
});

describe('live demo summary', () => {
  it('percentile is nearest rank and undefined when empty', () => {
    expect(percentile([], 0.5)).toBeUndefined();
    expect(percentile([5], 0.99)).toBe(5);
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.99)).toBe(99);
  });

  it('records outcomes, retransmissions, line time and the last response; keeps the latest latencies', () => {
    const s = stats('T0000001');
    record(s, result({}));
    record(
      s,
      result({ outcome: 'declined', responseCode: '51', responseText: 'INSUFFICIENT FUNDS', retransmissions: 2 }),
    );
    record(
      s,
      result({
        kind: 'balance',
        outcome: 'failed',
        responseCode: undefined,
        failure: { code: 'FP0000', codeName: 'TERMINAL_SIM_NO_RESPONSE', message: '' },
      }),
    );
    expect(s).toMatchObject({
      calls: 3,
      approved: 1,
      purchasesApproved: 1,
      declined: 1,
      failed: 1,
      retransmissions: 2,
    });
    expect(s.lineTimeMs).toBe(3_000);
    expect(s.lastResponse).toBe('balance failed TERMINAL_SIM_NO_RESPONSE');
    for (let i = 0; i < LATENCIES_KEPT + 10; i++) addLatency(s, i);
    expect(s.latenciesMs).toHaveLength(LATENCIES_KEPT);
    expect(s.latenciesMs[0]).toBe(10);
  });

  it('renders a table per terminal with a total row, and a one-line summary', () => {
    const a = stats('T0000001');
    const b = stats('T0000004', 'sip');
    record(a, result({}));
    record(b, result({ outcome: 'declined', responseCode: '51', responseText: 'INSUFFICIENT FUNDS' }));
    addLatency(a, 300);
    addLatency(b, 500);
    const snapshot: DemoSnapshot = {
      terminals: [a, b],
      ledgerBalanced: true,
      temporalUiUrl: 'http://127.0.0.1:8233',
      lastWorkflowId: 'purchase:T0000001:000001:20261126',
    };
    expect(totalOf([a, b])).toMatchObject({ calls: 2, approved: 1, declined: 1 });
    const table = renderTable(snapshot).split('\n');
    expect(table.find((l) => l.startsWith('T0000004'))).toMatch(
      /sip\s+1\s+0\s+1\s+0\s+0\s+500\s+500\s+1\.0\s+purchase 51/,
    );
    expect(table.find((l) => l.startsWith('total'))).toMatch(/2\s+1\s+1\s+0\s+0\s+300\s+500\s+2\.0/);
    expect(table.join('\n')).toContain('ledger: balanced');
    expect(table.join('\n')).toContain('purchase:T0000001:000001:20261126');
    const line = renderLine({ ...snapshot, ledgerBalanced: false });
    expect(line).not.toContain('\n');
    expect(line).toContain('calls 2 approved 1 (purchases 1) declined 1');
    expect(line).toContain('LEDGER OUT OF BALANCE');
  });
});
