/**
 * End-to-end purchase benchmark (`npm run bench:e2e [-- <purchases>]`) on the embedded engines:
 * the terminal simulator dials over TCP PCM (audio unpaced, so the modem runs as fast as the CPU
 * allows) and makes sequential purchases on one call through the whole platform (Temporal dev
 * server, database, HSM, card network gateway, bank simulator). Figures, each beside a baseline
 * from the same run:
 * - purchases per second, against the same script answered by the in-process fake issuer
 *   (simulator/terminal/__fixtures__) behind an identical channel engine;
 * - host latency p50/p99 (the engine hands over the decoded request → the answer is returned for
 *   framing), against the fake issuer's;
 * - line time of one purchase, against its physical minimum at 1200 bit/s: every burst's lead-in
 *   and trailing mark bits plus 10 bits per byte (start, 8 data, stop), and the profile's turnaround
 *   between the four bursts (request, ACK, response, ACK).
 */
import { ChannelEngine } from '../channel-engine/engine';
import type { RequestHandler } from '../channel-engine/engine';
import { TcpPcmLineDriver } from '../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../channel-engine/profiles';
import { summarizeTerminalRequest } from '../activities/terminal-messages';
import { FakeIssuer } from '../simulator/terminal/__fixtures__/fake-issuer';
import { EXAMPLE_CONFIG, MemoryStateStore, parseTerminalConfig } from '../simulator/terminal/config';
import type { TerminalConfig } from '../simulator/terminal/config';
import { runTerminalScript } from '../simulator/terminal/script';
import type { ScriptStep } from '../simulator/terminal/script';
import { quietTemporalRuntime } from '../test/support/temporal';
import { startE2e } from '../test/e2e/harness';

const PURCHASES_DEFAULT = 20;
const AMOUNT_MINOR = 100;
const PROFILE_ID = 'es201912-v23';
/** Link frame overhead per DATA/ACK frame of the profile: type, length, check. */
const FRAME_OVERHEAD_BYTES = 3;
const BITS_PER_BYTE = 10;
const BIT_RATE = 1200;

interface Timed {
  readonly latenciesMs: number[];
  answerBytes: number;
  wrap: (h: RequestHandler) => RequestHandler;
}

function timed(): Timed {
  const t: Timed = {
    latenciesMs: [],
    answerBytes: 0,
    wrap: (h) => async (req) => {
      const started = performance.now();
      const answer = await h(req);
      if (summarizeTerminalRequest(req.payload).serviceId === 'purchase') {
        t.latenciesMs.push(performance.now() - started);
        t.answerBytes = answer.length;
      }
      return answer;
    },
  };
  return t;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function runScript(config: TerminalConfig, purchases: number, stan: number) {
  const steps: ScriptStep[] = [
    { step: 'sign-on' },
    ...Array.from({ length: purchases }, (): ScriptStep => ({ step: 'purchase', amountMinor: AMOUNT_MINOR })),
    { step: 'hang-up' },
  ];
  const state = new MemoryStateStore({ stan, batch: '000001', psamCounter: stan });
  const started = performance.now();
  const r = await runTerminalScript({ config, stateStore: state }, steps);
  const seconds = (performance.now() - started) / 1000;
  const bought = r.transactions.filter((x) => x.kind === 'purchase');
  if (bought.some((x) => x.outcome !== 'approved')) throw new Error('a purchase was not approved');
  return { seconds, bought };
}

async function main(): Promise<void> {
  const purchases = Number(process.argv[2] ?? PURCHASES_DEFAULT);
  quietTemporalRuntime();
  const profile = loadProfiles().get(PROFILE_ID);
  if (profile === undefined) throw new Error(`no profile ${PROFILE_ID}`);

  // Baseline: the fake issuer behind the same engine and line.
  const issuer = new FakeIssuer();
  await issuer.ready;
  const base = timed();
  const tcp = new TcpPcmLineDriver({ port: 0, pace: false });
  const engine = new ChannelEngine({
    profiles: loadProfiles(),
    defaultProfileId: PROFILE_ID,
    handler: base.wrap(issuer.handler),
    nodeId: 'bench',
  }).addDriver(tcp);
  await engine.start();
  const baseConfig = parseTerminalConfig(
    { ...EXAMPLE_CONFIG, line: { ...EXAMPLE_CONFIG.line, port: tcp.port, pace: false } },
    '/tmp',
  );
  const baseline = await runScript(baseConfig, purchases, 1);
  await engine.stop();

  const platform = timed();
  const e2e = await startE2e({ wrapHandler: (h) => platform.wrap(h) });
  let full;
  try {
    // Warm-up: the first run of each activity and workflow task is slower.
    await runScript(e2e.terminal(), 2, 10_000);
    full = await runScript(e2e.terminal(), purchases, 20_000);
  } finally {
    await e2e.stop();
  }
  const platformLatencies = platform.latenciesMs.slice(2);

  const rate = purchases / full.seconds;
  const baseRate = purchases / baseline.seconds;
  console.log(
    `purchases/s (one line, sequential, TCP PCM unpaced, n=${purchases}): ${rate.toFixed(2)}  baseline fake issuer ${baseRate.toFixed(2)}  ratio ${(rate / baseRate).toFixed(2)}`,
  );
  const p50 = percentile(platformLatencies, 50);
  const p99 = percentile(platformLatencies, 99);
  const b50 = percentile(base.latenciesMs, 50);
  const b99 = percentile(base.latenciesMs, 99);
  console.log(
    `host latency p50 ${p50.toFixed(1)} ms p99 ${p99.toFixed(1)} ms  baseline fake issuer p50 ${b50.toFixed(1)} ms p99 ${b99.toFixed(1)} ms  ratio p50 ${(p50 / b50).toFixed(1)}`,
  );
  const one = full.bought[full.bought.length - 1];
  const requestBytes = one?.requestBytes ?? 0;
  const burstBits = (payload: number): number =>
    profile.modem.leadInMarkBits + (payload + FRAME_OVERHEAD_BYTES) * BITS_PER_BYTE + profile.modem.trailMarkBits;
  const bits = burstBits(requestBytes) + burstBits(0) + burstBits(platform.answerBytes) + burstBits(0);
  const minimumMs = (bits / BIT_RATE) * 1000 + 3 * profile.timers.turnaroundMs;
  const lineMs = one?.lineTimeMs ?? Number.NaN;
  console.log(
    `line time of one purchase (${requestBytes} B request, ${platform.answerBytes} B answer): ${lineMs} ms  physical minimum ${minimumMs.toFixed(0)} ms  ratio ${(lineMs / minimumMs).toFixed(2)}  (fake issuer line time ${baseline.bought[0]?.lineTimeMs ?? '?'} ms)`,
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
