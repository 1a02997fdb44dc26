/** Test wiring: a bank simulator on 127.0.0.1 and gateways connected to it. */
import { randomBytes } from 'node:crypto';
import { Bank } from './bank';
import { defaultAccounts, SIM_ZAK_HEX, SIM_ZPK_HEX } from './accounts';
import { encryptPinBlock } from './pin';
import type { BankServerOptions } from './server';
import { BankServer } from './server';
import { MessageCodec, networkSpec } from '../../gateways/iso8583';
import { TcpChannel } from '../../gateways/card-network/channel';
import type { CardNetworkGatewayDeps, CardNetworkGatewayOptions } from '../../gateways/card-network/gateway';
import { CardNetworkGateway } from '../../gateways/card-network/gateway';
import type { RequestJournal } from '../../gateways/card-network/journal';
import type { MessageAuthenticator } from '../../gateways/card-network/mac';
import { hsmMessageAuthenticator, NetworkMac } from '../../gateways/card-network/mac';
import { SoftwareHsm } from '../../hsm/software/software-hsm';
import type { ReversalQueue } from '../../gateways/card-network/reversal-queue';
import type { CardholderRequest } from '../../gateways/card-network/transactions';

export const ZPK = Buffer.from(SIM_ZPK_HEX, 'hex');
export const ZAK = Buffer.from(SIM_ZAK_HEX, 'hex');

/** The gateways' HSM in tests: a software HSM under a throw-away LMK holding the simulator's ZAK. */
let testHsm: { hsm: SoftwareHsm; zak: ReturnType<SoftwareHsm['importClearKey']>['handle'] } | undefined;

/** The simulator's ZAK behind the HSM port, as the gateway uses it (the key stays in the HSM). */
export function simulatorAuthenticator(): MessageAuthenticator {
  if (testHsm === undefined) {
    const hsm = new SoftwareHsm({ lmk: randomBytes(32) });
    testHsm = { hsm, zak: hsm.importClearKey('ZAK', 'tdes2', SIM_ZAK_HEX).handle };
  }
  return hsmMessageAuthenticator(testHsm.hsm, testHsm.zak);
}

export async function startBank(
  options: Partial<BankServerOptions> = {},
): Promise<{ server: BankServer; bank: Bank; port: number }> {
  const bank = new Bank({ zpk: ZPK, accounts: defaultAccounts() });
  const server = new BankServer(bank, { zak: ZAK, ...options });
  const address = await server.listen();
  return { server, bank, port: address.port };
}

export function connectGateway(
  port: number,
  stores: { reversals: ReversalQueue; journal: RequestJournal },
  options: Partial<CardNetworkGatewayOptions> = {},
  logger?: CardNetworkGatewayDeps['logger'],
  authenticator: MessageAuthenticator = simulatorAuthenticator(),
): CardNetworkGateway {
  const codec = new MessageCodec(networkSpec);
  const transport = new TcpChannel({
    host: '127.0.0.1',
    port,
    codec,
    framing: { lengthPrefix: 'ascii4' },
    reconnectDelayMsMin: 20,
    reconnectDelayMsMax: 200,
  });
  const gateway = new CardNetworkGateway(
    { transport, mac: new NetworkMac(codec, authenticator), ...stores, ...(logger === undefined ? {} : { logger }) },
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
