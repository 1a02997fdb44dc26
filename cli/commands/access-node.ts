/** `fixpay access-node`: the city access node (lines, FSK, link, sessions) and its lines worker. */
import type { Command } from 'commander';
import { runRole } from '../role-process';
import { startAccessNodeRole } from '../roles';

export function register(program: Command): void {
  program
    .command('access-node')
    .description(
      'run an access node: answer terminal calls over TCP PCM (FIXPAY_TCP_PCM_PORT) and SIP/RTP (FIXPAY_SIP_PORT), have each request verified at the centre, start or attach to its service run, and answer on the line; its Temporal worker serves lines.<FIXPAY_NODE_ID>. Needs a Temporal server, DATABASE_URL (read-only use: the definition registry) and the codec keys. Prints "fixpay access-node ready: …" once answering; SIGTERM stops taking calls and lets the live ones finish, then exits 0',
    )
    .action(() => runRole('access-node', (context) => startAccessNodeRole(context)));
}
