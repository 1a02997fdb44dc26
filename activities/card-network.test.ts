import { ApplicationFailure } from '@temporalio/common';
import { FixpayError } from '../domain/errors';
import type { CardholderRequest, NetworkOutcome, ReverseOutcome } from '../gateways/card-network';
import type { CardNetworkPort } from './card-network';
import { createCardNetworkActivities } from './card-network';

const request: CardholderRequest = {
  idempotencyKey: 'wf-1:authorize',
  terminalId: 'TERM0001',
  merchantId: 'MERCHANT0000001',
  stan: '000001',
  pan: '6225880000000001',
  currency: '156',
  amountMinor: 100,
};
const approved: NetworkOutcome = { approved: true, responseCode: '00', resultCode: 'FP1000', resultName: 'OK' };

/** A fake gateway that records calls and answers from a script. */
function fakeGateway(script: { error?: FixpayError; reverse?: ReverseOutcome } = {}) {
  const calls: string[] = [];
  const answer = (name: string) => (req: CardholderRequest) => {
    calls.push(`${name}:${req.idempotencyKey}`);
    return script.error === undefined ? Promise.resolve(approved) : Promise.reject(script.error);
  };
  const gateway: CardNetworkPort = {
    authorize: answer('authorize'),
    balanceInquiry: answer('balanceInquiry'),
    transfer: answer('transfer'),
    repayCreditCard: answer('repayCreditCard'),
    reverse: (key) => {
      calls.push(`reverse:${key}`);
      return Promise.resolve(script.reverse ?? { status: 'done', responseCode: '00' });
    },
    signOn: () => {
      calls.push('signOn');
      return Promise.resolve();
    },
  };
  return { gateway, calls };
}

describe('card network activities', () => {
  it('pass each request with its idempotency key to the gateway', async () => {
    const { gateway, calls } = fakeGateway();
    const a = createCardNetworkActivities({ gateway });
    await a.authorize(request);
    await a.balanceInquiry(request);
    await a.transfer(request);
    await a.repayCreditCard(request);
    await a.signOn();
    await expect(a.reverse({ idempotencyKey: request.idempotencyKey })).resolves.toEqual({
      status: 'done',
      responseCode: '00',
    });
    expect(calls).toEqual([
      'authorize:wf-1:authorize',
      'balanceInquiry:wf-1:authorize',
      'transfer:wf-1:authorize',
      'repayCreditCard:wf-1:authorize',
      'signOn',
      'reverse:wf-1:authorize',
    ]);
  });

  it.each([
    ['CARD_NETWORK_NO_RESPONSE', true],
    ['CARD_NETWORK_RESPONSE_MALFORMED', true],
    ['IDEMPOTENCY_KEY_REUSED', true],
    ['CARD_NETWORK_UNAVAILABLE', false],
    ['REQUEST_IN_FLIGHT', false],
  ] as const)('turn %s into an ApplicationFailure (non-retryable: %s)', async (name, nonRetryable) => {
    const { gateway } = fakeGateway({ error: new FixpayError(name) });
    const failure = await createCardNetworkActivities({ gateway })
      .authorize(request)
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: name, nonRetryable });
  });

  it('keep reverse retrying while the reversal is pending, and stop when it expired', async () => {
    const pending = createCardNetworkActivities({ gateway: fakeGateway({ reverse: { status: 'pending' } }).gateway });
    await expect(pending.reverse({ idempotencyKey: 'k' })).rejects.toMatchObject({
      type: 'REVERSAL_PENDING',
      nonRetryable: false,
    });
    const expired = createCardNetworkActivities({ gateway: fakeGateway({ reverse: { status: 'expired' } }).gateway });
    await expect(expired.reverse({ idempotencyKey: 'k' })).rejects.toMatchObject({
      type: 'REVERSAL_EXPIRED',
      nonRetryable: true,
    });
    const none = createCardNetworkActivities({ gateway: fakeGateway({ reverse: { status: 'none' } }).gateway });
    await expect(none.reverse({ idempotencyKey: 'k' })).resolves.toEqual({ status: 'none' });
  });
});
