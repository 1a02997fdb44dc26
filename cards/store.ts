/**
 * Where programme cards are kept. A card is found by a keyed hash of its number (HMAC-SHA-256
 * under the card index key), never by the number itself: the store holds the masked PAN, state,
 * expiry, service code, the PIN under the LMK and the card's ledger account, and no clear card
 * data. `MemoryCardStore` serves tests and the in-process platform.
 */
import { createHmac } from 'node:crypto';
import type { CardState } from '../core/cards';
import type { LmkPan, LmkPin } from '../hsm/port';
import type { LedgerPort } from '../ledger/model';

export interface CardRecord {
  readonly id: string;
  readonly batchId: string;
  /** The BIN the number was drawn from (a replacement draws from the same one). */
  readonly bin: string;
  /** HMAC-SHA-256 of the PAN under the card index key, hex. */
  readonly panToken: string;
  readonly panMasked: string;
  /** The number under the LMK (the HSM opens it for a PIN reissue); absent on cards issued before. */
  readonly panUnderLmk?: LmkPan;
  readonly state: CardState;
  /** YYMM. */
  readonly expiry: string;
  readonly serviceCode: string;
  readonly pinReference: LmkPin;
  /** Ledger reference of the card's own account (`card-funds:<id>`). */
  readonly accountRef: string;
  /** The card this one replaced, if any. */
  readonly replaces?: string;
}

export interface CardStore {
  put(card: CardRecord): Promise<void>;
  byId(id: string): Promise<CardRecord | undefined>;
  byPanToken(token: string): Promise<CardRecord | undefined>;
  setState(id: string, state: CardState): Promise<void>;
  /** A new PIN (PIN reissue): the reference under the LMK replaces the old one. */
  setPinReference(id: string, reference: LmkPin): Promise<void>;
  /** The cards of a batch (ids, masked numbers and states only are shown from them). */
  byBatch(batchId: string): Promise<readonly CardRecord[]>;
  /** The card that replaced `id`, if any (a reversal after a replacement credits it). */
  successorOf(id: string): Promise<CardRecord | undefined>;
}

/** What a card change writes: the card store and the ledger, together. */
export interface CardWrites {
  readonly store: CardStore;
  readonly ledger: Pick<LedgerPort, 'createAccounts' | 'createTransfers' | 'accountByReference'>;
}

/**
 * Runs `fn` so that all its card and ledger writes happen or none does (one database transaction
 * for the Prisma store): a batch or a replacement that fails half-way leaves nothing behind.
 */
export type CardUnitOfWork = <T>(fn: (w: CardWrites) => Promise<T>) => Promise<T>;

/** The keyed index of a card number: the same PAN always gives the same token under one key. */
/**
 * The key of the card index (a keyed hash of each PAN) derived from the platform's LMK: one secret
 * to keep, like the voucher and webhook keys; a database without the LMK cannot test a PAN.
 */
export function cardIndexKeyFromLmk(lmkHex: string): Buffer {
  return createHmac('sha256', Buffer.from(lmkHex, 'hex')).update('fixpay card index key v1').digest();
}

export function panToken(indexKey: Uint8Array, pan: string): string {
  return createHmac('sha256', indexKey).update(pan, 'ascii').digest('hex');
}

/** The ledger reference of a card's account. */
export const cardAccountRef = (cardId: string): string => `card-funds:${cardId}`;

export class MemoryCardStore implements CardStore {
  private readonly cards = new Map<string, CardRecord>();

  put(card: CardRecord): Promise<void> {
    this.cards.set(card.id, card);
    return Promise.resolve();
  }

  byId(id: string): Promise<CardRecord | undefined> {
    return Promise.resolve(this.cards.get(id));
  }

  byPanToken(token: string): Promise<CardRecord | undefined> {
    for (const c of this.cards.values()) if (c.panToken === token) return Promise.resolve(c);
    return Promise.resolve(undefined);
  }

  setState(id: string, state: CardState): Promise<void> {
    const card = this.cards.get(id);
    if (card !== undefined) this.cards.set(id, { ...card, state });
    return Promise.resolve();
  }

  setPinReference(id: string, reference: LmkPin): Promise<void> {
    const card = this.cards.get(id);
    if (card !== undefined) this.cards.set(id, { ...card, pinReference: reference });
    return Promise.resolve();
  }

  byBatch(batchId: string): Promise<readonly CardRecord[]> {
    return Promise.resolve([...this.cards.values()].filter((c) => c.batchId === batchId));
  }

  successorOf(id: string): Promise<CardRecord | undefined> {
    return Promise.resolve([...this.cards.values()].find((c) => c.replaces === id));
  }

  /**
   * A unit of work over this store and `ledger`: the cards are put back as they were when `fn`
   * fails. The ledger is not rolled back (unit tests; the Prisma store's unit of work is one
   * database transaction).
   */
  unitOfWork(ledger: CardWrites['ledger']): CardUnitOfWork {
    return async <T>(fn: (w: CardWrites) => Promise<T>): Promise<T> => {
      const before = new Map(this.cards);
      try {
        return await fn({ store: this, ledger });
      } catch (e) {
        this.cards.clear();
        for (const [k, v] of before) this.cards.set(k, v);
        throw e;
      }
    };
  }

  /** Every record, for tests that assert nothing clear was kept. */
  all(): readonly CardRecord[] {
    return [...this.cards.values()];
  }
}
