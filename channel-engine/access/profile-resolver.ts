/**
 * The access node's profile resolver (the engine's ProfileResolver port): caller number → the
 * terminal bound to it → that terminal's device profile id. One lookup per caller number, cached
 * for a short time and in a bounded map, and never longer than a named timeout, so a slow database
 * cannot stall call setup: on a timeout or a failed lookup the call gets the node's default.
 */
import { parseAni } from '../../domain/ids';
import type { ProfileResolver } from '../engine';
import type { CallOffer } from '../lines/types';

/** Looks up the device profile id of the terminal bound to a caller number; undefined: none. */
export type BoundProfileLookup = (callerNumber: string) => Promise<string | undefined>;

export interface ProfileResolverOptions {
  /** How long an answer (a profile or "no terminal") is reused, ms. */
  readonly cacheTtlMs: number;
  /** Most caller numbers cached; the oldest entry goes first. */
  readonly cacheMaxEntries: number;
  /** Longest wait for a lookup at call setup, ms; then the call gets the default profile. */
  readonly lookupTimeoutMs: number;
  /** Clock (ms), for tests. */
  readonly now?: () => number;
}

export const PROFILE_RESOLVER_DEFAULTS = {
  cacheTtlMs: 30_000,
  cacheMaxEntries: 10_000,
  lookupTimeoutMs: 250,
} as const satisfies ProfileResolverOptions;

export interface ProfileResolverStats {
  lookups: number;
  cacheHits: number;
  /** Lookups that took longer than `lookupTimeoutMs` (the call went on with the default). */
  timeouts: number;
  /** Lookups that failed (database error). */
  failures: number;
  /** Calls with no caller number, or one bound to no terminal. */
  unbound: number;
}

export interface CachedProfileResolver {
  readonly resolve: ProfileResolver;
  readonly stats: Readonly<ProfileResolverStats>;
}

type Found = { readonly profileId: string | undefined } | 'failed';

interface Entry {
  readonly profileId: string | undefined;
  readonly expiresAt: number;
}

/** Throws RangeError when a limit is not a positive integer. */
export function createProfileResolver(
  lookup: BoundProfileLookup,
  options: ProfileResolverOptions = PROFILE_RESOLVER_DEFAULTS,
): CachedProfileResolver {
  const { cacheTtlMs, cacheMaxEntries, lookupTimeoutMs } = options;
  for (const [name, v] of Object.entries({ cacheTtlMs, cacheMaxEntries, lookupTimeoutMs }))
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} ${v} must be a positive integer`);
  const now = options.now ?? Date.now;
  const cache = new Map<string, Entry>();
  // One lookup in flight per number: a burst of calls from one line asks the database once.
  const inFlight = new Map<string, Promise<Found>>();
  const stats: ProfileResolverStats = { lookups: 0, cacheHits: 0, timeouts: 0, failures: 0, unbound: 0 };

  const remember = (caller: string, profileId: string | undefined): void => {
    cache.delete(caller);
    while (cache.size >= cacheMaxEntries) {
      const oldest = cache.keys().next();
      if (oldest.done === true) break;
      cache.delete(oldest.value);
    }
    cache.set(caller, { profileId, expiresAt: now() + cacheTtlMs });
  };

  const fetch = (caller: string): Promise<Found> => {
    const running = inFlight.get(caller);
    if (running !== undefined) return running;
    stats.lookups++;
    const p = lookup(caller).then(
      (profileId): Found => {
        remember(caller, profileId);
        return { profileId };
      },
      (): Found => {
        // Not cached: the next call asks again.
        stats.failures++;
        return 'failed';
      },
    );
    const done = p.finally(() => inFlight.delete(caller));
    inFlight.set(caller, done);
    return done;
  };

  const resolve = async (offer: CallOffer): Promise<string | undefined> => {
    const caller = offer.callerNumber;
    // Signalling is untrusted: a number no terminal could be bound to costs no lookup or cache slot.
    if (caller === undefined || !parseAni(caller).ok) {
      stats.unbound++;
      return undefined;
    }
    const hit = cache.get(caller);
    if (hit !== undefined && hit.expiresAt > now()) {
      stats.cacheHits++;
      if (hit.profileId === undefined) stats.unbound++;
      return hit.profileId;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = Symbol('timeout');
    const answer = await Promise.race([
      fetch(caller),
      new Promise<typeof timedOut>((r) => {
        timer = setTimeout(() => r(timedOut), lookupTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (answer === timedOut) {
      // The lookup goes on and fills the cache for the next call.
      stats.timeouts++;
      return undefined;
    }
    if (answer === 'failed') return undefined;
    if (answer.profileId === undefined) stats.unbound++;
    return answer.profileId;
  };

  return { resolve, stats };
}
