/** `fixpay dev` (= `npm start`): the whole platform on embedded defaults, until Ctrl-C. */
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { createLogger } from '../../infra/logging';
import { startPlatform } from '../platform';

export function register(program: Command): void {
  program
    .command('dev')
    .description(
      'run the platform on embedded defaults: Temporal dev server (UI on :8233), PGlite database (or DATABASE_URL) with demo data, bank simulator, worker, access node (TCP PCM :5070, SIP :5060) and API; Ctrl-C stops everything',
    )
    .action(async () => {
      const config = loadConfig();
      const log = createLogger('fixpay-dev', { level: config.logLevel });
      const started = Date.now();
      // Ctrl-C during start-up waits for start-up to finish, then stops everything it started.
      const signal = { interrupted: false };
      const stopRequested = new Promise<void>((resolve) => {
        const onSignal = (): void => {
          signal.interrupted = true;
          resolve();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
      });
      const platform = await startPlatform(config, log);
      if (signal.interrupted) {
        await platform.stop();
        return;
      }
      const lines = [
        '',
        `fixpay is up (${((Date.now() - started) / 1000).toFixed(1)} s)`,
        `  Temporal UI   ${platform.temporalUiUrl ?? '(external server)'}`,
        `  Temporal      ${platform.temporalAddress}`,
        `  Codec         ${platform.codecUrl}  (payloads are encrypted; the UI decrypts with the operator token in ${platform.secretsFile})`,
        `  API           ${platform.apiUrl}  (health: ${platform.apiUrl}/health)`,
        `  Database      ${platform.databaseEmbedded ? 'embedded PGlite' : 'PostgreSQL'} ${platform.databaseUrl}`,
        `  Terminals     TCP PCM 127.0.0.1:${platform.tcpPcmPort}, SIP 127.0.0.1:${platform.sipPort}  (try: fixpay sim terminal --init, then --script)`,
        `  Card network  ${platform.bankPort === undefined ? 'external' : `bank simulator on :${platform.bankPort}`}`,
        `  Data folder   ${config.dataDir}`,
        '',
        'Press Ctrl-C to stop.',
        '',
      ];
      process.stdout.write(lines.join('\n'));
      await stopRequested;
      process.once('SIGINT', () => {
        process.stderr.write('forced exit\n');
        process.exit(130);
      });
      process.stdout.write('\nstopping...\n');
      await platform.stop();
      process.stdout.write('stopped\n');
    });
}
