/** `fixpay channel-engine`: the city access node's line side (SIP/RTP and TCP PCM lines, FSK, link, sessions). */
import type { Command } from 'commander';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_ENGINE_OPTIONS,
  echoHandler,
  fixedHandler,
  startChannelEngineProcess,
} from '../../channel-engine/main';
import { createLogger } from '../../infra/logging';

interface Options {
  nodeId: string;
  sip: boolean;
  sipHost: string;
  sipPort: string;
  tcp: boolean;
  tcpHost: string;
  tcpPort: string;
  tcpPace: boolean;
  profile: string;
  profilesDir: string[];
  handler: string;
  maxLines: string;
  handlerTimeoutMs: string;
  drainTimeoutMs: string;
  metricsIntervalMs: string;
}

const int = (name: string, value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
  return n;
};

export function register(program: Command): void {
  program
    .command('channel-engine')
    .description(
      'run a channel engine (access node): answer terminal calls over SIP/RTP (G.711) and TCP PCM, demodulate FSK, ' +
        'run the link layer and terminal sessions, hand each request to the platform. SIGINT/SIGTERM drains: ' +
        'new calls get SIP 503, live calls finish, then the process exits; a second signal exits at once.',
    )
    .option('--node-id <id>', 'node id (Temporal task queue lines.<nodeId>)', DEFAULT_ENGINE_OPTIONS.nodeId)
    .option('--no-sip', 'do not open the SIP driver')
    .option('--sip-host <host>', 'SIP/RTP bind and announce address', '127.0.0.1')
    .option('--sip-port <port>', 'SIP UDP port (0 = any free)', '5060')
    .option('--no-tcp', 'do not open the TCP PCM driver')
    .option('--tcp-host <host>', 'TCP PCM bind address', '127.0.0.1')
    .option('--tcp-port <port>', 'TCP PCM port (0 = any free; docs/protocols/tcp-pcm.md)', '5070')
    .option('--no-tcp-pace', 'send TCP PCM audio at once instead of in real time (fast simulations)')
    .option(
      '--profile <id>',
      'default device profile (channel-engine/profiles/*.yaml)',
      DEFAULT_ENGINE_OPTIONS.defaultProfileId,
    )
    .option('--profiles-dir <dir...>', 'extra folders of device profiles (same id overrides)', [])
    .option('--handler <kind>', 'request handler until Temporal is wired: echo | fixed:<hex>', 'echo')
    .option('--max-lines <n>', 'most concurrent calls', String(DEFAULT_ENGINE_OPTIONS.maxLines))
    .option(
      '--handler-timeout-ms <ms>',
      'longest wait for the platform answer',
      String(DEFAULT_ENGINE_OPTIONS.handlerTimeoutMs),
    )
    .option('--drain-timeout-ms <ms>', 'on shutdown, longest wait for live calls', String(DEFAULT_DRAIN_TIMEOUT_MS))
    .option('--metrics-interval-ms <ms>', 'log metrics this often (0 = never)', '60000')
    .action(async (opts: Options) => {
      const log = createLogger('channel-engine');
      const handler =
        opts.handler === 'echo'
          ? echoHandler()
          : opts.handler.startsWith('fixed:')
            ? fixedHandler(opts.handler.slice(6))
            : undefined;
      if (handler === undefined) throw new Error('--handler must be echo or fixed:<hex>');
      const running = await startChannelEngineProcess(
        {
          nodeId: opts.nodeId,
          sip: opts.sip ? { host: opts.sipHost, port: int('sip-port', opts.sipPort) } : undefined,
          tcpPcm: opts.tcp
            ? { host: opts.tcpHost, port: int('tcp-port', opts.tcpPort), pace: opts.tcpPace }
            : undefined,
          defaultProfileId: opts.profile,
          profileDirs: opts.profilesDir,
          handler,
          maxLines: int('max-lines', opts.maxLines),
          handlerTimeoutMs: int('handler-timeout-ms', opts.handlerTimeoutMs),
        },
        log,
      );
      // One JSON line on stdout announces readiness (for scripts and tests).
      process.stdout.write(
        `${JSON.stringify({ ready: true, sipPort: running.sipPort, tcpPcmPort: running.tcpPcmPort })}\n`,
      );
      const every = int('metrics-interval-ms', opts.metricsIntervalMs);
      const ticker =
        every > 0 ? setInterval(() => log.info({ metrics: running.engine.metrics() }, 'metrics'), every) : undefined;
      await new Promise<void>((resolve) => {
        const onSignal = (): void => {
          process.once('SIGINT', () => process.exit(1));
          process.once('SIGTERM', () => process.exit(1));
          resolve();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
      });
      if (ticker !== undefined) clearInterval(ticker);
      log.info({ liveCalls: running.engine.liveCalls().length }, 'draining before exit');
      await running.shutdown(int('drain-timeout-ms', opts.drainTimeoutMs));
      log.info({ metrics: running.engine.metrics() }, 'stopped');
    });
}
