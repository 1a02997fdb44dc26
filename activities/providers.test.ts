import { catalogueEntries } from '../services/catalogue/entries';
import { DECLARED_UNIMPLEMENTED } from '../services/catalogue/unimplemented';
import { createProviderActivities } from './providers';
import type { BillerPort, TicketingPort, TopupPort } from './providers';

const billers: BillerPort = {
  fetchBill: () => Promise.resolve({ status: 'DUE', billId: 'B1', amount: 100, currency: '156' }),
  payBill: () => Promise.resolve({ receipt: 'R1' }),
  cancelBillPayment: () => Promise.resolve({ cancelled: true }),
};
const topup: TopupPort = {
  topupMobile: () => Promise.resolve({ status: 'COMPLETED', providerRef: 'P1' }),
  cancelTopup: () => Promise.resolve({ reversed: true }),
};
const ticketing: TicketingPort = {
  issueTicket: () => Promise.resolve({ ticketId: 'T1' }),
  cancelTicket: () => Promise.resolve({ cancelled: true }),
};

describe('provider activities', () => {
  it('no port, no activity: the definitions calling them stay undeployed', () => {
    expect(Object.keys(createProviderActivities({}))).toEqual([]);
  });

  it('with every port: exactly the catalogue’s biller and provider entries, which are the declared-unimplemented ones today', () => {
    const names = Object.keys(createProviderActivities({ billers, topup, ticketing })).sort();
    const catalogued = catalogueEntries
      .filter((e) => e.kind === 'biller' || e.kind === 'provider')
      .map((e) => e.name)
      .sort();
    expect(names).toEqual(catalogued);
    for (const n of names) expect(Object.keys(DECLARED_UNIMPLEMENTED)).toContain(n);
  });
});
