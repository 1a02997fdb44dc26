/**
 * Line capacity of the access node (`npm run bench:lines`), loopback only.
 *
 * The whole platform runs as in `bench/e2e.ts` (Temporal dev server, database, HSM, card network
 * gateway, bank simulator, access node with its SIP and TCP PCM drivers, line limit raised), and
 * scripted phones make purchases over TCP PCM (paced, real FSK) through the whole run. Idle load
 * is added in levels:
 * - TCP PCM: lines from `bench/lines-tcp-load.ts` in a child process, mark tone in real time;
 * - SIP/RTP: calls from SIPp (Debian `sip-tester`) streaming a G.711 μ-law mark tone written at
 *   bench time, one SIPp process per level step; `sip` with an RTP socket per call, `sip-shared`
 *   with one RTP socket for all calls (`sharedRtpSocket`). At `--ptime 20` (the default) SIPp
 *   loops the tone with `rtp_stream` (fixed 20 ms packets); at any other ptime (or with `--pcap`)
 *   it replays, per call, a pcap the bench writes (Ethernet/IPv4/UDP/RTP packets of the tone,
 *   `ptime` ms each, spaced `ptime` ms apart, long enough for the whole transport) with
 *   `play_pcap_audio`. The load driver answers with the same `a=ptime`.
 * Each transport's load reaches the node's engine through a driver of its own (started for that
 * phase and stopped after it, which hangs its calls up); the phones use the node's drivers.
 * Per level: lines held, access-node process CPU per line (CPU time above the level-0 baseline of
 * the same run / lines / s), RSS per line, packets or frames per second, lost and late audio,
 * event-loop delay p99 and utilisation, purchases approved and host latency p99 — beside the
 * same-run DSP-only cost (the same audio through the demodulator, no I/O), so the I/O share is
 * visible. A transport stops at the first limit: admission (lines not all answered), main thread
 * saturated (process CPU ≥ 0.9 core), late audio (under 90 % of the frames due arrived, or RTP
 * lost in the jitter buffer), purchases failing (any declined or failed in the level's window),
 * host latency p99 over `--p99-limit-ms` (default 250), or the time budget. Each transport ends
 * with the lines it held with purchases still approved. Event-loop utilisation and delay are printed but
 * not used as limits: on a shared machine they mostly show the process waiting for a core. Timings are noisy on a shared machine: compare within a run.
 *
 * Options: --levels 256,512,1024,2048,4096  --transports tcp,sip,sip-shared  --level-s 10  --budget-s 600
 * --ptime 20 (SIP/RTP packetisation, ms: 10, 20, 30, 40, 60; a list such as 20,60,20,60 runs each SIP
 * transport once per entry in the same run)  --pcap (play_pcap_audio at 20 ms too)
 * --tcp-frame-ms 20 (TCP PCM AUDIO message length, ms, 10-250 in 10s; a list runs each TCP transport once per entry)
 * --setup-rate 200 (SIP calls/s)  --phones 2  --max-lines 20000  --p99-limit-ms 250  --no-platform (echo handler,
 * no phones: for profiling the line path alone, e.g. with --cpu-prof).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { mulawDecode, mulawEncode } from '../channel-engine/audio/g711';
import { ChannelEngine } from '../channel-engine/engine';
import type { RequestHandler } from '../channel-engine/engine';
import { checkSipPtime, SipLineDriver } from '../channel-engine/lines/sip/uas';
import { TcpPcmLineDriver } from '../channel-engine/lines/tcp-pcm';
import { FRAME_SAMPLES, SAMPLE_RATE_HZ } from '../channel-engine/lines/types';
import { createDemodulator, sineAmplitude } from '../channel-engine/modem';
import { BUILTIN_PROFILES_DIR, loadProfiles, requireProfile } from '../channel-engine/profiles';
import { summarizeTerminalRequest } from '../terminal-protocol/messages';
import { MemoryStateStore } from '../simulator/terminal/config';
import type { TerminalConfig } from '../simulator/terminal/config';
import { runTerminalScript } from '../simulator/terminal/script';
import type { ScriptStep } from '../simulator/terminal/script';
import { quietTemporalRuntime } from '../test/support/temporal';
import { startE2e } from '../test/e2e/harness';
import { g711Packets, rtpPcap } from '../test/support/rtp-pcap';

const PROFILE_ID = 'es201912-v23';
const MARK_HZ = 1300;
const LEVEL_DBM0 = -10;
/** Purchases per phone call before it hangs up and dials again. */
const PURCHASES_PER_CALL = 1;
const AMOUNT_MINOR = 100;
/** Demo terminals the phones use (merchant terminals on the V.23 profile). */
const PHONE_TERMINALS = [0, 2, 3];
/** Limits that end a transport's ramp. */
/** One core's worth of process CPU time per second (the main thread cannot use more). */
const CPU_SATURATED_MS_PER_S = 900;
/** Share of the line seconds of audio due that must arrive. */
const DELIVERED_MIN = 0.9;
const LOST_SHARE_MAX = 0.001;
/** How long a level may take to set its lines up before admission is declared the limit. */
const SETUP_SLACK_S = 20;
const SETTLE_MS = 2000;
const DSP_LINES = 64;
const DSP_SECONDS = 5;
/** Load lines dial this number; it selects a copy of the V.23 profile whose session timers let an idle line stay up. */
const LOAD_CALLED_NUMBER = '95199';
const LOAD_PROFILE_ID = 'bench-idle-line';

