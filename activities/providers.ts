/**
 * The provider activities of the catalogue (billers, top-up, ticketing), built from one port per
 * connector kind (ADR 0019). The bill and top-up ports are the connector kinds of
 * gateways/providers/ (one module per kind, every biller and operator configured as data); the
 * ticketing port is the ticketing connector kind (ADR 0023: airlines, cinemas, lottery games).
 */
import type { BillConnector } from '../gateways/providers/bill';
import type { TopupConnector } from '../gateways/providers/topup';
import type { TicketingConnector, TicketQuery } from '../gateways/providers/ticketing';
import { activityFailure } from './failure';

/** Idempotency key the interpreter adds to every call (a compensation also gets the original's). */
interface Keyed {
  readonly idempotencyKey: string;
}
interface Undoing extends Keyed {
  readonly originalIdempotencyKey: string;
}

export type BillerPort = BillConnector;
export type TopupPort = TopupConnector;

export type TicketingPort = TicketingConnector;

export interface ProviderPorts {
  readonly billers?: BillerPort;
  readonly topup?: TopupPort;
  readonly ticketing?: TicketingPort;
}

type Fn<I, O> = (input: I) => Promise<O>;
const guarded =
  <I, O>(f: Fn<I, O>): Fn<I, O> =>
  async (input) => {
    try {
      return await f(input);
    } catch (e) {
      throw activityFailure(e);
    }
  };

/** The activities of the ports present (catalogue names); none for an absent port. */
export function createProviderActivities(ports: ProviderPorts): Record<string, Fn<never, unknown>> {
  const out: Record<string, Fn<never, unknown>> = {};
  const { billers, topup, ticketing } = ports;
  if (billers !== undefined) {
    out['fetchBill'] = guarded((q: { billerId: string; customerRef: string }) => billers.fetchBill(q));
    out['payBill'] = guarded(
      (q: { billerId: string; billId: string; customerRef: string; amount: number; currency: string } & Keyed) =>
        billers.payBill(q),
    );
    out['billPaymentStatus'] = guarded((q: { billerId: string; reference: string; attempt: number }) =>
      billers.billPaymentStatus(q),
    );
    // The payment to cancel is the one made under the original key: that key is our reference.
    out['cancelBillPayment'] = guarded((q: { billerId: string } & Undoing) =>
      billers.cancelBillPayment({ billerId: q.billerId, reference: q.originalIdempotencyKey }),
    );
  }
  if (topup !== undefined) {
    out['lookupOperator'] = guarded((q: { msisdn: string }) => topup.lookupOperator(q));
    out['topupMobile'] = guarded(
      (q: { operator: string; productId: string; msisdn: string; amount: number; currency: string } & Keyed) =>
        topup.topup(q),
    );
    out['topupStatus'] = guarded((q: { operator: string; productId: string; reference: string }) => topup.status(q));
    out['cancelTopup'] = guarded((q: { operator: string } & Undoing) =>
      topup.cancel({ operator: q.operator, reference: q.originalIdempotencyKey }),
    );
  }
  if (ticketing !== undefined) {
    out['holdTicket'] = guarded((q: TicketQuery & Keyed) => ticketing.hold(q));
    out['payTicket'] = guarded((q: TicketQuery & { holdToken: string; amount: number; currency: string } & Keyed) =>
      ticketing.pay(q),
    );
    out['ticketStatus'] = guarded((q: { offer: string; reference: string }) => ticketing.status(q));
    out['issueTickets'] = guarded((q: { offer: string; reference: string }) => ticketing.issue(q));
    // The order to refund is the one paid under the original key: that key is our reference.
    out['refundTicket'] = guarded((q: { offer: string } & Undoing) =>
      ticketing.cancel({ offer: q.offer, reference: q.originalIdempotencyKey }),
    );
    // The seat hold to release is the one made under the original key: that key is our reference.
    out['releaseTicketHold'] = guarded((q: { offer: string } & Undoing) =>
      ticketing.releaseHold({ offer: q.offer, reference: q.originalIdempotencyKey }),
    );
    out['lotteryDraw'] = guarded((q: { offer: string; draw: string }) => ticketing.draw(q));
  }
  return out;
}
