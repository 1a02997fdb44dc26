/**
 * The quick slice of the fuzzers (`npm run fuzz` is the long run): one second per target, every
 * parser that takes outside input without a socket. Any crash fails, naming the failure; the
 * crashing input is printed as hex so it can be replayed.
 */
import { fuzzTarget } from './engine';
import { fuzzTargets } from './targets';

/** Seconds per target in `npm test`. */
const QUICK_SECONDS = 1;
/** Targets that need sockets run in `npm run fuzz` only (the API bodies: real HTTP on loopback). */
const SOCKET_TARGETS = new Set(['api-bodies']);

/**
 * Crashes found by the fuzzers and not fixed yet (each a defect to fix where the parser lives); the
 * quick slice tolerates these failures only. Remove an entry when its fix lands. Empty: the last one
 * (a YAML alias without its anchor threw out of compileDefinition) is now a FP2300 diagnostic.
 */
const KNOWN_OPEN_CRASHES: readonly RegExp[] = [];

describe('fuzzing, quick slice', () => {
  const targets = fuzzTargets().filter((t) => !SOCKET_TARGETS.has(t.name));
  it.each(targets.map((t) => [t.name, t] as const))(
    '%s: no crash',
    async (_name, target) => {
      const stats = await fuzzTarget(target, { seconds: QUICK_SECONDS, seed: 20261203 });
      expect(stats.inputs).toBeGreaterThan(0);
      expect([...stats.failures.keys()].filter((f) => !KNOWN_OPEN_CRASHES.some((k) => k.test(f)))).toEqual([]);
    },
    30_000,
  );
});
