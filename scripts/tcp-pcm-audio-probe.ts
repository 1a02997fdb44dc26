/**
 * What audio a TCP PCM client receives from an access node when it says nothing: the engine sends
 * AUDIO only around its own bursts (here the EST handshake), not a continuous stream
 * (docs/protocols/tcp-pcm.md). Starts a channel engine on a free port, dials it, listens for
 * `seconds` (default 9), prints each run of audio and the total, and stops.
 *
 *   npx tsx scripts/tcp-pcm-audio-probe.ts [seconds]
 */
import { ChannelEngine } from '../channel-engine/engine';
import { TcpPcmClient, TcpPcmLineDriver } from '../channel-engine/lines/tcp-pcm';
import { loadProfiles } from '../channel-engine/profiles';

/** Audio messages less than this apart belong to one run. */
const RUN_GAP_MS = 100;
const SAMPLES_PER_MS = 8;

interface Run {
  readonly startMs: number;
  endMs: number;
  messages: number;
  samples: number;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? '9');
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 120) throw new RangeError('seconds: 1..120');
  const driver = new TcpPcmLineDriver({ port: 0 });
  const engine = new ChannelEngine({
    profiles: loadProfiles(),
    defaultProfileId: 'es201912-v23',
    handler: () => Promise.resolve(new Uint8Array(0)),
  }).addDriver(driver);
  await engine.start();
  const client = new TcpPcmClient();
  const started = performance.now();
  const runs: Run[] = [];
  client.onAudio = (pcm) => {
    const at = performance.now() - started;
    const last = runs[runs.length - 1];
    if (last !== undefined && at - last.endMs < RUN_GAP_MS) {
      last.endMs = at;
      last.messages++;
      last.samples += pcm.length;
    } else runs.push({ startMs: at, endMs: at, messages: 1, samples: pcm.length });
  };
  try {
    await client.dial('127.0.0.1', driver.port, '862150000001');
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  } finally {
    client.destroy();
    await engine.stop();
  }
  for (const r of runs)
    console.log(
      `audio ${r.startMs.toFixed(0)}..${r.endMs.toFixed(0)} ms: ${r.messages} messages, ${r.samples} samples (${r.samples / SAMPLES_PER_MS} ms)`,
    );
  const total = runs.reduce((n, r) => n + r.samples, 0);
  console.log(`total ${total} samples in ${seconds * 1000} ms; continuous audio would be ${seconds * 8000}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
