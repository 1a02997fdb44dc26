/**
 * The card commands as the lifecycle run carries them out (unit: software HSM, in-memory ledger and
 * card store): a batch only for a BIN routed onus, a repeated attempt of the same run never issues
 * a second batch, a load once per run, refusals as results with catalogue codes, and no card data
 * in what the audit row keeps.
 */
import { routeCard } from '../core/routing';
import type { BinRoute } from '../core/model';
import { currency } from '../domain/money';
import { fromHex } from '../hsm/crypto/bytes';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { ledgerIdFor } from '../ledger/ids';
import { MemoryLedgerStore } from '../ledger/memory';
import { ACCOUNT_CODES } from '../ledger/model';
import { createCardCommands } from './commands';
import { MemoryCardStore } from './store';

function setup(o: { keys?: boolean } = {}) {
  const hsm = new SoftwareHsm({ lmk: fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F') });
  const ledger = new MemoryLedgerStore();
  const store = new MemoryCardStore();
  const routes: BinRoute[] = [{ binLow: '62', binHigh: '62', network: 'cup', issuerId: 'x', gatewayId: 'bank' }];
  const run = createCardCommands({
    hsm,
    ledger,
    store,
    indexKey: Buffer.alloc(32, 7),
    atomically: store.unitOfWork(ledger),
    ...(o.keys === false
      ? {}
      : {
          keys: {
            cvk: hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle,
            printerKey: hsm.importClearKey('ZEK', 'tdes2', '1323456789ABCDEF0123456789ABCDEF').handle,
          },
        }),
    routes: {
      addBinRoute: (r) => {
        routes.push(r);
        return Promise.resolve({ ok: true, value: r });
      },
      routeCard: (pan) => Promise.resolve(routeCard(pan, routes)),
    },
  });
  return { run, store, ledger };
}

async function withFunding(ledger: MemoryLedgerStore): Promise<void> {
  const cur = currency('CNY');
  await ledger.createAccounts([
    {
      id: ledgerIdFor('account', 'funding:CNY'),
      reference: 'funding:CNY',
      ledger: cur.numeric,
      code: ACCOUNT_CODES.funding,
      currency: cur.code,
    },
  ]);
}

const batch = { kind: 'issueCards', bin: '629999', firstSequence: 1, count: 2, currency: 'CNY' } as const;

describe('card commands', () => {
  it('refuses a batch of a BIN that is not routed onus, then issues it once the range is ours', async () => {
    const { run, store } = setup();
    expect(await run(batch, 'run-1')).toMatchObject({ ok: false, code: 'CARD_ISSUANCE_INVALID' });
    expect(store.all()).toHaveLength(0);
    expect(
      await run({ kind: 'addCardRange', binLow: '629999', binHigh: '629999', issuerId: 'p' }, 'run-r'),
    ).toMatchObject({ ok: true });
    const issued = await run(batch, 'run-2');
    expect(issued.ok).toBe(true);
    if (!issued.ok) return;
    expect(issued.outcome.bureau).toHaveLength(2);
    expect(JSON.stringify(issued.audit)).not.toContain(issued.outcome.bureau?.[0]?.pan ?? 'x');
  });

  it('a second attempt of the same run issues no second batch', async () => {
    const { run, store } = setup();
    await run({ kind: 'addCardRange', binLow: '629999', binHigh: '629999', issuerId: 'p' }, 'run-r');
    expect((await run(batch, 'run-A')).ok).toBe(true);
    expect(await run({ ...batch, firstSequence: 10 }, 'run-A')).toMatchObject({
      ok: false,
      code: 'CARD_ISSUANCE_INVALID',
    });
    expect(store.all()).toHaveLength(2);
  });

  it('without the programme keys issuance, replacement and PIN reissue are CARD_PROGRAMME_OFF', async () => {
    const { run } = setup({ keys: false });
    await run({ kind: 'addCardRange', binLow: '629999', binHigh: '629999', issuerId: 'p' }, 'run-r');
    const id = '5b0e4f1e-3c1d-4c55-9d2a-1f0b6a0c8e11';
    for (const c of [
      batch,
      { kind: 'replaceCard', cardId: id, sequence: 9 },
      { kind: 'reissuePin', cardId: id },
    ] as const)
      expect(await run(c, `run-${c.kind}`)).toMatchObject({ ok: false, code: 'CARD_PROGRAMME_OFF' });
  });

  it('loads once per run, refuses unknown cards, bad amounts and illegal steps as results', async () => {
    const { run, ledger } = setup();
    await withFunding(ledger);
    await run({ kind: 'addCardRange', binLow: '629999', binHigh: '629999', issuerId: 'p' }, 'run-r');
    const issued = await run(batch, 'run-b');
    if (!issued.ok) throw new Error('not issued');
    const cardId = issued.outcome.bureau?.[0]?.cardId ?? '';
    expect(await run({ kind: 'activateCard', cardId }, 'a1')).toMatchObject({
      ok: true,
      outcome: { card: { state: 'active' } },
    });
    expect(await run({ kind: 'activateCard', cardId }, 'a2')).toMatchObject({
      ok: false,
      code: 'CARD_TRANSITION_INVALID',
    });
    for (let i = 0; i < 3; i++)
      expect(await run({ kind: 'loadCard', cardId, amountMinor: 700 }, 'load-1')).toMatchObject({ ok: true });
    expect(await run({ kind: 'showCard', cardId }, 's1')).toMatchObject({
      ok: true,
      outcome: { card: { balanceMinor: 700 } },
    });
    expect(await run({ kind: 'loadCard', cardId, amountMinor: -5 }, 'load-2')).toMatchObject({
      ok: false,
      code: 'LEDGER_AMOUNT_INVALID',
    });
    expect(await run({ kind: 'showCard', cardId: 'nope' }, 's2')).toMatchObject({ ok: false, code: 'CARD_UNKNOWN' });
    expect(await run({ kind: 'blockCard', cardId: "'; DROP TABLE prepaid_card; --" }, 'b1')).toMatchObject({
      ok: false,
      code: 'CARD_UNKNOWN',
    });
    // A PIN reissue with another card's number is refused; nothing changes.
    const other = issued.outcome.bureau?.[1]?.pan ?? '';
    expect(await run({ kind: 'reissuePin', cardId, pan: other }, 'p1')).toMatchObject({
      ok: false,
      code: 'CARD_NUMBER_MISMATCH',
    });
    const own = issued.outcome.bureau?.[0]?.pan ?? '';
    const reissued = await run({ kind: 'reissuePin', cardId, pan: own }, 'p2');
    expect(reissued).toMatchObject({
      ok: true,
      outcome: { pinMailer: expect.stringMatching(/^[0-9A-F]{16}$/i) as unknown },
    });
  });
});
