/**
 * ADR 0012's loss-point matrix over real FSK audio (TCP PCM): for every way a purchase call can
 * lose a frame or drop, the phone's display, the ledger (posted or voided), the card network's
 * reversals (the bank simulator's record) and the card's balance end in agreement, every ledger
 * balances and nothing is charged twice. The phone is the authority: the host answers, waits for
 * its verdict (its next verified request confirms; its 0400 reverses), and decides at the verdict
 * deadline only when the phone never calls again.
 *
 * One platform for every case; each case uses its own STAN range and ends with the phone's next
 * call, so no sale is left waiting for the next case's requests to confirm it.
 */
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { accountIdFor } from '../../demo/seed';
import { waitFor } from '../../simulator/bank/harness';
import { MemoryStateStore } from '../../simulator/terminal/config';
import type { TerminalConfig, TerminalState } from '../../simulator/terminal/config';
import { CANCELLED_LINES, PosTerminal } from '../../simulator/terminal/terminal';
import type { TransactionFaults } from '../../simulator/terminal/terminal';
import { defaultCatalogue } from '../../services/catalogue/entries';
import { compileFiles } from '../../services/compiler/load';
import type { ServiceResult } from '../../services/runtime/plan';
import type { E2e } from './harness';
import { CARD_RICH, ledgerBalanced, startE2e } from './harness';

const TERMINAL = 'T0000001';
/** Every ACK of ours lost for the rest of the exchange. */
const ALL = 1_000;

