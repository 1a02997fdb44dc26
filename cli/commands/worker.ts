/** `fixpay worker`: the central Temporal worker (definitions, HSM, card network, ledger). */
import type { Command } from 'commander';
import { runRole } from '../role-process';
import { startWorkerRole } from '../roles';

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'run the central worker on the services task queue: the interpreter and request verification workflows, the HSM (keys from <dataDir>/hsm-keys.json), the card network gateway, ledger and business core; deploys the runnable definitions. Needs a Temporal server (FIXPAY_TEMPORAL_HOST/PORT), DATABASE_URL (or the embedded database) and the secrets (FIXPAY_SECRETS_FILE or FIXPAY_LMK/FIXPAY_CODEC_KEYS/FIXPAY_OPERATOR_TOKEN). Prints "fixpay worker ready: …" once polling; SIGTERM drains the tasks in progress, then exits 0',
    )
    .action(() => runRole('worker', (context) => startWorkerRole(context)));
}
