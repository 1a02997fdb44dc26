/**
 * The card store on the database: a batch issued through the real ledger store and software HSM,
 * an on-us purchase approved and reversed, and no clear card data in any stored row.
 */
import { blockCipher } from '../hsm/crypto/block-cipher';
import { fromHex } from '../hsm/crypto/bytes';
import { decodePinBlock, encodePinBlock } from '../hsm/crypto/pin-block';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { PrismaLedgerStore } from '../ledger/store';
import { ledgerIdFor } from '../ledger/ids';
import { TRANSFER_CODES } from '../ledger/model';
import { routeCard } from '../core/routing';
import { seedDemo } from '../demo/seed';
import { CoreRepository } from '../core/repository';
import { startTestDatabase, type TestDatabase } from '../test/support/database';
import { changeCardState, issueBatch, loadCard, replaceCard } from './issuance';
import type { CardIssuanceDeps } from './issuance';
import type { HsmPort } from '../hsm/port';
import type { CardUnitOfWork } from './store';
import { createOnUsIssuer, createRoutedCardNetwork } from './on-us';
import type { CardNetworkPort } from './on-us';
import { PrismaCardStore } from './prisma-store';

const PRINTER = '1323456789ABCDEF0123456789ABCDEF';
const ZPK = '89ABCDEF01234567FEDCBA9876543210';

