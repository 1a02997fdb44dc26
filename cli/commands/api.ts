/** `fixpay api`: the partner/operator HTTP API and the payload codec endpoint. */
import type { Command } from 'commander';
import { runRole } from '../role-process';
import { startApiRole } from '../roles';

export function register(program: Command): void {
  program
    .command('api')
    .description(
      'run the HTTP API (FIXPAY_API_HOST/PORT; GET /health checks the database and Temporal; the partner API under /v1, its reference at /docs, the sandbox developer page at /developers) and the payload codec endpoint for the Temporal UI (FIXPAY_CODEC_PORT). Needs a Temporal server, DATABASE_URL and the secrets. Prints "fixpay api ready: …" once listening; SIGTERM finishes requests in progress, then exits 0',
    )
    .action(() => runRole('api', (context) => startApiRole(context)));
}
