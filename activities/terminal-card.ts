/**
 * Adapters from the catalogue's calling convention (services/catalogue/entries.ts, issue 7
 * entries) onto the card network gateway and the ledger, for terminal services: the gateway wants
 * a CardholderRequest and the key of the original operation; the catalogue passes the terminal's
 * request and `originalIdempotencyKey`. The existing `postReservation` activity wants the reserve
 * call's key, while the catalogue entry passes `reservationId`; the adapter posts by pending id.
 */
import { openTerminalRequest, requestBytes } from '../terminal-protocol/messages';
import { luhnValid } from '../terminal-protocol/conversation';
import type { CardNetworkPort } from './card-network';
import { transferIdForKey } from './ledger';
import { FixpayError, isFixpayError } from '../domain/errors';
import type { CardholderRequest, NetworkOutcome } from '../gateways/card-network';
import type { LedgerPort } from '../ledger/model';
import { transferSucceeded, TRANSFER_RESULT_CODES } from '../ledger/model';
import { activityFailure } from './failure';

/** Field 39 the terminal sees when the issuer did not answer in time (a reversal is armed). */
export const NO_ISSUER_RESPONSE_CODE = '98';

export interface TerminalServiceActivityDeps {
  readonly gateway: CardNetworkPort;
  readonly ledger: LedgerPort;
}

interface CardInput {
  readonly request: string;
  readonly pinBlock: string;
  readonly terminalId: string;
  readonly merchantId: string;
  readonly stan: string;
  readonly currency: string;
  readonly idempotencyKey: string;
}

export interface TerminalServiceActivities {
  authorizeCard(input: CardInput & { amount: number }): Promise<{
    approved: boolean;
    responseCode: string;
    authCode: string;
    rrn: string;
    balance: number;
  }>;
  reverseCard(input: { originalIdempotencyKey: string }): Promise<{ reversed: boolean; status: string }>;
  /** Card-to-card transfer (0200, 400000) from the card the phone read to `target` (ADR 0024). */
  transferByCard(input: CardInput & { amount: number; target: string }): Promise<CardMoveOutcome>;
  /** Credit-card repayment (0200, 500000) from the card the phone read to the card `target`. */
  repayCreditCardByCard(input: CardInput & { amount: number; target: string }): Promise<CardMoveOutcome>;
  inquireCardBalance(input: CardInput): Promise<{ approved: boolean; responseCode: string; balance: number }>;
  postReservation(input: { accountId: string; reservationId: string; idempotencyKey: string }): Promise<{
    posted: boolean;
  }>;
}

/** What a money-moving card activity answers (a decline is an outcome, not a failure). */
export interface CardMoveOutcome {
  approved: boolean;
  responseCode: string;
  authCode: string;
  rrn: string;
  balance: number;
}

function cardholder(input: CardInput, amountMinor?: number, targetAccount?: string): CardholderRequest {
  const opened = openTerminalRequest(requestBytes(input.request));
  if (opened.pan === null) throw new FixpayError('BAD_REQUEST', 'the request carries no card');
  return {
    idempotencyKey: input.idempotencyKey,
    terminalId: input.terminalId,
    merchantId: input.merchantId,
    stan: input.stan,
    pan: opened.pan,
    pinBlock: input.pinBlock,
    currency: input.currency,
    ...(amountMinor === undefined ? {} : { amountMinor }),
    ...(targetAccount === undefined ? {} : { targetAccount }),
  };
}

/** The target of a transfer or repayment: a card number, and not the card paying (ADR 0024). */
function checkTarget(input: CardInput, target: string): void {
  if (!/^\d{12,19}$/.test(target) || !luhnValid(target))
    throw new FixpayError('CARD_TARGET_INVALID', 'the target card number is not 12–19 digits with a valid check digit');
  const opened = openTerminalRequest(requestBytes(input.request));
  if (opened.pan === target) throw new FixpayError('CARD_TARGET_SAME', 'the target is the card paying');
}

/** No answer from the issuer is an outcome the terminal must hear about, not a retry. */
function isNoResponse(e: unknown): boolean {
  return isFixpayError(e, 'CARD_NETWORK_NO_RESPONSE') || isFixpayError(e, 'REQUEST_IN_FLIGHT');
}

const outcome = (o: NetworkOutcome) => ({
  approved: o.approved,
  responseCode: o.responseCode,
  authCode: o.authorizationCode ?? '',
  rrn: o.rrn ?? '',
  balance: o.balanceMinor ?? 0,
});

export function createTerminalServiceActivities(deps: TerminalServiceActivityDeps): TerminalServiceActivities {
  /** A money-moving card operation: no answer from the issuer is an outcome (98; a reversal is armed). */
  const move = async (
    input: CardInput & { amount: number; target: string },
    send: (req: CardholderRequest) => Promise<NetworkOutcome>,
  ): Promise<CardMoveOutcome> => {
    try {
      checkTarget(input, input.target);
      return outcome(await send(cardholder(input, input.amount, input.target)));
    } catch (e) {
      if (isNoResponse(e))
        return { approved: false, responseCode: NO_ISSUER_RESPONSE_CODE, authCode: '', rrn: '', balance: 0 };
      throw activityFailure(e);
    }
  };
  return {
    transferByCard: (input) => move(input, (req) => deps.gateway.transfer(req)),
    repayCreditCardByCard: (input) => move(input, (req) => deps.gateway.repayCreditCard(req)),
    async authorizeCard(input) {
      try {
        return outcome(await deps.gateway.authorize(cardholder(input, input.amount)));
      } catch (e) {
        if (isNoResponse(e))
          return { approved: false, responseCode: NO_ISSUER_RESPONSE_CODE, authCode: '', rrn: '', balance: 0 };
        throw activityFailure(e);
      }
    },
    async reverseCard(input) {
      try {
        const r = await deps.gateway.reverse(input.originalIdempotencyKey);
        if (r.status === 'pending') throw new FixpayError('REVERSAL_PENDING', 'not acknowledged yet');
        if (r.status === 'expired') throw new FixpayError('REVERSAL_EXPIRED', 'reversal expired');
        return { reversed: r.status !== 'none', status: r.status };
      } catch (e) {
        throw activityFailure(e);
      }
    },
    async inquireCardBalance(input) {
      try {
        const o = await deps.gateway.balanceInquiry(cardholder(input));
        return { approved: o.approved, responseCode: o.responseCode, balance: o.balanceMinor ?? 0 };
      } catch (e) {
        if (isNoResponse(e)) return { approved: false, responseCode: NO_ISSUER_RESPONSE_CODE, balance: 0 };
        throw activityFailure(e);
      }
    },
    async postReservation(input) {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(input.reservationId))
        throw activityFailure(new FixpayError('BAD_REQUEST', 'reservationId must be a UUID'));
      const [result] = await deps.ledger.createTransfers([
        {
          id: transferIdForKey(input.idempotencyKey),
          pendingId: BigInt(`0x${input.reservationId.replace(/-/g, '')}`),
          flags: { postPendingTransfer: true },
        },
      ]);
      if (result === undefined) throw new Error('ledger returned no result');
      if (!transferSucceeded(result))
        throw activityFailure(new FixpayError(TRANSFER_RESULT_CODES[result], `post reservation of ${input.accountId}`));
      return { posted: true };
    },
  };
}
