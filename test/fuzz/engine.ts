/**
 * The fuzzing engine: mutates each target's valid seeds (bit flips, interesting bytes, inserted,
 * deleted, duplicated and spliced ranges, number blow-ups) and mixes in fast-check's random byte
 * arrays, runs every input within the target's contract, and counts inputs, crashes (a thrown value
 * that is not the documented refusal) and slow inputs (over the per-input budget: a hang). Crashing
 * inputs are saved, one file per distinct failure.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { isFixpayError } from '../../domain/errors';
import type { FuzzTarget } from './targets';

/** Longest one input may take before it counts as a hang, ms. */
export const PER_INPUT_BUDGET_MS = 1_000;
/** Inputs per batch between clock checks. */
const BATCH = 64;
/** Share of inputs drawn from fast-check's arbitraries instead of mutated seeds. */
const RANDOM_SHARE = 0.1;

export interface FuzzStats {
  readonly target: string;
  inputs: number;
  ms: number;
  crashes: number;
  slow: number;
  /** Distinct failures: first line of the error → count. */
  readonly failures: Map<string, number>;
}

/** mulberry32: seeded, fast. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [
  0x00, 0x01, 0x7f, 0x80, 0x85, 0x9f, 0xff, 0xfe, 0x30, 0x39, 0x3a, 0x20, 0x0d, 0x0a, 0x3d, 0x25, 0x2d,
];
const BIG_NUMBERS = ['0', '-1', '65536', '99999', '4294967296', '99999999999999999999', '1e309', 'NaN'];

/** Applies 1–4 random mutations to a copy of `seed` (bounded by `maxBytes`). */
export function mutate(
  seed: Uint8Array,
  seeds: readonly Uint8Array[],
  rand: () => number,
  maxBytes: number,
): Uint8Array {
  let b = Buffer.from(seed);
  const n = 1 + Math.floor(rand() * 4);
  const at = (len: number): number => Math.floor(rand() * Math.max(1, len));
  for (let k = 0; k < n; k++) {
    switch (Math.floor(rand() * 10)) {
      case 0: // flip a bit
        if (b.length > 0) {
          const i = at(b.length);
          b[i] = (b[i] ?? 0) ^ (1 << Math.floor(rand() * 8));
        }
        break;
      case 1: // interesting byte
        if (b.length > 0) b[at(b.length)] = INTERESTING[at(INTERESTING.length)] ?? 0;
        break;
      case 2: // random byte
        if (b.length > 0) b[at(b.length)] = Math.floor(rand() * 256);
        break;
      case 3: {
        // insert random bytes
        const i = at(b.length + 1);
        const ins = Buffer.alloc(1 + at(16));
        for (let j = 0; j < ins.length; j++) ins[j] = Math.floor(rand() * 256);
        b = Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
        break;
      }
      case 4: {
        // delete a range
        const i = at(b.length);
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + at(32))]);
        break;
      }
      case 5: {
        // duplicate a range
        const i = at(b.length);
        const j = Math.min(b.length, i + 1 + at(64));
        b = Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]);
        break;
      }
      case 6: {
        // splice with another seed
        const other = seeds[at(seeds.length)] ?? seed;
        b = Buffer.concat([b.subarray(0, at(b.length)), Buffer.from(other).subarray(at(other.length))]);
        break;
      }
      case 7: // truncate
        b = b.subarray(0, at(b.length));
        break;
      case 8: {
        // replace a run of digits with a big or odd number
        const s = b.toString('latin1');
        const m = /\d+/g;
        const runs = [...s.matchAll(m)];
        const run = runs[at(runs.length)];
        if (run?.index !== undefined) {
          const big = BIG_NUMBERS[at(BIG_NUMBERS.length)] ?? '0';
          b = Buffer.from(s.slice(0, run.index) + big + s.slice(run.index + run[0].length), 'latin1');
        }
        break;
      }
      default: {
        // repeat one byte many times
        const i = at(b.length);
        b = Buffer.concat([b.subarray(0, i), Buffer.alloc(1 + at(512), b[i] ?? 0x41), b.subarray(i)]);
      }
    }
  }
  return b.length > maxBytes ? b.subarray(0, maxBytes) : b;
}

