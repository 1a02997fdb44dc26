/**
 * Eager workflow start (docs/adr/0013-purchase-cost.md): the access handler's client on the central
 * worker's native connection starts the verification and the purchase run with their first workflow
 * task handed back in the start's answer. Over real FSK audio, the Temporal dev server, the database
 * and the bank simulator: the purchase's guarantees hold as without it (approved and charged once,
 * a repeat attaches, a forged MAC is refused before anything is claimed, the phone's reversal lands
 * and nothing is posted, no card data in the history), and the histories show the eager start (the
 * first workflow task was started by the client, not by a worker's poll).
 */
import { temporal } from '@temporalio/proto';
import { accountIdFor } from '../../demo/seed';
import { waitFor } from '../../simulator/bank/harness';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { buildFinancialRequest, parseResponse, parseTrack2 } from '../../simulator/terminal/messages';
import { runTerminalScript } from '../../simulator/terminal/script';
import type { E2e } from './harness';
import {
  CARD_RICH,
  EAGER_CLIENT_IDENTITY,
  cardNeedles,
  databaseText,
  ledgerBalanced,
  rawHistoryText,
  startE2e,
} from './harness';

/** Who started a run's first workflow task: the starting client's identity when it was eager. */
async function firstTaskStartedBy(e2e: E2e, workflowId: string): Promise<string | undefined> {
  const history = await e2e.env.client.workflow.getHandle(workflowId).fetchHistory();
  const started = (history.events ?? []).find(
    (e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
  );
  return started?.workflowTaskStartedEventAttributes?.identity ?? undefined;
}

async function verificationRunsSince(e2e: E2e, since: Date): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of e2e.env.client.workflow.list({
    query: `WorkflowType = 'verifyTerminalRequestWorkflow' AND StartTime >= '${since.toISOString()}'`,
  }))
    ids.push(w.workflowId);
  return ids;
}

let nextStart = 3_000;
function freshState(): MemoryStateStore {
  nextStart += 100;
  return new MemoryStateStore({ stan: nextStart, batch: '000001', psamCounter: nextStart });
}

