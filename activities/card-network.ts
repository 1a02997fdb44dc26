/**
 * Card network activities for the interpreter's catalogue, from a factory (STYLE item 5): tests pass
 * a fake gateway to the same factory. Every money-moving activity is idempotent under the
 * `idempotencyKey` of its input (the workflow passes workflowId + step), so Temporal retries never
 * send a second request. Declines come back as outcomes (`approved: false`, `resultName`) for the
 * definition to branch on; failures become ApplicationFailures typed with the catalogue name,
 * non-retryable unless the catalogue says otherwise.
 */
import { FixpayError } from '../domain/errors';
import type { CardholderRequest, NetworkOutcome, ReverseOutcome } from '../gateways/card-network';
import { activityFailure } from './failure';

/** What the activities need from the gateway; `CardNetworkGateway` provides it. */
export interface CardNetworkPort {
  authorize(req: CardholderRequest): Promise<NetworkOutcome>;
  balanceInquiry(req: CardholderRequest): Promise<NetworkOutcome>;
  transfer(req: CardholderRequest): Promise<NetworkOutcome>;
  repayCreditCard(req: CardholderRequest): Promise<NetworkOutcome>;
  reverse(idempotencyKey: string, reasonCode?: string): Promise<ReverseOutcome>;
  signOn(): Promise<void>;
}

export interface CardNetworkActivityDeps {
  readonly gateway: CardNetworkPort;
}

export interface ReverseInput {
  /** The idempotency key of the operation to reverse. */
  readonly idempotencyKey: string;
  /** Field 39 of the 0400; 17 (customer cancellation) by default. */
  readonly reasonCode?: string;
}

export interface CardNetworkActivities {
  /** Purchase authorisation (0200, 000000). */
  authorize(input: CardholderRequest): Promise<NetworkOutcome>;
  /** Inverse of authorize, transfer and repayCreditCard; retried by Temporal until acknowledged. */
  reverse(input: ReverseInput): Promise<ReverseOutcome>;
  balanceInquiry(input: CardholderRequest): Promise<NetworkOutcome>;
  transfer(input: CardholderRequest): Promise<NetworkOutcome>;
  repayCreditCard(input: CardholderRequest): Promise<NetworkOutcome>;
  signOn(): Promise<void>;
}

async function run<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw activityFailure(e);
  }
}

export function createCardNetworkActivities(deps: CardNetworkActivityDeps): CardNetworkActivities {
  const { gateway } = deps;
  return {
    authorize: (input) => run(() => gateway.authorize(input)),
    balanceInquiry: (input) => run(() => gateway.balanceInquiry(input)),
    transfer: (input) => run(() => gateway.transfer(input)),
    repayCreditCard: (input) => run(() => gateway.repayCreditCard(input)),
    signOn: () => run(() => gateway.signOn()),
    reverse: (input) =>
      run(async () => {
        const outcome = await gateway.reverse(input.idempotencyKey, input.reasonCode);
        if (outcome.status === 'pending') throw new FixpayError('REVERSAL_PENDING', `key ${input.idempotencyKey}`);
        if (outcome.status === 'expired') throw new FixpayError('REVERSAL_EXPIRED', `key ${input.idempotencyKey}`);
        return outcome;
      }),
  };
}
