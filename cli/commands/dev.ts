/** `fixpay dev` (= `npm start`): the whole platform on embedded defaults, until Ctrl-C. */
import type { Command } from 'commander';
import { loadConfig, processEnv } from '../../config';

import { createLogger } from '../../infra/logging';
import { join } from 'node:path';
import pino from 'pino';
import { PrismaPsamCounterStore } from '../../activities/psam-counter-store';
import { DEMO } from '../../demo/seed';
import { PrismaLedgerStore } from '../../ledger/store';
import { DEMO_TERMINALS_DEFAULT, addLatency, renderLine, renderTable, startDemo } from '../demo';
import type { DemoSnapshot } from '../demo';
import { startPlatform } from '../platform';
import type { Platform } from '../platform';

/** Where `fixpay dev` lets webhooks go besides public endpoints: loopback. */
export const DEV_WEBHOOK_NETWORKS = '127.0.0.0/8,::1/128';

/** Redraw period of the table on a TTY, and period of the one-line summary otherwise, ms. */
export const DEMO_REDRAW_MS = 1_000;
export const DEMO_SUMMARY_MS = 5_000;
/** How long Ctrl-C lets the demo's calls in progress finish before the platform stops, ms. */
export const DEMO_STOP_GRACE_MS = 2_000;

/** Starts the live demo on a running platform and its summary output; `stop` ends both. */
async function runDemo(
  platform: Platform,
  o: { terminals: number; tty: boolean; host: string },
): Promise<{ stop(): Promise<void> }> {
  const counters = new PrismaPsamCounterStore(platform.prisma);
  const ledger = new PrismaLedgerStore(platform.prisma);
  const demo = await startDemo({
    host: o.host === '0.0.0.0' ? '127.0.0.1' : o.host,
    tcpPcmPort: platform.tcpPcmPort,
    sipPort: platform.sipPort,
    terminals: o.terminals,
    lastPsamCounter: async (serial) => (await counters.get(serial))?.counter,
  });
  let lastWorkflowId: string | undefined;
  const unsubscribe = platform.onAnswered((a) => {
    const stats = demo.stats.find((t) => t.terminalId === a.terminalId);
    if (stats !== undefined) addLatency(stats, a.latencyMs);
    lastWorkflowId = a.workflowId;
  });
  let ledgerBalanced: boolean | undefined;
  let drawnLines = 0;
  let busy = false;
  const tick = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      const totals = await ledger.totals();
      ledgerBalanced = totals.every((t) => t.debitsPosted === t.creditsPosted && t.debitsPending === t.creditsPending);
    } catch {
      // The database is closing (Ctrl-C): keep the last answer.
    }
    busy = false;
    const snapshot: DemoSnapshot = {
      terminals: demo.stats,
      ledgerBalanced,
      temporalUiUrl: platform.temporalUiUrl,
      lastWorkflowId,
    };
    if (o.tty) {
      const table = renderTable(snapshot);
      process.stdout.write(`${drawnLines > 0 ? `\x1b[${drawnLines}F\x1b[J` : '\n'}${table}\n`);
      drawnLines = table.split('\n').length;
    } else process.stdout.write(`${renderLine(snapshot)}\n`);
  };
  const timer = setInterval(() => void tick(), o.tty ? DEMO_REDRAW_MS : DEMO_SUMMARY_MS);
  return {
    async stop() {
      clearInterval(timer);
      unsubscribe();
      await demo.stop(DEMO_STOP_GRACE_MS);
    },
  };
}

export function register(program: Command): void {
  program
    .command('dev')
    .description(
      'run the platform on embedded defaults: Temporal dev server (UI on :8233), PGlite database (or DATABASE_URL) with demo data, bank simulator, worker, access node (TCP PCM :5070, SIP :5060) and API; Ctrl-C stops everything',
    )
    .option('--no-demo', 'do not run the live demo (simulated POS phones looping purchases and balance inquiries)')
    .option(
      '--demo-terminals <n>',
      'how many demo terminals (the last dials over SIP/RTP)',
      String(DEMO_TERMINALS_DEFAULT),
    )
    .action(async (opts: { demo: boolean; demoTerminals: string }) => {
      // One machine, a developer's own: webhooks may go to a receiver on loopback (roles started
      // on their own deliver to public endpoints only unless FIXPAY_WEBHOOK_ALLOWED_NETWORKS says so).
      const config = loadConfig(processEnv(), { api: { webhookAllowedNetworks: DEV_WEBHOOK_NETWORKS } });
      const demoTerminals = Number(opts.demoTerminals);
      if (!Number.isInteger(demoTerminals) || demoTerminals < 1 || demoTerminals > DEMO.terminals.length)
        throw new Error(`--demo-terminals must be 1..${DEMO.terminals.length}`);
      const tty = process.stdout.isTTY;
      // The table is redrawn in place on a TTY: logs go to a file there instead of across it.
      const logFile = opts.demo && tty ? join(config.dataDir, 'fixpay-dev.log') : undefined;
      const log = createLogger('fixpay-dev', {
        level: config.logLevel,
        ...(logFile === undefined
          ? {}
          : { destination: pino.destination({ dest: logFile, mkdir: true, sync: false }) }),
      });
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
        `  Temporal UI   ${
          platform.temporalUiUrl === undefined
            ? '(external server)'
            : `${platform.temporalUiUrl}  (runs decoded through the codec proxy ${platform.uiCodecProxyUrl ?? '-'}; card data masked)`
        }`,
        `  Temporal      ${platform.temporalAddress}`,
        `  Codec         ${platform.codecUrl}  (payloads are encrypted; the endpoint needs the operator token in ${platform.secretsFile})`,
        `  API           ${platform.apiUrl}  (health: ${platform.apiUrl}/health)`,
        `  Metrics       ${platform.metricsUrl ?? '(not served: FIXPAY_METRICS_PORT taken or FIXPAY_METRICS_ENABLED=false)'}`,
        `  SDK metrics   ${platform.sdkMetricsUrl ?? '(not served: FIXPAY_SDK_METRICS_PORT taken or 0, or metrics off)'}`,
        `  Partners      ${platform.apiUrl}/docs (API reference), ${platform.apiUrl}/developers (sandbox page); demo sandbox key ${platform.demoPartnerKey}`,
        `  Database      ${platform.databaseEmbedded ? 'embedded PGlite' : 'PostgreSQL'} ${platform.databaseUrl}`,
        `  Terminals     TCP PCM 127.0.0.1:${platform.tcpPcmPort}, SIP 127.0.0.1:${platform.sipPort}  (try: fixpay sim terminal --init, then --script)`,
        `  Card network  ${platform.bankPort === undefined ? 'external' : `bank simulator on :${platform.bankPort}`}`,
        `  Data folder   ${config.dataDir}`,
        ...(logFile === undefined ? [] : [`  Logs          ${logFile}`]),
        '',
        'Press Ctrl-C to stop.',
        '',
      ];
      process.stdout.write(lines.join('\n'));
      const demo = opts.demo
        ? await runDemo(platform, { terminals: demoTerminals, tty, host: config.access.host })
        : undefined;
      await stopRequested;
      await demo?.stop();
      process.once('SIGINT', () => {
        process.stderr.write('forced exit\n');
        process.exit(130);
      });
      process.stdout.write('\nstopping...\n');
      await platform.stop();
      process.stdout.write('stopped\n');
      // Everything the platform started has stopped; the demo's simulated SIP phones may still be
      // retransmitting a BYE to the closed access node (RFC 3261 timer F, 32 s): do not wait for them.
      if (demo !== undefined) process.exit(0);
    });
}
