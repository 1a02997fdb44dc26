/** `fixpay db`: serve the embedded database, migrate, show migration status. */
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { migrate, readMigrations, startEmbeddedDatabase } from '../../infra/database';
import { join } from 'node:path';
import { ensurePrivateDir, usePrivateUmask } from '../../infra/files';
import { loadSecrets } from '../../infra/secrets';

export function register(program: Command): void {
  const db = program.command('db').description('the platform database (embedded PGlite or DATABASE_URL)');

  db.command('serve')
    .description('serve the embedded PGlite database over the PostgreSQL wire protocol until interrupted')
    .option('--port <port>', 'port (0 picks a free one); default FIXPAY_DB_PORT or 54329')
    .option('--memory', 'keep data in memory instead of <dataDir>/pglite')
    .option('--migrate', 'apply migrations before announcing readiness')
    .action(async (opts: { port?: string; memory?: boolean; migrate?: boolean }) => {
      const config = loadConfig();
      // A data folder on disk: private modes and the password of the secrets file (issue #10).
      const password =
        opts.memory === true ? undefined : loadSecrets(config.security, { generate: true }).databasePassword;
      if (opts.memory !== true) {
        usePrivateUmask();
        ensurePrivateDir(config.dataDir);
      }
      const embedded = await startEmbeddedDatabase({
        ...(opts.memory === true ? {} : { dataDir: join(config.dataDir, 'pglite') }),
        ...(password === undefined ? {} : { password }),
        host: config.database.embeddedHost,
        port: opts.port === undefined ? config.database.embeddedPort : Number(opts.port),
        maxConnections: config.database.embeddedMaxConnections,
      });
      if (opts.migrate === true) await migrate(embedded.url);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        process.stdin.once('end', stop);
        // A reader that went away (EPIPE on the readiness line) is a stop, not a crash.
        process.stdout.once('error', stop);
        // One JSON line on stdout announces readiness (test/support/database.ts reads it).
        process.stdout.write(`${JSON.stringify({ ready: true, url: embedded.url, port: embedded.port })}\n`);
      });
      await embedded.stop();
    });

  db.command('migrate')
    .description('apply pending SQL migrations from prisma/migrations to DATABASE_URL (or the embedded database)')
    .action(async () => {
      const config = loadConfig();
      const url = config.database.url;
      if (url === undefined) {
        const embedded = await startEmbeddedDatabase({
          dataDir: join(config.dataDir, 'pglite'),
          host: config.database.embeddedHost,
          port: 0,
          maxConnections: config.database.embeddedMaxConnections,
        });
        try {
          const report = await migrate(embedded.url, undefined, (n) => console.log(`applied ${n}`));
          console.log(`${report.applied.length} applied, ${report.alreadyApplied.length} already applied (embedded)`);
        } finally {
          await embedded.stop();
        }
        return;
      }
      const report = await migrate(url, undefined, (n) => console.log(`applied ${n}`));
      console.log(`${report.applied.length} applied, ${report.alreadyApplied.length} already applied`);
    });

  db.command('migrations')
    .description('list the migrations in prisma/migrations with their checksums')
    .action(() => {
      for (const m of readMigrations()) console.log(`${m.name}  ${m.checksum.slice(0, 12)}`);
    });
}
