import { refuse } from '../core/model';
import type { TransactionRecord } from '../core/repository';
import { createTerminalActivities, type TerminalsPort } from './terminals';

const record: TransactionRecord = {
  id: 7n,
  idempotencyKey: 'k',
  terminalId: 'T0000001',
  serviceId: 'payment',
  stan: '000001',
  panMasked: '622588******1234',
  amount: 100n,
  currency: 'CNY',
  status: 'pending',
  rrn: undefined,
  authCode: undefined,
  responseCode: undefined,
  resultCode: undefined,
};

function fake(overrides: Partial<TerminalsPort> = {}): TerminalsPort {
  return {
    checkBinding: () => Promise.resolve(refuse('BINDING_ANI_MISMATCH', 'x')),
    recordTransaction: () => Promise.resolve({ ok: true, value: record }),
    updateTransactionStatus: (i) => Promise.resolve({ ok: true, value: { ...record, status: i.status } }),
    keysDownloaded: (id) =>
      Promise.resolve({
        ok: true,
        value: { id, customerId: 'M0001', deviceProfileId: 'es201912-v23', state: 'in_service' },
      }),
    ...overrides,
  };
}

describe('terminal activities', () => {
  it('reports a refused binding as bound=false with its catalogue code', async () => {
    const a = createTerminalActivities({ core: fake() });
    expect(await a.checkBinding({ terminalId: 'T0000001', ani: '1234' })).toEqual({
      bound: false,
      merchantId: '',
      accountId: '',
      resultCode: 'FP7008',
      reason: 'BINDING_ANI_MISMATCH',
    });
  });

  it('names the ledger account of the terminal owner', async () => {
    const core = fake({
      checkBinding: () =>
        Promise.resolve({
          ok: true,
          value: {
            terminal: { id: 'T0000002', customerId: 'H0001', deviceProfileId: 'p', state: 'in_service' },
            customer: { id: 'H0001', kind: 'household', name: 'h' },
            binding: { terminalId: 'T0000002', psamNo: 'A1B2C3D4E5F6', ani: '1234' },
          },
        }),
    });
    expect(
      await createTerminalActivities({ core }).checkBinding({ terminalId: 'T0000002', ani: '1234' }),
    ).toMatchObject({
      bound: true,
      accountId: 'customer-funds:H0001',
    });
  });

  it('refuses an unknown status and passes refusals on as non-retryable failures', async () => {
    const a = createTerminalActivities({
      core: fake({ recordTransaction: () => Promise.resolve(refuse('TRANSACTION_PAN_NOT_MASKED', 'not a PAN')) }),
    });
    await expect(a.updateTransactionStatus({ transactionKey: 'k', status: 'lost' })).rejects.toMatchObject({
      type: 'BAD_REQUEST',
    });
    await expect(
      a.recordTransaction({
        idempotencyKey: 'k',
        terminalId: 'T0000001',
        serviceId: 's',
        stan: '000001',
        amount: 1,
        currency: 'CNY',
      }),
    ).rejects.toMatchObject({ type: 'TRANSACTION_PAN_NOT_MASKED', nonRetryable: true });
    await expect(
      a.recordTransaction({
        idempotencyKey: 'k',
        terminalId: 'T0000001',
        serviceId: 's',
        stan: '000001',
        amount: -1,
        currency: 'CNY',
      }),
    ).rejects.toMatchObject({ type: 'BAD_REQUEST' });
  });
});
