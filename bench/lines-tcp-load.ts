/**
 * TCP PCM load for `npm run bench:lines`, in its own process so its CPU is not counted as the
 * access node's: holds idle lines that stream mark tone in real time (one AUDIO message per line
 * per frame, 20 ms unless told otherwise, from one shared timer). Commands on stdin, one a line: `add <n>` opens n more
 * lines; answers on stdout: `held <lines> refused <n> late <frames> sent <frames>` after each
 * command and every 200 ms. Usage: tsx bench/lines-tcp-load.ts <port> [host] [called number] [frame ms: 10-250, a multiple of 10].
 */
import net from 'node:net';
import { createInterface } from 'node:readline';
import { encodeTcpPcm, pcmToBytes, TCP_PCM_TYPE } from '../channel-engine/lines/tcp-pcm';
import { SAMPLE_RATE_HZ } from '../channel-engine/lines/types';
import { sineAmplitude } from '../channel-engine/modem';

const MARK_HZ = 1300;
const LEVEL_DBM0 = -10;
/** Connections waiting for their ANSWER at once (the node refuses more than 64 pending). */
const DIAL_CONCURRENCY = 32;
/** A timer turn sends at most this many frames per line when it fell behind. */
const MAX_CATCH_UP_FRAMES = 5;
const REPORT_MS = 200;

const port = Number(process.argv[2]);
const host = process.argv[3] ?? '127.0.0.1';
const calledNumber = process.argv[4] ?? '';
const frameMs = Number(process.argv[5] ?? 20);
if (
  !Number.isInteger(port) ||
  port < 1 ||
  port > 65535 ||
  !Number.isInteger(frameMs / 10) ||
  frameMs < 10 ||
  frameMs > 250
)
  throw new Error('usage: lines-tcp-load.ts <port> [host] [called number] [frame ms: 10-250, a multiple of 10]');
const frameSamples = (SAMPLE_RATE_HZ * frameMs) / 1000;

// 1300 Hz at 8 kHz repeats every 80 samples (10 ms), so frames of whole 10 ms loop without a click.
const amplitude = sineAmplitude(LEVEL_DBM0);
const frames: Uint8Array[] = [];
for (let f = 0; f < Math.ceil(1000 / frameMs); f++) {
  const pcm = new Int16Array(frameSamples);
  for (let i = 0; i < frameSamples; i++)
    pcm[i] = Math.round(amplitude * Math.sin((2 * Math.PI * MARK_HZ * (f * frameSamples + i)) / SAMPLE_RATE_HZ));
  frames.push(encodeTcpPcm(TCP_PCM_TYPE.audio, pcmToBytes(pcm)));
}

const live = new Set<net.Socket>();
let refused = 0;
let late = 0;
let sentFrames = 0;
let dialing = 0;
let wanted = 0;
let next = 0;

function dialMore(): void {
  while (dialing < DIAL_CONCURRENCY && wanted > 0) {
    wanted--;
    dialing++;
    const n = next++;
    const socket = net.connect(port, host);
    socket.setNoDelay(true);
    let answered = false;
    const done = (): void => {
      if (!answered) {
        dialing--;
        dialMore();
      }
    };
    socket.on('data', (chunk: Buffer) => {
      if (!answered && chunk[0] === TCP_PCM_TYPE.answer) {
        answered = true;
        dialing--;
        live.add(socket);
        dialMore();
      } else if (!answered && chunk[0] === TCP_PCM_TYPE.reject) {
        refused++;
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      live.delete(socket);
      done();
    });
    socket.write(
      encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from(`0579${String(n).padStart(8, '0')}\0${calledNumber}`, 'latin1')),
    );
  }
}

const started = performance.now();
let sent = 0;
setInterval(() => {
  const due = Math.floor((performance.now() - started) / frameMs);
  let count = due - sent;
  if (count > 1) late += (count - 1) * live.size;
  count = Math.min(count, MAX_CATCH_UP_FRAMES);
  for (let k = 0; k < count; k++) {
    const frame = frames[(sent + k) % frames.length] ?? new Uint8Array(0);
    for (const s of live) s.write(frame);
    sentFrames += live.size;
  }
  sent = due;
}, frameMs);

const report = (): void => {
  process.stdout.write(`held ${live.size} refused ${refused} late ${late} sent ${sentFrames}\n`);
};
setInterval(report, REPORT_MS);
createInterface({ input: process.stdin }).on('line', (text) => {
  const m = /^add (\d+)$/.exec(text.trim());
  if (m !== null) {
    wanted += Number(m[1]);
    dialMore();
  }
  report();
});
process.stdin.on('end', () => process.exit(0));
