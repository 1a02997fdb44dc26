/** `fixpay sim biller` and `fixpay sim topup`: the bill and top-up aggregator simulators (HTTP). */
import type { Command } from 'commander';
import { PROVIDERS_DIR } from '../../worker/platform-activities';
import { simulatorOptionsFor } from '../../simulator/providers/demo';
import { ProviderSimulator, type SimulatorKind } from '../../simulator/providers/server';
import { SANDBOX_RULES } from '../../simulator/providers/sandbox';
import { commandGroup } from '../main';

interface Options {
  host: string;
  port: string;
  providers: string;
  pendingMs: string;
  timeoutMs: string;
  lateCallbackMs: string;
  callbackUrl?: string;
  callbackKeyId?: string;
}

const num = (name: string, value: string, max: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`--${name} must be a whole number from 0 to ${max}`);
  return n;
};

const rules = Object.entries(SANDBOX_RULES)
  .map(([d, c]) => `${d}=${c}`)
  .join(', ');

function add(group: Command, kind: SimulatorKind, port: string, what: string): void {
  group
    .command(kind)
    .description(
      `run the ${what} simulator: signed HTTP (HMAC-SHA256 or API key, keys from the provider profiles), one transaction per reference, ` +
        `sandbox outcome by the last digit of the ${kind === 'biller' ? 'customer reference' : 'number'} (${rules}), ` +
        `signed callbacks, daily report (GET report?date=YYYY-MM-DD). Prints {"ready":true,...} when listening. See docs/providers.md.`,
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 = any free port)', port)
    .option('--providers <dir>', 'provider profiles whose keys it accepts', PROVIDERS_DIR)
    .option('--pending-ms <ms>', 'how long a pending case stays pending', '3000')
    .option('--timeout-ms <ms>', 'how long the timeout case holds its first answer', '30000')
    .option('--late-callback-ms <ms>', 'how late the late callback comes', '10000')
    .option('--callback-url <url>', 'where signed callbacks go (none when absent)')
    .option('--callback-key-id <id>', 'profile key id whose secret signs callbacks')
    .action(async (o: Options) => {
      if (o.callbackUrl !== undefined && !/^https?:\/\//.test(o.callbackUrl))
        throw new Error('--callback-url must be http(s)');
      const sim = new ProviderSimulator(
        simulatorOptionsFor(o.providers, kind, {
          host: o.host,
          port: num('port', o.port, 65_535),
          pendingMs: num('pending-ms', o.pendingMs, 600_000),
          timeoutMs: num('timeout-ms', o.timeoutMs, 600_000),
          lateCallbackMs: num('late-callback-ms', o.lateCallbackMs, 600_000),
          ...(o.callbackUrl === undefined ? {} : { callbackUrl: o.callbackUrl }),
          ...(o.callbackKeyId === undefined ? {} : { callbackKeyId: o.callbackKeyId }),
        }),
      );
      const { url, port: bound } = await sim.start();
      process.stdout.write(`${JSON.stringify({ ready: true, kind, url, port: bound })}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await sim.stop();
    });
}

export function register(program: Command): void {
  const group = commandGroup(program, 'sim', 'simulators for what the platform talks to');
  add(group, 'biller', '5810', 'bill aggregator (BBPS-like)');
  add(group, 'topup', '5820', 'top-up aggregator (DT One-like)');
}
