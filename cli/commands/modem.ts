/** `fixpay modem`: decode FSK bursts from WAV recordings, and encode bytes to WAV, for interop. */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FixpayError } from '../../domain/errors';
import { scrubText } from '../../domain/masking';
import { levelDbm0, readWav, writeWav, type WavEncoding } from '../../channel-engine/audio';
import { MessageAssembler } from '../../channel-engine/callerid';
import {
  createDemodulator,
  createModulator,
  parseModulation,
  type Modulation,
  type ModemEvent,
} from '../../channel-engine/modem';

/** Limits for the CLI. */
const HEX_INPUT_BYTES_MAX = 65_536;
const SILENCE_MS_MAX = 60_000;

interface Burst {
  startSample: number;
  endSample: number;
  bytes: number[];
  framingErrors: number;
  snrDb: number;
  levelDbm0: number;
}

function bursts(samples: Int16Array, modulation: Modulation): { bursts: Burst[]; events: ModemEvent[] } {
  const events = createDemodulator({ modulation }).push(samples);
  const out: Burst[] = [];
  let cur: Burst | undefined;
  const close = (end: number, snr: number): void => {
    if (cur === undefined) return;
    cur.endSample = end;
    cur.snrDb = snr;
    cur.levelDbm0 = levelDbm0(samples.subarray(cur.startSample, Math.max(cur.startSample + 1, end)));
    out.push(cur);
    cur = undefined;
  };
  for (const e of events) {
    if (e.type === 'carrier-on') {
      cur = {
        startSample: e.sampleIndex,
        endSample: e.sampleIndex,
        bytes: [],
        framingErrors: 0,
        snrDb: NaN,
        levelDbm0: NaN,
      };
    } else if (e.type === 'byte') cur?.bytes.push(e.value);
    else if (e.type === 'framing-error') {
      if (cur !== undefined) cur.framingErrors++;
    } else close(e.sampleIndex, e.snrDb);
  }
  close(samples.length, NaN); // a recording that ends inside a burst
  return { bursts: out, events };
}

const hexOf = (bytes: readonly number[]): string => bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');
const asciiOf = (bytes: readonly number[]): string =>
  scrubText(bytes.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join(''));

function parseHex(text: string): Uint8Array {
  const clean = text.replace(/0x/gi, '').replace(/[\s:,-]/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(clean)) {
    throw new FixpayError(
      'AUDIO_BAD_INPUT',
      'hex input must be pairs of hex digits (spaces, colons and commas allowed)',
    );
  }
  if (clean.length / 2 > HEX_INPUT_BYTES_MAX)
    throw new FixpayError('AUDIO_BAD_INPUT', `more than ${HEX_INPUT_BYTES_MAX} bytes`);
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16));
}

function parseNumber(name: string, v: string | undefined, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < lo || n > hi)
    throw new FixpayError('MODEM_BAD_OPTIONS', `${name} must be in [${lo}, ${hi}]`);
  return n;
}

function parseEncoding(v: string): WavEncoding {
  if (v === 'pcm16' || v === 'mulaw' || v === 'alaw') return v;
  throw new FixpayError('MODEM_BAD_OPTIONS', `encoding must be pcm16, mulaw or alaw, got ${JSON.stringify(v)}`);
}

