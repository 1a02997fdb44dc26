/**
 * TCP PCM line driver for simulators (docs/protocols/tcp-pcm.md): one TCP connection is one
 * call. Messages are `type (1) | length (2, big-endian) | body`. The client opens with HELLO
 * (caller number), then both sides exchange AUDIO (16-bit little-endian PCM, 8 kHz, mono) until
 * either sends BYE or closes. A malformed message ends that connection only.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { resultCode } from '../../domain/errors';
import { scrubText } from '../../domain/masking';
import type { Result } from '../../domain/result';
import { AudioPacer } from './pacer';
import { FRAME_MS, SILENT_LOGGER } from './types';
import type { CallListener, CallOffer, LineCall, LineDriver, LineHost, LineLogger } from './types';

export const TCP_PCM_TYPE = {
  hello: 0x01,
  audio: 0x02,
  bye: 0x03,
  answer: 0x81,
  audioOut: 0x82,
  byeOut: 0x83,
  reject: 0x84,
} as const;

export const TCP_PCM_HEADER_BYTES = 3;
/** Largest body: 4,000 bytes = 2,000 samples = 250 ms of audio. */
export const MAX_TCP_PCM_BODY_BYTES = 4000;

export interface TcpPcmMessage {
  readonly type: number;
  readonly body: Uint8Array;
}

export function encodeTcpPcm(type: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (body.length > MAX_TCP_PCM_BODY_BYTES) throw new RangeError(`TCP PCM body over ${MAX_TCP_PCM_BODY_BYTES} bytes`);
  const out = new Uint8Array(TCP_PCM_HEADER_BYTES + body.length);
  out[0] = type;
  out[1] = body.length >>> 8;
  out[2] = body.length & 0xff;
  out.set(body, TCP_PCM_HEADER_BYTES);
  return out;
}

/** The host stores 16-bit samples little-endian (as the wire does): samples and bytes copy as they are. */
const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** PCM samples → little-endian bytes. */
export function pcmToBytes(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length * 2);
  if (HOST_LITTLE_ENDIAN) {
    out.set(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    return out;
  }
  const view = new DataView(out.buffer);
  for (let i = 0; i < pcm.length; i++) view.setInt16(i * 2, pcm[i] ?? 0, true);
  return out;
}

/** Little-endian bytes → PCM samples (a copy; an odd last byte is ignored). */
export function bytesToPcm(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length >>> 1);
  if (HOST_LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 2));
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/**
 * Splits a byte stream into messages; keeps a partial tail. Fails on an oversized length. Bodies
 * are views into the chunks pushed (not copies): a chunk must not be reused by its producer while
 * its messages are in use (socket chunks never are).
 */
export class TcpPcmReader {
  private tail: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): Result<TcpPcmMessage[], string> {
    let buf: Uint8Array = chunk;
    if (this.tail.length > 0) {
      buf = new Uint8Array(this.tail.length + chunk.length);
      buf.set(this.tail);
      buf.set(chunk, this.tail.length);
    }
    const out: TcpPcmMessage[] = [];
    let at = 0;
    while (buf.length - at >= TCP_PCM_HEADER_BYTES) {
      const length = ((buf[at + 1] ?? 0) << 8) | (buf[at + 2] ?? 0);
      if (length > MAX_TCP_PCM_BODY_BYTES)
        return { ok: false, error: `length ${length} over ${MAX_TCP_PCM_BODY_BYTES}` };
      if (buf.length - at < TCP_PCM_HEADER_BYTES + length) break;
      out.push({
        type: buf[at] ?? 0,
        body: buf.subarray(at + TCP_PCM_HEADER_BYTES, at + TCP_PCM_HEADER_BYTES + length),
      });
      at += TCP_PCM_HEADER_BYTES + length;
    }
    // The partial tail is copied: it outlives this call.
    this.tail = at === buf.length ? EMPTY : buf.slice(at);
    return { ok: true, value: out };
  }
}

const EMPTY = new Uint8Array(0);

