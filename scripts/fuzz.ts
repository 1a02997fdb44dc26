/**
 * `npm run fuzz -- [--seconds N] [--targets <regex>] [--seed N] [--crash-dir <dir>]`: fuzzes every
 * parser that takes outside input (test/fuzz/targets.ts) for a time budget shared equally between
 * the targets, in this one process (one core). Prints per target: inputs, inputs/s, crashes, slow
 * inputs, then `fuzz: N inputs, N crashes`. Exit code 1 when anything crashed. See docs/testing.md.
 */
import { join } from 'node:path';
import { fuzzTarget, renderStats } from '../test/fuzz/engine';
import type { FuzzStats } from '../test/fuzz/engine';
import { fuzzTargets } from '../test/fuzz/targets';

/** Default time budget of a run, seconds. */
export const FUZZ_SECONDS_DEFAULT = 600;

async function main(argv: readonly string[]): Promise<number> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes('--help')) {
    console.log('usage: npm run fuzz -- [--seconds N (600)] [--targets <regex>] [--seed N] [--crash-dir <dir>]');
    return 0;
  }
  const seconds = Number(arg('--seconds') ?? FUZZ_SECONDS_DEFAULT);
  const seed = Number(arg('--seed') ?? Date.now() % 2 ** 31);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('--seconds must be a positive number');
  const pattern = new RegExp(arg('--targets') ?? '.');
  const crashDir = arg('--crash-dir') ?? join('.fixpay', 'fuzz-crashes');
  const targets = fuzzTargets().filter((t) => pattern.test(t.name));
  const each = seconds / targets.length;
  console.log(
    `fuzzing ${targets.length} targets for ${seconds} s (${each.toFixed(1)} s each), seed ${seed}, crashes to ${crashDir}`,
  );
  const all: FuzzStats[] = [];
  for (const [i, t] of targets.entries()) {
    const s = await fuzzTarget(t, { seconds: each, seed: seed + i, crashDir });
    all.push(s);
    console.log(
      `${t.name}: ${s.inputs} inputs (${Math.round(s.inputs / (s.ms / 1000))}/s), ${s.crashes} crashes, ${s.slow} slow`,
    );
  }
  console.log(`\n${renderStats(all)}`);
  return all.some((s) => s.crashes > 0) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
