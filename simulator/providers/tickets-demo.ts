/**
 * The demo ticketing provider: a ticketing simulator keyed with the secrets of the repository's
 * ticketing profiles (providers/), selling the demo airline, the cinema's shows and the lottery
 * games found there, each game with one draw open now (for a week) and one scheduled after it.
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

/** The demo's draw numbers (a phone keys a draw as eight digits): one selling now, one later. */
export const DEMO_DRAW_OPEN = '00000001';
export const DEMO_DRAW_NEXT = '00000002';
/** How long the demo's open draw sells: a live demo left running keeps selling for a week. */
export const DEMO_DRAW_SALES_MS = 7 * 24 * HOUR;

/** Draws of the demo: every game gets `DEMO_DRAW_OPEN` (selling now) and `DEMO_DRAW_NEXT` (opens after it). */
export function addDemoDraws(sim: TicketSimulator, games: readonly string[], now = Date.now()): void {
  const cutoff = now + DEMO_DRAW_SALES_MS;
  for (const g of games) {
    sim.addDraw(g, DEMO_DRAW_OPEN, { opensAt: now - HOUR, cutoffAt: cutoff, drawAt: cutoff + HOUR });
    sim.addDraw(g, DEMO_DRAW_NEXT, {
      opensAt: cutoff + HOUR,
      cutoffAt: cutoff + 25 * HOUR,
      drawAt: cutoff + 26 * HOUR,
    });
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