describe('ADR 0012: phone and host agree on every cell of the loss-point matrix (FSK over TCP PCM)', () => {
  jest.setTimeout(180_000);
  let e2e: E2e;
  let config: TerminalConfig;
  let keys: TerminalState['workingKeys'];
  let nextStan = 10_000;

  beforeAll(async () => {
    // A short repeat grace: an answer whose ACK never came is noted as such after 2 s.
    e2e = await startE2e({ repeatGraceMs: 2_000 });
    const base = e2e.terminal();
    config = { ...base, timeouts: { ...base.timeouts, responseMs: 20_000 } };
    const store = new MemoryStateStore({ stan: 1, batch: '000001', psamCounter: 1 });
    const first = new PosTerminal(config, { stateStore: store });
    expect(await first.signOn()).toMatchObject({ outcome: 'approved' });
    await first.hangUp();
    keys = store.load().workingKeys;
    expect(keys).toBeDefined();
  }, 180_000);

  afterAll(async () => {
    await e2e.stop();
  });

  /** The phone of the running case: settled after it, so a failed case cannot leak a sale into the next. */
  let current: PosTerminal | undefined;
  afterEach(async () => {
    if (current !== undefined && current.owedReversal !== undefined) {
      await current.settleReversal().catch(() => undefined);
      await current.hangUp().catch(() => undefined);
    }
    current = undefined;
    expect(await ledgerBalanced(e2e.ledger)).toBe(true);
  });

  /** A phone on its own STAN and PSAM counter range, signed on (the shared working keys). */
  function phone(): { terminal: PosTerminal; store: MemoryStateStore } {
    nextStan += 100;
    const store = new MemoryStateStore({
      stan: nextStan,
      batch: '000001',
      psamCounter: nextStan,
      ...(keys === undefined ? {} : { workingKeys: keys }),
    });
    current = new PosTerminal(config, { stateStore: store });
    return { terminal: current, store };
  }

  interface Before {
    readonly bank: number;
    readonly posted: bigint;
  }
  async function snapshot(): Promise<Before> {
    const [merchant] = await e2e.ledger.lookupAccounts([accountIdFor('merchant:M0001')]);
    return { bank: e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0, posted: merchant?.creditsPosted ?? 0n };
  }

  function runIdOf(stan: string): string | undefined {
    return e2e.workflowIds.find((w) => w.startsWith(`purchase:${TERMINAL}:${stan}:`));
  }

  async function resultOf(stan: string): Promise<ServiceResult> {
    await waitFor(() => runIdOf(stan) !== undefined, 20_000);
    return e2e.env.client.workflow.getHandle(runIdOf(stan) ?? '').result() as Promise<ServiceResult>;
  }

  /** The sale under `stan` ended charged once and posted, or not charged at all, and said so everywhere. */
  async function expectSettled(stan: string, amount: number, before: Before, charged: boolean): Promise<void> {
    if (runIdOf(stan) !== undefined) {
      const result = await resultOf(stan);
      expect(result.outcome).toBe(charged ? 'COMPLETED' : result.outcome === 'FAILED' ? 'FAILED' : 'COMPENSATED');
    } else expect(charged).toBe(false);
    if (!charged) await waitFor(() => (e2e.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0) === before.bank, 30_000);
    const after = await snapshot();
    expect(before.bank - after.bank).toBe(charged ? amount : 0);
    expect(after.posted - before.posted).toBe(charged ? BigInt(amount) : 0n);
    if (charged) expect(e2e.bank.reversalsOf(TERMINAL, stan)).toBe(0);
    const [merchant] = await e2e.ledger.lookupAccounts([accountIdFor('merchant:M0001')]);
    expect(merchant?.creditsPending).toBe(0n);
  }

  const approvedShown = (t: PosTerminal): void => {
    expect(t.display.slice(0, 2)).toEqual(['PURCHASE', 'APPROVED']);
    expect(t.pendingPurchase).toBeUndefined();
    expect(t.owedReversal).toBeUndefined();
  };
  const cancelledShown = (t: PosTerminal, reason: '98' | 'A0'): void => {
    expect(t.display.slice(0, 2)).toEqual([...CANCELLED_LINES]);
    expect(t.owedReversal).toMatchObject({ reason, sent: false });
  };

  /** The phone's next call: its owed reversal first (if any), then a balance inquiry. */
  async function nextCall(t: PosTerminal): Promise<void> {
    const sent = t.reversals.length;
    const balance = await t.balance();
    expect(balance).toMatchObject({ kind: 'balance', outcome: 'approved' });
    await t.hangUp();
    for (const r of t.reversals.slice(sent)) expect(r).toMatchObject({ kind: 'reversal' });
    expect(t.owedReversal).toBeUndefined();
  }

  async function purchase(
    faults: TransactionFaults,
    amount: number,
  ): Promise<{ terminal: PosTerminal; store: MemoryStateStore; stan: string; before: Before }> {
    const p = phone();
    const before = await snapshot();
    const r = await p.terminal.purchase(amount, undefined, faults);
    const stan = r.stan ?? '';
    expect(stan).toMatch(/^\d{6}$/);
    return { ...p, stan, before };
  }

  // --- the phone has the answer: the host must post ---------------------------------------

  it('nothing lost: APPROVED, confirmed at the next call, posted once', async () => {
    const { terminal, stan, before } = await purchase({}, 1_101);
    approvedShown(terminal);
    await terminal.hangUp();
    await nextCall(terminal);
    await expectSettled(stan, 1_101, before, true);
  });

  it('answer arrives, every ACK lost, the host gives up without REL: APPROVED, posted at the next call', async () => {
    const { terminal, stan, before } = await purchase({ loseAcks: ALL }, 1_102);
    approvedShown(terminal);
    // The host retransmits its answer, hears no ACK and hangs up.
    await waitFor(() => !terminal.connected || runIdOf(stan) !== undefined, 10_000);
    await new Promise((r) => setTimeout(r, 6_000));
    await terminal.hangUp();
    await nextCall(terminal);
    await expectSettled(stan, 1_102, before, true);
  });

  it("answer arrives, ACK lost, the phone's REL reaches the host first: APPROVED, posted at the next call", async () => {
    const { terminal, stan, before } = await purchase({ loseAcks: ALL }, 1_103);
    approvedShown(terminal);
    await terminal.hangUp();
    await nextCall(terminal);
    await expectSettled(stan, 1_103, before, true);
  });

  it('dropped after the answer arrived, before its ACK got through: APPROVED, posted at the next call', async () => {
    const { terminal, stan, before } = await purchase({ cut: 'after-answer' }, 1_104);
    approvedShown(terminal);
    await nextCall(terminal);
    await expectSettled(stan, 1_104, before, true);
  });

  it('dropped after the ACK, before REL: APPROVED, posted at the next call', async () => {
    const { terminal, stan, before } = await purchase({}, 1_105);
    approvedShown(terminal);
    terminal.dropCall();
    await nextCall(terminal);
    await expectSettled(stan, 1_105, before, true);
  });

  // --- the phone has no valid answer: it reverses, the host must not charge ---------------

  it('answer arrives with a MAC invalid at the phone (link ACK sent): CANCELLED, 0400 A0 reverses, not charged', async () => {
    const { terminal, stan, before } = await purchase({ corruptAnswerMac: true }, 1_106);
    cancelledShown(terminal, 'A0');
    await terminal.hangUp();
    await nextCall(terminal);
    expect(terminal.reversals.at(-1)).toMatchObject({ outcome: 'approved', responseCode: '00', stan });
    await expectSettled(stan, 1_106, before, false);
    expect(e2e.bank.reversalsOf(TERMINAL, stan)).toBeGreaterThan(0);
    // A non-conforming repeat after the reversal: a MACed decline 12 (the phone verifies it).
    const repeat = await terminal.repeatPurchase();
    expect(repeat).toMatchObject({ outcome: 'declined', responseCode: '12', repeated: true });
    await terminal.hangUp();
  });

  it('answer lost (every transmission): CANCELLED, 0400 98 reverses, not charged', async () => {
    const { terminal, stan, before } = await purchase({ loseAnswers: ALL }, 1_107);
    cancelledShown(terminal, '98');
    await terminal.hangUp();
    await nextCall(terminal);
    expect(terminal.reversals.at(-1)).toMatchObject({ responseCode: '00', stan });
    await expectSettled(stan, 1_107, before, false);
  });

  it('dropped while the host processes: CANCELLED, 0400 reverses (kept by the run if it comes first), not charged', async () => {
    const { terminal, stan, before } = await purchase({ cut: 'after-send' }, 1_108);
    cancelledShown(terminal, '98');
    await nextCall(terminal);
    // The 0400 races the run: once the run has opened the sale it reverses it (00); before that,
    // the sale is unknown (25) and its terminal id + STAN is kept as reversed, so the run declines
    // it with 12 before the card network is asked. Either way the phone's reversal is settled and
    // nothing is charged.
    expect(terminal.reversals.at(-1)).toMatchObject({ stan });
    expect(['00', '25']).toContain(terminal.reversals.at(-1)?.responseCode);
    await expectSettled(stan, 1_108, before, false);
  });

  it("request's ACK lost (every try), the host has the request: CANCELLED, 0400 reverses, not charged", async () => {
    const { terminal, stan, before } = await purchase({ loseRequestAcks: ALL }, 1_109);
    cancelledShown(terminal, '98');
    await terminal.hangUp();
    // The run may not exist yet when the phone gives up: the 0400 is answered either way.
    await nextCall(terminal);
    await expectSettled(stan, 1_109, before, false);
  });

  it('request lost (every try): CANCELLED, 0410 25, and a late copy of the request is declined', async () => {
    const { terminal, stan, before } = await purchase({ loseRequests: ALL }, 1_110);
    cancelledShown(terminal, '98');
    await terminal.hangUp();
    await nextCall(terminal);
    expect(terminal.reversals.at(-1)).toMatchObject({ responseCode: '25', stan });
    // The host remembers the STAN as reversed (a tombstone in the verdict list)...
    const rows = await e2e.db.prisma.$queryRaw<{ state: string; workflow_id: string | null }[]>`
      SELECT "state", "workflow_id" FROM "terminal_verdict" WHERE "terminal_id" = ${TERMINAL} AND "stan" = ${stan}`;
    expect(rows).toEqual([{ state: 'reversed', workflow_id: null }]);
    // ...and a late copy is declined: its PSAM counter is below the 0400's (A0, the replay rule),
    // and past that check the tombstone answers 12. Either way nothing reaches the card network.
    const late = await terminal.repeatPurchase();
    expect(late.outcome).toBe('declined');
    expect(['12', 'A0']).toContain(late.responseCode);
    await terminal.hangUp();
    await expectSettled(stan, 1_110, before, false);
  });

  it('dropped before the request left: CANCELLED, 0410 25, nothing to undo', async () => {
    const { terminal, stan, before } = await purchase({ cut: 'before-send' }, 1_111);
    cancelledShown(terminal, '98');
    await nextCall(terminal);
    expect(terminal.reversals.at(-1)).toMatchObject({ responseCode: '25', stan });
    expect(runIdOf(stan)).toBeUndefined();
    await expectSettled(stan, 1_111, before, false);
  });

  it('a reversal the host cannot verify (wrong line) gets an unMACed 0410: still owed, nothing else is sent, then it goes through', async () => {
    const { terminal, store, stan, before } = await purchase({ cut: 'after-send' }, 1_117);
    cancelledShown(terminal, '98');
    // The same phone state dialling from a line bound to no terminal: the 0400 is refused before
    // it runs (unMACed 03), the reversal stays owed and the balance inquiry is not sent.
    const elsewhere = new PosTerminal(config, { stateStore: store, callerNumber: '869999999999' });
    const refused = await elsewhere.balance();
    expect(refused).toMatchObject({ kind: 'balance', outcome: 'failed' });
    expect(elsewhere.reversals.at(-1)).toMatchObject({ kind: 'reversal', outcome: 'failed' });
    expect(elsewhere.owedReversal).toMatchObject({ stan, sent: true });
    await elsewhere.hangUp();
    // From its own line (the state as the phone kept it): 0401, reversed, not charged.
    const home = new PosTerminal(config, { stateStore: store });
    current = home;
    await nextCall(home);
    expect(home.reversals.at(-1)).toMatchObject({ kind: 'reversal', responseCode: '00', stan });
    await expectSettled(stan, 1_117, before, false);
  });

  // --- repeats --------------------------------------------------------------------------

  it('a repeat after the answer was not delivered gets the stored answer (no 8 s limit); posted once', async () => {
    const { terminal, stan, before } = await purchase({ cut: 'after-send' }, 1_112);
    cancelledShown(terminal, '98');
    // Let the run answer the dead call and wait past the repeat grace.
    await resultOrWaiting(stan);
    await new Promise((r) => setTimeout(r, 3_000));
    const repeat = await terminal.repeatLast();
    expect(repeat).toMatchObject({ outcome: 'approved', repeated: true, stan });
    approvedShown(terminal);
    await terminal.hangUp();
    await nextCall(terminal);
    await expectSettled(stan, 1_112, before, true);
  });

  it('the same terminal id and STAN with different bytes gets 94 and is not processed', async () => {
    const { terminal, store, stan, before } = await purchase({}, 1_113);
    approvedShown(terminal);
    await terminal.hangUp();
    // Another phone state that reuses the STAN (a rewound STAN, a later PSAM counter).
    const reused = new PosTerminal(config, {
      stateStore: new MemoryStateStore({ ...store.load(), stan: Number(stan) - 1, psamCounter: nextStan + 90 }),
    });
    const dup = await reused.purchase(999);
    expect(dup).toMatchObject({ stan, outcome: 'declined', responseCode: '94' });
    await reused.hangUp();
    await nextCall(terminal);
    await expectSettled(stan, 1_113, before, true);
  });

  it('after a confirmation, a (non-conforming) repeat gets the answer the run stood by', async () => {
    const { terminal, stan, before } = await purchase({}, 1_114);
    const auth = terminal.display[2];
    await terminal.hangUp();
    await nextCall(terminal);
    await expectSettled(stan, 1_114, before, true);
    const repeat = await terminal.repeatPurchase();
    expect(repeat).toMatchObject({ outcome: 'approved', responseCode: '00' });
    expect(terminal.display[2]).toBe(auth);
    await terminal.hangUp();
    await expectSettled(stan, 1_114, before, true);
  });

  // --- the phone never calls again: the deadline decides ---------------------------------

  describe('with a verdict window of 3 s', () => {
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fixpay-verdict-'));
      const text = readFileSync(join(__dirname, '..', '..', 'definitions', 'purchase.yaml'), 'utf8');
      const file = join(dir, 'purchase.yaml');
      const short = text
        .replace(/timeout: 24h/, 'timeout: 3s')
        .replace(/version: (\d+)\.(\d+)\.(\d+)/, 'version: 99.0.0');
      expect(short).toContain('timeout: 3s');
      writeFileSync(file, short);
      const [d] = compileFiles([file], defaultCatalogue());
      if (d?.plan == null || d.planHash === null) throw new Error('the short-window purchase does not compile');
      await e2e.registry.deploy(d.plan, d.planHash, 'matrix', randomUUID());
      await e2e.registry.promote('purchase', '99.0.0');
    });
    afterAll(async () => {
      const [d] = compileFiles([join(__dirname, '..', '..', 'definitions', 'purchase.yaml')], defaultCatalogue());
      if (d?.plan != null) await e2e.registry.promote('purchase', d.plan.version);
      rmSync(dir, { recursive: true, force: true });
    });

    it('answer ACKed, no call since: posted at the deadline (raised for operators); a later repeat gets the approval', async () => {
      const { terminal, stan, before } = await purchase({}, 1_115);
      approvedShown(terminal);
      await terminal.hangUp();
      await expectSettled(stan, 1_115, before, true);
      const repeat = await terminal.repeatLast();
      expect(repeat).toMatchObject({ outcome: 'approved', responseCode: '00' });
      await terminal.hangUp();
    });

    it('answer never ACKed, no call since: reversed at the deadline; a later repeat gets a MACed 12', async () => {
      const { terminal, stan, before } = await purchase({ cut: 'after-answer' }, 1_116);
      approvedShown(terminal);
      const result = await resultOf(stan);
      expect(result).toMatchObject({ outcome: 'COMPENSATED', code: 'NO_TERMINAL_VERDICT' });
      await expectSettled(stan, 1_116, before, false);
      // The phone showed APPROVED: this is the cell the operators reconcile (the alert above).
      const repeat = await terminal.repeatLast();
      expect(repeat).toMatchObject({ outcome: 'declined', responseCode: '12' });
      await terminal.hangUp();
    });
  });

  /** Waits until the run of `stan` stands by an answer in the verdict list. */
  async function resultOrWaiting(stan: string): Promise<void> {
    await waitFor(
      () =>
        e2e.db.prisma.$queryRaw<{ answer: string | null }[]>`
            SELECT "answer" FROM "terminal_verdict" WHERE "terminal_id" = ${TERMINAL} AND "stan" = ${stan}`.then(
          (rows) => rows[0]?.answer != null,
        ),
      20_000,
    );
  }
});
