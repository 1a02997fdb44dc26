/**
 * The prepaid programme end to end below the workflow: a batch issued with CVVs and PINs from the
 * (software) HSM, a card loaded, activated, then purchases routed by BIN. On-us cards are decided
 * against the ledger and never reach the network (a fake gateway counts calls: a unit test); a card
 * of another BIN still goes there. Blocked, not activated, wrong PIN and no funds are declined.
 */
import { blockCipher } from '../hsm/crypto/block-cipher';
import { fromHex } from '../hsm/crypto/bytes';
import { decodePinBlock, encodePinBlock } from '../hsm/crypto/pin-block';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { ledgerIdFor } from '../ledger/ids';
import { MemoryLedgerStore } from '../ledger/memory';
import { ACCOUNT_CODES } from '../ledger/model';
import type { CardholderRequest, NetworkOutcome } from '../gateways/card-network';
import type { BinRoute } from '../core/model';
import { isLuhnValid } from '../core/cards';
import { routeCard } from '../core/routing';
import { currency } from '../domain/money';
import { changeCardState, issueBatch, loadCard, replaceCard } from './issuance';
import { createOnUsIssuer, createRoutedCardNetwork } from './on-us';
import type { CardNetworkPort } from './on-us';
import { cardAccountRef, MemoryCardStore } from './store';
import type { CardStore } from './store';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const PRINTER = '1323456789ABCDEF0123456789ABCDEF';
const ZPK = '89ABCDEF01234567FEDCBA9876543210';
const ROUTES: BinRoute[] = [
  { binLow: '628888', binHigh: '628888', network: 'onus', issuerId: 'fixpay-prepaid', gatewayId: 'onus' },
  { binLow: '4', binHigh: '4', network: 'visa', issuerId: 'visa', gatewayId: 'bank' },
];

async function setup() {
  const hsm = new SoftwareHsm({ lmk: LMK });
  const cvk = hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle;
  const printerKey = hsm.importClearKey('ZEK', 'tdes2', PRINTER).handle;
  const zpk = hsm.importClearKey('ZPK', 'tdes2', ZPK).handle;
  const ledger = new MemoryLedgerStore();
  const cur = currency('CNY');
  await ledger.createAccounts(
    (['settlement', 'funding'] as const).map((name) => ({
      id: ledgerIdFor('account', `${name}:${cur.code}`),
      reference: `${name}:${cur.code}`,
      ledger: 156,
      code: ACCOUNT_CODES[name],
      currency: cur.code,
    })),
  );
  const store = new MemoryCardStore();
  const indexKey = Buffer.alloc(32, 9);
  const seen: CardholderRequest[] = [];
  const reversals: string[] = [];
  const approved = (o: Partial<NetworkOutcome> = {}): NetworkOutcome => ({
    approved: true,
    responseCode: '00',
    resultCode: 'OK',
    resultName: 'OK',
    ...o,
  });
  const network: CardNetworkPort = {
    authorize: (r) => (seen.push(r), Promise.resolve(approved({ rrn: '000000000001' }))),
    balanceInquiry: (r) => (seen.push(r), Promise.resolve(approved())),
    transfer: (r) => (seen.push(r), Promise.resolve(approved())),
    repayCreditCard: (r) => (seen.push(r), Promise.resolve(approved())),
    reverse: (k) => (reversals.push(k), Promise.resolve({ status: 'done' })),
    signOn: () => Promise.resolve(),
  };
  const routed = createRoutedCardNetwork({
    hsm,
    ledger,
    store,
    zpk,
    indexKey,
    network,
    routeCard: (pan) => routeCard(pan, ROUTES),
  });
  const issued = await issueBatch(
    { hsm, ledger, store, cvk, printerKey, indexKey },
    { bin: '628888', firstSequence: 1, count: 3, currency: 'CNY', pinLength: 6, now: new Date(Date.UTC(2026, 11, 3)) },
  );
  const pinOf = (mailer: string): string =>
    decodePinBlock(1, blockCipher('tdes', fromHex(PRINTER)).decrypt(fromHex(mailer)));
  const pinBlock = (pin: string, pan: string): string =>
    blockCipher('tdes', fromHex(ZPK))
      .encrypt(encodePinBlock(0, pin, pan))
      .toString('hex')
      .toUpperCase();
  const purchase = (pan: string, pin: string, amountMinor: number, key: string): CardholderRequest => ({
    idempotencyKey: key,
    terminalId: 'T0000001',
    merchantId: '898100000000001',
    stan: '000001',
    pan,
    pinBlock: pinBlock(pin, pan),
    amountMinor,
    currency: '156',
  });
  return { hsm, ledger, store, routed, issued, seen, reversals, pinOf, purchase };
}

