/**
 * A TCP channel to one peer: connects, frames, opens/closes envelopes and packs/unpacks messages,
 * and reconnects with exponential backoff. It neither matches responses (see `mux.ts`) nor knows
 * what the messages mean.
 */
import { Socket } from 'node:net';
import { FixpayError } from '../../domain/errors';
import type { Envelope, EnvelopeOptions, IsoMessage, MessageCodec } from '../iso8583';
import { closeEnvelope, openEnvelope } from '../iso8583';
import type { FramingOptions } from './framing';
import { encodeFrame, FrameDecoder } from './framing';
import type { GatewayLogger } from './logger';
import { silentLogger } from './logger';

export const RECONNECT_DELAY_MS_MIN_DEFAULT = 100;
export const RECONNECT_DELAY_MS_MAX_DEFAULT = 10_000;
export const CONNECT_TIMEOUT_MS_DEFAULT = 5_000;

/** What the gateway needs from a link to the network; `TcpChannel` is the real one. */
export interface MessageTransport {
  /** Writes one message. Throws CARD_NETWORK_UNAVAILABLE when not connected (nothing was written). */
  send(msg: IsoMessage): void;
  setHandlers(handlers: TransportHandlers): void;
  start(): void;
  stop(): Promise<void>;
  readonly connected: boolean;
}

export interface TransportHandlers {
  /** `body` is the message as it came (MTI onwards, envelope removed): what its MAC covers. */
  onMessage(msg: IsoMessage, envelope: Envelope, body: Buffer): void;
  /** A frame that could not be decoded; `partial` holds what was decoded before the fault. */
  onMalformed(error: FixpayError, partial: IsoMessage): void;
  onConnect(): void;
  onDisconnect(): void;
}

export interface TcpChannelOptions {
  readonly host: string;
  readonly port: number;
  readonly codec: MessageCodec;
  readonly framing: FramingOptions;
  readonly envelope?: EnvelopeOptions;
  /** Envelope parts written on every outgoing message (TPDU, header). */
  readonly outboundEnvelope?: Envelope;
  readonly reconnectDelayMsMin?: number;
  readonly reconnectDelayMsMax?: number;
  readonly connectTimeoutMs?: number;
  readonly logger?: GatewayLogger;
}

const NO_ENVELOPE: EnvelopeOptions = { tpduBytes: 0, applicationHeaderBytes: 0, lri: 'never' };

const noHandlers: TransportHandlers = {
  onMessage: () => undefined,
  onMalformed: () => undefined,
  onConnect: () => undefined,
  onDisconnect: () => undefined,
};

export class TcpChannel implements MessageTransport {
  private socket: Socket | undefined;
  private isConnected = false;
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private handlers: TransportHandlers = noHandlers;
  private readonly logger: GatewayLogger;
  private readonly envelopeOptions: EnvelopeOptions;

  constructor(private readonly options: TcpChannelOptions) {
    this.logger = options.logger ?? silentLogger;
    this.envelopeOptions = options.envelope ?? NO_ENVELOPE;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }

  send(msg: IsoMessage): void {
    const socket = this.socket;
    if (!this.isConnected || socket === undefined) {
      throw new FixpayError('CARD_NETWORK_UNAVAILABLE', `not connected to ${this.options.host}:${this.options.port}`);
    }
    const body = this.options.codec.pack(msg);
    const payload =
      this.envelopeOptions.tpduBytes === 0 && this.envelopeOptions.applicationHeaderBytes === 0
        ? body
        : closeEnvelope(this.options.outboundEnvelope ?? {}, body, this.envelopeOptions);
    socket.write(encodeFrame(payload, this.options.framing));
  }

  private connect(): void {
    const { host, port } = this.options;
    const socket = new Socket();
    this.socket = socket;
    const decoder = new FrameDecoder(this.options.framing);
    socket.setNoDelay(true);
    socket.setTimeout(this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT);
    socket.once('timeout', () => socket.destroy(new Error('connect timeout')));
    socket.once('connect', () => {
      socket.setTimeout(0);
      this.attempt = 0;
      this.isConnected = true;
      this.logger.info({ event: 'card_network.connected', host, port }, 'card network connected');
      this.handlers.onConnect();
    });
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        // A bad length header loses the frame boundaries: drop the connection and start again.
        this.logger.error(
          { event: 'card_network.frame_invalid', error: String(e) },
          'bad frame from card network; reconnecting',
        );
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        try {
          this.receive(frame);
        } catch (e) {
          // A bug in a handler must not take the process down with the socket.
          this.logger.error({ event: 'card_network.receive_failed', error: String(e) }, 'failed to handle a frame');
        }
      }
    });
    socket.on('error', (e) => {
      this.logger.warn(
        { event: 'card_network.socket_error', host, port, error: e.message },
        'card network socket error',
      );
    });
    socket.once('close', () => {
      const was = this.isConnected;
      this.isConnected = false;
      if (decoder.pendingBytes > 0) {
        this.logger.warn(
          { event: 'card_network.frame_truncated', bytes: decoder.pendingBytes },
          'connection closed inside a frame',
        );
      }
      if (was) this.handlers.onDisconnect();
      if (this.socket === socket) this.socket = undefined;
      if (!this.stopped) this.scheduleReconnect();
    });
    socket.connect(port, host);
  }

  private receive(frame: Buffer): void {
    let envelope: Envelope = {};
    let body = frame;
    if (this.envelopeOptions.tpduBytes !== 0 || this.envelopeOptions.applicationHeaderBytes !== 0) {
      try {
        const opened = openEnvelope(frame, this.envelopeOptions);
        envelope = opened;
        body = opened.body;
      } catch (e) {
        if (!(e instanceof FixpayError)) throw e;
        this.handlers.onMalformed(e, { mti: '', fields: new Map() });
        return;
      }
    }
    const result = this.options.codec.tryUnpack(body);
    if (result.ok) this.handlers.onMessage(result.message, envelope, body);
    else this.handlers.onMalformed(result.error, result.partial);
  }

  private scheduleReconnect(): void {
    const min = this.options.reconnectDelayMsMin ?? RECONNECT_DELAY_MS_MIN_DEFAULT;
    const max = this.options.reconnectDelayMsMax ?? RECONNECT_DELAY_MS_MAX_DEFAULT;
    const delay = Math.min(max, min * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopped) this.connect();
    }, delay);
  }
}
