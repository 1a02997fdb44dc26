import { routeCard, validateBinRange } from './routing';
import type { BinRoute } from './model';

const route = (binLow: string, binHigh: string, gatewayId: string): BinRoute => ({
  binLow,
  binHigh,
  network: 'cup',
  issuerId: gatewayId,
  gatewayId,
});
const ROUTES = [
  route('62', '62', 'cup-default'),
  route('622126', '622925', 'cup-range'),
  route('622588', '622588', 'cmb'),
  route('62258812', '62258812', 'cmb-special'),
  route('4', '4', 'visa'),
];

describe('BIN routing', () => {
  it.each([
    ['6225881234567890', 'cmb-special'],
    ['6225889999999999', 'cmb'],
    ['6222001234567890', 'cup-range'],
    ['6200001234567890', 'cup-default'],
    ['4111111111111111', 'visa'],
  ])('%s → %s (most specific range wins)', (pan, gateway) => {
    const r = routeCard(pan, ROUTES);
    expect(r.ok && r.value.gatewayId).toBe(gateway);
  });

  it('refuses an unrouted card without echoing the PAN', () => {
    const r = routeCard('5555555551234567', ROUTES);
    expect(r).toMatchObject({ ok: false, code: 'BIN_NOT_ROUTED' });
    expect(JSON.stringify(r)).not.toContain('5555555551234567');
  });

  it.each([
    ['622126', '622925', true],
    ['622925', '622126', false],
    ['62212', '622925', false],
    ['62a126', '622925', false],
    ['123456789012', '123456789012', false],
  ])('validateBinRange(%s, %s) ok=%p', (low, high, ok) => {
    expect(validateBinRange(low, high).ok).toBe(ok);
  });
});
