/**
 * The bank simulator's TCP side: the network spec over 4-digit ASCII framing, with configurable
 * latency, random drops and timeouts (seeded, so a run can be repeated), and one-shot faults that
 * tests inject: drop the response, delay it, or send it malformed.
 */
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type Server } from 'node:net';
import type { FramingOptions } from '../../gateways/card-network';
import { encodeFrame, FrameDecoder } from '../../gateways/card-network';
import type { IsoMessage } from '../../gateways/iso8583';
import { MessageCodec, networkSpec } from '../../gateways/iso8583';
import type { Bank } from './bank';
import { SimulatorMac } from './mac';

export type FaultKind =
  /** Process the request (money moves) and never answer. */
  | 'drop'
  /** Answer after `delayMs`. */
  | 'delay'
  /** Answer with a bitmap naming a field the spec does not define. */
  | 'bad-bitmap'
  /** Answer with extra bytes after the last field (the frame length covers them). */
  | 'wrong-length'
  /** Send half a frame and close the connection. */
  | 'truncate'
  /** Send a length header that is not four digits. */
  | 'bad-header'
  /**
   * A man in the middle: after the answer is MACed, rewrite a decline's field 39 to 00 (the MAC
   * bytes stay as they were, so the MAC no longer matches).
   */
  | 'tamper-approve';

export interface Fault {
  readonly kind: FaultKind;
  /** Only requests with this MTI (e.g. `0200`, `0400`); any when absent. */
  readonly mti?: string;
  readonly delayMs?: number;
}

export interface BankServerOptions {
  /** The zone MAC key shared with the acquirer (16 bytes): requests are checked, answers MACed with it. */
  readonly zak: Uint8Array;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly latencyMs?: number;
  readonly latencyJitterMs?: number;
  /** Probability (0–1) that a response is dropped. */
  readonly dropRate?: number;
  /** Probability (0–1) that a response is delayed by `timeoutDelayMs`. */
  readonly timeoutRate?: number;
  readonly timeoutDelayMs?: number;
  readonly seed?: number;
  readonly frameBytesMax?: number;
}

/** mulberry32: small, seedable, good enough for fault decisions. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class BankServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly codec = new MessageCodec(networkSpec);
  private readonly faults: Fault[] = [];
  private readonly random: () => number;
  private readonly framing: FramingOptions;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly mac: SimulatorMac;
  /** Requests that arrived malformed (logged by count; never crash). */
  malformedRequests = 0;
  /** Requests whose MAC was missing or wrong: answered A0, not processed. */
  badMacRequests = 0;

  constructor(
    readonly bank: Bank,
    private readonly options: BankServerOptions,
  ) {
    this.mac = new SimulatorMac(options.zak);
    this.random = prng(options.seed ?? 1);
    this.framing = { lengthPrefix: 'ascii4', frameBytesMax: options.frameBytesMax ?? 8192 };
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Queues a one-shot fault for the next matching request. */
  inject(fault: Fault): void {
    this.faults.push(fault);
  }

  /** Forgets faults not yet used. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('bank simulator has no TCP address');
    return address;
  }

  /** Closes every connection (the network "goes away"); the server keeps listening. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(this.framing);
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch {
        this.malformedRequests++;
        socket.destroy();
        return;
      }
      for (const frame of frames) this.onFrame(socket, frame);
    });
  }

  private takeFault(mti: string): Fault | undefined {
    const i = this.faults.findIndex((f) => f.mti === undefined || f.mti === mti);
    if (i < 0) return undefined;
    return this.faults.splice(i, 1)[0];
  }

  private onFrame(socket: Socket, frame: Buffer): void {
    const decoded = this.codec.tryUnpack(frame);
    if (!decoded.ok) {
      this.malformedRequests++;
      return;
    }
    const request = decoded.message;
    const authentic = this.mac.verify(request, frame);
    if (!authentic) this.badMacRequests++;
    // A request without a good MAC is refused with A0 ("MAC check failed") and changes nothing.
    const response = authentic ? this.bank.handle(request) : this.bank.refuse(request, 'A0');
    if (response === undefined) return;
    const fault = this.takeFault(request.mti);
    let delay = (this.options.latencyMs ?? 0) + this.random() * (this.options.latencyJitterMs ?? 0);
    if (fault?.kind === 'drop' || this.random() < (this.options.dropRate ?? 0)) return;
    if (this.random() < (this.options.timeoutRate ?? 0)) delay += this.options.timeoutDelayMs ?? 30_000;
    if (fault?.kind === 'delay') delay += fault.delayMs ?? 0;
    const bytes = this.responseBytes(response, fault);
    const write = (): void => {
      if (socket.destroyed) return;
      if (fault?.kind === 'truncate') {
        socket.end(bytes.subarray(0, Math.max(5, bytes.length >> 1)));
        return;
      }
      socket.write(bytes);
    };
    if (delay <= 0) write();
    else {
      const t = setTimeout(() => {
        this.timers.delete(t);
        write();
      }, delay);
      this.timers.add(t);
    }
  }

  private responseBytes(response: IsoMessage, fault: Fault | undefined): Buffer {
    let body = this.mac.pack(this.codec, response);
    if (fault?.kind === 'tamper-approve') {
      const signed = this.codec.unpack(body);
      if (signed.fields.get(39) !== '00') signed.fields.set(39, '00');
      body = Buffer.from(this.codec.pack(signed));
    }
    if (fault?.kind === 'bad-bitmap') {
      body = Buffer.from(body);
      body[4] = (body[4] ?? 0) | 0x08; // field 5: not in the network spec
    }
    if (fault?.kind === 'wrong-length') body = Buffer.concat([body, Buffer.from('XYZ')]);
    const frame = encodeFrame(body, this.framing);
    if (fault?.kind === 'bad-header') frame.write('ABCD', 0, 'latin1');
    return frame;
  }
}
