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
import type { LedgerPort } from '../ledger/model';
import { cardAccountRef, panToken } from './store';
import type { CardRecord, CardStore } from './store';

export interface CardIssuanceDeps {
  readonly hsm: HsmPort;
  readonly ledger: Pick<LedgerPort, 'createAccounts'>;
  readonly store: CardStore;
  readonly cvk: KeyHandle;
  readonly printerKey: KeyHandle;
  readonly indexKey: Uint8Array;
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

export async function issueBatch(deps: CardIssuanceDeps, request: BatchRequest): Promise<IssuedBatch> {
  const serviceCode = validateServiceCode(request.serviceCode ?? SERVICE_CODE_DEFAULT);
  if (!serviceCode.ok) throw new FixpayError('CARD_ISSUANCE_INVALID', serviceCode.detail);
  if (!Number.isInteger(request.count) || request.count < 1 || request.count > CARD_BATCH_SIZE_MAX)
    throw new FixpayError('CARD_ISSUANCE_INVALID', `a batch is 1 to ${CARD_BATCH_SIZE_MAX} cards`);
  const months = request.validityMonths ?? CARD_VALIDITY_MONTHS_DEFAULT;
  if (!Number.isInteger(months) || months < 1 || months > 120)
    throw new FixpayError('CARD_ISSUANCE_INVALID', 'validity is 1 to 120 months');
  const currency = parseCurrency(request.currency);
  if (!currency.ok) throw new FixpayError('CARD_ISSUANCE_INVALID', 'currency');
  const expiry = expiryFor(request.now ?? new Date(), months);
  const batchId = randomUUID();
  const cards: IssuedCard[] = [];
  for (let i = 0; i < request.count; i++) {
    const pan = panFor(request.bin, request.firstSequence + i, request.panLength ?? CARD_PAN_LENGTH_DEFAULT);
    if (!pan.ok) throw new FixpayError('CARD_ISSUANCE_INVALID', pan.detail);
    const token = panToken(deps.indexKey, pan.value);
    if ((await deps.store.byPanToken(token)) !== undefined)
      throw new FixpayError('CARD_ISSUANCE_INVALID', `card ${maskPan(pan.value)} exists already`);
    cards.push(
      await issueOne(
        deps,
        batchId,
        request.bin,
        pan.value,
        expiry,
        serviceCode.value,
        currency.value,
        request.pinLength,
      ),
    );
  }
  return { batchId, cards };
}

async function issueOne(
  deps: CardIssuanceDeps,
  batchId: string,
  bin: string,
  pan: string,
  expiry: string,
  serviceCode: string,
  currency: Currency,
  pinLength: number | undefined,
  replaces?: string,
): Promise<IssuedCard> {
  const cvv = (sc: string) => deps.hsm.generateCardVerificationValue({ cvk: deps.cvk, pan, expiry, serviceCode: sc });
  const [trackCvv, cvv2, icvv] = [await cvv(serviceCode), await cvv('000'), await cvv('999')];
  const pin = await deps.hsm.generatePin({
    pan,
    printerKey: deps.printerKey,
    ...(pinLength === undefined ? {} : { length: pinLength }),
  });
  const cardId = randomUUID();
  const accountRef = cardAccountRef(cardId);
  const [opened] = await deps.ledger.createAccounts([
    {
      id: ledgerIdFor('account', accountRef),
      reference: accountRef,
      ledger: currency.numeric,
      code: ACCOUNT_CODES.customerFunds,
      currency: currency.code,
      flags: { debitsMustNotExceedCredits: true },
    },
  ]);
  if (opened !== 'ok' && opened !== 'exists') throw new FixpayError('INTERNAL', `card account: ${String(opened)}`);
  const record: CardRecord = {
    id: cardId,
    batchId,
    bin,
    panToken: panToken(deps.indexKey, pan),
    panMasked: maskPan(pan),
    state: 'issued',
    expiry,
    serviceCode,
    pinReference: pin.reference,
    accountRef,
    ...(replaces === undefined ? {} : { replaces }),
  };
  await deps.store.put(record);
  return { cardId, pan, expiry, serviceCode, cvv: trackCvv, cvv2, icvv, pinMailer: pin.mailer };
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
 * from then on). The new card starts `issued` and is activated by its holder.
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
  // Blocked first, so nothing is authorised on the old card while its balance moves.
  await deps.store.setState(old.id, 'blocked');
  const issued = await issueOne(
    deps,
    old.batchId,
    old.bin,
    pan.value,
    expiryFor(request.now ?? new Date(), CARD_VALIDITY_MONTHS_DEFAULT),
    old.serviceCode,
    cur.value,
    request.pinLength,
    old.id,
  );
  const balance = oldAccount.creditsPosted - oldAccount.debitsPosted - oldAccount.debitsPending;
  if (balance > 0n) {
    const fresh = await deps.ledger.accountByReference(cardAccountRef(issued.cardId));
    if (fresh === undefined) throw new FixpayError('LEDGER_ACCOUNT_UNKNOWN', 'new card account');
    const [moved] = await deps.ledger.createTransfers([
      {
        id: ledgerIdFor('transfer', `card-replace:${old.id}`),
        debitAccountId: oldAccount.id,
        creditAccountId: fresh.id,
        amount: balance,
        ledger: oldAccount.ledger,
        code: TRANSFER_CODES.funding,
      },
    ]);
    if (moved === undefined || !transferSucceeded(moved))
      throw new FixpayError('INTERNAL', `balance move: ${String(moved)}`);
  }
  await deps.store.setState(old.id, 'replaced');
  return issued;
}