/** The V.23 profile with the longest handshake and idle timers the schema allows. */
function writeLoadProfile(dir: string): void {
  const text = readFileSync(join(BUILTIN_PROFILES_DIR, `${PROFILE_ID}.yaml`), 'utf8')
    .replace(/^id: .*$/m, `id: ${LOAD_PROFILE_ID}`)
    .replace(/handshakeTimeoutMs: \d+/, 'handshakeTimeoutMs: 60000')
    .replace(/handshakeRetries: \d+/, 'handshakeRetries: 10')
    .replace(/idleTimeoutMs: \d+/, 'idleTimeoutMs: 600000');
  writeFileSync(join(dir, `${LOAD_PROFILE_ID}.yaml`), text);
}

/** `sip`: an RTP socket per call; `sip-shared`: one RTP socket for all calls (`sharedRtpSocket`). */
type Transport = 'tcp' | 'sip' | 'sip-shared' | 'base-tcp' | 'base-sip';
const TRANSPORTS: readonly Transport[] = ['tcp', 'sip', 'sip-shared', 'base-tcp', 'base-sip'];

interface Args {
  levels: number[];
  transports: Transport[];
  levelS: number;
  budgetS: number;
  setupRate: number;
  phones: number;
  maxLines: number;
  /** A level whose purchases' host latency p99 exceeds this is the limit (purchases no longer served well). */
  p99LimitMs: number;
  platform: boolean;
  /** A checkout of an earlier revision: the base-* transports use its line drivers (same-run before/after). */
  base: string | undefined;
  /**
   * SIP/RTP packetisations (ms) SIPp sends and the load driver's answer asks for: each SIP
   * transport runs once per entry, in this order, in the same run (`20,60,20,60` alternates).
   */
  ptimes: number[];
  /** SIPp replays a pcap (`play_pcap_audio`) even at 20 ms, instead of `rtp_stream`. */
  pcap: boolean;
  /**
   * Lengths (ms) of the TCP PCM generator's AUDIO messages: each TCP transport runs once per
   * entry, in this order (a peer may send up to 250 ms per message; the cost is mostly per message).
   */
  tcpFrames: number[];
}