/** HELLO body: caller number, optionally NUL and the called number. */
export function parseHello(
  body: Uint8Array,
): { callerNumber: string | undefined; calledNumber: string | undefined } | undefined {
  const text = Buffer.from(body).toString('latin1');
  const [caller = '', called] = text.split('\0');
  const ok = (s: string): boolean => /^\+?[0-9*#]{0,32}$/.test(s);
  if (!ok(caller) || (called !== undefined && !ok(called))) return undefined;
  return { callerNumber: caller === '' ? undefined : caller, calledNumber: called === '' ? undefined : called };
}

export interface TcpPcmDriverOptions {
  readonly host: string;
  readonly port: number;
  /** HELLO must arrive within this time. */
  readonly helloTimeoutMs: number;
  /** Send our audio in real time (20 ms frames); false sends it at once (fast simulations). */
  readonly pace: boolean;
  readonly maxCalls: number;
  /** Connections still waiting for HELLO; more are closed at once. */
  readonly maxPendingConnections: number;
  /** Unsent bytes queued for a peer; a peer that lets more pile up (it does not read) is dropped. */
  readonly maxWriteBufferBytes: number;
}

export const DEFAULT_TCP_PCM_OPTIONS: TcpPcmDriverOptions = {
  host: '127.0.0.1',
  port: 5070,
  helloTimeoutMs: 5000,
  pace: true,
  maxCalls: 512,
  maxPendingConnections: 64,
  maxWriteBufferBytes: 256 * 1024,
};

interface Connection {
  readonly socket: net.Socket;
  readonly reader: TcpPcmReader;
  readonly pacer: AudioPacer;
  listener: CallListener | undefined;
  ended: boolean;
}

export class TcpPcmLineDriver implements LineDriver {
  readonly name = 'tcp-pcm';
  private readonly options: TcpPcmDriverOptions;
  private server: net.Server | undefined;
  private host: LineHost | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private next = 1;
  private readonly connections = new Set<Connection>();
  private readonly counters = {
    tcpConnections: 0,
    tcpMalformed: 0,
    tcpCallsAnswered: 0,
    tcpCallsRefused: 0,
    tcpFaults: 0,
    tcpSlowPeers: 0,
    tcpPendingRefused: 0,
    tcpAudioIn: 0,
  };

  constructor(
    options: Partial<TcpPcmDriverOptions> = {},
    private readonly log: LineLogger = SILENT_LOGGER,
  ) {
    this.options = { ...DEFAULT_TCP_PCM_OPTIONS, ...options };
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null | undefined)?.port ?? this.options.port;
  }

  metrics(): Record<string, number> {
    return { ...this.counters, tcpActive: this.connections.size };
  }

  async start(host: LineHost): Promise<void> {
    this.host = host;
    const server = net.createServer((socket) => {
      this.onConnection(socket);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.ticker = setInterval(() => {
      this.tick();
    }, FRAME_MS / 2);
    this.log.info({ host: this.options.host, port: this.port }, 'tcp-pcm driver listening');
  }

  async stop(): Promise<void> {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    for (const c of [...this.connections]) this.end(c, 'local', 'shutdown');
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onConnection(socket: net.Socket): void {
    this.counters.tcpConnections++;
    socket.on('error', () => {
      // reported through 'close'
    });
    let pending = 0;
    for (const c of this.connections) if (c.listener === undefined) pending++;
    if (pending >= this.options.maxPendingConnections) {
      this.counters.tcpPendingRefused++;
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn: Connection = {
      socket,
      reader: new TcpPcmReader(),
      pacer: new AudioPacer(),
      listener: undefined,
      ended: false,
    };
    this.connections.add(conn);
    const helloTimer = setTimeout(() => {
      this.contain(conn, 'hello-timer', () => {
        if (conn.listener === undefined) this.fail(conn, 'no HELLO in time');
      });
    }, this.options.helloTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      // The per-connection fault boundary of `contain`, without a closure per chunk.
      try {
        this.onData(conn, chunk, helloTimer);
      } catch (e) {
        this.connectionFault(conn, e);
      }
    });
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.contain(conn, 'close', () => {
        this.end(conn, 'remote', undefined);
      });
    });
  }

  /**
   * The per-connection fault boundary: if `fn` throws, that call alone ends (BYE FP3645, socket
   * closed, counted, logged without its data); the listener and the other calls go on.
   */
  private contain(conn: Connection, where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.connectionFault(conn, e, where);
    }
  }

  private connectionFault(conn: Connection, e: unknown, where = 'data'): void {
    this.counters.tcpFaults++;
    this.log.error(
      { where, code: 'LINE_CALL_FAULT', err: e instanceof Error ? scrubText(`${e.name}: ${e.message}`) : 'unknown' },
      'fault in tcp-pcm call: ending it',
    );
    try {
      this.end(conn, 'error', resultCode('LINE_CALL_FAULT').code);
    } catch {
      conn.ended = true;
      this.connections.delete(conn);
      conn.socket.destroy();
    }
  }

  private onData(conn: Connection, chunk: Buffer, helloTimer: NodeJS.Timeout): void {
    const r = conn.reader.push(chunk);
    if (!r.ok) {
      this.fail(conn, r.error);
      return;
    }
    for (const m of r.value) {
      if (conn.ended) return;
      this.onMessage(conn, m, helloTimer);
    }
  }

  private onMessage(conn: Connection, m: TcpPcmMessage, helloTimer: NodeJS.Timeout): void {
    if (conn.listener === undefined) {
      if (m.type !== TCP_PCM_TYPE.hello) {
        this.fail(conn, 'first message is not HELLO');
        return;
      }
      clearTimeout(helloTimer);
      const hello = parseHello(m.body);
      if (hello === undefined) {
        this.fail(conn, 'bad HELLO');
        return;
      }
      const offer: CallOffer = { lineId: `tcp:${this.next++}`, driver: this.name, ...hello };
      const answer = this.connections.size > this.options.maxCalls ? undefined : this.host?.offer(offer);
      if (answer === undefined || !answer.accept) {
        this.counters.tcpCallsRefused++;
        const code = resultCode(answer?.codeName ?? 'ENGINE_LINES_EXHAUSTED').code;
        conn.ended = true;
        conn.socket.end(encodeTcpPcm(TCP_PCM_TYPE.reject, Buffer.from(code, 'latin1')));
        this.connections.delete(conn);
        return;
      }
      this.counters.tcpCallsAnswered++;
      const call: LineCall = {
        offer,
        play: (pcm) => {
          if (conn.ended) return;
          if (this.options.pace) conn.pacer.enqueue(pcm);
          else {
            this.writeAudio(conn, pcm);
            setImmediate(() => {
              this.contain(conn, 'playout-done', () => conn.listener?.onPlayoutDone());
            });
          }
        },
        get playing() {
          return conn.pacer.playing;
        },
        hangup: () => {
          this.end(conn, 'local', 'hangup');
        },
      };
      conn.socket.write(encodeTcpPcm(TCP_PCM_TYPE.answer));
      conn.listener = answer.attach(call);
      return;
    }
    if (m.type === TCP_PCM_TYPE.audio) {
      if (m.body.length % 2 !== 0) {
        this.fail(conn, 'odd AUDIO length');
        return;
      }
      this.counters.tcpAudioIn++;
      conn.listener.onAudio(bytesToPcm(m.body));
    } else if (m.type === TCP_PCM_TYPE.bye) this.end(conn, 'remote', undefined);
    else this.fail(conn, `unexpected type 0x${m.type.toString(16)}`);
  }

  private writeAudio(conn: Connection, pcm: Int16Array): void {
    const maxSamples = MAX_TCP_PCM_BODY_BYTES / 2;
    for (let at = 0; at < pcm.length; at += maxSamples) {
      if (conn.ended) return;
      if (conn.socket.writableLength > this.options.maxWriteBufferBytes) {
        this.counters.tcpSlowPeers++;
        this.log.warn({ queuedBytes: conn.socket.writableLength }, 'tcp-pcm peer does not read: dropped');
        conn.ended = true;
        conn.pacer.clear();
        this.connections.delete(conn);
        conn.socket.destroy();
        const listener = conn.listener;
        conn.listener = undefined;
        listener?.onHangup('error');
        return;
      }
      conn.socket.write(encodeTcpPcm(TCP_PCM_TYPE.audioOut, pcmToBytes(pcm.subarray(at, at + maxSamples))));
    }
  }

  private fail(conn: Connection, reason: string): void {
    this.counters.tcpMalformed++;
    this.log.warn({ reason }, 'tcp-pcm connection dropped');
    if (!conn.ended && conn.listener === undefined) {
      conn.ended = true;
      conn.socket.end(
        encodeTcpPcm(TCP_PCM_TYPE.reject, Buffer.from(resultCode('TCP_PCM_FRAME_MALFORMED').code, 'latin1')),
      );
      this.connections.delete(conn);
      return;
    }
    this.end(conn, 'error', resultCode('TCP_PCM_FRAME_MALFORMED').code);
  }

  private end(conn: Connection, reason: 'remote' | 'local' | 'error', byeReason: string | undefined): void {
    if (conn.ended) return;
    conn.ended = true;
    conn.pacer.clear();
    this.connections.delete(conn);
    if (byeReason !== undefined && !conn.socket.destroyed)
      conn.socket.end(encodeTcpPcm(TCP_PCM_TYPE.byeOut, Buffer.from(byeReason, 'utf8')));
    else conn.socket.end();
    const listener = conn.listener;
    conn.listener = undefined;
    listener?.onHangup(reason);
  }

  /** The one shared ticker of all calls: paced playout. A call with nothing to play costs one check. */
  private tick(): void {
    const now = performance.now();
    // Deleting from a Set while iterating it is safe: deleted connections are not visited.
    for (const conn of this.connections) {
      if (!conn.pacer.playing) continue;
      try {
        const due = conn.pacer.due(now);
        for (const frame of due.frames) this.writeAudio(conn, frame);
        if (due.drained) conn.listener?.onPlayoutDone();
      } catch (e) {
        this.connectionFault(conn, e, 'tick');
      }
    }
  }
}

