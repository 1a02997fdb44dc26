/**
 * Card issuance and the card lifecycle of the prepaid programme (ADR 0026). A batch draws card
 * numbers from a BIN, asks the HSM for each card's CVV, CVV2, iCVV and a PIN, opens a ledger
 * account per card and stores the card. The embossing and PIN mailer files are returned to the
 * caller for the card bureau and the mailer printer: the CVVs and the PIN (only as a block under the
 * printer's key) are in them and nowhere else; nothing clear is stored.
 */
import { randomUUID } from 'node:crypto';
import {
  CARD_BATCH_SIZE_MAX,
  CARD_PAN_LENGTH_DEFAULT,
  CARD_VALIDITY_MONTHS_DEFAULT,
  expiryFor,
  nextCardState,
  panFor,
  SERVICE_CODE_DEFAULT,
  validateServiceCode,
} from '../core/cards';
import type { CardEvent, CardState } from '../core/cards';
import { FixpayError } from '../domain/errors';
import { maskPan } from '../domain/masking';
import { parseCurrency } from '../domain/money';
import type { Currency } from '../domain/money';
import type { HsmPort, KeyHandle } from '../hsm/port';
import { ledgerIdFor } from '../ledger/ids';
import { ACCOUNT_CODES, TRANSFER_CODES, transferSucceeded } from '../ledger/model';
import type { AccountEvent, LedgerPort } from '../ledger/model';
import { cardAccountRef, panToken } from './store';
import type { CardRecord, CardStore, CardUnitOfWork, CardWrites } from './store';

export interface CardIssuanceDeps {
  readonly hsm: HsmPort;
  readonly ledger: Pick<LedgerPort, 'createAccounts'>;
  readonly store: CardStore;
  readonly cvk: KeyHandle;
  readonly printerKey: KeyHandle;
  readonly indexKey: Uint8Array;
  /**
   * Where a batch or a replacement writes its cards and ledger entries all together (one database
   * transaction for the Prisma store). Without it the writes go to `store` and `ledger` one by one.
   */
  readonly atomically?: CardUnitOfWork;
}

export interface BatchRequest {
  readonly bin: string;
  readonly firstSequence: number;
  readonly count: number;
  /** ISO 4217 of the card accounts. */
  readonly currency: string;
  readonly panLength?: number;
  readonly serviceCode?: string;
  readonly validityMonths?: number;
  readonly pinLength?: number;
  readonly now?: Date;
  /** The batch id (a UUID); a run passes one derived from its id. Random by default. */
  readonly batchId?: string;
}

/** One card for the card bureau (embossing, track and chip data) and the mailer printer. */
export interface IssuedCard {
  readonly cardId: string;
  readonly pan: string;
  readonly expiry: string;
  readonly serviceCode: string;
  readonly cvv: string;
  readonly cvv2: string;
  readonly icvv: string;
  /** The PIN as an ISO format 1 block under the mailer printer's key, hex. */
  readonly pinMailer: string;
}

export interface IssuedBatch {
  readonly batchId: string;
  readonly cards: readonly IssuedCard[];
}

/** Accounts opened per ledger call inside a batch's transaction (the ledger's batch limit is larger). */
const ACCOUNTS_PER_CALL = 1_000;

/** One card worked out in full (HSM values, record, account) before anything is written. */
interface PreparedCard {
  readonly issued: IssuedCard;
  readonly record: CardRecord;
  readonly account: AccountEvent;
}

function writer(deps: CardIssuanceDeps & { readonly ledger: Partial<CardWrites['ledger']> }): CardUnitOfWork {
  if (deps.atomically !== undefined) return deps.atomically;
  return <T>(fn: (w: CardWrites) => Promise<T>): Promise<T> =>
    fn({ store: deps.store, ledger: deps.ledger as CardWrites['ledger'] });
}

async function openAccounts(ledger: CardWrites['ledger'], accounts: readonly AccountEvent[]): Promise<void> {
  for (let i = 0; i < accounts.length; i += ACCOUNTS_PER_CALL) {
    const results = await ledger.createAccounts(accounts.slice(i, i + ACCOUNTS_PER_CALL));
    const bad = results.find((r) => r !== 'ok');
    // A card account is new: one that exists already means a card id was reused.
    if (bad !== undefined) throw new FixpayError('INTERNAL', `card account: ${bad}`);
  }
}