export function register(program: Command): void {
  const modem = program.command('modem').description('FSK modem tools: decode and encode V.23 / Bell 202 WAV files');

  modem
    .command('decode')
    .description(
      'decode FSK bursts in an 8 kHz mono WAV (PCM16, mu-law or A-law): per burst, its time, bytes as hex, framing errors, ' +
        'level and SNR estimate. Output may contain terminal data: treat it like a line capture.',
    )
    .argument('<file>', 'WAV file')
    .option('-m, --modulation <name>', 'v23, bell202 or auto (tries both, keeps the better)', 'auto')
    .option('--callerid', 'also parse each burst as an on-hook (caller-ID style) message')
    .option('--json', 'print one JSON document instead of text')
    .action((file: string, opts: { modulation: string; callerid?: boolean; json?: boolean }) => {
      const wav = readWav(readFileSync(file));
      const candidates: Modulation[] =
        opts.modulation === 'auto' ? ['v23', 'bell202'] : [parseModulation(opts.modulation)];
      const results = candidates.map((m) => ({ modulation: m, ...bursts(wav.samples, m) }));
      const score = (r: (typeof results)[number]): number =>
        r.bursts.reduce((a, b) => a + b.bytes.length - 4 * b.framingErrors, 0);
      const best = results.reduce((a, b) => (score(b) > score(a) ? b : a));
      const messages = opts.callerid === true ? new MessageAssembler().push(best.events) : [];
      if (opts.json === true) {
        process.stdout.write(
          `${JSON.stringify(
            {
              file,
              encoding: wav.encoding,
              truncated: wav.truncated,
              seconds: wav.samples.length / 8000,
              modulation: best.modulation,
              bursts: best.bursts.map((b) => ({
                startSeconds: b.startSample / 8000,
                endSeconds: b.endSample / 8000,
                bytes: b.bytes.length,
                hex: hexOf(b.bytes),
                framingErrors: b.framingErrors,
                levelDbm0: Number(b.levelDbm0.toFixed(1)),
                snrDb: Number.isNaN(b.snrDb) ? null : Number(b.snrDb.toFixed(1)),
              })),
              messages: messages.map((r) =>
                r.ok
                  ? { ok: true, type: r.message.type, hex: hexOf([...r.bytes]) }
                  : { ok: false, error: r.error.message },
              ),
            },
            null,
            2,
          )}\n`,
        );
        return;
      }
      const lines: string[] = [
        `${file}: ${wav.encoding}, ${(wav.samples.length / 8000).toFixed(2)} s${wav.truncated ? ' (truncated data chunk)' : ''}, ` +
          `${best.modulation}, ${best.bursts.length} burst(s)`,
      ];
      best.bursts.forEach((b, i) => {
        lines.push(
          `burst ${i + 1}: ${(b.startSample / 8000).toFixed(3)}-${(b.endSample / 8000).toFixed(3)} s, ${b.bytes.length} bytes, ` +
            `${b.framingErrors} framing errors, level ${b.levelDbm0.toFixed(1)} dBm0, SNR ${Number.isNaN(b.snrDb) ? '?' : b.snrDb.toFixed(1)} dB`,
        );
        if (b.bytes.length > 0) lines.push(`  hex:   ${hexOf(b.bytes)}`, `  ascii: ${asciiOf(b.bytes)}`);
      });
      for (const r of messages) {
        lines.push(
          r.ok
            ? `message type 0x${r.message.type.toString(16)}: ${hexOf([...r.bytes])}`
            : `message error: ${r.error.message}`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  modem
    .command('encode')
    .description('modulate bytes (hex) into an 8 kHz mono WAV: mark lead-in, 8N1 bytes LSB first, trailing mark')
    .option('--hex <hex>', 'bytes as hex, e.g. "02 31 32 03"')
    .option('--in <file>', 'read the bytes from a binary file instead')
    .requiredOption('-o, --out <file>', 'output WAV')
    .option('-m, --modulation <name>', 'v23 or bell202', 'v23')
    .option('--level <dBm0>', 'transmit level in dBm0', '-14')
    .option('--encoding <enc>', 'pcm16, mulaw or alaw', 'pcm16')
    .option('--lead-in <bits>', 'mark bits before the first byte', '40')
    .option('--trail <bits>', 'mark bits after the last byte', '8')
    .option('--silence-ms <ms>', 'silence before and after the burst', '100')
    .action(
      (opts: {
        hex?: string;
        in?: string;
        out: string;
        modulation: string;
        level: string;
        encoding: string;
        leadIn: string;
        trail: string;
        silenceMs: string;
      }) => {
        if ((opts.hex === undefined) === (opts.in === undefined)) {
          throw new FixpayError('MODEM_BAD_OPTIONS', 'give exactly one of --hex or --in');
        }
        const bytes = opts.hex !== undefined ? parseHex(opts.hex) : Uint8Array.from(readFileSync(opts.in ?? ''));
        if (bytes.length > HEX_INPUT_BYTES_MAX)
          throw new FixpayError('AUDIO_BAD_INPUT', `more than ${HEX_INPUT_BYTES_MAX} bytes`);
        const tx = createModulator({
          modulation: parseModulation(opts.modulation),
          levelDbm0: parseNumber('--level', opts.level, -60, 3) ?? -14,
          leadInMarkBits: parseNumber('--lead-in', opts.leadIn, 0, 10_000) ?? 40,
          trailMarkBits: parseNumber('--trail', opts.trail, 0, 10_000) ?? 8,
        });
        const burst = tx.modulate(bytes);
        const pad = Math.round(((parseNumber('--silence-ms', opts.silenceMs, 0, SILENCE_MS_MAX) ?? 100) * 8000) / 1000);
        const pcm = new Int16Array(pad + burst.length + pad);
        pcm.set(burst, pad);
        writeFileSync(opts.out, writeWav(pcm, parseEncoding(opts.encoding)));
        process.stdout.write(`${opts.out}: ${bytes.length} bytes, ${(pcm.length / 8000).toFixed(3)} s\n`);
      },
    );
}
