/** Default card accounts of the simulator. Test PANs (Luhn-valid, 622588 test BIN); test PINs. */
import type { Account } from './bank';

/** Double-length test zone PIN key; never a production key. */
export const SIM_ZPK_HEX = '0123456789ABCDEFFEDCBA9876543210';
/** Double-length test zone MAC key of the card network link (ANSI X9.19, odd parity); never a production key. */
export const SIM_ZAK_HEX = 'A1B3C2D5E5F70719293B4A5D6D7F8F91';

export function defaultAccounts(): Account[] {
  return [
    {
      pan: '6225880000000001',
      kind: 'debit',
      balanceMinor: 1_000_000,
      creditLimitMinor: 0,
      pin: '123456',
      expirationDate: '3012',
      perTransactionLimitMinor: 500_000,
    },
    {
      pan: '6225880000000019',
      kind: 'debit',
      balanceMinor: 50_000,
      creditLimitMinor: 0,
      pin: '654321',
      perTransactionLimitMinor: 500_000,
    },
    {
      pan: '6225880000000027',
      kind: 'credit',
      balanceMinor: -20_000,
      creditLimitMinor: 100_000,
      pin: '111111',
      perTransactionLimitMinor: 200_000,
    },
    {
      pan: '6225880000000035',
      kind: 'debit',
      balanceMinor: 0,
      creditLimitMinor: 0,
      pin: '000000',
      perTransactionLimitMinor: 500_000,
      blocked: true,
    },
  ];
}
