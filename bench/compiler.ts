/**
 * `npm run bench:compiler`: compile time and peak memory of the definition compiler, for the
 * shipped definitions and for hostile sources (the 20 MB file, an alias bomb, deep nesting, a
 * valid definition just under the size limit). Each hostile case runs in a fresh child process so
 * that its peak resident memory (maxRSS) is its own. Budget per hostile file: ≤ 1 s, ≤ 300 MB.
 *
 * Options: `-- --runs=50` (compilations per shipped definition).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultCatalogue } from '../services/catalogue/entries';
import { MAX_DEFINITION_BYTES, compileDefinition } from '../services/compiler/compile';
import { definitionFiles } from '../services/compiler/load';

const RUNS = Number(/^--runs=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--runs=')) ?? '')?.[1] ?? 50);
const HOSTILE_BUDGET_MS = 1_000;
const HOSTILE_BUDGET_MB = 300;
const DEFS = join(__dirname, '..', 'definitions');

/** Hostile sources, built in memory (none of them is committed). */
const hostile: Record<string, () => string> = {
  'hostile-20mb': () => `a: [${'*x, '.repeat(5 * 1024 * 1024)}]\n`,
  'alias-bomb-9-levels': () => {
    const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i <= 9; i++)
      lines.push(
        `a${i}: &a${i} [${Array(9)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    return `${lines.join('\n')}\n`;
  },
  'aliases-just-under-bound': () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i <= 3; i++)
      lines.push(
        `a${i}: &a${i} [${Array(8)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    return `${lines.join('\n')}\n`;
  },
  'flow-nesting-at-size-limit': () => `a: ${'['.repeat(MAX_DEFINITION_BYTES - 10)}\n`,
  'block-nesting-60': () => Array.from({ length: 60 }, (_, i) => `${' '.repeat(i)}k:`).join('\n'),
  'near-limit-valid-shape': () => {
    // payment.yaml with thousands of extra set steps: the whole compiler runs (refused as too large a plan).
    const base = readFileSync(join(DEFS, 'payment.yaml'), 'utf8');
    const extra: string[] = [];
    for (let i = 0; extra.join('\n').length < MAX_DEFINITION_BYTES - base.length - 2_000; i++)
      extra.push(`    - id: pad${i}\n      set: { pad${i}: '\${input.stan}-${i}' }`);
    return base.replace('  steps:\n', `  steps:\n${extra.join('\n')}\n`);
  },
};

function runCase(name: string): void {
  const make = hostile[name];
  if (make === undefined) throw new Error(`no case ${name}`);
  const text = make();
  const t0 = performance.now();
  const r = compileDefinition(text, `${name}.yaml`, { catalogue: defaultCatalogue() });
  const ms = performance.now() - t0;
  const first = r.ok ? 'accepted' : `${r.diagnostics[0]?.code ?? ''} ${r.diagnostics[0]?.message.slice(0, 70) ?? ''}`;
  process.stdout.write(
    `${JSON.stringify({ name, bytes: Buffer.byteLength(text), ms, maxRssMb: process.resourceUsage().maxRSS / 1024, first })}\n`,
  );
}

function main(): void {
  const only = process.argv.find((a) => a.startsWith('--case='))?.slice('--case='.length);
  if (only !== undefined) {
    runCase(only);
    return;
  }
  const catalogue = defaultCatalogue();
  console.log(`shipped definitions (${RUNS} compilations each, after one warm-up)`);
  for (const file of definitionFiles(DEFS)) {
    const text = readFileSync(file, 'utf8');
    compileDefinition(text, file, { catalogue });
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const r = compileDefinition(text, file, { catalogue });
      times.push(performance.now() - t0);
      if (!r.ok) throw new Error(`${file} does not compile`);
    }
    times.sort((a, b) => a - b);
    const p = (q: number): string => (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0).toFixed(2);
    console.log(`  ${file.slice(DEFS.length + 1).padEnd(22)} p50 ${p(0.5)} ms  p95 ${p(0.95)} ms`);
  }
  console.log(`  peak RSS of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  console.log(`hostile sources (one child process each; budget ${HOSTILE_BUDGET_MS} ms, ${HOSTILE_BUDGET_MB} MB)`);
  let over = 0;
  for (const name of Object.keys(hostile)) {
    const child = spawnSync(process.execPath, [...process.execArgv, __filename, `--case=${name}`], {
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
    });
    const line = child.stdout.trim().split('\n').pop() ?? '';
    let res: { bytes: number; ms: number; maxRssMb: number; first: string };
    try {
      res = JSON.parse(line) as typeof res;
    } catch {
      console.log(`  ${name}: the child failed (${child.status ?? child.signal ?? '?'}) ${child.stderr.slice(0, 300)}`);
      over++;
      continue;
    }
    const ok = res.ms <= HOSTILE_BUDGET_MS && res.maxRssMb <= HOSTILE_BUDGET_MB;
    if (!ok) over++;
    console.log(
      `  ${name.padEnd(26)} ${String(res.bytes).padStart(9)} B  ${res.ms.toFixed(1).padStart(7)} ms  peak RSS ${res.maxRssMb.toFixed(0).padStart(4)} MB  ${ok ? 'ok  ' : 'OVER'} ${res.first}`,
    );
  }
  if (over > 0) process.exitCode = 1;
}

main();
