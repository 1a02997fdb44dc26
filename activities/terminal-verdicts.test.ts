/**
 * The phone's verdict (ADR 0012) on the in-memory list: a verified request confirms the terminal's
 * other waiting sales, a reversal tells the waiting run or leaves a tombstone (25), and a run that
 * has ended is closed. The signaller is a recording fake (the real one is the worker's client).
 */
import { InMemoryTerminalVerdictStore } from './terminal-verdict-store';
import { confirmWaitingSales, createTerminalVerdictActivities } from './terminal-verdicts';
import type { TerminalVerdict, VerdictSignaller } from './terminal-verdicts';

function recorder(gone: readonly string[] = []): { signal: VerdictSignaller; sent: [string, TerminalVerdict][] } {
  const sent: [string, TerminalVerdict][] = [];
  return {
    sent,
    signal: (workflowId, verdict) => {
      if (gone.includes(workflowId)) return Promise.resolve('gone');
      sent.push([workflowId, verdict]);
      return Promise.resolve('delivered');
    },
  };
}

const sale = (stan: string, terminalId = 'T0000001') => ({
  terminalId,
  stan,
  workflowId: `purchase:${terminalId}:${stan}:20261203`,
  requestDigest: `d${stan}`,
});

describe('confirmWaitingSales', () => {
  it('confirms every waiting sale of the terminal except the one under the request’s STAN', async () => {
    const store = new InMemoryTerminalVerdictStore();
    await store.open(sale('000001'));
    await store.open(sale('000002'));
    await store.open(sale('000003', 'T0000002'));
    await store.open(sale('000004'));
    await store.update('T0000001', '000004', { state: 'confirmed' });
    const { signal, sent } = recorder();
    expect(await confirmWaitingSales(store, signal, 'T0000001', '000002')).toBe(1);
    expect(sent).toEqual([['purchase:T0000001:000001:20261203', 'confirmed']]);
  });

  it('closes a sale whose run has ended, so it is not signalled again', async () => {
    const store = new InMemoryTerminalVerdictStore();
    await store.open(sale('000001'));
    const { signal } = recorder(['purchase:T0000001:000001:20261203']);
    expect(await confirmWaitingSales(store, signal, 'T0000001', '000009')).toBe(0);
    expect((await store.get('T0000001', '000001'))?.state).toBe('closed');
    expect(await store.waiting('T0000001')).toEqual([]);
  });
});

describe('reverseTerminalSale', () => {
  it('tells the waiting run and answers 00', async () => {
    const store = new InMemoryTerminalVerdictStore();
    await store.open(sale('000005'));
    const { signal, sent } = recorder();
    const acts = createTerminalVerdictActivities({ verdicts: store, signal });
    expect(await acts.reverseTerminalSale({ terminalId: 'T0000001', stan: '000005' })).toEqual({
      responseCode: '00',
      known: true,
      late: false,
    });
    expect(sent).toEqual([['purchase:T0000001:000005:20261203', 'reversed']]);
  });

  it('answers 25 for a sale the host never saw and remembers the STAN as reversed', async () => {
    const store = new InMemoryTerminalVerdictStore();
    const { signal, sent } = recorder();
    const acts = createTerminalVerdictActivities({ verdicts: store, signal });
    const first = await acts.reverseTerminalSale({ terminalId: 'T0000001', stan: '000006' });
    expect(first).toEqual({ responseCode: '25', known: false, late: false });
    // Its repeat (0401) gets the same; nothing is signalled.
    expect(await acts.reverseTerminalSale({ terminalId: 'T0000001', stan: '000006' })).toEqual(first);
    expect(sent).toEqual([]);
    // A late copy of the request opens onto the tombstone: the run declines it.
    const row = await store.open(sale('000006'));
    expect(row).toMatchObject({ state: 'reversed', workflowId: null });
  });

  it('answers 00 but late for a sale already confirmed (an operator refunds), without signalling', async () => {
    const store = new InMemoryTerminalVerdictStore();
    await store.open(sale('000007'));
    await store.update('T0000001', '000007', { state: 'confirmed' });
    const { signal, sent } = recorder();
    const acts = createTerminalVerdictActivities({ verdicts: store, signal });
    expect(await acts.reverseTerminalSale({ terminalId: 'T0000001', stan: '000007' })).toEqual({
      responseCode: '00',
      known: true,
      late: true,
    });
    expect(sent).toEqual([]);
  });

  it('answers 00, not late, for a sale already reversed or declined', async () => {
    const store = new InMemoryTerminalVerdictStore();
    await store.open(sale('000008'));
    await store.update('T0000001', '000008', { state: 'reversed', answer: 'ab' });
    const acts = createTerminalVerdictActivities({ verdicts: store, signal: recorder().signal });
    expect(await acts.reverseTerminalSale({ terminalId: 'T0000001', stan: '000008' })).toMatchObject({
      responseCode: '00',
      late: false,
    });
  });
});

describe('the in-memory verdict list', () => {
  it('keeps the first row of a sale; a row older than the kept period is a new sale (a wrapped STAN)', async () => {
    let now = 0;
    const store = new InMemoryTerminalVerdictStore(() => now, 1_000);
    await store.open(sale('000010'));
    await store.update('T0000001', '000010', { state: 'confirmed', answer: 'aa' });
    expect(await store.open({ ...sale('000010'), requestDigest: 'other' })).toMatchObject({ requestDigest: 'd000010' });
    now = 2_000;
    expect(await store.open({ ...sale('000010'), requestDigest: 'other' })).toMatchObject({
      requestDigest: 'other',
      state: 'open',
      answer: null,
    });
  });

  it('records a state and keeps the answer when none is given', async () => {
    const store = new InMemoryTerminalVerdictStore();
    const acts = createTerminalVerdictActivities({ verdicts: store, signal: recorder().signal });
    await store.open(sale('000011'));
    await acts.recordTerminalVerdict({ terminalId: 'T0000001', stan: '000011', state: 'open', response: 'c0ffee' });
    await acts.recordTerminalVerdict({ terminalId: 'T0000001', stan: '000011', state: 'confirmed' });
    expect(await store.get('T0000001', '000011')).toMatchObject({ state: 'confirmed', answer: 'c0ffee' });
    await expect(
      acts.recordTerminalVerdict({ terminalId: 'T0000001', stan: '000011', state: 'bogus' as never }),
    ).rejects.toThrow(/unknown verdict state/);
  });
});
