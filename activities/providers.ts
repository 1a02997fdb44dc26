/**
 * The room for provider gateways beside the card network (issue 11): billers, mobile top-up and
 * ticketing behind one port each, and the activities the catalogue declares for them, built from
 * that port. No gateway implements a port yet, so no worker registers these activities and the
 * definitions that call them are not deployed (services/catalogue/unimplemented.ts). Adding a
 * biller = an adapter implementing `BillerPort` (a new `gateways/<biller>/`), passed to
 * `createProviderActivities`, registered in worker/platform-activities.ts, its names removed from
 * the declared-unimplemented list.
 */
import { activityFailure } from './failure';

/** Idempotency key the interpreter adds to every call. */
interface Keyed {
  readonly idempotencyKey: string;
}

export interface BillerPort {
  fetchBill(q: { billerId: string; customerRef: string } & Keyed): Promise<{
    status: 'DUE' | 'PAID' | 'NOT_FOUND';
    billId: string;
    amount: number;
    currency: string;
  }>;
  payBill(
    q: { billerId: string; billId: string; amount: number; currency: string } & Keyed,
  ): Promise<{ receipt: string }>;
  /** Inverse of payBill. */
  cancelBillPayment(q: {
    billerId: string;
    billId: string;
    originalIdempotencyKey: string;
  }): Promise<{ cancelled: boolean }>;
}

export interface TopupPort {
  topupMobile(q: { operator: string; msisdn: string; amount: number; currency: string } & Keyed): Promise<{
    status: 'COMPLETED' | 'DECLINED';
    providerRef: string;
  }>;
  /** Inverse of topupMobile. */
  cancelTopup(q: { operator: string; msisdn: string; originalIdempotencyKey: string }): Promise<{ reversed: boolean }>;
}

export interface TicketingPort {
  issueTicket(
    q: { gameId: string; drawId: string; numbers: number[]; amount: number; currency: string } & Keyed,
  ): Promise<{ ticketId: string }>;
  /** Inverse of issueTicket. */
  cancelTicket(q: { gameId: string; drawId: string; originalIdempotencyKey: string }): Promise<{ cancelled: boolean }>;
}

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
    out['fetchBill'] = guarded((q: Parameters<BillerPort['fetchBill']>[0]) => billers.fetchBill(q));
    out['payBill'] = guarded((q: Parameters<BillerPort['payBill']>[0]) => billers.payBill(q));
    out['cancelBillPayment'] = guarded((q: Parameters<BillerPort['cancelBillPayment']>[0]) =>
      billers.cancelBillPayment(q),
    );
  }
  if (topup !== undefined) {
    out['topupMobile'] = guarded((q: Parameters<TopupPort['topupMobile']>[0]) => topup.topupMobile(q));
    out['cancelTopup'] = guarded((q: Parameters<TopupPort['cancelTopup']>[0]) => topup.cancelTopup(q));
  }
  if (ticketing !== undefined) {
    out['issueTicket'] = guarded((q: Parameters<TicketingPort['issueTicket']>[0]) => ticketing.issueTicket(q));
    out['cancelTicket'] = guarded((q: Parameters<TicketingPort['cancelTicket']>[0]) => ticketing.cancelTicket(q));
  }
  return out;
}