function parseArgs(argv: readonly string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i < 0 ? undefined : argv[i + 1];
  };
  const int = (name: string, dflt: number): number => {
    const v = get(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} needs a non-negative integer`);
    return n;
  };
  const levels = (get('--levels') ?? '256,512,1024,2048,4096').split(',').map(Number);
  if (levels.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--levels: positive integers');
  const transports = (get('--transports') ?? TRANSPORTS.join(',')).split(',');
  const isTransport = (t: string): t is Transport => (TRANSPORTS as readonly string[]).includes(t);
  if (!transports.every(isTransport)) throw new Error(`--transports: some of ${TRANSPORTS.join(',')}`);
  return {
    levels: levels.sort((a, b) => a - b),
    transports: transports.filter(isTransport),
    levelS: int('--level-s', 10),
    budgetS: int('--budget-s', 600),
    setupRate: int('--setup-rate', 200),
    phones: Math.min(int('--phones', 1), PHONE_TERMINALS.length),
    maxLines: int('--max-lines', 20000),
    p99LimitMs: int('--p99-limit-ms', 250),
    platform: !argv.includes('--no-platform'),
    base: get('--base'),
    ptimes: (get('--ptime') ?? '20').split(',').map((v) => checkSipPtime(Number(v))),
    pcap: argv.includes('--pcap'),
    tcpFrames: (get('--tcp-frame-ms') ?? '20').split(',').map((v) => {
      const ms = Number(v);
      if (!Number.isInteger(ms / 10) || ms < 10 || ms > 250)
        throw new Error('--tcp-frame-ms: multiples of 10 from 10 to 250');
      return ms;
    }),
  };
}

/** One second of mark tone: a whole number of cycles, so it loops seamlessly. */
function markTone(): Int16Array {
  const amplitude = sineAmplitude(LEVEL_DBM0);
  const out = new Int16Array(SAMPLE_RATE_HZ);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * MARK_HZ * i) / SAMPLE_RATE_HZ));
  return out;
}

/**
 * CPU ms the demodulator alone spends per line per second of the same audio (20 ms pushes), with
 * the steady-mark gate (as the node runs) or without it (the figure before the gate).
 */
function dspOnlyMsPerLineS(tone: Int16Array, steadyGate = true): number {
  const profile = requireProfile(loadProfiles(), PROFILE_ID);
  const opts = {
    modulation: profile.modem.modulation,
    levelDbm0: profile.modem.levelDbm0,
    leadInMarkBits: profile.modem.leadInMarkBits,
    trailMarkBits: profile.modem.trailMarkBits,
    steadyGate,
  };
  const demods = Array.from({ length: DSP_LINES }, () => createDemodulator(opts));
  const frames = Array.from({ length: tone.length / FRAME_SAMPLES }, (_, f) =>
    tone.slice(f * FRAME_SAMPLES, (f + 1) * FRAME_SAMPLES),
  );
  const run = (seconds: number): void => {
    for (let s = 0; s < seconds; s++) for (const frame of frames) for (const d of demods) d.push(frame);
  };
  run(1); // warm-up
  const c0 = process.cpuUsage();
  run(DSP_SECONDS);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / DSP_LINES / DSP_SECONDS;
}

/**
 * The idle caller. `media.pcap` undefined: `rtp_stream` loops the raw μ-law file in 20 ms packets;
 * otherwise `play_pcap_audio` replays the pcap, from `[auto_media_port]` (a port per call, so
 * every call's packets come from the address:port its SDP names).
 */
function sippScenario(media: { audioFile: string; pcap: string | undefined; ptimeMs: number }): string {
  const port = media.pcap === undefined ? '[rtpstream_audio_port]' : '[auto_media_port]';
  const play =
    media.pcap === undefined
      ? `<exec rtp_stream="${media.audioFile},-1,0" />`
      : `<exec play_pcap_audio="${media.pcap}" />`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="fixpay idle line">
  <send retrans="500"><![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "POS" <sip:0578[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio ${port} RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=ptime:${media.ptimeMs}

    ]]></send>
  <recv response="100" optional="true"></recv>
  <recv response="180" optional="true"></recv>
  <recv response="200" rtd="true" rrs="true"></recv>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "POS" <sip:0578[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <nop><action>${play}</action></nop>
  <recv request="BYE"></recv>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
</scenario>
`;
}

