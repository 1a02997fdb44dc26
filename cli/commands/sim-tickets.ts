/** `fixpay sim tickets`: the ticketing provider simulator (airline, cinema, lottery; HTTP). */
import type { Command } from 'commander';
import { PROVIDERS_DIR } from '../../worker/platform-activities';
import { addDemoDraws, ticketSimulatorOptionsFor } from '../../simulator/providers/tickets-demo';
import { TICKET_SANDBOX_RULES, TicketSimulator } from '../../simulator/providers/tickets';
import { commandGroup } from '../main';

interface Options {
  host: string;
  port: string;
  providers: string;
  holdMs: string;
  pendingMs: string;
  timeoutMs: string;
  callbackUrl?: string;
  callbackKeyId?: string;
}

const num = (name: string, value: string, max: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`--${name} must be a whole number from 0 to ${max}`);
  return n;
};

const rules = Object.entries(TICKET_SANDBOX_RULES)
  .map(([d, c]) => `${d}=${c}`)
  .join(', ');

export function register(program: Command): void {
  commandGroup(program, 'sim', 'simulators for what the platform talks to')
    .command('tickets')
    .description(
      'run the ticketing provider simulator: airline bookings held until a ticketing deadline, cinema seat holds, ' +
        'lottery draws (SCHEDULED → OPEN → CLOSED, results) for the airlines, shows and games of the provider directory; ' +
        'each game has the draws 00000001 (selling now, for a week) and 00000002 (after it). Signed HTTP, one order per reference, sandbox outcome by the last ' +
        `digit of the booking reference, first seat or last lottery number (${rules}), signed callbacks. ` +
        'Prints {"ready":true,...} when listening. See docs/providers-ticketing.md.',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 = any free port)', '5830')
    .option('--providers <dir>', 'provider directory: keys, airlines, shows and games', PROVIDERS_DIR)
    .option('--hold-ms <ms>', 'how long a booking or seat hold stays payable', '600000')
    .option('--pending-ms <ms>', 'how long a pending case stays pending', '3000')
    .option('--timeout-ms <ms>', 'how long the timeout case holds its first answer', '30000')
    .option('--callback-url <url>', 'where signed callbacks go (none when absent)')
    .option('--callback-key-id <id>', 'profile key id whose secret signs callbacks')
    .action(async (o: Options) => {
      if (o.callbackUrl !== undefined && !/^https?:\/\//.test(o.callbackUrl))
        throw new Error('--callback-url must be http(s)');
      const options = ticketSimulatorOptionsFor(o.providers, {
        host: o.host,
        port: num('port', o.port, 65_535),
        holdMs: num('hold-ms', o.holdMs, 86_400_000),
        pendingMs: num('pending-ms', o.pendingMs, 600_000),
        timeoutMs: num('timeout-ms', o.timeoutMs, 600_000),
        ...(o.callbackUrl === undefined ? {} : { callbackUrl: o.callbackUrl }),
        ...(o.callbackKeyId === undefined ? {} : { callbackKeyId: o.callbackKeyId }),
      });
      const sim = new TicketSimulator(options);
      addDemoDraws(sim, Object.keys(options.games ?? {}));
      const { url, port } = await sim.start();
      process.stdout.write(`${JSON.stringify({ ready: true, kind: 'tickets', url, port })}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await sim.stop();
    });
}