describe('prepaid programme with on-us BIN routing', () => {
  it('issues Luhn-valid cards in the BIN with CVV, CVV2, iCVV and a mailer PIN; stores nothing clear', async () => {
    const { issued, store, pinOf } = await setup();
    expect(issued.cards).toHaveLength(3);
    for (const c of issued.cards) {
      expect(isLuhnValid(c.pan) && c.pan.startsWith('628888')).toBe(true);
      expect(c).toMatchObject({ expiry: '2912', serviceCode: '120' });
      expect(new Set([c.cvv, c.cvv2, c.icvv]).size).toBeGreaterThan(1);
      expect(pinOf(c.pinMailer)).toMatch(/^\d{6}$/);
    }
    const kept = JSON.stringify(store.all());
    for (const c of issued.cards) {
      expect(kept).not.toContain(c.pan);
      expect(kept).not.toContain(c.pan.slice(6, 12));
      expect(kept).not.toContain(c.pinMailer);
    }
    expect(store.all().every((c) => c.state === 'issued' && /^\d{6}\*+\d{4}$/.test(c.panMasked))).toBe(true);
  });

  it('authorises an on-us purchase against the card account; the network sees nothing; a retry debits once; the reversal credits once', async () => {
    const { routed, issued, store, ledger, seen, reversals, pinOf, purchase } = await setup();
    const card = issued.cards[0]!;
    await changeCardState(store, card.cardId, 'activate');
    await expect(
      loadCard({ store, ledger }, { cardId: card.cardId, amountMinor: 10_000, idempotencyKey: 'load-1' }),
    ).resolves.toEqual({
      balanceMinor: 10_000,
    });
    // The same load again is the same load.
    await loadCard({ store, ledger }, { cardId: card.cardId, amountMinor: 10_000, idempotencyKey: 'load-1' });
    const req = purchase(card.pan, pinOf(card.pinMailer), 2_500, 'run-1:auth');
    const first = await routed.authorize(req);
    expect(first).toMatchObject({ approved: true, responseCode: '00', balanceMinor: 7_500 });
    expect(first.authorizationCode).toMatch(/^\d{6}$/);
    expect(await routed.authorize(req)).toMatchObject({ approved: true, balanceMinor: 7_500 });
    expect(seen).toHaveLength(0);
    expect(await routed.reverse('run-1:auth')).toMatchObject({ status: 'done' });
    expect(await routed.reverse('run-1:auth')).toMatchObject({ status: 'done' });
    expect(reversals).toHaveLength(0);
    const inquiry = await routed.balanceInquiry({ ...req, idempotencyKey: 'bal-1' });
    expect(inquiry).toMatchObject({ approved: true, balanceMinor: 10_000 });
    expect(seen).toHaveLength(0);
  });

  it('declines a wrong PIN (55), a blocked card (62), a card not yet activated (78), no funds (51), an unknown card of our BIN (14)', async () => {
    const { routed, issued, store, ledger, seen, pinOf, purchase } = await setup();
    const [a, b, c] = issued.cards as [(typeof issued.cards)[0], (typeof issued.cards)[0], (typeof issued.cards)[0]];
    await changeCardState(store, a.cardId, 'activate');
    await loadCard({ store, ledger }, { cardId: a.cardId, amountMinor: 1_000, idempotencyKey: 'load-a' });
    const pinA = pinOf(a.pinMailer);
    const wrong = pinA === '000000' ? '111111' : '000000';
    expect((await routed.authorize(purchase(a.pan, wrong, 100, 'k1'))).responseCode).toBe('55');
    expect((await routed.authorize(purchase(a.pan, pinA, 1_001, 'k2'))).responseCode).toBe('51');
    expect((await routed.authorize({ ...purchase(a.pan, pinA, 100, 'k3'), pinBlock: 'zz' })).responseCode).toBe('55');
    await changeCardState(store, a.cardId, 'block');
    expect((await routed.authorize(purchase(a.pan, pinA, 100, 'k4'))).responseCode).toBe('62');
    await changeCardState(store, a.cardId, 'unblock');
    expect((await routed.authorize(purchase(a.pan, pinA, 100, 'k5'))).responseCode).toBe('00');
    expect((await routed.authorize(purchase(b.pan, pinOf(b.pinMailer), 100, 'k6'))).responseCode).toBe('78');
    await changeCardState(store, c.cardId, 'activate');
    expect((await routed.authorize(purchase('6288880000099996', '123456', 100, 'k7'))).responseCode).toBe('14');
    expect(seen).toHaveLength(0);
    const account = await ledger.accountByReference(store.all().find((x) => x.id === a.cardId)!.accountRef);
    expect(account!.creditsPosted - account!.debitsPosted).toBe(900n);
  });

  it('sends a card of another BIN to the network, and its reversal too', async () => {
    const { routed, seen, reversals, purchase } = await setup();
    const r = await routed.authorize(purchase('4111111111111111', '1234', 100, 'visa-1'));
    expect(r).toMatchObject({ approved: true, rrn: '000000000001' });
    expect(seen.map((s) => s.pan)).toEqual(['4111111111111111']);
    await routed.reverse('visa-1');
    expect(reversals).toEqual(['visa-1']);
  });

  it('refuses illegal lifecycle steps and unknown cards with catalogue codes', async () => {
    const { store, issued } = await setup();
    const id = issued.cards[0]!.cardId;
    await expect(changeCardState(store, id, 'unblock')).rejects.toMatchObject({ codeName: 'CARD_TRANSITION_INVALID' });
    await expect(changeCardState(store, 'nope', 'activate')).rejects.toMatchObject({ codeName: 'CARD_UNKNOWN' });
  });

  it('refuses malformed batches and a batch that would issue an existing number', async () => {
    const { hsm, ledger, store } = await setup();
    const deps = {
      hsm,
      ledger,
      store,
      cvk: hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle,
      printerKey: hsm.importClearKey('ZEK', 'tdes2', PRINTER).handle,
      indexKey: Buffer.alloc(32, 9),
    };
    const base = { bin: '628888', firstSequence: 1, count: 1, currency: 'CNY' };
    for (const bad of [
      { count: 0 },
      { count: 10_001 },
      { bin: '62a888' },
      { serviceCode: '020' },
      { currency: 'XXX1' },
      { validityMonths: 0 },
      { firstSequence: -1 },
    ]) {
      await expect(issueBatch(deps, { ...base, ...bad })).rejects.toMatchObject({ codeName: 'CARD_ISSUANCE_INVALID' });
    }
    // Sequence 1 was issued by setup() under the same index key.
    await expect(issueBatch(deps, base)).rejects.toMatchObject({ codeName: 'CARD_ISSUANCE_INVALID' });
  });

  it('replaces a card: balance moved, old card declined 62, new card works once activated; a replaced card cannot be replaced', async () => {
    const { hsm, routed, issued, store, ledger, pinOf, purchase } = await setup();
    const old = issued.cards[0]!;
    await changeCardState(store, old.cardId, 'activate');
    await loadCard({ store, ledger }, { cardId: old.cardId, amountMinor: 5_000, idempotencyKey: 'load-r' });
    const deps = {
      hsm,
      ledger,
      store,
      cvk: hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle,
      printerKey: hsm.importClearKey('ZEK', 'tdes2', PRINTER).handle,
      indexKey: Buffer.alloc(32, 9),
    };
    const fresh = await replaceCard(deps, { cardId: old.cardId, sequence: 100 });
    expect(fresh.pan).not.toBe(old.pan);
    expect((await routed.authorize(purchase(old.pan, pinOf(old.pinMailer), 100, 'r1'))).responseCode).toBe('62');
    expect((await routed.authorize(purchase(fresh.pan, pinOf(fresh.pinMailer), 100, 'r2'))).responseCode).toBe('78');
    await changeCardState(store, fresh.cardId, 'activate');
    expect(await routed.authorize(purchase(fresh.pan, pinOf(fresh.pinMailer), 100, 'r3'))).toMatchObject({
      responseCode: '00',
      balanceMinor: 4_900,
    });
    await expect(replaceCard(deps, { cardId: old.cardId, sequence: 101 })).rejects.toMatchObject({
      codeName: 'CARD_TRANSITION_INVALID',
    });
    await expect(replaceCard(deps, { cardId: fresh.cardId, sequence: 100 })).rejects.toMatchObject({
      codeName: 'CARD_ISSUANCE_INVALID',
    });
  });
  it('a reversal arriving after a replacement credits the card in use, once; the replaced card stays empty', async () => {
    const { hsm, routed, issued, store, ledger, pinOf, purchase } = await setup();
    const a = issued.cards[0]!;
    await changeCardState(store, a.cardId, 'activate');
    await loadCard({ store, ledger }, { cardId: a.cardId, amountMinor: 5_000, idempotencyKey: 'load-rv' });
    expect(await routed.authorize(purchase(a.pan, pinOf(a.pinMailer), 1_200, 'rv-1'))).toMatchObject({
      responseCode: '00',
      balanceMinor: 3_800,
    });
    expect(await routed.authorize(purchase(a.pan, pinOf(a.pinMailer), 300, 'rv-2'))).toMatchObject({
      balanceMinor: 3_500,
    });
    const deps = {
      hsm,
      ledger,
      store,
      cvk: hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle,
      printerKey: hsm.importClearKey('ZEK', 'tdes2', PRINTER).handle,
      indexKey: Buffer.alloc(32, 9),
    };
    const balance = async (cardId: string): Promise<bigint> => {
      const acc = await ledger.accountByReference(cardAccountRef(cardId));
      return (acc?.creditsPosted ?? 0n) - (acc?.debitsPosted ?? 0n);
    };
    const b = await replaceCard(deps, { cardId: a.cardId, sequence: 200 });
    expect([await balance(a.cardId), await balance(b.cardId)]).toEqual([0n, 3_500n]);
    // The purchase on the old card is reversed after the replacement: the money goes where the balance went.
    for (let i = 0; i < 2; i++) expect(await routed.reverse('rv-1')).toMatchObject({ status: 'done' });
    expect([await balance(a.cardId), await balance(b.cardId)]).toEqual([0n, 4_700n]);
    // Two replacements later the chain is followed to the card in use.
    await changeCardState(store, b.cardId, 'activate');
    const c = await replaceCard(deps, { cardId: b.cardId, sequence: 201 });
    expect(await routed.reverse('rv-2')).toMatchObject({ status: 'done' });
    expect([await balance(a.cardId), await balance(b.cardId), await balance(c.cardId)]).toEqual([0n, 0n, 5_000n]);
    // A reversal already made does not move again after a later replacement.
    expect(await routed.reverse('rv-1')).toMatchObject({ status: 'done' });
    expect(await balance(c.cardId)).toBe(5_000n);
  });
  it('a reversal that read its card just before the replacement committed moves its credit on to the new card, once', async () => {
    const { hsm, routed, issued, store, ledger, pinOf, purchase } = await setup();
    const a = issued.cards[0]!;
    await changeCardState(store, a.cardId, 'activate');
    await loadCard({ store, ledger }, { cardId: a.cardId, amountMinor: 2_000, idempotencyKey: 'load-race' });
    expect(await routed.authorize(purchase(a.pan, pinOf(a.pinMailer), 700, 'race-1'))).toMatchObject({
      responseCode: '00',
    });
    const deps = {
      hsm,
      ledger,
      store,
      cvk: hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle,
      printerKey: hsm.importClearKey('ZEK', 'tdes2', PRINTER).handle,
      indexKey: Buffer.alloc(32, 9),
    };
    const b = await replaceCard(deps, { cardId: a.cardId, sequence: 300 });
    // The reversal's first read of the card predates the replacement's commit: it sees the old card active.
    let stale = true;
    const racing: CardStore = Object.assign(Object.create(store) as CardStore, {
      byId: async (id: string) => {
        const card = await store.byId(id);
        if (!stale || card === undefined) return card;
        stale = false;
        return { ...card, state: 'active' as const };
      },
    });
    const issuer = createOnUsIssuer({ hsm, ledger, store: racing, zpk: deps.printerKey, indexKey: deps.indexKey });
    const balance = async (cardId: string): Promise<bigint> => {
      const acc = await ledger.accountByReference(cardAccountRef(cardId));
      return (acc?.creditsPosted ?? 0n) - (acc?.debitsPosted ?? 0n);
    };
    expect(await issuer.reverse('race-1')).toMatchObject({ status: 'done' });
    expect(stale).toBe(false);
    expect([await balance(a.cardId), await balance(b.cardId)]).toEqual([0n, 2_000n]);
    // Asked again: nothing moves twice.
    expect(await issuer.reverse('race-1')).toMatchObject({ status: 'done' });
    expect([await balance(a.cardId), await balance(b.cardId)]).toEqual([0n, 2_000n]);
  });
});