describe('eager workflow start from the access handler', () => {
  jest.setTimeout(180_000);
  let e2e: E2e;

  beforeAll(async () => {
    e2e = await startE2e({ eagerStart: true });
  }, 180_000);
  afterAll(async () => {
    await e2e.stop();
  });
  afterEach(async () => {
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
    const needles = cardNeedles();
    const db = await databaseText(e2e.db);
    for (const n of needles) expect(db).not.toContain(n);
    for (const id of new Set(e2e.workflowIds)) {
      const history = await rawHistoryText(e2e.env, id);
      for (const n of needles) expect(history).not.toContain(n);
    }
  });

  it('an approved purchase over FSK, charged once; the verification and the run were started eagerly', async () => {
    const since = new Date(Date.now() - 1_000);
    const before = e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 1250 },
      { step: 'hang-up' },
    ]);
    const [signOn, purchase] = r.transactions;
    expect(signOn).toMatchObject({ kind: 'sign-on', outcome: 'approved' });
    expect(purchase).toMatchObject({ kind: 'purchase', outcome: 'approved', responseCode: '00' });
    expect(e2e.bank.account(CARD_RICH.pan)?.balanceMinor).toBe(before - 1250);
    const runId = e2e.workflowIds.find((id) => id.startsWith(`purchase:T0000001:${purchase?.stan ?? '?'}:`));
    expect(runId).toBeDefined();
    expect(await firstTaskStartedBy(e2e, runId ?? '')).toBe(EAGER_CLIENT_IDENTITY);
    const verifications = await verificationRunsSince(e2e, since);
    expect(verifications.length).toBeGreaterThanOrEqual(2); // sign-on and purchase
    for (const id of verifications) expect(await firstTaskStartedBy(e2e, id)).toBe(EAGER_CLIENT_IDENTITY);
  });

  it('a run started by a plain client shows the worker, not the client, as its first task starter (the check above can fail)', async () => {
    const handle = await e2e.env.client.workflow.start('pingWorkflow', {
      taskQueue: 'services',
      workflowId: `eager-control:${nextStart}`,
      args: [{ message: 'control' }],
    });
    expect(await handle.result()).toMatchObject({ workflowId: handle.workflowId });
    const starter = await firstTaskStartedBy(e2e, handle.workflowId);
    expect(starter).toMatch(/\S/);
    expect(starter).not.toBe(EAGER_CLIENT_IDENTITY);
  });

  it('a request repeated after the call dropped attaches to the same run and is charged once', async () => {
    const before = e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
    const started = e2e.workflowIds.length;
    const sent = e2e.bankMtis.length;
    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 700, dropAfterSend: true },
      { step: 'wait', ms: 500 },
      { step: 'repeat' },
      { step: 'hang-up' },
    ]);
    expect(r.transactions[2]).toMatchObject({ outcome: 'approved', repeated: true });
    expect(e2e.bank.account(CARD_RICH.pan)?.balanceMinor).toBe(before - 700);
    // One run (the repeat attached to it or took its stored answer), one authorisation at the bank.
    const purchases = e2e.workflowIds.slice(started).filter((id) => id.startsWith('purchase:'));
    expect(new Set(purchases).size).toBe(1);
    expect(e2e.bankMtis.slice(sent).filter((m) => m === '0200')).toHaveLength(1);
  });

  it('a forged MAC is refused (A0) before anything is claimed, and reaches no card network', async () => {
    const sent = e2e.bankMtis.length;
    const started = e2e.workflowIds.length;
    const config = e2e.terminal();
    const identity = {
      terminalId: config.terminalId,
      merchantId: config.merchantId,
      tpdu: { id: 0x60, destination: config.tpdu.destination, source: config.tpdu.source },
      applicationHeader: config.applicationHeader,
      currency: config.currency,
      operatorCode: config.operatorCode,
    };
    const forged = buildFinancialRequest(
      identity,
      {
        kind: 'purchase',
        stan: nextStart + 50,
        amountMinor: 100,
        track2: parseTrack2(CARD_RICH.track2),
        pinBlock: new Uint8Array(8),
        batch: '000001',
      },
      {
        psam: {
          serial: config.psam.serial,
          terminalNumber: config.psam.terminalNumber,
          random: '01020304',
          counter: 1,
        },
        mac: () => new Uint8Array(8).fill(0x41),
      },
    );
    const answer = await e2e.handler({
      nodeId: 'e2e',
      lineId: 'forged',
      callerNumber: config.line.callerNumber,
      calledNumber: undefined,
      profileId: 'es201912-v23',
      payload: forged.payload,
    });
    expect(parseResponse(answer, forged, identity).responseCode).toBe('A0');
    expect(e2e.workflowIds.length).toBe(started);
    expect(e2e.bankMtis.length).toBe(sent);
  });

  it('a call dropped after authorisation: the phone reverses at its next call, the reversal lands, nothing is posted', async () => {
    const before = e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: freshState() }, [
      { step: 'sign-on' },
      { step: 'purchase', amountMinor: 800, dropAfterSend: true },
      { step: 'wait', ms: 500 },
      { step: 'settle' },
      { step: 'hang-up' },
    ]);
    const stan = r.transactions[1]?.stan ?? '';
    expect(r.reversals).toHaveLength(1);
    expect(r.reversals[0]).toMatchObject({ kind: 'reversal', stan, outcome: 'approved', responseCode: '00' });
    const idOf = (): string | undefined => e2e.workflowIds.find((w) => w.startsWith(`purchase:T0000001:${stan}:`));
    await waitFor(() => idOf() !== undefined, 20_000);
    const result: unknown = await e2e.env.client.workflow.getHandle(idOf() ?? '').result();
    expect(result).toMatchObject({ outcome: 'COMPENSATED', code: 'REVERSED_BY_TERMINAL' });
    await waitFor(() => e2e.bank.reversalsOf('T0000001', stan) === 1, 20_000);
    await waitFor(() => (e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0) === before, 20_000);
    expect(e2e.bank.reversalsOf('T0000001', stan)).toBe(1);
    const [merchant] = await e2e.ledger.lookupAccounts([accountIdFor('merchant:M0001')]);
    expect(merchant?.creditsPending).toBe(0n);
  });
});