/**
 * Issues a batch, all or nothing: the numbers are drawn and checked, the HSM computes every card's
 * CVV, CVV2, iCVV and PIN, and only then are the card accounts and the cards written, together
 * (`atomically`). A failure anywhere — a number already issued, the HSM, the ledger, the store —
 * leaves no card and no card account of the batch.
 */
export async function issueBatch(deps: CardIssuanceDeps, request: BatchRequest): Promise<IssuedBatch> {
  const serviceCode = validateServiceCode(request.serviceCode ?? SERVICE_CODE_DEFAULT);
  if (!serviceCode.ok) throw new FixpayError('CARD_ISSUANCE_INVALID', serviceCode.detail);
  if (!Number.isInteger(request.count) || request.count < 1 || request.count > CARD_BATCH_SIZE_MAX)
    throw new FixpayError('CARD_ISSUANCE_INVALID', `a batch is 1 to ${CARD_BATCH_SIZE_MAX} cards`);
  const months = request.validityMonths ?? CARD_VALIDITY_MONTHS_DEFAULT;
  if (!Number.isInteger(months) || months < 1 || months > 120)
    throw new FixpayError('CARD_ISSUANCE_INVALID', 'validity is 1 to 120 months');
  if (
    request.pinLength !== undefined &&
    (!Number.isInteger(request.pinLength) || request.pinLength < 4 || request.pinLength > 12)
  )
    throw new FixpayError('CARD_ISSUANCE_INVALID', 'a PIN is 4 to 12 digits');
  const currency = parseCurrency(request.currency);
  if (!currency.ok) throw new FixpayError('CARD_ISSUANCE_INVALID', 'currency');
  if (
    request.batchId !== undefined &&
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(request.batchId)
  )
    throw new FixpayError('CARD_ISSUANCE_INVALID', 'batch id');
  const expiry = expiryFor(request.now ?? new Date(), months);
  const batchId = request.batchId ?? randomUUID();
  const pans: string[] = [];
  for (let i = 0; i < request.count; i++) {
    const pan = panFor(request.bin, request.firstSequence + i, request.panLength ?? CARD_PAN_LENGTH_DEFAULT);
    if (!pan.ok) throw new FixpayError('CARD_ISSUANCE_INVALID', pan.detail);
    if ((await deps.store.byPanToken(panToken(deps.indexKey, pan.value))) !== undefined)
      throw new FixpayError('CARD_ISSUANCE_INVALID', `card ${maskPan(pan.value)} exists already`);
    pans.push(pan.value);
  }
  const prepared: PreparedCard[] = [];
  for (const pan of pans)
    prepared.push(
      await prepareCard(deps, {
        batchId,
        bin: request.bin,
        pan,
        expiry,
        serviceCode: serviceCode.value,
        currency: currency.value,
        pinLength: request.pinLength,
      }),
    );
  await writer(deps)(async (w) => {
    await openAccounts(
      w.ledger,
      prepared.map((p) => p.account),
    );
    // The table's unique index on the keyed number refuses a card issued meanwhile: all rolls back.
    for (const p of prepared) await w.store.put(p.record);
  });
  return { batchId, cards: prepared.map((p) => p.issued) };
}

async function prepareCard(
  deps: CardIssuanceDeps,
  c: {
    readonly batchId: string;
    readonly bin: string;
    readonly pan: string;
    readonly expiry: string;
    readonly serviceCode: string;
    readonly currency: Currency;
    readonly pinLength: number | undefined;
    readonly replaces?: string;
  },
): Promise<PreparedCard> {
  const { pan, expiry, serviceCode } = c;
  const cvv = (sc: string) => deps.hsm.generateCardVerificationValue({ cvk: deps.cvk, pan, expiry, serviceCode: sc });
  const [trackCvv, cvv2, icvv] = [await cvv(serviceCode), await cvv('000'), await cvv('999')];
  const pin = await deps.hsm.generatePin({
    pan,
    printerKey: deps.printerKey,
    ...(c.pinLength === undefined ? {} : { length: c.pinLength }),
  });
  const panUnderLmk = await deps.hsm.encryptPanUnderLmk(pan);
  const cardId = randomUUID();
  const accountRef = cardAccountRef(cardId);
  return {
    issued: { cardId, pan, expiry, serviceCode, cvv: trackCvv, cvv2, icvv, pinMailer: pin.mailer },
    record: {
      id: cardId,
      batchId: c.batchId,
      bin: c.bin,
      panToken: panToken(deps.indexKey, pan),
      panMasked: maskPan(pan),
      panUnderLmk,
      state: 'issued',
      expiry,
      serviceCode,
      pinReference: pin.reference,
      accountRef,
      ...(c.replaces === undefined ? {} : { replaces: c.replaces }),
    },
    account: {
      id: ledgerIdFor('account', accountRef),
      reference: accountRef,
      ledger: c.currency.numeric,
      code: ACCOUNT_CODES.customerFunds,
      currency: c.currency.code,
      flags: { debitsMustNotExceedCredits: true },
    },
  };
}

