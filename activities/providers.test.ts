import { catalogueEntries } from '../services/catalogue/entries';
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
const ticketing: TicketingPort = {
  issueTicket: () => Promise.resolve({ ticketId: 'T1' }),
  cancelTicket: () => Promise.resolve({ cancelled: true }),
};

describe('provider activities', () => {
  it('no port, no activity', () => {
    expect(Object.keys(createProviderActivities({}))).toEqual([]);
  });

  it('with every port: exactly the catalogue’s biller and provider entries; only ticketing is still declared unimplemented', () => {
    const names = Object.keys(createProviderActivities({ billers, topup, ticketing })).sort();
    const catalogued = catalogueEntries
      .filter((e) => e.kind === 'biller' || e.kind === 'provider')
      .map((e) => e.name)
      .sort();
    expect(names).toEqual(catalogued);
    const declared = names.filter((n) => Object.keys(DECLARED_UNIMPLEMENTED).includes(n));
    expect(declared.sort()).toEqual(['cancelTicket', 'issueTicket']);
  });

  it('a compensation cancels the call made under the original key (our reference at the provider)', async () => {
    const acts = createProviderActivities({ billers, topup }) as unknown as Record<
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
    expect(calls).toEqual([
      { billerId: 'w', reference: 'k1' },
      { operator: 'm', reference: 'k3' },
    ]);
  });
});
