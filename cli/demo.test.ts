import type { TransactionResult } from '../simulator/terminal/terminal';
import { demoCards } from '../simulator/terminal/demo';
import {
  addLatency,
  DEMO_VAS,
  demoSeat,
  LATENCIES_KEPT,
  percentile,
  record,
  recordService,
  renderLine,
  renderTable,
  servicesText,
  totalOf,
} from './demo';
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
  byService: {},
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

  it('counts calls and approvals per service, purchases and menu services alike, in the line and the table', () => {
    const a = stats('T0000001');
    const b = stats('T0000002');
    record(a, result({}));
    record(b, result({ outcome: 'declined', responseCode: '51' }));
    record(b, result({ kind: 'balance' }));
    const conv = { stan: '000002', responseCode: '00', screens: [], receipt: [], display: [] };
    recordService(a, { ...conv, code: 'air-ticket', outcome: 'approved' });
    recordService(b, { ...conv, code: 'air-ticket', outcome: 'declined', responseCode: '17' });
    recordService(b, { ...conv, code: 'transfer', outcome: 'failed', responseCode: undefined });
    expect(servicesText([a, b])).toBe('air-ticket 1/2, balance 1/1, purchase 1/2, transfer 0/1');
    const snapshot: DemoSnapshot = {
      terminals: [a, b],
      ledgerBalanced: true,
      temporalUiUrl: undefined,
      lastWorkflowId: undefined,
    };
    expect(renderLine(snapshot)).toMatch(/; services air-ticket 1\/2, balance 1\/1, purchase 1\/2, transfer 0\/1$/);
    expect(renderTable(snapshot)).toContain('services (approved/calls): air-ticket 1/2, balance 1/1');
  });

  it('loops every service of the seed, with references that never repeat within a run', () => {
    expect(DEMO_VAS.map((v) => v.code).sort()).toEqual([
      'air-ticket',
      'bill-payment',
      'credit-card-repayment',
      'lottery-ticket',
      'mobile-topup',
      'movie-ticket',
      'transfer',
      'voucher-topup',
    ]);
    const [rich, poor, credit] = demoCards().map((c) => c.pan);
    const of = (code: string) => DEMO_VAS.find((v) => v.code === code);
    const bookings = Array.from({ length: 500 }, (_, n) => of('air-ticket')?.inputs(n, rich ?? '')?.['booking']);
    expect(new Set(bookings).size).toBe(500);
    // Every booking and first seat ends 0–3: the sandbox's at-once success.
    for (const b of bookings) expect(b).toMatch(/^\d{5}[0-3]$/);
    const seats = Array.from({ length: 1_000 }, (_, n) => of('movie-ticket')?.inputs(n, rich ?? ''));
    expect(new Set(seats.map((x) => `${x?.['show']}/${x?.['seatKeys']}`)).size).toBe(1_000);
    expect(
      Array.from({ length: 1_000 }, (_, n) => demoSeat(n)).every((k) => /^(0[1-9]|1\d|2[0-6])\d[0-3]$/.test(k)),
    ).toBe(true);
    // A card never pays itself: the credit card's phone passes the repayment's turn, the transfer goes elsewhere.
    expect(of('credit-card-repayment')?.inputs(0, credit ?? '')).toBeUndefined();
    expect(of('credit-card-repayment')?.inputs(0, rich ?? '')).toEqual({ target: credit, amount: '100' });
    for (const own of [rich, poor, credit]) expect(of('transfer')?.inputs(0, own ?? '')?.['target']).not.toBe(own);
    expect(of('lottery-ticket')?.inputs(3, rich ?? '')).toMatchObject({ draw: '00000001', numbers: '010713223543' });
  });
});
