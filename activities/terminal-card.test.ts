/**
 * Card services from the phone (ADR 0024): the generic service request carries the card only for a
 * service that declares it, the target is Luhn-checked on the way in and again by the activity,
 * and the transfer and repayment activities reach the gateway with the target and their key.
 */
import { ApplicationFailure } from '@temporalio/common';
import { collectInputs } from '../channel-engine/access/handler';
import { FixpayError } from '../domain/errors';
import type { CardholderRequest, NetworkOutcome } from '../gateways/card-network';
import type { LedgerPort } from '../ledger/model';
import { maskPan, moneyText } from '../services/runtime/expr';
import type { Plan } from '../services/runtime/plan';
import { buildServiceRequest, MAC_BYTES, parseTrack2 } from '../simulator/terminal/messages';
import type { MacSigner, TerminalIdentity } from '../simulator/terminal/messages';
import { decodeMenu, encodeMenu, inputProblem, luhnValid } from '../terminal-protocol/conversation';
import { openTerminalRequest } from '../terminal-protocol/messages';
import type { CardNetworkPort } from './card-network';
import { createTerminalServiceActivities, NO_ISSUER_RESPONSE_CODE } from './terminal-card';

const identity: TerminalIdentity = {
  terminalId: 'T0000001',
  merchantId: '898100000000001',
  tpdu: { id: 0x60, destination: '0001', source: '0000' },
  applicationHeader: '603100000000',
  currency: '156',
  operatorCode: '001',
};
const signer: MacSigner = {
  psam: { serial: 'A1B2C3D4E5F60001', terminalNumber: '000000000001', random: '0A0B0C0D', counter: 7 },
  mac: () => new Uint8Array(MAC_BYTES).fill(1),
};
const PAYER = '6225880000000001';
const TARGET = '6225880000000019';
const track2 = parseTrack2(`${PAYER}=30122011234567890`);

function request(inputs: Record<string, string>, card: boolean): Buffer {
  return buildServiceRequest(
    identity,
    {
      stan: 42,
      batch: '000001',
      code: 'transfer',
      menuVersion: '0123456789abcdef',
      inputs,
      ...(card ? { card: { track2, pinBlock: new Uint8Array(8).fill(9) } } : {}),
    },
    signer,
  ).payload;
}

const targetSpec = {
  name: 'target',
  kind: 'digits' as const,
  label: 'To card',
  min: 12,
  max: 19,
  luhn: true,
};
const amountSpec = { name: 'amount', kind: 'amount' as const, label: 'Amount', min: 100, max: 5_000_000 };
const plan = (card: boolean): Plan =>
  ({
    terminal: {
      menu: ['Cards', 'Transfer'],
      title: 'Transfer',
      inputs: [targetSpec, amountSpec],
      profiles: null,
      card,
    },
  }) as unknown as Plan;

describe('Luhn check digits', () => {
  it('accepts valid card numbers and refuses a changed digit, swapped digits, non-digits and too short', () => {
    expect(luhnValid(PAYER)).toBe(true);
    expect(luhnValid(TARGET)).toBe(true);
    expect(luhnValid('6225880000000027')).toBe(true);
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('6225880000000018')).toBe(false);
    expect(luhnValid('6225880000000091')).toBe(false);
    expect(luhnValid('62258800000000 1')).toBe(false);
    expect(luhnValid('0')).toBe(false);
    expect(luhnValid('')).toBe(false);
  });

  it('an input with luhn refuses a bad check digit; without it, only the length counts', () => {
    expect(inputProblem(targetSpec, TARGET)).toBeNull();
    expect(inputProblem(targetSpec, '6225880000000018')).toMatch(/check digit/);
    expect(inputProblem({ ...targetSpec, luhn: false }, '6225880000000018')).toBeNull();
  });

  it('the menu carries the card flag and the check; an old menu without them decodes as before', () => {
    const menu = {
      version: '0123456789abcdef',
      entries: [{ code: 'transfer', path: ['Cards', 'Transfer'], title: 'Transfer', inputs: [targetSpec], card: true }],
    };
    const back = decodeMenu(encodeMenu(menu, undefined));
    expect(back.entries[0]).toMatchObject({ card: true, inputs: [{ name: 'target', luhn: true }] });
    const plain = decodeMenu(
      encodeMenu(
        { ...menu, entries: [{ code: 'transfer', path: ['Cards'], title: 'T', inputs: [amountSpec], card: false }] },
        undefined,
      ),
    );
    expect(plain.entries[0]?.card).toBeUndefined();
    expect(plain.entries[0]?.inputs[0]?.luhn).toBeUndefined();
  });
});