/** A minimal TCP PCM client (tests, terminal simulator): dial, send audio, receive audio. */
export class TcpPcmClient {
  private readonly reader = new TcpPcmReader();
  private socket: net.Socket | undefined;
  onAudio: (pcm: Int16Array) => void = () => {};
  onEnd: (reason: string) => void = () => {};
  answered = false;

  async dial(host: string, port: number, callerNumber: string, calledNumber?: string): Promise<void> {
    const socket = net.connect(port, host);
    this.socket = socket;
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.on('data', (chunk) => {
        const r = this.reader.push(chunk);
        if (!r.ok) {
          socket.destroy();
          return;
        }
        for (const m of r.value) {
          if (m.type === TCP_PCM_TYPE.answer) {
            this.answered = true;
            resolve();
          } else if (m.type === TCP_PCM_TYPE.audioOut) this.onAudio(bytesToPcm(m.body));
          else if (m.type === TCP_PCM_TYPE.reject || m.type === TCP_PCM_TYPE.byeOut) {
            const reason = Buffer.from(m.body).toString('utf8');
            this.onEnd(reason);
            if (!this.answered) reject(new Error(`rejected: ${reason}`));
          }
        }
      });
      socket.on('close', () => {
        this.onEnd('closed');
        if (!this.answered) reject(new Error('closed before answer'));
      });
      const hello = calledNumber === undefined ? callerNumber : `${callerNumber}\0${calledNumber}`;
      socket.write(encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from(hello, 'latin1')));
    });
  }

  sendAudio(pcm: Int16Array): void {
    const max = MAX_TCP_PCM_BODY_BYTES / 2;
    for (let at = 0; at < pcm.length; at += max)
      this.socket?.write(encodeTcpPcm(TCP_PCM_TYPE.audio, pcmToBytes(pcm.subarray(at, at + max))));
  }

  /** Raw bytes (tests of malformed input). */
  sendRaw(bytes: Uint8Array): void {
    this.socket?.write(bytes);
  }

  hangup(): void {
    this.socket?.end(encodeTcpPcm(TCP_PCM_TYPE.bye));
  }

  destroy(): void {
    this.socket?.destroy();
  }
}