/** One lifecycle step (activate, block, unblock); refusals are CARD_UNKNOWN / CARD_TRANSITION_INVALID. */
export async function changeCardState(store: CardStore, cardId: string, event: CardEvent): Promise<CardState> {
  const card = await store.byId(cardId);
  if (card === undefined) throw new FixpayError('CARD_UNKNOWN', cardId.slice(0, 64));
  const next = nextCardState(card.state, event);
  if (!next.ok) throw new FixpayError(next.code, next.detail);
  await store.setState(cardId, next.value);
  return next.value;
}

/**
 * Loads money onto a card: `funding:<CUR>` → the card's account, once per `idempotencyKey`.
 * Only an active or not yet activated card takes a load.
 */
export async function loadCard(
  deps: { readonly store: CardStore; readonly ledger: Pick<LedgerPort, 'createTransfers' | 'accountByReference'> },
  request: { readonly cardId: string; readonly amountMinor: number; readonly idempotencyKey: string },
): Promise<{ readonly balanceMinor: number }> {
  const card = await deps.store.byId(request.cardId);
  if (card === undefined) throw new FixpayError('CARD_UNKNOWN', request.cardId.slice(0, 64));
  if (card.state !== 'active' && card.state !== 'issued')
    throw new FixpayError('CARD_TRANSITION_INVALID', `load onto a ${card.state} card`);
  if (!Number.isSafeInteger(request.amountMinor) || request.amountMinor <= 0)
    throw new FixpayError('LEDGER_AMOUNT_INVALID', 'must be a positive whole number');
  const own = await deps.ledger.accountByReference(card.accountRef);
  const funding = own && (await deps.ledger.accountByReference(`funding:${own.currency}`));
  if (own === undefined || funding === undefined) throw new FixpayError('LEDGER_ACCOUNT_UNKNOWN', card.accountRef);
  const [result] = await deps.ledger.createTransfers([
    {
      id: ledgerIdFor('transfer', `card-load:${request.idempotencyKey}`),
      debitAccountId: funding.id,
      creditAccountId: own.id,
      amount: BigInt(request.amountMinor),
      ledger: own.ledger,
      code: TRANSFER_CODES.funding,
    },
  ]);
  if (result === undefined || !transferSucceeded(result))
    throw new FixpayError('INTERNAL', `card load: ${String(result)}`);
  const after = await deps.ledger.accountByReference(card.accountRef);
  return {
    balanceMinor: after === undefined ? 0 : Number(after.creditsPosted - after.debitsPosted - after.debitsPending),
  };
}

/**
 * Replaces a card (lost, damaged): a new number from the same BIN (`sequence`), new CVVs and PIN,
 * the old card's balance moved to the new card's account, the old card `replaced` (declined `62`
 * from then on). All or nothing (`atomically`): the old card is replaced, the new card and its
 * account written and the balance moved in one transaction, or nothing changes. The new card starts
 * `issued` and is activated by its holder.
 */