describe('the generic service request with a card', () => {
  it('carries fields 2, 14, 35, 52 and 53 like a purchase', () => {
    const opened = openTerminalRequest(request({ target: TARGET, amount: '2500' }, true));
    expect(opened.pan).toBe(PAYER);
    expect(opened.pinBlock?.length).toBe(8);
    expect(opened.summary.serviceId).toBe('transfer');
    expect(opened.summary.maskedPan).not.toContain(PAYER);
  });

  it('a card service takes the inputs only with the card and its PIN block', () => {
    const input: Record<string, unknown> = {};
    expect(
      collectInputs(plan(true), openTerminalRequest(request({ target: TARGET, amount: '2500' }, true)), 'p', input),
    ).toBeUndefined();
    expect(input).toEqual({ target: TARGET, amount: 2500 });
    expect(
      collectInputs(plan(true), openTerminalRequest(request({ target: TARGET, amount: '2500' }, false)), 'p', {}),
    ).toBe('30');
  });

  it('a service without a card refuses a request that carries one (card data goes nowhere undeclared)', () => {
    expect(
      collectInputs(plan(false), openTerminalRequest(request({ target: TARGET, amount: '2500' }, true)), 'p', {}),
    ).toBe('30');
  });

  it('refuses a target with a bad check digit, letters, too few or too many digits', () => {
    for (const target of ['6225880000000018', '62258800000000AB', '62258800', '62258800000000000019'])
      expect(collectInputs(plan(true), openTerminalRequest(request({ target, amount: '2500' }, true)), 'p', {})).toBe(
        '30',
      );
  });
});

describe('what people see of a card number and an amount', () => {
  it('maskPan keeps the last four digits only; money shows two decimals', () => {
    expect(maskPan(TARGET)).toBe('************0019');
    expect(maskPan('1234')).toBe('****');
    expect(maskPan('')).toBe('');
    expect(moneyText(2500)).toBe('25.00');
    expect(moneyText(5)).toBe('0.05');
    expect(moneyText(-1999)).toBe('-19.99');
  });
});

describe('transfer and repayment activities', () => {
  const approved: NetworkOutcome = {
    approved: true,
    responseCode: '00',
    resultCode: 'FP1000',
    resultName: 'OK',
    rrn: '000000000001',
    authorizationCode: 'A1',
  };
  function world(error?: FixpayError) {
    const sent: { kind: string; req: CardholderRequest }[] = [];
    const answer = (kind: string) => (req: CardholderRequest) => {
      sent.push({ kind, req });
      return error === undefined ? Promise.resolve(approved) : Promise.reject(error);
    };
    const gateway: CardNetworkPort = {
      authorize: answer('authorize'),
      balanceInquiry: answer('balanceInquiry'),
      transfer: answer('transfer'),
      repayCreditCard: answer('repayCreditCard'),
      reverse: () => Promise.resolve({ status: 'done', responseCode: '00' }),
      signOn: () => Promise.resolve(),
    };
    const a = createTerminalServiceActivities({ gateway, ledger: {} as LedgerPort });
    return { a, sent };
  }
  const input = (target: string) => ({
    request: request({ target, amount: '2500' }, true).toString('hex'),
    pinBlock: '0123456789ABCDEF',
    terminalId: 'T0000001',
    merchantId: '898100000000001',
    stan: '000042',
    currency: '156',
    amount: 2500,
    target,
    idempotencyKey: 'transfer:T0000001:000042:20261203/auth#0',
  });

  it('send the card, the target, the amount and the key to the gateway', async () => {
    const { a, sent } = world();
    await expect(a.transferByCard(input(TARGET))).resolves.toMatchObject({ approved: true, authCode: 'A1' });
    await expect(a.repayCreditCardByCard(input('6225880000000027'))).resolves.toMatchObject({ approved: true });
    expect(sent.map((s) => [s.kind, s.req.pan, s.req.targetAccount, s.req.amountMinor, s.req.idempotencyKey])).toEqual([
      ['transfer', PAYER, TARGET, 2500, 'transfer:T0000001:000042:20261203/auth#0'],
      ['repayCreditCard', PAYER, '6225880000000027', 2500, 'transfer:T0000001:000042:20261203/auth#0'],
    ]);
  });

  it('no answer from the issuer is an outcome (98), not a retry', async () => {
    const { a } = world(new FixpayError('CARD_NETWORK_NO_RESPONSE'));
    await expect(a.transferByCard(input(TARGET))).resolves.toMatchObject({
      approved: false,
      responseCode: NO_ISSUER_RESPONSE_CODE,
    });
  });

  it('refuse a bad target or the paying card itself before the network, non-retryable, without the number', async () => {
    const { a, sent } = world();
    for (const [target, code] of [
      ['6225880000000018', 'CARD_TARGET_INVALID'],
      ['12345', 'CARD_TARGET_INVALID'],
      [PAYER, 'CARD_TARGET_SAME'],
    ] as const) {
      const failure = await a.transferByCard(input(target)).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect((failure as ApplicationFailure).type).toBe(code);
      expect((failure as ApplicationFailure).nonRetryable).toBe(true);
      expect((failure as Error).message).not.toContain(target.length >= 12 ? target : 'never');
    }
    expect(sent).toEqual([]);
  });
});