interface Window {
  purchases: number;
  approved: number;
  latenciesMs: number[];
}

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const deadline = performance.now() + args.budgetS * 1000;
  const sippAvailable = spawnSync('sipp', ['-v'], { encoding: 'utf8' }).error === undefined;
  if (!sippAvailable) {
    console.warn('sipp not found (apt-get install -y sip-tester): SIP/RTP levels skipped');
    args.transports = args.transports.filter((t) => t === 'tcp');
  }
  quietTemporalRuntime();
  const tone = markTone();
  const dir = mkdtempSync(join(tmpdir(), 'fixpay-bench-lines-'));
  const audioFile = join(dir, 'mark.ulaw');
  writeFileSync(audioFile, mulawEncode(tone));
  // The pcap covers the longest a transport's first calls can live: every level's setup, slack,
  // settling and window, within the budget.
  const scenarios = new Map<number, string>();
  for (const ptimeMs of new Set(args.ptimes)) {
    const usePcap = args.pcap || ptimeMs !== 20;
    let pcapFile: string | undefined;
    if (usePcap) {
      const levelsS = args.levels.reduce(
        (s, level, i) =>
          s + (level - (args.levels[i - 1] ?? 0)) / args.setupRate + SETUP_SLACK_S + SETTLE_MS / 1000 + args.levelS,
        0,
      );
      pcapFile = join(dir, `mark-${ptimeMs}ms.pcap`);
      // SIPp replays the capture's UDP payloads to each call's peer, at the pace of its timestamps.
      const seconds = Math.min(args.budgetS, Math.ceil(levelsS)) + 30;
      writeFileSync(pcapFile, rtpPcap(g711Packets(mulawEncode(tone), ptimeMs, { seconds })));
    }
    const scenario = join(dir, `idle-line-${ptimeMs}ms.xml`);
    writeFileSync(scenario, sippScenario({ audioFile, pcap: pcapFile, ptimeMs }));
    scenarios.set(ptimeMs, scenario);
    console.log(
      `SIP/RTP at ${ptimeMs} ms: ${ptimeMs} ms packets (${usePcap ? 'SIPp play_pcap_audio' : 'SIPp rtp_stream'}), the load driver answers a=ptime:${ptimeMs}`,
    );
  }
  const profileDir = join(dir, 'profiles');
  mkdirSync(profileDir);
  writeLoadProfile(profileDir);

  // The lines deliver the tone as the node decodes it: G.711 μ-law over SIP/RTP, linear over TCP PCM.
  const heard = mulawDecode(mulawEncode(tone));
  const dspMs = dspOnlyMsPerLineS(heard);
  const dspNoGateMs = dspOnlyMsPerLineS(heard, false);
  console.log(
    `DSP only (demodulator, same μ-law mark tone, no I/O): ${(dspMs * 1000).toFixed(1)} µs CPU per line per second  → ${Math.floor(1000 / dspMs)} lines/core` +
      `  (without the steady-mark gate ${(dspNoGateMs * 1000).toFixed(1)} µs → ${Math.floor(1000 / dspNoGateMs)}; ratio ${(dspNoGateMs / dspMs).toFixed(2)}×)`,
  );

  // Host latency and outcomes of the phones' purchases, per measuring window.
  let window: Window = { purchases: 0, approved: 0, latenciesMs: [] };
  const timedHandler =
    (h: RequestHandler): RequestHandler =>
    async (req) => {
      const started = performance.now();
      const answer = await h(req);
      if (summarizeTerminalRequest(req.payload).serviceId === 'purchase')
        window.latenciesMs.push(performance.now() - started);
      return answer;
    };
  const lines = {
    maxLines: args.maxLines,
    profileDirs: [profileDir],
    profileByCalledNumber: { [LOAD_CALLED_NUMBER]: LOAD_PROFILE_ID },
  };
  let engine: ChannelEngine;
  let stopPlatform: () => Promise<void>;
  let phoneConfigs: TerminalConfig[] = [];
  const platformStarted = performance.now();
  if (args.platform) {
    const e2e = await startE2e({ wrapHandler: timedHandler, lines });
    engine = e2e.engine;
    console.log(`platform up in ${((performance.now() - platformStarted) / 1000).toFixed(0)} s`);
    stopPlatform = () => e2e.stop();
    // A run cut short (Ctrl-C, a timeout) still stops the platform: the Temporal dev server is a child.
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => {
        void e2e.stop().finally(() => process.exit(130));
      });
    phoneConfigs = PHONE_TERMINALS.slice(0, args.phones).map((i) => {
      const c = e2e.terminal({ demoTerminal: i });
      return { ...c, line: { ...c.line, pace: true } };
    });
  } else {
    engine = new ChannelEngine({
      profiles: loadProfiles([BUILTIN_PROFILES_DIR, profileDir]),
      profileByCalledNumber: lines.profileByCalledNumber,
      defaultProfileId: PROFILE_ID,
      handler: timedHandler((req) => Promise.resolve(req.payload)),
      nodeId: 'bench-lines',
      maxLines: args.maxLines,
    });
    await engine.start();
    stopPlatform = () => engine.stop();
  }

  // The phones: each dials, signs on, buys PURCHASES_PER_CALL times, hangs up, again, until stopped.
  let phonesStop = false;
  const phoneErrors: string[] = [];
  const phones = phoneConfigs.map(async (config, i) => {
    const state = new MemoryStateStore({ stan: 1 + i * 100_000, batch: '000001', psamCounter: 1 + i * 100_000 });
    const steps: ScriptStep[] = [
      { step: 'sign-on' },
      ...Array.from({ length: PURCHASES_PER_CALL }, (): ScriptStep => ({
        step: 'purchase',
        amountMinor: AMOUNT_MINOR,
      })),
      { step: 'hang-up' },
    ];
    while (!phonesStop) {
      try {
        const r = await runTerminalScript({ config, stateStore: state }, steps);
        for (const t of r.transactions)
          if (t.kind === 'purchase') {
            window.purchases++;
            if (t.outcome === 'approved') window.approved++;
          }
      } catch (e) {
        const text = e instanceof Error ? e.message : String(e);
        if (phoneErrors.length === 0) console.error(`phone ${i}: ${text}`);
        phoneErrors.push(text);
        await sleep(1000);
      }
    }
  });

  const children = new Set<ChildProcess>();
  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.on('exit', killAll);

  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  // The load of each transport goes to a driver of its own, attached to the access node's engine
  // for that phase (the node's own drivers keep serving the phones), so its counters are its own.
  type Drivers = { SipLineDriver: typeof SipLineDriver; TcpPcmLineDriver: typeof TcpPcmLineDriver };
  const current: Drivers = { SipLineDriver, TcpPcmLineDriver };
  let baseDrivers: Drivers | undefined;
  if (args.base !== undefined) {
    const sipModule = (await import(join(args.base, 'channel-engine/lines/sip/uas.ts'))) as Pick<
      Drivers,
      'SipLineDriver'
    >;
    const tcpModule = (await import(join(args.base, 'channel-engine/lines/tcp-pcm.ts'))) as Pick<
      Drivers,
      'TcpPcmLineDriver'
    >;
    baseDrivers = { SipLineDriver: sipModule.SipLineDriver, TcpPcmLineDriver: tcpModule.TcpPcmLineDriver };
  } else if (args.transports.some((t) => t.startsWith('base-')))
    throw new Error('base-* transports need --base <checkout>');
  /** AUDIO frames the TCP load generator has written (TCP loses none: they all reach the node). */
  let tcpSent = 0;
  let loadDriver:
    | {
        metrics(): Record<string, number>;
        start(host: ChannelEngine): Promise<void>;
        stop(): Promise<void>;
        readonly port: number;
      }
    | undefined;
  const driverCount = (key: string): number => loadDriver?.metrics()[key] ?? 0;
  /** The ptime of the SIP phase under way. */
  let ptimeNow = 20;
  /** Lines the load holds (the phones' lines are on the node's own drivers). */
  const loadLineCount = (): number => driverCount('tcpActive') + driverCount('sipDialogs');

  /** Measures one window with `held` load lines. */
  async function measure(): Promise<{
    cpuMsPerS: number;
    rssMb: number;
    seconds: number;
    elu: number;
    delayP99Ms: number;
    lines: number;
    sipPackets: number;
    /** RTP packets the node sent per second (its own audio towards the callers). */
    sipPacketsOut: number;
    /** Line seconds of audio per second that arrived over RTP (payload ms received / 1000). */
    sipLineS: number;
    tcpFrames: number;
    lost: number;
    late: number;
    w: Window;
  }> {
    window = { purchases: 0, approved: 0, latenciesMs: [] };
    const m0 = {
      pk: driverCount('rtpPacketsIn'),
      audioMs: driverCount('rtpAudioMsIn'),
      out: driverCount('rtpPacketsOut'),
      fr: tcpSent,
      lost: driverCount('rtpLost'),
      late: driverCount('rtpLate'),
    };
    const c0 = process.cpuUsage();
    const e0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    delay.reset();
    await sleep(args.levelS * 1000);
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const elu = performance.eventLoopUtilization(e0).utilization;
    return {
      cpuMsPerS: (c.user + c.system) / 1000 / seconds,
      rssMb: process.memoryUsage.rss() / 2 ** 20,
      seconds,
      elu,
      delayP99Ms: delay.percentile(99) / 1e6,
      lines: loadLineCount(),
      sipPackets: (driverCount('rtpPacketsIn') - m0.pk) / seconds,
      sipPacketsOut: (driverCount('rtpPacketsOut') - m0.out) / seconds,
      // A driver without the audio counter (an earlier revision's, --base): packets × ptime.
      sipLineS:
        driverCount('rtpAudioMsIn') > 0
          ? (driverCount('rtpAudioMsIn') - m0.audioMs) / 1000 / seconds
          : ((driverCount('rtpPacketsIn') - m0.pk) * ptimeNow) / 1000 / seconds,
      tcpFrames: (tcpSent - m0.fr) / seconds,
      lost: driverCount('rtpLost') - m0.lost,
      late: driverCount('rtpLate') - m0.late,
      w: window,
    };
  }

  const fmtHost = (w: Window): string =>
    `purchases ${w.approved}/${w.purchases} approved, host p99 ${percentile(w.latenciesMs, 99).toFixed(0)} ms`;

  const results: string[] = [];
  try {
    await sleep(SETTLE_MS);
    const base = await measure();
    const phoneLines = engine.metrics().linesActive;
    const baseLine = `level 0 (phones only, ${phoneLines} lines): CPU ${base.cpuMsPerS.toFixed(0)} ms/s, RSS ${base.rssMb.toFixed(0)} MB, ELU ${base.elu.toFixed(2)}, delay p99 ${base.delayP99Ms.toFixed(1)} ms, ${fmtHost(base.w)}`;
    console.log(baseLine);
    results.push(baseLine);
    const baseP99 = percentile(base.w.latenciesMs, 99);
    if (baseP99 > args.p99LimitMs)
      console.log(
        `warning: host p99 with no idle lines (${baseP99.toFixed(0)} ms) is already over --p99-limit-ms ${args.p99LimitMs}: the machine is too busy for this limit (raise it to compare levels)`,
      );

    // Each SIP transport once per ptime asked for, each TCP PCM transport once per frame length;
    // `ptimeMs` is the audio per packet or message either way.
    const phases = args.transports.flatMap((t): { transport: Transport; ptimeMs: number }[] =>
      (t === 'tcp' || t === 'base-tcp' ? args.tcpFrames : args.ptimes).map((ptimeMs) => ({ transport: t, ptimeMs })),
    );
    for (const { transport, ptimeMs } of phases) {
      ptimeNow = ptimeMs;
      const label = `${transport}@${ptimeMs}ms`;
      let held = 0;
      /** Lines of the highest level whose purchases were all approved within the p99 limit. */
      let heldApproved = 0;
      let tcpLoad: ChildProcess | undefined;
      let tcpStatus = { held: 0, refused: 0, late: 0, sent: 0 };
      const drivers = (transport.startsWith('base-') ? baseDrivers : current) ?? current;
      const isTcp = transport === 'tcp' || transport === 'base-tcp';
      const sipps: ChildProcess[] = [];
      let limit = 'levels exhausted';
      try {
        if (isTcp)
          loadDriver = new drivers.TcpPcmLineDriver({
            port: 0,
            pace: false,
            maxCalls: args.maxLines,
            maxPendingConnections: 256,
          });
        else
          loadDriver = new drivers.SipLineDriver({
            port: 0,
            host: '127.0.0.1',
            maxCalls: args.maxLines,
            trunkSources: ['127.0.0.0/8'],
            sharedRtpSocket: transport === 'sip-shared',
            ptimeMs,
          });
        await loadDriver.start(engine);
        const loadPort = loadDriver.port;
        if (isTcp) {
          const child = spawn(
            process.execPath,
            [
              require.resolve('tsx/cli'),
              join(__dirname, 'lines-tcp-load.ts'),
              String(loadPort),
              '127.0.0.1',
              LOAD_CALLED_NUMBER,
              String(ptimeMs),
            ],
            {
              stdio: ['pipe', 'pipe', 'inherit'],
            },
          );
          children.add(child);
          tcpLoad = child;
          createInterface({ input: child.stdout }).on('line', (text) => {
            const m = /^held (\d+) refused (\d+) late (\d+) sent (\d+)$/.exec(text);
            if (m !== null)
              tcpStatus = { held: Number(m[1]), refused: Number(m[2]), late: Number(m[3]), sent: Number(m[4]) };
            tcpSent = tcpStatus.sent;
          });
        }
        for (const level of args.levels) {
          if (performance.now() + (args.levelS + SETUP_SLACK_S) * 1000 > deadline) {
            limit = 'time budget';
            break;
          }
          const add = level - held;
          if (isTcp) tcpLoad?.stdin?.write(`add ${add}\n`);
          else {
            const sipp = spawn(
              'sipp',
              [
                `127.0.0.1:${loadPort}`,
                '-sf',
                scenarios.get(ptimeMs) ?? '',
                '-s',
                LOAD_CALLED_NUMBER,
                '-i',
                '127.0.0.1',
                '-mi',
                '127.0.0.1',
                // play_pcap_audio: calls' media ports from here, 4 apart ([auto_media_port]).
                '-mp',
                String(20000 + Math.floor(Math.random() * 10000) * 2),
                '-p',
                '0',
                '-cp',
                String(20000 + Math.floor(Math.random() * 20000)),
                '-m',
                String(add),
                '-l',
                String(add),
                '-r',
                String(args.setupRate),
                '-rtp_threadtasks',
                '64',
                '-nostdin',
              ],
              { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] },
            );
            children.add(sipp);
            sipps.push(sipp);
          }
          const target = level;
          const setupDeadline = performance.now() + (add / args.setupRate + SETUP_SLACK_S) * 1000;
          while (loadLineCount() < target && performance.now() < setupDeadline) await sleep(250);
          held = level;
          await sleep(SETTLE_MS);
          const r = await measure();
          const loadLines = r.lines;
          // CPU per line-second of audio actually handled: on a shared machine the process may not get
          // the core it needs, so the CPU is divided by the audio that arrived, not by the lines held.
          // TCP PCM frames are `ptimeMs` long; RTP is counted in the audio its payloads carried.
          const lineSPerS = !isTcp ? r.sipLineS : (r.tcpFrames * ptimeMs) / 1000;
          const perLine = (r.cpuMsPerS - base.cpuMsPerS) / Math.max(0.02, lineSPerS);
          const packets = !isTcp
            ? `${r.sipPackets.toFixed(0)} RTP packets/s in (${r.sipPackets > 0 ? ((r.sipLineS * 1000) / r.sipPackets).toFixed(1) : '-'} ms each), ${r.sipPacketsOut.toFixed(0)} out`
            : `${r.tcpFrames.toFixed(0)} AUDIO frames/s`;
          const lossText = !isTcp ? `lost ${r.lost} late ${r.late} packets` : `generator late frames ${tcpStatus.late}`;
          const io = perLine - dspMs;
          const p99 = percentile(r.w.latenciesMs, 99);
          const purchasesOk = r.w.purchases > 0 && r.w.approved === r.w.purchases && p99 <= args.p99LimitMs;
          if (purchasesOk) heldApproved = loadLines;
          const text =
            `${label} level ${level}: held ${loadLines} lines  CPU ${r.cpuMsPerS.toFixed(0)} ms/s  ` +
            (perLine > 0
              ? `per line ${(perLine * 1000).toFixed(0)} µs/s (I/O ${(io * 1000).toFixed(0)} + DSP ${(dspMs * 1000).toFixed(0)}, I/O share ${(io / perLine).toFixed(2)})  → ${Math.floor(1000 / perLine)} lines/core  `
              : `per line: below the level-0 baseline's noise (DSP alone ${(dspMs * 1000).toFixed(0)} µs/s)  `) +
            `RSS ${(((r.rssMb - base.rssMb) * 1024) / Math.max(1, loadLines)).toFixed(1)} KB/line  ` +
            `${packets}  ${lossText}  load ${loadavg()[0]?.toFixed(1)}  ELU ${r.elu.toFixed(2)} delay p99 ${r.delayP99Ms.toFixed(1)} ms  ${fmtHost(r.w)}  ` +
            `purchases ${purchasesOk ? 'ok' : r.w.purchases === 0 ? 'NONE' : r.w.approved < r.w.purchases ? 'FAILING' : 'SLOW'}`;
          console.log(text);
          results.push(text);
          if (loadLines < level) {
            limit = `admission/setup: ${loadLines} of ${level} lines answered (tcp refused ${tcpStatus.refused}, sip refused ${driverCount('callsRefused')})`;
            break;
          }
          if (r.cpuMsPerS >= CPU_SATURATED_MS_PER_S) {
            limit = `CPU saturated (${r.cpuMsPerS.toFixed(0)} ms/s)`;
            break;
          }
          const delivered = lineSPerS / loadLines;
          if (delivered < DELIVERED_MIN) {
            limit = `late audio (${(delivered * 100).toFixed(1)} % of the frames due arrived in time)`;
            break;
          }
          if (!isTcp && r.lost > LOST_SHARE_MAX * r.sipPackets * r.seconds) {
            limit = `lost audio (${r.lost} packets)`;
            break;
          }
          if (r.w.approved < r.w.purchases) {
            limit = `purchases failing (${r.w.approved}/${r.w.purchases} approved)`;
            break;
          }
          if (p99 > args.p99LimitMs) {
            limit = `host p99 ${p99.toFixed(0)} ms over the ${args.p99LimitMs} ms limit`;
            break;
          }
        }
      } finally {
        tcpLoad?.kill('SIGKILL');
        for (const s of sipps) s.kill('SIGKILL');
        // Hangs up what is left of the load (one BYE each, not retransmitted) and frees the port.
        await loadDriver?.stop();
        loadDriver = undefined;
      }
      const text = `${label}: first limit: ${limit}; lines held with purchases still approved (host p99 ≤ ${args.p99LimitMs} ms): ${heldApproved}`;
      console.log(text);
      results.push(text);
      // The load driver stopped: its calls are over; wait until the engine has let them go.
      const drainDeadline = performance.now() + 30_000;
      while (engine.metrics().linesActive > args.phones && performance.now() < drainDeadline) await sleep(250);
    }
    if (phoneErrors.length > 0) console.log(`phone errors: ${phoneErrors.length} (first: ${phoneErrors[0]})`);
  } finally {
    phonesStop = true;
    killAll();
    await Promise.race([Promise.all(phones), sleep(30_000)]);
    await stopPlatform();
    rmSync(dir, { recursive: true, force: true });
    delay.disable();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
