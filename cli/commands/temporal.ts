/** `fixpay temporal`: find, build and run the Temporal CLI's dev server. */
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadConfig, processEnv } from '../../config';
import {
  buildTemporalCli,
  cachedCliPath,
  ensureTemporalCli,
  findTemporalCli,
  startDevServer,
} from '../../infra/temporal';
import { spinner } from '../progress';

export function register(program: Command): void {
  const temporal = program.command('temporal').description('the Temporal server the platform runs on');

  temporal
    .command('path')
    .description('print the Temporal CLI binary fixpay would use (setting, PATH, then cache), or exit 1')
    .action(() => {
      const config = loadConfig();
      const found = findTemporalCli(config.temporal, processEnv()['PATH']);
      if (found?.kind !== 'binary') {
        console.error(`no Temporal CLI found (looked at FIXPAY_TEMPORAL_CLI, PATH, ${cachedCliPath(config.temporal)})`);
        process.exitCode = 1;
        return;
      }
      console.log(found.path);
    });

  temporal
    .command('install')
    .description(
      `build the Temporal CLI with Go into the cache folder (about 4 minutes and 2 GB of Go modules the first time)`,
    )
    .option('--force', 'rebuild even when a binary is already found')
    .action(async (opts: { force?: boolean }) => {
      const config = loadConfig();
      const existing = opts.force === true ? undefined : findTemporalCli(config.temporal, processEnv()['PATH']);
      if (existing?.kind === 'binary') {
        console.log(`${existing.path} (${existing.source}); use --force to rebuild`);
        return;
      }
      const spin = spinner(`building Temporal CLI v${config.temporal.cliVersion} with go install`);
      const started = Date.now();
      try {
        const path = await buildTemporalCli(config.temporal, processEnv(), (line) => spin.update(line));
        spin.done(`built ${path} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      } catch (e) {
        spin.fail(e instanceof Error ? e.message : String(e));
        process.exitCode = 1;
      }
    });

  temporal
    .command('start')
    .description(
      'run the Temporal dev server (durable SQLite under the data folder, UI on the UI port) until interrupted',
    )
    .option('--memory', 'keep state in memory')
    .action(async (opts: { memory?: boolean }) => {
      const config = loadConfig();
      const cli = await ensureTemporalCli(config.temporal, processEnv());
      if (cli.kind !== 'binary') throw new Error(`no Temporal CLI: ${cli.reason}`);
      const server = await startDevServer({
        cliPath: cli.path,
        temporal: config.temporal,
        ui: true,
        ...(opts.memory === true ? {} : { dataDir: join(config.dataDir, 'temporal') }),
      });
      console.log(`Temporal ${server.address}  UI ${server.uiUrl ?? '(none)'}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.stop();
    });
}
