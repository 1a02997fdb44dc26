/**
 * BIN routing at the card network port (ADR 0026): a card whose BIN route names our own programme
 * (`network: onus`) is authorised here against its card account in the ledger, with its PIN
 * checked in the HSM against the PIN under the LMK; every other card goes to the card network
 * gateway unchanged. The purchase definition does not change: `authorizeCard` and `reverseCard`
 * reach whichever side the routing table picks.
 *
 * Money: an approved on-us purchase is one posted ledger transfer from the card account to
 * `settlement:<CUR>` (where the merchant's reservation is drawn from), keyed by the request's
 * idempotency key so a retry never debits twice; its reversal is the mirror transfer, keyed by the
 * same key, so a repeated reversal credits once. A reversal that arrives after the card was replaced
 * credits the card that holds the money now (the last of the replacement chain), not the replaced one.
 */
import { randomInt } from 'node:crypto';
import { isOnUs, standingDecline } from '../core/cards';
import type { BinRoute, CoreResult } from '../core/model';
import { isFixpayError } from '../domain/errors';
import { parseCurrency } from '../domain/money';
import type { CardholderRequest, NetworkOutcome, ReverseOutcome } from '../gateways/card-network';
import { resultNameOf } from '../gateways/card-network/transactions';
import type { HsmPort, KeyHandle } from '../hsm/port';
import { ledgerIdFor } from '../ledger/ids';
import { TRANSFER_CODES } from '../ledger/model';
import type { LedgerPort } from '../ledger/model';
import { cardAccountRef, panToken } from './store';
import type { CardStore } from './store';

/** The card network side (structurally `activities/card-network`'s port, which the gateway provides). */
export interface CardNetworkPort {
  authorize(req: CardholderRequest): Promise<NetworkOutcome>;
  balanceInquiry(req: CardholderRequest): Promise<NetworkOutcome>;
  transfer(req: CardholderRequest): Promise<NetworkOutcome>;
  repayCreditCard(req: CardholderRequest): Promise<NetworkOutcome>;
  reverse(idempotencyKey: string, reasonCode?: string): Promise<ReverseOutcome>;
  signOn(): Promise<void>;
}

export interface OnUsDeps {
  readonly hsm: HsmPort;
  readonly ledger: LedgerPort;
  readonly store: CardStore;
  /** The zone PIN key the terminal's PIN block is translated to (the purchase's `pin` step). */
  readonly zpk: KeyHandle;
  readonly indexKey: Uint8Array;
  readonly now?: () => Date;
}

export interface RoutedCardNetworkDeps extends OnUsDeps {
  readonly network: CardNetworkPort;
  /** The route for a card number: `core/routing.ts` over the active `bin_route` rows. */
  readonly routeCard: (pan: string) => Promise<CoreResult<BinRoute>> | CoreResult<BinRoute>;
}

const outcome = (responseCode: string, extra: Partial<NetworkOutcome> = {}): NetworkOutcome => {
  const resultName = resultNameOf(responseCode);
  return { approved: responseCode === '00', responseCode, resultCode: resultName, resultName, ...extra };
};

/** Most replacements a reversal follows from the debited card to the card in use. */
export const REPLACEMENT_CHAIN_MAX = 16;

const transferId = (kind: 'debit' | 'reversal' | 'reversal-onward', key: string): bigint =>
  ledgerIdFor('transfer', `onus:${kind}:${key}`);

/** The on-us side: the same calls as the network port, answered from the card store, HSM and ledger. */
export interface OnUsIssuer {
  authorize(req: CardholderRequest): Promise<NetworkOutcome>;
  balanceInquiry(req: CardholderRequest): Promise<NetworkOutcome>;
  /** `none` when no on-us debit exists under the key (the caller then asks the network). */
  reverse(idempotencyKey: string): Promise<ReverseOutcome>;
}

