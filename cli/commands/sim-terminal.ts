/** `fixpay sim terminal`: the simulated POS phone (docs/simulator.md), interactive or scripted. */
import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { isFixpayError } from '../../domain/errors';
import { scrubText } from '../../domain/masking';
import { loadScript, loadTerminalConfig, runInteractive, runTerminalScript } from '../../simulator/terminal';
import type { TerminalRunOptions, TransactionResult } from '../../simulator/terminal';
import { demoTerminalConfigData } from '../../simulator/terminal/demo';
import type { PushListenOptions } from '../../simulator/terminal/push-receiver';
import { commandGroup } from '../main';

interface Options {
  config: string;
  init?: string;
  script?: string;
  transport?: string;
  host?: string;
  port?: string;
  caller?: string;
  snrDb?: string;
  noiseSeed?: string;
  pace: boolean;
  stopOnFailure?: boolean;
  pushPort?: string;
  pushTransport?: string;
  pushHost?: string;
}

const number = (name: string, value: string, min: number, max: number): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number in ${min}..${max}`);
  return n;
};

/** Result fields that are safe to print (no card data: the request itself is only a digest). */
function printable(r: TransactionResult): Record<string, unknown> {
  return {
    kind: r.kind,
    repeated: r.repeated,
    outcome: r.outcome,
    stan: r.stan,
    responseCode: r.responseCode,
    responseText: r.responseText,
    authorizationCode: r.authorizationCode,
    rrn: r.rrn,
    balanceMinor: r.balanceMinor,
    failure: r.failure,
    requestDigest: r.requestDigest,
    requestBytes: r.requestBytes,
    lineTimeMs: r.lineTimeMs,
    wallTimeMs: r.wallTimeMs,
    retransmissions: r.retransmissions,
    naksReceived: r.naksReceived,
    framesRejected: r.framesRejected,
    display: r.display,
  };
}

async function run(opts: Options): Promise<void> {
  if (opts.init !== undefined) {
    if (existsSync(opts.init)) throw new Error(`${opts.init} exists; not overwriting`);
    const header =
      '# fixpay terminal simulator config (docs/simulator.md). TEST keys and a TEST card only.\n' +
      '# The simulator is the terminal: it holds its TMK and PSAM key in clear, as a POS phone does in its secure element.\n';
    writeFileSync(opts.init, header + toYaml(demoTerminalConfigData(0, 'tcp-pcm')), { mode: 0o600 });
    process.stdout.write(`wrote ${opts.init}\n`);
    return;
  }
  const config = loadTerminalConfig(opts.config);
  const script = opts.script === undefined ? undefined : loadScript(opts.script);
  const fromFile = script?.options ?? {};
  const transport = opts.transport ?? fromFile.transport;
  if (transport !== undefined && transport !== 'tcp-pcm' && transport !== 'sip')
    throw new Error('--transport must be tcp-pcm or sip');
  const snrDb = opts.snrDb !== undefined ? number('snr-db', opts.snrDb, -10, 80) : fromFile.snrDb;
  const noiseSeed =
    opts.noiseSeed !== undefined ? number('noise-seed', opts.noiseSeed, 0, 2 ** 31) : fromFile.noiseSeed;
  const callerNumber = opts.caller ?? fromFile.callerNumber;
  const runOptions: TerminalRunOptions = {
    ...(transport === undefined ? {} : { transport }),
    ...(opts.host === undefined ? {} : { host: opts.host }),
    ...(opts.port === undefined ? {} : { port: number('port', opts.port, 1, 65535) }),
    ...(callerNumber === undefined ? {} : { callerNumber }),
    ...(snrDb === undefined ? {} : { snrDb }),
    ...(noiseSeed === undefined ? {} : { noiseSeed }),
    ...(opts.pace ? {} : { pace: false }),
  };
  // Push calls on the phone's own line (docs/simulator.md, "Pushed notices"): flags over the config.
  const pushTransport = opts.pushTransport ?? config.push?.transport;
  if (pushTransport !== undefined && pushTransport !== 'tcp-pcm' && pushTransport !== 'sip')
    throw new Error('--push-transport must be tcp-pcm or sip');
  const push: PushListenOptions | undefined =
    opts.pushPort === undefined && opts.pushTransport === undefined && opts.pushHost === undefined
      ? config.push
      : {
          transport: pushTransport ?? 'tcp-pcm',
          host: opts.pushHost ?? config.push?.host ?? '127.0.0.1',
          port: opts.pushPort === undefined ? (config.push?.port ?? 0) : number('push-port', opts.pushPort, 0, 65535),
        };
  const onPushListening = (o: { transport: string; host: string; port: number; number: string }): void => {
    process.stdout.write(`push: listening on ${o.transport} ${o.host}:${o.port} for ${o.number}\n`);
  };
  if (script === undefined) {
    await runInteractive(config, { ...runOptions, ...(push === undefined ? {} : { push }) });
    return;
  }
  const result = await runTerminalScript(
    {
      ...runOptions,
      config,
      stopOnFailure: opts.stopOnFailure ?? fromFile.stopOnFailure ?? false,
      ...(push === undefined ? {} : { push, onPushListening }),
    },
    script.steps,
  );
  for (const t of result.transactions) process.stdout.write(`${JSON.stringify(printable(t))}\n`);
  // Pushed notices: what the display showed; the text was checked by the host (no card data, printable).
  for (const n of result.notices) {
    process.stdout.write(`display: ${n.display.filter((l) => l !== '').join(' | ')}\n`);
    process.stdout.write(`${JSON.stringify({ notice: 'in-call', stan: n.stan, sender: n.sender, text: n.text })}\n`);
  }
  for (const p of result.pushes) {
    process.stdout.write(`display: ${p.display.join(' | ')}\n`);
    process.stdout.write(
      `${JSON.stringify({ push: 'received', sender: p.sender, dateTime: p.dateTime, text: p.text })}\n`,
    );
  }
  // Conversations (ADR 0018): the screens shown and the receipt printed, as the phone shows them.
  for (const c of result.conversations) {
    for (const screen of c.screens) process.stdout.write(`screen ${c.code}: ${screen.lines.join(' | ')}\n`);
    for (const line of c.receipt) process.stdout.write(`receipt ${c.code}: ${line}\n`);
    process.stdout.write(
      `${JSON.stringify({ service: c.code, outcome: c.outcome, stan: c.stan, responseCode: c.responseCode, lateResponseCode: c.lateResponseCode })}\n`,
    );
  }
  const counts: Record<string, number> = {};
  for (const t of result.transactions) counts[t.outcome] = (counts[t.outcome] ?? 0) + 1;
  process.stdout.write(
    `summary: ${result.transactions.length} transactions ${JSON.stringify(counts)}, last STAN ${result.lastStan}, ${result.ok ? 'ok' : 'FAILED'}\n`,
  );
  if (!result.ok) process.exitCode = 1;
}

export function register(program: Command): void {
  commandGroup(program, 'sim', 'simulators of what we cannot reach here (bank, billers, terminals)')
    .command('terminal')
    .description(
      'a simulated POS phone with PSAM, card reader (test track 2), PIN pad and display: dials the channel engine ' +
        'over TCP PCM or SIP/RTP and speaks FSK through the real modem and link layer. Without --script it shows a ' +
        'menu (purchase, balance inquiry, sign-on, services); with --push-port it rings and shows pushed notices; with --script it runs the steps and prints one JSON line per ' +
        'transaction (exit code 1 if any failed). See docs/simulator.md.',
    )
    .option('-c, --config <file>', 'terminal config (YAML/JSON; create one with --init)', 'terminal.yaml')
    .option(
      '--init <file>',
      'write a config for the first demo terminal of fixpay dev (its id, PSAM, caller number, a bank simulator test card, test keys), then exit',
    )
    .option(
      '-s, --script <file>',
      'run a script (YAML: options + steps: sign-on, purchase, balance, repeat, hang-up, wait, menu, service, await-push)',
    )
    .option('--transport <kind>', 'tcp-pcm | sip (overrides the config)')
    .option('--host <host>', 'channel engine address (overrides the config)')
    .option('--port <port>', 'TCP PCM or SIP port (overrides the config)')
    .option('--caller <number>', 'our caller number / ANI (overrides the config)')
    .option('--snr-db <dB>', 'add seeded white noise at this SNR to the line, both directions')
    .option('--noise-seed <n>', 'seed of the noise generator (default 1)')
    .option('--no-pace', 'TCP PCM: send audio at once instead of in real time')
    .option('--stop-on-failure', 'scripts: stop at the first failed transaction')
    .option(
      '--push-port <port>',
      "take the access node's push calls on this port (0: a free one, printed), show RING and the notice, acknowledge it",
    )
    .option('--push-transport <kind>', 'tcp-pcm | sip for push calls (default tcp-pcm, or the config push.transport)')
    .option('--push-host <address>', 'address the push line listens on (default 127.0.0.1)')
    .action(async (opts: Options) => {
      try {
        await run(opts);
      } catch (e) {
        const message = isFixpayError(e) ? `${e.code} ${e.message}` : e instanceof Error ? e.message : String(e);
        process.stderr.write(`fixpay sim terminal: ${scrubText(message)}\n`);
        process.exitCode = 2;
      }
    });
}
