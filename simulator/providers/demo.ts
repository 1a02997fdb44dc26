/**
 * The demo aggregators: a bill simulator and a top-up simulator, keyed with the secrets of the
 * repository's sandbox profiles (providers/), with the demo operators' prefixes and PIN products.
 */
import { loadProviderCatalog } from '../../gateways/providers/profile';
import { ProviderSimulator, type ProviderSimulatorOptions, type SimulatorKind } from './server';

/** Options for a simulator that answers the profiles in `dir` of the given kind. */
export function simulatorOptionsFor(
  dir: string,
  kind: SimulatorKind,
  extra: Partial<ProviderSimulatorOptions> = {},
): ProviderSimulatorOptions {
  const catalog = loadProviderCatalog(dir);
  const connector = kind === 'biller' ? 'bill-aggregator' : 'topup-aggregator';
  const keys: Record<string, { scheme: 'api-key' | 'hmac-sha256'; secret: string }> = {};
  for (const p of catalog.providers.values())
    if (p.connector === connector && p.auth.secret !== undefined)
      keys[p.auth.keyId] = { scheme: p.auth.scheme, secret: p.auth.secret };
  const operators = [...catalog.operators.values()];
  return {
    kind,
    keys,
    pinProducts: operators.flatMap((o) =>
      o.products.filter((x) => x.delivery === 'pin').map((x) => x.providerProductId ?? x.id),
    ),
    operatorPrefixes: Object.fromEntries(operators.flatMap((o) => o.prefixes.map((x) => [x, o.id]))),
    ...extra,
  };
}

export async function startDemoAggregators(
  dir: string,
  ports: { biller?: number; topup?: number } = {},
): Promise<{ billerUrl: string; topupUrl: string; stop(): Promise<void> }> {
  const biller = new ProviderSimulator(simulatorOptionsFor(dir, 'biller', { port: ports.biller ?? 0 }));
  const topup = new ProviderSimulator(simulatorOptionsFor(dir, 'topup', { port: ports.topup ?? 0 }));
  const b = await biller.start();
  try {
    const t = await topup.start();
    return {
      billerUrl: b.url,
      topupUrl: t.url,
      stop: async () => {
        await biller.stop();
        await topup.stop();
      },
    };
  } catch (e) {
    await biller.stop();
    throw e;
  }
}