describe('prepaid cards on the database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase();
    await seedDemo({ core: new CoreRepository(db.prisma), ledger: new PrismaLedgerStore(db.prisma) });
  }, 90_000);
  afterAll(async () => {
    await db.close();
  });

  it('issues, loads, authorises on-us and reverses; rows hold no PAN, PIN or CVV', async () => {
    const hsm = new SoftwareHsm({ lmk: fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F') });
    const ledger = new PrismaLedgerStore(db.prisma);
    const store = new PrismaCardStore(db.prisma);
    const indexKey = Buffer.alloc(32, 3);
    const deps = {
      hsm,
      ledger,
      store,
      indexKey,
      cvk: hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle,
      printerKey: hsm.importClearKey('ZEK', 'tdes2', PRINTER).handle,
    };
    const batch = await issueBatch(deps, { bin: '628888', firstSequence: 1, count: 2, currency: 'CNY' });
    const card = batch.cards[0]!;
    await changeCardState(store, card.cardId, 'activate');
    await loadCard({ store, ledger }, { cardId: card.cardId, amountMinor: 3_000, idempotencyKey: 'db-load' });
    const network: CardNetworkPort = {
      authorize: () => Promise.reject(new Error('the network must not be asked')),
      balanceInquiry: () => Promise.reject(new Error('the network must not be asked')),
      transfer: () => Promise.reject(new Error('the network must not be asked')),
      repayCreditCard: () => Promise.reject(new Error('the network must not be asked')),
      reverse: () => Promise.reject(new Error('the network must not be asked')),
      signOn: () => Promise.resolve(),
    };
    const routes = [{ binLow: '628888', binHigh: '628888', network: 'onus', issuerId: 'p', gatewayId: 'onus' }];
    const routed = createRoutedCardNetwork({
      hsm,
      ledger,
      store,
      indexKey,
      zpk: hsm.importClearKey('ZPK', 'tdes2', ZPK).handle,
      network,
      routeCard: (pan) => routeCard(pan, routes),
    });
    const pin = decodePinBlock(1, blockCipher('tdes', fromHex(PRINTER)).decrypt(fromHex(card.pinMailer)));
    const pinBlock = blockCipher('tdes', fromHex(ZPK))
      .encrypt(encodePinBlock(0, pin, card.pan))
      .toString('hex');
    const req = {
      idempotencyKey: 'db-run:auth',
      terminalId: 'T0000001',
      merchantId: '898100000000001',
      stan: '000001',
      pan: card.pan,
      pinBlock,
      amountMinor: 1_200,
      currency: '156',
    };
    expect(await routed.authorize(req)).toMatchObject({ approved: true, balanceMinor: 1_800 });
    expect(await routed.reverse('db-run:auth')).toMatchObject({ status: 'done' });
    expect(await routed.balanceInquiry({ ...req, idempotencyKey: 'db-bal' })).toMatchObject({ balanceMinor: 3_000 });
    const rows = JSON.stringify(await db.prisma.prepaidCard.findMany());
    for (const c of batch.cards) {
      for (const secret of [c.pan, c.pan.slice(6, 12), c.pinMailer, `"${c.cvv}"`, `"${c.cvv2}"`])
        expect(rows).not.toContain(secret);
    }
    // The number is kept only under the LMK; the table itself refuses a clear number in the masked
    // column and in the column of the number under the LMK.
    expect((await store.byId(card.cardId))?.panUnderLmk).toMatch(/^Q[0-9A-F]{88,94}$/);
    await expect(
      db.prisma.$executeRawUnsafe(`UPDATE prepaid_card SET pan_masked = '${card.pan}' WHERE id = '${card.cardId}'`),
    ).rejects.toThrow();
    await expect(
      db.prisma.$executeRawUnsafe(`UPDATE prepaid_card SET pan_lmk = '${card.pan}' WHERE id = '${card.cardId}'`),
    ).rejects.toThrow();
    await expect(
      db.prisma.$executeRawUnsafe(`UPDATE prepaid_card SET pan_lmk = 'Q${card.pan}' WHERE id = '${card.cardId}'`),
    ).rejects.toThrow();
  }, 120_000);

  describe('all or nothing', () => {
    const hsm = new SoftwareHsm({ lmk: fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F') });
    const cvk = hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle;
    const printerKey = hsm.importClearKey('ZEK', 'tdes2', PRINTER).handle;
    const indexKey = Buffer.alloc(32, 5);
    const counts = async () => ({
      cards: await db.prisma.prepaidCard.count(),
      accounts: await db.prisma.ledgerAccount.count({ where: { reference: { startsWith: 'card-funds:' } } }),
    });
    const deps = (o: { hsm?: HsmPort; atomically?: CardUnitOfWork } = {}): CardIssuanceDeps => ({
      hsm: o.hsm ?? hsm,
      ledger: new PrismaLedgerStore(db.prisma),
      store: new PrismaCardStore(db.prisma),
      cvk,
      printerKey,
      indexKey,
      atomically: o.atomically ?? PrismaCardStore.unitOfWork(db.prisma),
    });

    it('a batch whose HSM fails on its third card leaves no card and no card account', async () => {
      const before = await counts();
      let pins = 0;
      const failing = new Proxy(hsm, {
        get(target, prop, receiver) {
          if (prop === 'generatePin')
            return (r: Parameters<HsmPort['generatePin']>[0]) =>
              ++pins === 3 ? Promise.reject(new Error('HSM gone')) : hsm.generatePin(r);
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
      await expect(
        issueBatch(deps({ hsm: failing }), { bin: '627777', firstSequence: 1, count: 5, currency: 'CNY' }),
      ).rejects.toThrow('HSM gone');
      expect(pins).toBe(3);
      expect(await counts()).toEqual(before);
    });

    it('a batch whose fourth card write fails rolls back the three written before it and their accounts', async () => {
      const before = await counts();
      let puts = 0;
      const base = PrismaCardStore.unitOfWork(db.prisma);
      const failingWrites: CardUnitOfWork = (fn) =>
        base((w) =>
          fn({
            ledger: w.ledger,
            store: {
              ...w.store,
              byId: (id) => w.store.byId(id),
              byPanToken: (t) => w.store.byPanToken(t),
              setState: (id, st) => w.store.setState(id, st),
              setPinReference: (id, r) => w.store.setPinReference(id, r),
              byBatch: (b) => w.store.byBatch(b),
              put: (card) => (++puts === 4 ? Promise.reject(new Error('disk full')) : w.store.put(card)),
            },
          }),
        );
      await expect(
        issueBatch(deps({ atomically: failingWrites }), { bin: '627777', firstSequence: 1, count: 5, currency: 'CNY' }),
      ).rejects.toThrow('disk full');
      expect(puts).toBe(4);
      expect(await counts()).toEqual(before);
      // The same batch goes through afterwards: nothing half-written stands in its way.
      const ok = await issueBatch(deps(), { bin: '627777', firstSequence: 1, count: 5, currency: 'CNY' });
      expect(ok.cards).toHaveLength(5);
      expect(await counts()).toEqual({ cards: before.cards + 5, accounts: before.accounts + 5 });
    });

    it('a replacement whose balance move fails leaves the old card as it was, with its money, and no new card', async () => {
      const d = deps();
      const ledger = new PrismaLedgerStore(db.prisma);
      const store = new PrismaCardStore(db.prisma);
      const [card] = (await issueBatch(d, { bin: '627777', firstSequence: 100, count: 1, currency: 'CNY' })).cards;
      await changeCardState(store, card!.cardId, 'activate');
      await loadCard({ store, ledger }, { cardId: card!.cardId, amountMinor: 4_000, idempotencyKey: 'replace-load' });
      const before = await counts();
      const base = PrismaCardStore.unitOfWork(db.prisma);
      const failingMove: CardUnitOfWork = (fn) =>
        base((w) =>
          fn({
            store: w.store,
            ledger: {
              createAccounts: (e) => w.ledger.createAccounts(e),
              accountByReference: (r) => w.ledger.accountByReference(r),
              createTransfers: () => Promise.reject(new Error('ledger down')),
            },
          }),
        );
      await expect(
        replaceCard({ ...deps({ atomically: failingMove }), ledger }, { cardId: card!.cardId, sequence: 101 }),
      ).rejects.toThrow('ledger down');
      expect(await counts()).toEqual(before);
      expect(await store.byId(card!.cardId)).toMatchObject({ state: 'active' });
      const account = await ledger.accountByReference(`card-funds:${card!.cardId}`);
      expect(account!.creditsPosted - account!.debitsPosted).toBe(4_000n);
      // Done for real: the old card replaced and empty, the new one holds the money.
      const fresh = await replaceCard({ ...d, ledger }, { cardId: card!.cardId, sequence: 101 });
      expect(await store.byId(card!.cardId)).toMatchObject({ state: 'replaced' });
      const moved = await ledger.accountByReference(`card-funds:${fresh.cardId}`);
      expect(moved!.creditsPosted).toBe(4_000n);
      // Replacing it again is refused: a replaced card takes no more steps.
      await expect(replaceCard({ ...d, ledger }, { cardId: card!.cardId, sequence: 102 })).rejects.toThrow(
        /cannot take this lifecycle step/,
      );
    });

    it('a card with money pending is not replaced until it settles, so nothing strands on the old card', async () => {
      const d = deps();
      const ledger = new PrismaLedgerStore(db.prisma);
      const store = new PrismaCardStore(db.prisma);
      const [a, b] = (await issueBatch(d, { bin: '627777', firstSequence: 200, count: 2, currency: 'CNY' })).cards;
      for (const c of [a!, b!]) await changeCardState(store, c.cardId, 'activate');
      await loadCard({ store, ledger }, { cardId: a!.cardId, amountMinor: 3_000, idempotencyKey: 'pending-load' });
      const from = await ledger.accountByReference(`card-funds:${a!.cardId}`);
      const to = await ledger.accountByReference(`card-funds:${b!.cardId}`);
      // A payment held on the card (as a phone's pending load or an on-us hold would be).
      const held = ledgerIdFor('transfer', 'pending-on-old-card');
      const [pending] = await ledger.createTransfers([
        {
          id: held,
          debitAccountId: from!.id,
          creditAccountId: to!.id,
          amount: 1_000n,
          ledger: from!.ledger,
          code: TRANSFER_CODES.funding,
          timeoutSeconds: 300,
          flags: { pending: true },
        },
      ]);
      expect(pending).toBe('ok');
      await expect(replaceCard({ ...d, ledger }, { cardId: a!.cardId, sequence: 202 })).rejects.toMatchObject({
        codeName: 'CARD_MONEY_IN_FLIGHT',
      });
      expect(await store.byId(a!.cardId)).toMatchObject({ state: 'active' });
      // Settled (voided here): the replacement goes through and moves everything.
      await ledger.createTransfers([
        {
          id: ledgerIdFor('transfer', 'void-pending-on-old-card'),
          pendingId: held,
          flags: { voidPendingTransfer: true },
        },
      ]);
      const fresh = await replaceCard({ ...d, ledger }, { cardId: a!.cardId, sequence: 202 });
      const old = await ledger.accountByReference(`card-funds:${a!.cardId}`);
      expect(old!.creditsPosted - old!.debitsPosted).toBe(0n);
      expect((await ledger.accountByReference(`card-funds:${fresh.cardId}`))!.creditsPosted).toBe(3_000n);
    });
    it('an on-us purchase reversed after its card was replaced credits the new card, once', async () => {
      const d = deps();
      const ledger = new PrismaLedgerStore(db.prisma);
      const store = new PrismaCardStore(db.prisma);
      const [a] = (await issueBatch(d, { bin: '627777', firstSequence: 300, count: 1, currency: 'CNY' })).cards;
      await changeCardState(store, a!.cardId, 'activate');
      await loadCard({ store, ledger }, { cardId: a!.cardId, amountMinor: 2_000, idempotencyKey: 'rv-load' });
      // The posted debit an approved on-us purchase makes (card → settlement), under the run's key.
      const from = await ledger.accountByReference(`card-funds:${a!.cardId}`);
      const settlement = await ledger.accountByReference('settlement:CNY');
      const [debited] = await ledger.createTransfers([
        {
          id: ledgerIdFor('transfer', 'onus:debit:rv-run:auth'),
          debitAccountId: from!.id,
          creditAccountId: settlement!.id,
          amount: 500n,
          ledger: from!.ledger,
          code: TRANSFER_CODES.purchase,
        },
      ]);
      expect(debited).toBe('ok');
      const fresh = await replaceCard({ ...d, ledger }, { cardId: a!.cardId, sequence: 301 });
      const issuer = createOnUsIssuer({ hsm, ledger, store, zpk: printerKey, indexKey });
      for (let i = 0; i < 2; i++) expect(await issuer.reverse('rv-run:auth')).toMatchObject({ status: 'done' });
      const balance = async (id: string): Promise<bigint> => {
        const acc = await ledger.accountByReference(`card-funds:${id}`);
        return acc!.creditsPosted - acc!.debitsPosted;
      };
      expect([await balance(a!.cardId), await balance(fresh.cardId)]).toEqual([0n, 2_000n]);
    });
  });
});
