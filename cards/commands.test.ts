/**
 * The card commands as the lifecycle run carries them out (unit: software HSM, in-memory ledger and
 * card store): a batch only for a BIN routed onus, a repeated attempt of the same run never issues
 * a second batch, a load once per run, refusals as results with catalogue codes, no card data in
 * what the audit row keeps, and the bureau and PIN mailer files sealed under the bureau key.
 */
import { isLuhnValid } from '../core/cards';
import { routeCard } from '../core/routing';
import type { BinRoute } from '../core/model';
import { currency } from '../domain/money';
import { fromHex } from '../hsm/crypto/bytes';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { ledgerIdFor } from '../ledger/ids';
import { MemoryLedgerStore } from '../ledger/memory';
import { ACCOUNT_CODES } from '../ledger/model';
import { clearKeyOpener, hsmOpener, openBureauFile, openPinMailerFile } from './bureau-file';
import { createCardCommands } from './commands';
import { MemoryCardStore } from './store';

const BUREAU_KEY = '6B1C4F0A2D8E97355A0C3B1E7F60D2A94C8B17E5F3A20D6C9E418B72D05F3A61';

function setup(o: { keys?: boolean } = {}) {
  const hsm = new SoftwareHsm({ lmk: fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F') });
  const bureauKey = hsm.importClearKey('BUREAU', 'aes256', BUREAU_KEY).handle;
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
            bureauKey,
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
  return { run, store, ledger, hsm, bureauKey };
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
    const file = issued.outcome.bureau;
    if (file === undefined) throw new Error('no bureau file');
    expect(file).toMatchObject({ format: 'fixpay-bureau/v1', content: 'cards' });
    expect(file.records).toHaveLength(2);
    const cards = await openBureauFile(file, clearKeyOpener(fromHex(BUREAU_KEY)));
    const outcome = JSON.stringify(issued.outcome);
    for (const c of cards) {
      expect(isLuhnValid(c.pan) && c.pan.startsWith('629999')).toBe(true);
      expect(c.cvv).toMatch(/^\d{3}$/);
      for (const secret of [c.pan, c.pinMailer, `"${c.cvv}"`, `"${c.cvv2}"`, `"${c.icvv}"`])
        expect(outcome).not.toContain(secret);
      expect(JSON.stringify(issued.audit)).not.toContain(c.pan);
    }
  });

  it('opens a record only with its card, its key and unaltered; the console opens it in the HSM', async () => {
    const { run, hsm, bureauKey } = setup();
    await run({ kind: 'addCardRange', binLow: '629999', binHigh: '629999', issuerId: 'p' }, 'run-r');
    const issued = await run(batch, 'run-o');
    if (!issued.ok || issued.outcome.bureau === undefined) throw new Error('not issued');
    const file = issued.outcome.bureau;
    const byKey = await openBureauFile(file, clearKeyOpener(fromHex(BUREAU_KEY)));
    const console = hsm.forCaller({ clientId: 'console', operatorMode: true });
    expect(await openBureauFile(file, hsmOpener(console, bureauKey))).toEqual(byKey);
    await expect(openBureauFile(file, hsmOpener(hsm, bureauKey))).rejects.toMatchObject({
      codeName: 'HSM_OPERATOR_MODE_REQUIRED',
    });
    const [a, b] = file.records;
    if (a === undefined || b === undefined) throw new Error('two records');
    // A record moved to another card's place does not open (its associated data names its card).
    const swapped = { ...file, records: [{ ...a, sealed: b.sealed }] };
    await expect(openBureauFile(swapped, clearKeyOpener(fromHex(BUREAU_KEY)))).rejects.toMatchObject({
      codeName: 'CARD_BUREAU_FILE_INVALID',
    });
    await expect(openBureauFile(file, clearKeyOpener(Buffer.alloc(32, 1)))).rejects.toMatchObject({
      codeName: 'CARD_BUREAU_FILE_INVALID',
    });
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
    const cardId = issued.outcome.bureau?.records[0]?.cardId ?? '';
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
    // A PIN reissue names the card only; its mailer block comes back sealed.
    const reissued = await run({ kind: 'reissuePin', cardId }, 'p2');
    if (!reissued.ok || reissued.outcome.pinMailer === undefined) throw new Error('no PIN mailer');
    expect(reissued.outcome.pinMailer).toMatchObject({ format: 'fixpay-bureau/v1', content: 'pin-mailer' });
    const [mailer] = await openPinMailerFile(reissued.outcome.pinMailer, clearKeyOpener(fromHex(BUREAU_KEY)));
    expect(mailer?.cardId).toBe(cardId);
    expect(mailer?.pinMailer).toMatch(/^[0-9A-F]{16}$/i);
    expect(JSON.stringify(reissued.outcome)).not.toContain(mailer?.pinMailer ?? 'x');
    expect(await run({ kind: 'reissuePin', cardId: 'nope' }, 'p3')).toMatchObject({ ok: false, code: 'CARD_UNKNOWN' });
  });

  it('a card issued before numbers were kept under the LMK gets no PIN by reissue (CARD_NUMBER_NOT_KEPT)', async () => {
    const { run, store } = setup();
    await run({ kind: 'addCardRange', binLow: '629999', binHigh: '629999', issuerId: 'p' }, 'run-r');
    const issued = await run(batch, 'run-old');
    if (!issued.ok || issued.outcome.bureau === undefined) throw new Error('not issued');
    const cardId = issued.outcome.bureau.records[0]?.cardId ?? '';
    const card = await store.byId(cardId);
    if (card === undefined) throw new Error('no card');
    const { panUnderLmk: _kept, ...older } = card;
    await store.put(older);
    expect(await run({ kind: 'reissuePin', cardId }, 'p-old')).toMatchObject({
      ok: false,
      code: 'CARD_NUMBER_NOT_KEPT',
    });
  });
});