export function createOnUsIssuer(deps: OnUsDeps): OnUsIssuer {
  async function account(ref: string) {
    const found = await deps.ledger.accountByReference(ref);
    if (found === undefined) throw new Error(`card account ${ref} is missing`);
    return found;
  }

  /**
   * The account a reversal credits: the debited card's, or — when that card was replaced (its
   * balance moved to the new card, ADR 0026) — its successor's, following the chain to the card
   * in use. Bounded: a chain longer than `REPLACEMENT_CHAIN_MAX` stops at the last card read.
   */
  async function currentCardAccount(debited: bigint): Promise<bigint> {
    const [acc] = await deps.ledger.lookupAccounts([debited]);
    const prefix = cardAccountRef('');
    if (acc?.reference === undefined || !acc.reference.startsWith(prefix)) return debited;
    let card = await deps.store.byId(acc.reference.slice(prefix.length));
    let target = debited;
    for (let i = 0; card !== undefined && card.state === 'replaced' && i < REPLACEMENT_CHAIN_MAX; i++) {
      const next = await deps.store.successorOf(card.id);
      if (next === undefined) break;
      target = (await account(next.accountRef)).id;
      card = next;
    }
    return target;
  }

  async function checkCard(req: CardholderRequest) {
    const card = await deps.store.byPanToken(panToken(deps.indexKey, req.pan));
    const declined = standingDecline(card, (deps.now ?? (() => new Date()))());
    if (declined !== undefined || card === undefined) return { declined: declined ?? '14' } as const;
    if (req.pinBlock === undefined || !/^[0-9A-Fa-f]{16}$/.test(req.pinBlock)) return { declined: '55' } as const;
    try {
      await deps.hsm.verifyPin({
        source: { key: deps.zpk, format: 0 },
        pinBlock: Buffer.from(req.pinBlock, 'hex'),
        pan: req.pan,
        reference: card.pinReference,
      });
    } catch (e) {
      if (isFixpayError(e, 'HSM_PIN_INVALID') || isFixpayError(e, 'HSM_PIN_BLOCK_INVALID'))
        return { declined: '55' } as const;
      throw e;
    }
    return { card } as const;
  }

  const balanceOf = (a: { creditsPosted: bigint; debitsPosted: bigint; debitsPending: bigint }): number =>
    Number(a.creditsPosted - a.debitsPosted - a.debitsPending);

  return {
    async authorize(req: CardholderRequest): Promise<NetworkOutcome> {
      const checked = await checkCard(req);
      if ('declined' in checked) return outcome(checked.declined);
      const cur = parseCurrency(req.currency);
      const amount = req.amountMinor;
      if (!cur.ok || amount === undefined || !Number.isSafeInteger(amount) || amount <= 0) return outcome('13');
      const own = await account(checked.card.accountRef);
      if (own.currency !== cur.value.code) return outcome('57');
      const settlement = await account(`settlement:${cur.value.code}`);
      const [result] = await deps.ledger.createTransfers([
        {
          id: transferId('debit', req.idempotencyKey),
          debitAccountId: own.id,
          creditAccountId: settlement.id,
          amount: BigInt(amount),
          ledger: own.ledger,
          code: TRANSFER_CODES.purchase,
        },
      ]);
      if (result === 'exceeds_credits' || result === 'exceeds_debits') return outcome('51');
      if (result !== 'ok' && result !== 'exists') throw new Error(`on-us debit: ${String(result)}`);
      const after = await account(checked.card.accountRef);
      return outcome('00', {
        authorizationCode: String(randomInt(1_000_000)).padStart(6, '0'),
        rrn: String(transferId('debit', req.idempotencyKey) % 1_000_000_000_000n).padStart(12, '0'),
        balanceMinor: balanceOf(after),
      });
    },

    async balanceInquiry(req: CardholderRequest): Promise<NetworkOutcome> {
      const checked = await checkCard(req);
      if ('declined' in checked) return outcome(checked.declined);
      return outcome('00', { balanceMinor: balanceOf(await account(checked.card.accountRef)) });
    },

    async reverse(idempotencyKey: string): Promise<ReverseOutcome> {
      const found = await deps.ledger.lookupTransfers([
        transferId('debit', idempotencyKey),
        transferId('reversal', idempotencyKey),
      ]);
      const debit = found.find((t) => t.id === transferId('debit', idempotencyKey));
      const reversed = found.find((t) => t.id === transferId('reversal', idempotencyKey));
      if (debit === undefined) return { status: 'none' };
      // Reversed already: nothing is reversed again; only a credit left on a card replaced since moves on.
      if (reversed !== undefined) {
        await onward(idempotencyKey, reversed.creditAccountId, reversed.amount, reversed.ledger);
        return { status: 'done', responseCode: '00' };
      }
      const target = await currentCardAccount(debit.debitAccountId);
      const [result] = await deps.ledger.createTransfers([
        {
          id: transferId('reversal', idempotencyKey),
          debitAccountId: debit.creditAccountId,
          creditAccountId: target,
          amount: debit.amount,
          ledger: debit.ledger,
          code: debit.code,
        },
      ]);
      // `exists…`: a concurrent reversal of the same key made it first (the ledger keeps it once).
      if (result !== 'ok' && !String(result).startsWith('exists')) throw new Error(`on-us reversal: ${String(result)}`);
      await onward(idempotencyKey, target, debit.amount, debit.ledger);
      return { status: 'done', responseCode: '00' };
    },
  };

  /**
   * A reversal that read its card just before the card's replacement committed credited the old,
   * now replaced card after the balance moved. Checked after every reversal: when the credited
   * card is replaced by now, the amount moves on to the card in use, once (keyed by the reversal).
   * If the replacement's balance move took the credit already, the old card has no money left and
   * the ledger refuses the move (`exceeds_credits`): nothing to do.
   */
  async function onward(key: string, credited: bigint, amount: bigint, ledger: number): Promise<void> {
    const target = await currentCardAccount(credited);
    if (target === credited) return;
    const [r] = await deps.ledger.createTransfers([
      {
        id: transferId('reversal-onward', key),
        debitAccountId: credited,
        creditAccountId: target,
        amount,
        ledger,
        code: TRANSFER_CODES.funding,
      },
    ]);
    if (r !== 'ok' && r !== 'exceeds_credits' && !String(r).startsWith('exists'))
      throw new Error(`on-us reversal onward: ${String(r)}`);
  }
}

/** The card network port with BIN routing in front: on-us cards never reach the network. */
export function createRoutedCardNetwork(deps: RoutedCardNetworkDeps): CardNetworkPort {
  const onUs = createOnUsIssuer(deps);
  async function onUsRoute(pan: string): Promise<boolean> {
    const route = await deps.routeCard(pan);
    return route.ok && isOnUs(route.value);
  }
  return {
    authorize: async (req) => ((await onUsRoute(req.pan)) ? onUs.authorize(req) : deps.network.authorize(req)),
    balanceInquiry: async (req) =>
      (await onUsRoute(req.pan)) ? onUs.balanceInquiry(req) : deps.network.balanceInquiry(req),
    transfer: async (req) => ((await onUsRoute(req.pan)) ? outcome('57') : deps.network.transfer(req)),
    repayCreditCard: async (req) => ((await onUsRoute(req.pan)) ? outcome('57') : deps.network.repayCreditCard(req)),
    reverse: async (key, reasonCode) => {
      const local = await onUs.reverse(key);
      return local.status === 'none' ? deps.network.reverse(key, reasonCode) : local;
    },
    signOn: () => deps.network.signOn(),
  };
}