export interface FuzzOptions {
  readonly seconds: number;
  readonly seed: number;
  /** Where crashing inputs are written (created on the first crash); none when undefined. */
  readonly crashDir?: string;
  readonly perInputBudgetMs?: number;
}

function firstLine(e: unknown): string {
  if (e instanceof Error) {
    const where = (e.stack ?? '').split('\n').find((l) => l.includes(' at ')) ?? '';
    return `${e.name}: ${e.message.split('\n')[0] ?? ''} ${where.trim()}`.slice(0, 300);
  }
  return String(e).slice(0, 300);
}

/** Runs one target for `options.seconds`; never throws for a crash of the target (it is counted). */
export async function fuzzTarget(target: FuzzTarget, options: FuzzOptions): Promise<FuzzStats> {
  const stats: FuzzStats = { target: target.name, inputs: 0, ms: 0, crashes: 0, slow: 0, failures: new Map() };
  const rand = prng(options.seed);
  const budget = options.perInputBudgetMs ?? PER_INPUT_BUDGET_MS;
  const expected = target.expected ?? ((e: unknown) => isFixpayError(e));
  await target.open?.();
  const seeds = target.seeds.length > 0 ? target.seeds : [new Uint8Array(0)];
  const started = Date.now();
  const until = started + options.seconds * 1000;
  let randomPool: Uint8Array[] = [];
  const record = (input: Uint8Array, failure: string): void => {
    stats.crashes++;
    const seen = stats.failures.get(failure) ?? 0;
    stats.failures.set(failure, seen + 1);
    if (seen === 0 && options.crashDir !== undefined) {
      mkdirSync(options.crashDir, { recursive: true });
      const name = `${target.name}-${createHash('sha1').update(input).digest('hex').slice(0, 12)}`;
      writeFileSync(join(options.crashDir, `${name}.bin`), input);
      writeFileSync(join(options.crashDir, `${name}.txt`), `${failure}\n`);
    }
  };
  try {
    while (Date.now() < until) {
      for (let i = 0; i < BATCH; i++) {
        let input: Uint8Array;
        if (rand() < RANDOM_SHARE) {
          if (randomPool.length === 0)
            randomPool = fc.sample(fc.uint8Array({ maxLength: Math.min(target.maxBytes, 512) }), {
              numRuns: 256,
              seed: Math.floor(rand() * 2 ** 31),
            });
          input = randomPool.pop() ?? new Uint8Array(0);
        } else {
          input = mutate(
            seeds[Math.floor(rand() * seeds.length)] ?? seeds[0] ?? new Uint8Array(0),
            seeds,
            rand,
            target.maxBytes,
          );
        }
        const t0 = performance.now();
        try {
          const r = target.run(input);
          if (r instanceof Promise) await r;
        } catch (e) {
          if (!expected(e)) record(input, firstLine(e));
        }
        if (performance.now() - t0 > budget) {
          stats.slow++;
          record(input, `slow: over ${budget} ms`);
        }
        stats.inputs++;
      }
    }
  } finally {
    stats.ms = Date.now() - started;
    await target.close?.();
  }
  return stats;
}

export function renderStats(all: readonly FuzzStats[]): string {
  const w = Math.max(6, ...all.map((s) => s.target.length));
  const lines = [
    `${'target'.padEnd(w)}  ${'inputs'.padStart(11)}  ${'inputs/s'.padStart(9)}  ${'crashes'.padStart(7)}  slow`,
  ];
  for (const s of all) {
    lines.push(
      `${s.target.padEnd(w)}  ${String(s.inputs).padStart(11)}  ${String(Math.round(s.inputs / Math.max(0.001, s.ms / 1000))).padStart(9)}  ${String(s.crashes).padStart(7)}  ${s.slow}`,
    );
    for (const [failure, n] of s.failures) lines.push(`${' '.repeat(w)}    ${n} × ${failure}`);
  }
  const inputs = all.reduce((a, s) => a + s.inputs, 0);
  const crashes = all.reduce((a, s) => a + s.crashes, 0);
  lines.push(`fuzz: ${inputs} inputs, ${crashes} crashes over ${all.length} targets`);
  return lines.join('\n');
}
