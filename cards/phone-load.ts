/**
 * Loading a prepaid card from a phone (ADR 0026, `definitions/card-load.yaml`): the phone reads the
 * card, the shop (the phone's owner, its ledger account from the binding check) takes the cash and
 * the card's account is credited from the owner's account: a pending transfer keyed by the run's
 * idempotency key (a retry loads once), posted — the run's pivot — once the phone ACKed the
 * approved answer, voided when it did not. Only a card of our programme (its BIN routed `onus`,
 * known to the card store, issued or active, not expired) takes a load; anything else is declined
 * with field 39 and nothing moves. Until it is posted the load is not spendable.
 */
import { isExpired, isOnUs } from '../core/cards';
import type { BinRoute, CoreResult } from '../core/model';
import { FixpayError } from '../domain/errors';
import { parseCurrency } from '../domain/money';
import { ledgerIdToUuid } from '../domain/ids';
import { ledgerIdFor } from '../ledger/ids';
import { TRANSFER_CODES } from '../ledger/model';
import type { LedgerPort } from '../ledger/model';
import { openTerminalRequest, requestBytes } from '../terminal-protocol/messages';
import { panToken } from './store';
import type { CardStore } from './store';

export interface CardLoadDeps {
  readonly store: CardStore;
  readonly ledger: LedgerPort;
  readonly indexKey: Uint8Array;
  readonly routeCard: (pan: string) => Promise<CoreResult<BinRoute>> | CoreResult<BinRoute>;
  readonly now?: () => Date;
  /** Seconds an unposted load holds the money; CARD_LOAD_HOLD_SECONDS_DEFAULT by default. */
  readonly holdSeconds?: number;
}

export interface CardLoadInput {
  /** The phone's service request (its card data stays in here; only this activity opens it). */
  readonly request: string;
  readonly terminalId: string;
  readonly stan: string;
  readonly amount: number;
  readonly currency: string;
  /** The paying account: the phone owner's (the binding check's `accountId`). */
  readonly accountId: string;
  readonly idempotencyKey: string;
}

export interface CardLoadOutcome {
  readonly approved: boolean;
  readonly responseCode: string;
  readonly authCode: string;
  readonly rrn: string;
  /** The card's balance once the load is posted (minor units); 0 when declined. */
  readonly balance: number;
  /** The pending load (UUID) the run posts once the phone ACKed; empty when declined. */
  readonly reservationId: string;
}

/** Seconds a load not yet posted holds the owner's money before it lapses on its own (a run that died). */
export const CARD_LOAD_HOLD_SECONDS_DEFAULT = 3_600;

const loadId = (key: string): bigint => ledgerIdFor('transfer', `card-load-phone:${key}`);
const settleId = (key: string): bigint => ledgerIdFor('transfer', `card-load-phone-settle:${key}`);
const declined = (responseCode: string): CardLoadOutcome => ({
  approved: false,
  responseCode,
  authCode: '',
  rrn: '',
  balance: 0,
  reservationId: '',
});

export interface CardLoadActivities {
  loadPrepaidCard(input: CardLoadInput): Promise<CardLoadOutcome>;
  /** The pivot: the pending load posted, for good. */
  postCardLoad(input: {
    readonly reservationId: string;
    readonly idempotencyKey: string;
  }): Promise<{ posted: boolean }>;
  /** The compensation: the pending load voided (none when nothing was loaded). */
  reverseCardLoad(input: { readonly originalIdempotencyKey: string }): Promise<{ reversed: boolean; status: string }>;
}

export function createCardLoadActivities(deps: CardLoadDeps): CardLoadActivities {
  return {
    async loadPrepaidCard(input) {
      const opened = openTerminalRequest(requestBytes(input.request));
      if (opened.pan === null) throw new FixpayError('BAD_REQUEST', 'the request carries no card');
      const route = await deps.routeCard(opened.pan);
      // Not a card of ours: no issuer here takes the money (the network has no load message).
      if (!route.ok || !isOnUs(route.value)) return declined('57');
      const card = await deps.store.byPanToken(panToken(deps.indexKey, opened.pan));
      if (card === undefined) return declined('14');
      if (card.state !== 'active' && card.state !== 'issued') return declined('62');
      if (isExpired(card.expiry, deps.now?.() ?? new Date())) return declined('54');
      if (!Number.isSafeInteger(input.amount) || input.amount <= 0) return declined('13');
      const cur = parseCurrency(input.currency);
      const own = await deps.ledger.accountByReference(card.accountRef);
      const payer = await deps.ledger.accountByReference(input.accountId);
      if (own === undefined || payer === undefined)
        throw new FixpayError('LEDGER_ACCOUNT_UNKNOWN', input.accountId.slice(0, 64));
      if (!cur.ok || own.currency !== cur.value.code || payer.currency !== own.currency) return declined('57');
      const id = loadId(input.idempotencyKey);
      const [result] = await deps.ledger.createTransfers([
        {
          id,
          debitAccountId: payer.id,
          creditAccountId: own.id,
          amount: BigInt(input.amount),
          ledger: own.ledger,
          code: TRANSFER_CODES.funding,
          timeoutSeconds: deps.holdSeconds ?? CARD_LOAD_HOLD_SECONDS_DEFAULT,
          flags: { pending: true },
        },
      ]);
      if (result === 'exceeds_credits' || result === 'exceeds_debits') return declined('51');
      if (result !== 'ok' && result !== 'exists') throw new Error(`card load: ${String(result)}`);
      const after = await deps.ledger.accountByReference(card.accountRef);
      const digits = String(id % 1_000_000_000_000n).padStart(12, '0');
      return {
        approved: true,
        responseCode: '00',
        authCode: digits.slice(-6),
        rrn: digits,
        balance:
          after === undefined
            ? 0
            : Number(after.creditsPosted + after.creditsPending - after.debitsPosted - after.debitsPending),
        reservationId: ledgerIdToUuid(id),
      };
    },

    async postCardLoad(input) {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(input.reservationId))
        throw new FixpayError('BAD_REQUEST', 'reservationId must be a UUID');
      const [result] = await deps.ledger.createTransfers([
        {
          id: settleId(input.idempotencyKey),
          pendingId: BigInt(`0x${input.reservationId.replace(/-/g, '')}`),
          flags: { postPendingTransfer: true },
        },
      ]);
      if (result !== 'ok' && result !== 'exists') throw new Error(`card load post: ${String(result)}`);
      return { posted: true };
    },

    async reverseCardLoad(input) {
      const [result] = await deps.ledger.createTransfers([
        {
          id: settleId(`void:${input.originalIdempotencyKey}`),
          pendingId: loadId(input.originalIdempotencyKey),
          flags: { voidPendingTransfer: true },
        },
      ]);
      if (result === 'ok' || result === 'exists' || result === 'pending_transfer_already_voided')
        return { reversed: true, status: 'voided' };
      // Never loaded (declined, or the call never landed), or lapsed on its own: nothing to give back.
      if (result === 'pending_transfer_not_found' || result === 'pending_transfer_expired')
        return { reversed: false, status: 'none' };
      // Posted: the run passed its pivot, so no compensation should come here; refuse loudly.
      throw new Error(`card load reversal: ${String(result)}`);
    },
  };
}
