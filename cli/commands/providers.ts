/** `fixpay providers …`: check provider profiles, billers and operators; reconcile a provider's day. */
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { loadProviderCatalog, ProviderDirectory } from '../../gateways/providers/profile';
import { FileProviderJournal } from '../../gateways/providers/journal';
import { reconcileProvider } from '../../gateways/providers/reconcile';
import { PROVIDERS_DIR } from '../../worker/platform-activities';
import { join } from 'node:path';

export function register(program: Command): void {
  const group = program
    .command('providers')
    .description(
      'providers as data (bill, top-up, ticketing): profiles, billers, operators, ticket offers (docs/providers.md)',
    );
  group
    .command('validate')
    .description(
      'load every provider document in the directory; print what loaded and each problem; exit 1 on any problem',
    )
    .option('--dir <dir>', 'provider directory', PROVIDERS_DIR)
    .action((o: { dir: string }) => {
      const c = loadProviderCatalog(o.dir);
      process.stdout.write(
        `providers: ${[...c.providers.keys()].join(' ') || '-'}\nbillers: ${[...c.billers.keys()].join(' ') || '-'}\n` +
          `operators: ${[...c.operators.keys()].join(' ') || '-'}\n`,
      );
      for (const p of c.problems) process.stdout.write(`problem: ${p.message}\n`);
      if (c.problems.length > 0) process.exitCode = 1;
    });
  group
    .command('reconcile')
    .description(
      "the day's reconciliation of one provider: its signed report (GET report?date=) against our journal; prints matched, long, short and amount exceptions as JSON; exit 1 on any exception",
    )
    .requiredOption('--provider <id>', 'provider profile id')
    .option('--date <YYYY-MM-DD>', 'the day (UTC)', new Date().toISOString().slice(0, 10))
    .option('--dir <dir>', 'provider directory', PROVIDERS_DIR)
    .option('--journal <file>', 'journal file (default <dataDir>/provider-journal.jsonl)')
    .action(async (o: { provider: string; date: string; dir: string; journal?: string }) => {
      const directory = new ProviderDirectory(o.dir, 0);
      const profile = directory.current().providers.get(o.provider);
      if (profile === undefined) throw new Error(`no provider ${o.provider} in ${o.dir}`);
      const journal = new FileProviderJournal(o.journal ?? join(loadConfig().dataDir, 'provider-journal.jsonl'));
      const r = await reconcileProvider(profile, o.date, journal);
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      if (r.exceptions.length > 0) process.exitCode = 1;
    });
}
