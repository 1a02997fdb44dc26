/**
 * The demo ticketing provider: a ticketing simulator keyed with the secrets of the repository's
 * ticketing profiles (providers/), selling the demo airline, the cinema's shows and the lottery
 * games found there, each game with one draw open now (cut-off in two hours) and one scheduled.
 */
import { loadProviderCatalog } from '../../gateways/providers/profile';
import { TicketSimulator, type TicketSimulatorOptions } from './tickets';

const HOUR = 3_600_000;

/** Options for a simulator that answers the ticketing profiles and offers in `dir`. */
export function ticketSimulatorOptionsFor(
  dir: string,
  extra: Partial<TicketSimulatorOptions> = {},
): TicketSimulatorOptions {
  const catalog = loadProviderCatalog(dir);
  const keys: Record<string, { scheme: 'api-key' | 'hmac-sha256'; secret: string }> = {};
  for (const p of catalog.providers.values())
    if (p.connector === 'ticketing' && p.auth.secret !== undefined)
      keys[p.auth.keyId] = { scheme: p.auth.scheme, secret: p.auth.secret };
  const airlines: Record<string, { prefix: string }> = {};
  const shows: Record<string, { price: number }> = {};
  const games: Record<string, { pricePerBoard: number; pick: { count: number; min: number; max: number } }> = {};
  for (const o of catalog.ticketOffers.values()) {
    if (o.type === 'air') airlines[o.carrier] = { prefix: '123' };
    if (o.type === 'cinema') for (const s of o.shows) shows[s.id] = { price: s.price };
    if (o.type === 'lottery') games[o.providerGameId ?? o.id] = { pricePerBoard: o.pricePerBoard, pick: o.pick };
  }
  return { keys, airlines, shows, games, ...extra };
}

/** Draw ids of the demo: `<game>` gets `open` (selling now) and `next` (opens later). */
export function addDemoDraws(sim: TicketSimulator, games: readonly string[], now = Date.now()): void {
  for (const g of games) {
    sim.addDraw(g, 'open', { opensAt: now - HOUR, cutoffAt: now + 2 * HOUR, drawAt: now + 3 * HOUR });
    sim.addDraw(g, 'next', { opensAt: now + 3 * HOUR, cutoffAt: now + 26 * HOUR, drawAt: now + 27 * HOUR });
  }
}

export async function startDemoTicketing(
  dir: string,
  port = 0,
): Promise<{ url: string; sim: TicketSimulator; stop(): Promise<void> }> {
  const options = ticketSimulatorOptionsFor(dir, { port });
  const sim = new TicketSimulator(options);
  addDemoDraws(sim, Object.keys(options.games ?? {}));
  const { url } = await sim.start();
  return { url, sim, stop: () => sim.stop() };
}