export async function replaceCard(
  deps: CardIssuanceDeps & {
    readonly ledger: Pick<LedgerPort, 'createAccounts' | 'createTransfers' | 'accountByReference'>;
  },
  request: { readonly cardId: string; readonly sequence: number; readonly now?: Date; readonly pinLength?: number },
): Promise<IssuedCard> {
  const old = await deps.store.byId(request.cardId);
  if (old === undefined) throw new FixpayError('CARD_UNKNOWN', request.cardId.slice(0, 64));
  const step = nextCardState(old.state, 'replace');
  if (!step.ok) throw new FixpayError(step.code, step.detail);
  const oldAccount = await deps.ledger.accountByReference(old.accountRef);
  if (oldAccount === undefined) throw new FixpayError('LEDGER_ACCOUNT_UNKNOWN', old.accountRef);
  const cur = parseCurrency(oldAccount.currency);
  if (!cur.ok) throw new FixpayError('INTERNAL', 'card account currency');
  const pan = panFor(old.bin, request.sequence, CARD_PAN_LENGTH_DEFAULT);
  if (!pan.ok) throw new FixpayError('CARD_ISSUANCE_INVALID', pan.detail);
  if ((await deps.store.byPanToken(panToken(deps.indexKey, pan.value))) !== undefined)
    throw new FixpayError('CARD_ISSUANCE_INVALID', `card ${maskPan(pan.value)} exists already`);
  const fresh = await prepareCard(deps, {
    batchId: old.batchId,
    bin: old.bin,
    pan: pan.value,
    expiry: expiryFor(request.now ?? new Date(), CARD_VALIDITY_MONTHS_DEFAULT),
    serviceCode: old.serviceCode,
    currency: cur.value,
    pinLength: request.pinLength,
    replaces: old.id,
  });
  await writer(deps)(async (w) => {
    // Read again inside the unit of work: the card may have changed since.
    const current = await w.store.byId(old.id);
    if (current === undefined) throw new FixpayError('CARD_UNKNOWN', old.id);
    const again = nextCardState(current.state, 'replace');
    if (!again.ok) throw new FixpayError(again.code, again.detail);
    // Replaced first: no on-us authorisation takes the old card once this commits.
    await w.store.setState(old.id, 'replaced');
    await openAccounts(w.ledger, [fresh.account]);
    await w.store.put(fresh.record);
    const from = await w.ledger.accountByReference(old.accountRef);
    const to = await w.ledger.accountByReference(fresh.record.accountRef);
    if (from === undefined || to === undefined) throw new FixpayError('LEDGER_ACCOUNT_UNKNOWN', 'card account');
    // A pending load (a phone's hold, posted after its ACK) or payment would settle on the old card
    // after the move and strand there: the replacement waits until nothing is pending (the unit of
    // work rolls back, the card stays active with its money).
    if (from.creditsPending > 0n || from.debitsPending > 0n)
      throw new FixpayError('CARD_MONEY_IN_FLIGHT', `card ${old.id} has money pending`);
    const balance = from.creditsPosted - from.debitsPosted;
    if (balance > 0n) {
      const [moved] = await w.ledger.createTransfers([
        {
          id: ledgerIdFor('transfer', `card-replace:${old.id}`),
          debitAccountId: from.id,
          creditAccountId: to.id,
          amount: balance,
          ledger: from.ledger,
          code: TRANSFER_CODES.funding,
        },
      ]);
      // A debit that raced in leaves less than read: nothing moves, the replacement is refused.
      if (moved === undefined || !transferSucceeded(moved))
        throw new FixpayError('INTERNAL', `balance move: ${String(moved)}`);
    }
  });
  return fresh.issued;
}

/**
 * A new PIN for a card (forgotten PIN): generated in the HSM from the card's number kept under the
 * LMK (opened inside the HSM only: no clear number in the request, the run or this process), the
 * reference under the LMK replaces the old one, the mailer block (under the printer's key) goes
 * back for the PIN mailer only. A card issued before numbers were kept is CARD_NUMBER_NOT_KEPT.
 */
export async function reissuePin(
  deps: Pick<CardIssuanceDeps, 'hsm' | 'store' | 'printerKey'>,
  request: { readonly cardId: string; readonly pinLength?: number },
): Promise<{ readonly cardId: string; readonly panMasked: string; readonly pinMailer: string }> {
  const card = await deps.store.byId(request.cardId);
  if (card === undefined) throw new FixpayError('CARD_UNKNOWN', request.cardId.slice(0, 64));
  if (card.state === 'replaced') throw new FixpayError('CARD_TRANSITION_INVALID', 'a PIN for a replaced card');
  if (card.panUnderLmk === undefined) throw new FixpayError('CARD_NUMBER_NOT_KEPT', card.panMasked);
  const pin = await deps.hsm.generatePin({
    lmkPan: card.panUnderLmk,
    printerKey: deps.printerKey,
    ...(request.pinLength === undefined ? {} : { length: request.pinLength }),
  });
  await deps.store.setPinReference(card.id, pin.reference);
  return { cardId: card.id, panMasked: card.panMasked, pinMailer: pin.mailer };
}
