/**
 * `npm run attack [-- options]`: starts the targets on loopback (fixpay dev --no-demo, the network
 * HSM, the bank simulator behind a tampering proxy), runs the attack suite, prints one line per
 * attack, the table and `attacks: N tried, N refused, N defects, N inconclusive`. Exit code 1 when
 * any attack found a defect, 2 when the targets did not start. See docs/testing.md.
 */
import { writeFileSync } from 'node:fs';
import { ATTACKS, KNOWN_OPEN } from './index';
import { renderTable, runAttacks, summarize, summaryLine } from './runner';
import { Targets } from './targets';

const HELP = `usage: npm run attack -- [--only <regex>] [--quick] [--skip-known-open] [--list] [--json <file>] [--verbose]
  --only <regex>       attacks whose id matches (the final still-serving check always runs)
  --quick              only the quick slice (what npm test runs, known-open ones included)
  --skip-known-open    leave out the ids in KNOWN_OPEN (test/attack/index.ts)
  --list               list the attacks and exit
  --json <file>        also write the results as JSON
  --verbose            show the targets' log lines`;

async function main(argv: readonly string[]): Promise<number> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const only = arg('--only');
  const pattern = only === undefined ? undefined : new RegExp(only);
  const selected = ATTACKS.filter(
    (a) =>
      a.id === 'platform.still-serving' ||
      ((pattern === undefined || pattern.test(a.id)) &&
        (!argv.includes('--quick') || a.quick === true) &&
        (!argv.includes('--skip-known-open') || !KNOWN_OPEN.includes(a.id))),
  );
  if (argv.includes('--list')) {
    for (const a of selected)
      console.log(
        `${a.id.padEnd(40)} ${a.target.padEnd(9)} ${a.severity.padEnd(8)} ${a.quick === true ? 'quick' : '     '} ${a.title}`,
      );
    console.log(`${selected.length} attacks`);
    return 0;
  }
  const verbose = argv.includes('--verbose');
  const started = Date.now();
  console.log(`starting targets (fixpay dev --no-demo, fixpay hsm serve, bank simulator behind a tampering proxy)...`);
  let ctx: Targets;
  try {
    ctx = await Targets.start(verbose ? { onOutput: (l) => console.log(l) } : {});
  } catch (e) {
    console.error(`targets did not start: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const stop = (): void => {
    void ctx.stop().then(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  console.log(`targets up in ${((Date.now() - started) / 1000).toFixed(1)} s; running ${selected.length} attacks`);
  try {
    const results = await runAttacks(ctx, selected, {
      onResult: (r, i, n) =>
        console.log(
          `[${String(i + 1).padStart(3)}/${n}] ${r.verdict === 'defect' ? 'DEFECT ' : r.verdict.padEnd(7)} ${r.id} (${(r.ms / 1000).toFixed(1)} s): ${r.evidence}`,
        ),
    });
    console.log(`\n${renderTable(results)}\n`);
    const s = summarize(results);
    const jsonFile = arg('--json');
    if (jsonFile !== undefined) writeFileSync(jsonFile, `${JSON.stringify({ summary: s, results }, null, 2)}\n`);
    console.log(`${summaryLine(s)} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    return s.defects > 0 ? 1 : 0;
  } finally {
    await ctx.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
