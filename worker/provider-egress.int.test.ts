/**
 * Providers a partner wrote through the catalogue connect through the webhook egress policy's
 * connect-time address check (server-side request forgery): a name resolving to loopback (or an
 * address literal the write check never saw) is refused before anything is sent, nothing charged.
 * Providers the operator wrote (files, operator catalogue entries) keep connecting as before, and a
 * partner's provider on an allowed network is reached through the same checked socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFixpayError } from '../domain/errors';
import { createTopupConnector } from '../gateways/providers/topup';
import { ProviderDirectory, type CatalogueFeed, type SourcedDocument } from '../gateways/providers/profile';
import { WebhookEgressPolicy } from '../partners/webhook-egress';
import { ProviderSimulator } from '../simulator/providers/server';
import { LOOPBACK_NETWORKS } from '../test/support/partner-api';

jest.setTimeout(60_000);

const SECRET = 'egress-test-secret-0001';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return isFixpayError(e) ? e.codeName : String(e);
  }
}

function feedOf(docs: SourcedDocument[]): CatalogueFeed {
  return { generation: () => 1, documents: () => docs };
}

function documents(endpoint: string, partner: boolean): SourcedDocument[] {
  return [
    {
      source: 'catalogue:live/Provider/ptop',
      partner,
      value: {
        apiVersion: 'fixpay/v1',
        kind: 'Provider',
        metadata: { id: 'ptop' },
        spec: {
          connector: 'topup-aggregator',
          endpoint,
          currency: '156',
          auth: { scheme: 'hmac-sha256', keyId: 'k1', secret: SECRET },
          timeouts: { requestMs: 3000 },
          statusQuery: { queries: 2 },
          mapping: {
            request: { reference: 'external_id', number: 'credit_party.mobile_number', productId: 'product_id' },
            response: { providerRef: 'id', pin: 'pin.code' },
          },
        },
      },
    },
    {
      source: 'catalogue:live/TopupOperator/pmob',
      partner,
      value: {
        apiVersion: 'fixpay/v1',
        kind: 'TopupOperator',
        metadata: { id: 'pmob' },
        spec: {
          provider: 'ptop',
          service: 'mobile',
          prefixes: ['138'],
          products: [{ id: 'p50', delivery: 'recharge', amount: 5000 }],
        },
      },
    },
  ];
}

describe('partner providers and the egress policy', () => {
  let sim: ProviderSimulator;
  let port = '';
  let dir: string;
  let n = 0;

  beforeAll(async () => {
    sim = new ProviderSimulator({ kind: 'topup', keys: { k1: { scheme: 'hmac-sha256', secret: SECRET } } });
    port = new URL((await sim.start()).url).port;
    dir = mkdtempSync(join(tmpdir(), 'fixpay-egress-'));
  });
  afterAll(async () => {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const topup = (endpoint: string, partner: boolean, allowed: string) => {
    const directory = new ProviderDirectory(
      dir,
      0,
      undefined,
      feedOf(documents(endpoint, partner)),
      new WebhookEgressPolicy(allowed).lookup,
    );
    const c = createTopupConnector({ directory, voucherKey: { id: 'k', key: Buffer.alloc(32, 1) } });
    return c.topup({
      operator: 'pmob',
      productId: 'p50',
      msisdn: '13800138000',
      amount: 5000,
      currency: '156',
      idempotencyKey: `egress/${++n}#0`,
    });
  };

  it('refuses a partner provider whose name resolves to loopback, or a loopback literal, before sending', async () => {
    expect(await codeOf(topup(`http://localhost:${port}/`, true, ''))).toBe('PROVIDER_REJECTED');
    expect(await codeOf(topup(`http://127.0.0.1:${port}/`, true, ''))).toBe('PROVIDER_REJECTED');
    expect(await codeOf(topup(`http://[::ffff:127.0.0.1]:${port}/`, true, ''))).toBe('PROVIDER_REJECTED');
    // Only the networks an operator allows: another range does not open loopback.
    expect(await codeOf(topup(`http://localhost:${port}/`, true, '10.0.0.0/8'))).toBe('PROVIDER_REJECTED');
    expect(sim.transactions()).toEqual([]);
  });

  it('reaches a partner provider on an allowed network through the checked socket, and operator entries as before', async () => {
    const ok = await topup(`http://localhost:${port}/`, true, LOOPBACK_NETWORKS);
    expect(ok.status).toBe('COMPLETED');
    const operatorWritten = await topup(`http://127.0.0.1:${port}/`, false, '');
    expect(operatorWritten.status).toBe('COMPLETED');
    expect(sim.transactions().map((t) => t.charged)).toEqual([1, 1]);
  });
});
