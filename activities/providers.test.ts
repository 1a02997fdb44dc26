import { catalogueEntries } from '../services/catalogue/entries';
import { createPartnerBillActivities } from './partner-bills';
import type { PartnerBillDeps } from './partner-bills';
import { DECLARED_UNIMPLEMENTED } from '../services/catalogue/unimplemented';
import { createProviderActivities } from './providers';
import type { BillerPort, TicketingPort, TopupPort } from './providers';

const state = { status: 'PAID' as const, receipt: 'R1', reference: 'k', checks: [] };
const calls: unknown[] = [];
const billers: BillerPort = {
  fetchBill: () =>
    Promise.resolve({ status: 'DUE', billId: 'B1', amount: 100, currency: '156', fee: 0, billerId: 'water-co' }),
  payBill: () => Promise.resolve(state),
  billPaymentStatus: () => Promise.resolve(state),
  cancelBillPayment: (q) => {
    calls.push(q);
    return Promise.resolve({ cancelled: true });
  },
};
const tstate = { status: 'COMPLETED' as const, providerRef: 'P1', reference: 'k', voucher: '', checks: [] };
const topup: TopupPort = {
  lookupOperator: () => Promise.resolve({ found: true, operator: 'mobile-a' }),
  topup: () => Promise.resolve(tstate),
  status: () => Promise.resolve(tstate),
  cancel: (q) => {
    calls.push(q);
    return Promise.resolve({ reversed: true });
  },
};
const pstate = { status: 'PAID' as const, reference: 'k', orderId: 'O1', checks: [] };
const ticketing: TicketingPort = {
  hold: () =>
    Promise.resolve({
      status: 'HELD',
      offer: 'o',
      show: '',
      holdToken: 'H1',
      amount: 100,
      currency: '156',
      expiresAt: '',
    }),
  pay: () => Promise.resolve(pstate),
  status: () => Promise.resolve(pstate),
  issue: () => Promise.resolve({ status: 'ISSUED', tickets: ['T1'] }),
  cancel: (q) => {
    calls.push(q);
    return Promise.resolve({ cancelled: true });
  },
  draw: () => Promise.resolve({ status: 'OPEN', cutoffAt: '', results: [] }),
  releaseHold: (q) => {
    calls.push({ ...q, hold: true });
    return Promise.resolve({ released: true });
  },
};

describe('provider activities', () => {
  it('no port, no activity', () => {
    expect(Object.keys(createProviderActivities({}))).toEqual([]);
  });

  it('with every port: exactly the catalogue’s biller and provider entries that are not declared unimplemented', () => {
    const names = Object.keys(createProviderActivities({ billers, topup, ticketing })).sort();
    // Partner bills (ADR 0027) are billers served from the platform's own tables, not a port.
    const partnerBills = new Set(Object.keys(createPartnerBillActivities({} as PartnerBillDeps)));
    const catalogued = catalogueEntries
      .filter((e) => e.kind === 'biller' || e.kind === 'provider')
      .filter((e) => !Object.hasOwn(DECLARED_UNIMPLEMENTED, e.name))
      .filter((e) => !partnerBills.has(e.name))
      .map((e) => e.name)
      .sort();
    expect(names).toEqual(catalogued);
    const declared = names.filter((n) => Object.keys(DECLARED_UNIMPLEMENTED).includes(n));
    expect(declared).toEqual([]);
  });

  it('a compensation cancels the call made under the original key (our reference at the provider)', async () => {
    const acts = createProviderActivities({ billers, topup, ticketing }) as unknown as Record<
      string,
      (q: Record<string, unknown>) => Promise<unknown>
    >;
    await acts['cancelBillPayment']?.({
      billerId: 'w',
      billId: 'b',
      idempotencyKey: 'k2',
      originalIdempotencyKey: 'k1',
    });
    await acts['cancelTopup']?.({ operator: 'm', msisdn: '1', idempotencyKey: 'k4', originalIdempotencyKey: 'k3' });
    await acts['refundTicket']?.({ offer: 'lotto', idempotencyKey: 'k6', originalIdempotencyKey: 'k5' });
    await acts['releaseTicketHold']?.({ offer: 'cinema', idempotencyKey: 'k8', originalIdempotencyKey: 'k7' });
    expect(calls).toEqual([
      { billerId: 'w', reference: 'k1' },
      { operator: 'm', reference: 'k3' },
      { offer: 'lotto', reference: 'k5' },
      { offer: 'cinema', reference: 'k7', hold: true },
    ]);
  });
});
