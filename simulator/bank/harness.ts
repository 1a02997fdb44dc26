/** Test wiring: a bank simulator on 127.0.0.1 and gateways connected to it. */
import { Bank } from './bank';
import { defaultAccounts, SIM_ZPK_HEX } from './accounts';
import { encryptPinBlock } from './pin';
import type { BankServerOptions } from './server';
import { BankServer } from './server';
import { MessageCodec, networkSpec } from '../../gateways/iso8583';
import { TcpChannel } from '../../gateways/card-network/channel';
import type { CardNetworkGatewayDeps, CardNetworkGatewayOptions } from '../../gateways/card-network/gateway';
import { CardNetworkGateway } from '../../gateways/card-network/gateway';
import type { RequestJournal } from '../../gateways/card-network/journal';
import type { ReversalQueue } from '../../gateways/card-network/reversal-queue';
import type { CardholderRequest } from '../../gateways/card-network/transactions';

export const ZPK = Buffer.from(SIM_ZPK_HEX, 'hex');

export async function startBank(
  options: BankServerOptions = {},
): Promise<{ server: BankServer; bank: Bank; port: number }> {
  const bank = new Bank({ zpk: ZPK, accounts: defaultAccounts() });
  const server = new BankServer(bank, options);
  const address = await server.listen();
  return { server, bank, port: address.port };
}

export function connectGateway(
  port: number,
  stores: { reversals: ReversalQueue; journal: RequestJournal },
  options: Partial<CardNetworkGatewayOptions> = {},
  logger?: CardNetworkGatewayDeps['logger'],
): CardNetworkGateway {
  const transport = new TcpChannel({
    host: '127.0.0.1',
    port,
    codec: new MessageCodec(networkSpec),
    framing: { lengthPrefix: 'ascii4' },
    reconnectDelayMsMin: 20,
    reconnectDelayMsMax: 200,
  });
  const gateway = new CardNetworkGateway(
    { transport, ...stores, ...(logger === undefined ? {} : { logger }) },
    {
      acquirerId: '1234',
      forwardingId: '5678',
      requestTimeoutMs: 400,
      reversalGraceMs: 200,
      echoIntervalMs: 0,
      reversals: { pollIntervalMs: 50, retryDelayMsMin: 50, retryDelayMsMax: 200 },
      ...options,
    },
  );
  gateway.start();
  return gateway;
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let stanSeq = 100;
/** A purchase request on the first default account, with a correct PIN. */
export function purchase(overrides: Partial<CardholderRequest> = {}): CardholderRequest {
  const stan = String(++stanSeq).padStart(6, '0');
  const pan = overrides.pan ?? '6225880000000001';
  return {
    idempotencyKey: `test:${stan}:${Math.random()}`,
    terminalId: 'TERM0001',
    merchantId: 'MERCHANT0000001',
    stan,
    pan,
    currency: '156',
    amountMinor: 1_000,
    pinBlock: encryptPinBlock(pan === '6225880000000001' ? '123456' : '654321', pan, ZPK).toString('hex'),
    ...overrides,
  };
}
