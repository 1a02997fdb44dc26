/**
 * The `fixpay hsm` server: payShield-style host commands over TCP, executed by the software HSM
 * acting for the authenticated client (`forCaller`), so the key-usage policy and the audit are
 * the software HSM's own. Every connection first authenticates (auth.ts: `XA`/`XC`); anything else
 * before that is answered `F9` and the connection closed. Messages are answered one at a time, in
 * order, with the header echoed; unknown commands get `ZZ68`, malformed ones `15`/`F7`.
 *
 * Transport (tls-psk.ts): by default every accepted socket is wrapped in TLS 1.3 with the client's
 * pre-shared key (identity = client id) before a byte of the host protocol is read; the TLS
 * handshake runs inside the handshake timeout and its slot, and the `XA` client id must be the
 * TLS identity. `plain` (explicit setting only) skips the wrapping.
 *
 * Limits (all in `HSM_SERVER_LIMITS`, all in config): handshake, idle and frame timeouts; total,
 * per-address and per-client connection caps, and a cap on connections still in their handshake
 * (a new connection evicts the oldest of those, so slow unauthenticated sockets cannot lock
 * authenticated clients out); and backpressure: a connection is not read while its unread input
 * holds a full frame or its answers wait to be sent (`socket.write` returned false).
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { SecureContext } from 'node:tls';
import { FixpayError, isFixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import { maskDeep, scrubText } from '../../domain/masking';
import type { CallerScopedHsm, HsmPort, KeyHandle, LmkPan, LmkPin, MacPaddingMethod } from '../port';
import { authProof, HSM_AUTH, newNonce, proofMatches } from './auth';
import type { HsmClientCredential } from './auth';
import {
  ALGORITHM_CODES,
  decodeFrom,
  errorCodeFor,
  FieldReader,
  FieldWriter,
  frame,
  FrameReader,
  HOST_PROTOCOL_DEFAULTS,
  KEY_TYPE_CODES,
  MAC_ALGORITHM_CODES,
  PIN_FORMAT_CODES,
  responseCode,
} from './codec';
import { derivePsk, serverSecureContext, serverTlsOptions } from './tls-psk';
import type { HsmTransport } from './tls-psk';

/** Minimal logger shape (infra/logging's pino logger fits). */
export interface HsmServerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** Every limit of the server, named; the config module passes its own (docs/configuration.md). */
export interface HsmServerLimits {
  /** A new connection must finish the authentication handshake within this. */
  readonly handshakeTimeoutMs: number;
  /** An authenticated connection that sends nothing for this long is closed. */
  readonly idleTimeoutMs: number;
  /** A frame once started must arrive whole within this (slow-drip senders are closed). */
  readonly frameTimeoutMs: number;
  /** Largest message accepted, after the length prefix. */
  readonly messageBytesMax: number;
  /** Open connections at once, all clients. */
  readonly connectionsMax: number;
  /** Open connections at once from one remote address. */
  readonly connectionsPerAddressMax: number;
  /** Open authenticated connections at once per client id. */
  readonly connectionsPerClientMax: number;
  /** Connections still in their handshake; a new one evicts the oldest beyond this. */
  readonly handshakesMax: number;
  /** Socket buffer size each way; answers beyond it wait (and reading stops) until it drains. */
  readonly socketBufferBytes: number;
}

export const HSM_SERVER_LIMITS: HsmServerLimits = {
  handshakeTimeoutMs: 5_000,
  idleTimeoutMs: 300_000,
  frameTimeoutMs: 5_000,
  messageBytesMax: HOST_PROTOCOL_DEFAULTS.messageBytesMax,
  connectionsMax: 256,
  connectionsPerAddressMax: 64,
  connectionsPerClientMax: 64,
  handshakesMax: 32,
  socketBufferBytes: 65_536,
};

export interface HsmServerOptions {
  /** The HSM engine; each authenticated connection uses `hsm.forCaller({ clientId })`. */
  readonly hsm: CallerScopedHsm;
  /** Who may connect. Empty refuses everyone: there is no unauthenticated mode. */
  readonly clients: readonly HsmClientCredential[];
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly headerLength?: number;
  readonly limits?: Partial<HsmServerLimits>;
  readonly logger?: HsmServerLogger;
  /** `tls-psk` (default): TLS 1.3 with a PSK per client. `plain`: the host protocol in clear. */
  readonly transport?: HsmTransport;
}

/** What a connection holds right now (tests and diagnostics). */
export interface HsmConnectionStats {
  readonly remote: string;
  readonly client?: string;
  /** Received bytes not yet executed (complete and partial frames). */
  readonly unreadBytes: number;
  /** Answer bytes written but not yet accepted by the kernel. */
  readonly unsentBytes: number;
  /** True while reading is stopped for backpressure. */
  readonly paused: boolean;
}

export interface RunningHsmServer {
  readonly host: string;
  readonly port: number;
  readonly transport: HsmTransport;
  /** Open connections and their queues. */
  stats(): readonly HsmConnectionStats[];
  close(): Promise<void>;
}

export const HSM_SERVER_DEFAULTS = { host: '127.0.0.1' } as const;

const key = (r: FieldReader): KeyHandle => r.key() as KeyHandle;
const keyType = (r: FieldReader) => decodeFrom(KEY_TYPE_CODES, r.fixed(3), 'key type');
const algorithm = (r: FieldReader) => decodeFrom(ALGORITHM_CODES, r.fixed(1), 'key scheme');
const pinFormat = (r: FieldReader) => decodeFrom(PIN_FORMAT_CODES, r.fixed(2), 'PIN block format');
const scheme = (r: FieldReader): 'tr31' | 'ecb' => {
  const s = r.fixed(1);
  if (s === 'R') return 'tr31';
  if (s === 'E') return 'ecb';
  return r.fail('export scheme');
};
const padding = (r: FieldReader): MacPaddingMethod => {
  const p = r.fixed(1);
  if (p === '1' || p === '2' || p === '3') return Number(p) as MacPaddingMethod;
  return r.fail('padding');
};
const macAlgorithm = (r: FieldReader) => decodeFrom(MAC_ALGORITHM_CODES, r.fixed(1), 'MAC algorithm');
function factorsOf(r: FieldReader): Buffer[] {
  const count = Number(r.fixed(1, 'factor count'));
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(Buffer.from(r.fixed(16, 'factor'), 'hex'));
  return out;
}
function lastCounterOf(r: FieldReader): number | undefined {
  const text = r.variable('last counter');
  return text === '' ? undefined : parseInt(text, 16);
}

type Handler = (hsm: HsmPort, r: FieldReader, w: FieldWriter) => Promise<void>;

/** Command handlers; each reads its request fields and writes its response fields. */
const HANDLERS: Record<string, Handler> = {
  NC: async (hsm, r, w) => {
    r.end();
    const d = await hsm.diagnostics();
    w.fixed(d.lmkCheckValue, 16).variable(d.firmware);
  },
  B2: (_hsm, r, w) => {
    const data = r.variable('echo data');
    r.end();
    w.variable(data);
    return Promise.resolve();
  },
  A0: async (hsm, r, w) => {
    const mode = r.fixed(1, 'mode');
    const type = keyType(r);
    const alg = algorithm(r);
    const exportUnder = mode === '1' ? { kek: key(r), scheme: scheme(r) } : undefined;
    r.end();
    const out = await hsm.generateKey(
      exportUnder === undefined ? { type, algorithm: alg } : { type, algorithm: alg, exportUnder },
    );
    w.key(out.handle);
    if (exportUnder !== undefined) w.variable(out.exported ?? '');
    w.fixed(out.kcv, 6);
    if (exportUnder?.scheme === 'ecb') w.fixed(out.exportedCheckValue ?? '', 8);
  },
  A4: async (hsm, r, w) => {
    const type = keyType(r);
    const alg = algorithm(r);
    const count = Number(r.fixed(1, 'component count'));
    const components: KeyHandle[] = [];
    for (let i = 0; i < count; i++) components.push(key(r));
    r.end();
    const out = await hsm.formKeyFromComponents({ type, algorithm: alg, components });
    w.key(out.handle).fixed(out.kcv, 6);
  },
  A6: async (hsm, r, w) => {
    const kek = key(r);
    const s = scheme(r);
    const cryptogram = r.variable('cryptogram');
    const typeCode = r.fixed(3);
    const algCode = r.fixed(1);
    const expectedKcv = r.variable('check value');
    r.end();
    const out = await hsm.importKey({
      kek,
      scheme: s,
      cryptogram,
      ...(typeCode === '---' ? {} : { type: decodeFrom(KEY_TYPE_CODES, typeCode, 'key type') }),
      ...(algCode === '-' ? {} : { algorithm: decodeFrom(ALGORITHM_CODES, algCode, 'key scheme') }),
      ...(expectedKcv === '' ? {} : { expectedKcv }),
    });
    w.key(out.handle).fixed(out.kcv, 6);
  },
  A8: async (hsm, r, w) => {
    const k = key(r);
    const kek = key(r);
    const s = scheme(r);
    r.end();
    const out = await hsm.exportKey({ key: k, kek, scheme: s });
    w.variable(out.cryptogram).fixed(out.kcv, 6);
  },
  BU: async (hsm, r, w) => {
    const k = key(r);
    r.end();
    const info = await hsm.describeKey(k);
    w.fixed(info.kcv, 6).fixed(KEY_TYPE_CODES[info.type], 3).fixed(ALGORITHM_CODES[info.algorithm], 1);
  },
  M6: async (hsm, r, w) => {
    const alg = macAlgorithm(r);
    const pad = padding(r);
    const k = key(r);
    const data = r.bytes();
    r.end();
    w.bytes(await hsm.generateMac({ key: k, algorithm: alg, padding: pad, data }));
  },
  M8: async (hsm, r) => {
    const alg = macAlgorithm(r);
    const pad = padding(r);
    const k = key(r);
    const data = r.bytes();
    const mac = r.bytes('MAC');
    r.end();
    await hsm.verifyMac({ key: k, algorithm: alg, padding: pad, data, mac });
  },
  CA: (hsm, r, w) => translate(hsm, r, w, 'TPK'),
  CC: (hsm, r, w) => translate(hsm, r, w, 'ZPK'),
  G0: async (hsm, r, w) => {
    const bdk = key(r);
    const target = key(r);
    const ksn = r.bytes('KSN');
    const pinBlock = r.bytes('PIN block');
    const sourceFormat = pinFormat(r);
    const targetFormat = pinFormat(r);
    const pan = r.variable('account');
    r.end();
    const out = await hsm.translateDukptPin({
      bdk,
      ksn,
      pinBlock,
      sourceFormat,
      target: { key: target, format: targetFormat },
      pan,
    });
    w.bytes(out).fixed(PIN_FORMAT_CODES[targetFormat], 2);
  },
  GW: async (hsm, r, w) => {
    const mode = r.fixed(1, 'mode');
    const direction = r.fixed(1, 'direction') === 'S' ? 'response' : 'request';
    const bdk = key(r);
    const ksn = r.bytes('KSN');
    const data = r.bytes();
    if (mode === '1') {
      const mac = r.bytes('MAC');
      r.end();
      await hsm.verifyDukptMac({ bdk, ksn, direction, data, mac });
      return;
    }
    r.end();
    w.bytes(await hsm.generateDukptMac({ bdk, ksn, direction, data }));
  },
  JC: (hsm, r, w) => pinToLmk(hsm, r, w, 'TPK'),
  JE: (hsm, r, w) => pinToLmk(hsm, r, w, 'ZPK'),
  BC: (hsm, r) => verifyPin(hsm, r, 'TPK'),
  BE: (hsm, r) => verifyPin(hsm, r, 'ZPK'),
  JA: async (hsm, r, w) => {
    const printerKey = key(r);
    const length = Number.parseInt(r.fixed(2, 'PIN length'), 10);
    const account = r.variable('account');
    r.end();
    // `Q…`: the number under the LMK, opened inside the HSM.
    const out = await hsm.generatePin(
      account.startsWith('Q')
        ? { lmkPan: account as LmkPan, length, printerKey }
        : { pan: account, length, printerKey },
    );
    w.variable(out.reference).variable(out.mailer);
  },
  Y4: async (hsm, r, w) => {
    const pan = r.variable('account');
    r.end();
    w.variable(await hsm.encryptPanUnderLmk(pan));
  },
  M0: async (hsm, r, w) => {
    const sealingKey = key(r);
    const aad = r.bytes('associated data');
    const data = r.bytes();
    r.end();
    const out = await hsm.sealData({ key: sealingKey, data, aad });
    w.fixed(out.kcv, 6).fixed(out.iv, 24).variable(out.data);
  },
  CW: async (hsm, r, w) => {
    const cvk = key(r);
    const expiry = r.fixed(4, 'expiry');
    const serviceCode = r.fixed(3, 'service code');
    const pan = r.variable('account');
    r.end();
    w.fixed(await hsm.generateCardVerificationValue({ cvk, pan, expiry, serviceCode }), 3);
  },
  Y0: async (hsm, r, w) => {
    const masterKey = key(r);
    const factors = factorsOf(r);
    const random = Buffer.from(r.fixed(8, 'random'), 'hex');
    const counter = parseInt(r.fixed(4, 'counter'), 16);
    r.end();
    const out = await hsm.derivePsamSessionKey({ masterKey, factors, random, counter });
    w.key(out.handle).fixed(out.kcv, 6);
  },
  Y2: async (hsm, r, w) => {
    const mode = r.fixed(1, 'mode');
    const alg = macAlgorithm(r);
    const pad = padding(r);
    const masterKey = key(r);
    const factors = factorsOf(r);
    const random = Buffer.from(r.fixed(8, 'random'), 'hex');
    const counter = parseInt(r.fixed(4, 'counter'), 16);
    const lastCounter = lastCounterOf(r);
    const data = r.bytes();
    const base = { masterKey, factors, random, counter, algorithm: alg, padding: pad, data };
    const request = lastCounter === undefined ? base : { ...base, lastCounter };
    if (mode === '1') {
      const mac = r.bytes('MAC');
      r.end();
      await hsm.verifyPsamMac({ ...request, mac });
      return;
    }
    r.end();
    w.bytes(await hsm.generatePsamMac(request));
  },
};

/** CA/CC: the source key's type is checked by the HSM; the command only documents intent. */
async function translate(hsm: HsmPort, r: FieldReader, w: FieldWriter, _source: 'TPK' | 'ZPK'): Promise<void> {
  const source = key(r);
  const target = key(r);
  const pinBlock = r.bytes('PIN block');
  const sourceFormat = pinFormat(r);
  const targetFormat = pinFormat(r);
  const pan = r.variable('account');
  r.end();
  const out = await hsm.translatePin({
    source: { key: source, format: sourceFormat },
    target: { key: target, format: targetFormat },
    pinBlock,
    pan,
  });
  w.bytes(out).fixed(PIN_FORMAT_CODES[targetFormat], 2);
}

async function pinToLmk(hsm: HsmPort, r: FieldReader, w: FieldWriter, _source: 'TPK' | 'ZPK'): Promise<void> {
  const k = key(r);
  const pinBlock = r.bytes('PIN block');
  const format = pinFormat(r);
  const pan = r.variable('account');
  r.end();
  w.variable(await hsm.encryptPinUnderLmk({ source: { key: k, format }, pinBlock, pan }));
}

async function verifyPin(hsm: HsmPort, r: FieldReader, _source: 'TPK' | 'ZPK'): Promise<void> {
  const k = key(r);
  const pinBlock = r.bytes('PIN block');
  const format = pinFormat(r);
  const pan = r.variable('account');
  const reference = r.variable('PIN under LMK') as LmkPin;
  r.end();
  await hsm.verifyPin({ source: { key: k, format }, pinBlock, pan, reference });
}

/** Executes one host message and returns the response message (without the length prefix). */
export async function handleHostMessage(hsm: HsmPort, message: string, headerLength: number): Promise<string> {
  const header = message.slice(0, headerLength);
  const command = message.slice(headerLength, headerLength + 2);
  const handler = HANDLERS[command];
  if (message.length < headerLength + 2 || handler === undefined) return `${header}ZZ68`;
  const writer = new FieldWriter();
  try {
    await handler(hsm, new FieldReader(message.slice(headerLength + 2)), writer);
    return `${header}${responseCode(command)}00${writer.toString()}`;
  } catch (e) {
    const name: ResultCodeName | undefined = isFixpayError(e) ? e.codeName : undefined;
    return `${header}${responseCode(command)}${errorCodeFor(name ?? 'HSM_PROTOCOL_ERROR')}`;
  }
}

/** A secret no client has: unknown ids are checked against it, so they cost what known ones do. */
const UNKNOWN_CLIENT_SECRET = newNonce();

type Phase =
  | { readonly kind: 'hello' }
  | { readonly kind: 'proof'; readonly clientId: string; readonly clientNonce: Buffer; readonly serverNonce: Buffer }
  | { readonly kind: 'ready'; readonly clientId: string; readonly port: HsmPort };

/** One client connection: handshake, then commands in order, with timeouts and backpressure. */
class Connection {
  phase: Phase = { kind: 'hello' };
  readonly remote: string;
  private readonly reader: FrameReader;
  private busy = false;
  private paused = false;
  /** Set once the connection is refused: nothing more is executed, the answer drains, it closes. */
  private closing = false;
  private frameTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** The client id the TLS layer authenticated (tls-psk only); `XA` must name the same. */
  private tlsIdentity: string | undefined;

  /**
   * `raw` is the accepted TCP socket; with tls-psk, `socket` is the TLS socket over it and the
   * handshake timer below covers the TLS handshake as well as `X*`.
   */
  constructor(
    raw: Socket,
    private readonly server: HsmServerCore,
  ) {
    this.remote = raw.remoteAddress ?? 'unknown';
    this.reader = new FrameReader(server.limits.messageBytesMax);
    raw.setNoDelay(true);
    const socket = server.tls === undefined ? raw : this.wrap(raw, server.tls);
    this.socket = socket;
    socket.setTimeout(server.limits.idleTimeoutMs);
    socket.on('timeout', () => this.close('idle timeout'));
    this.handshakeTimer = setTimeout(() => this.close('handshake timeout'), server.limits.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.pump());
    socket.on('error', (e: Error & { code?: string }) => {
      if (socket !== raw && !this.secured) {
        // Garbage, a plain-TCP client, a wrong key or a non-PSK offer: refused at the TLS layer.
        this.server.logger?.warn({ remote: this.remote, code: e.code }, 'hsm: TLS handshake refused');
      }
      socket.destroy();
    });
    socket.on('close', () => {
      raw.destroy();
      clearTimeout(this.frameTimer);
      clearTimeout(this.handshakeTimer);
      server.forget(this);
    });
  }

  readonly socket: Socket;
  private secured = false;

  private wrap(raw: Socket, tls: { context: SecureContext; psks: ReadonlyMap<string, Buffer> }): TLSSocket {
    const socket = new TLSSocket(
      raw,
      serverTlsOptions(tls.context, tls.psks, (id) => {
        this.tlsIdentity = id;
      }),
    );
    socket.once('secure', () => {
      this.secured = true;
    });
    raw.on('error', () => socket.destroy());
    return socket;
  }

  get clientId(): string | undefined {
    return this.phase.kind === 'hello' ? undefined : this.phase.clientId;
  }

  get authenticated(): boolean {
    return this.phase.kind === 'ready';
  }

  stats(): HsmConnectionStats {
    const id = this.phase.kind === 'ready' ? this.phase.clientId : undefined;
    return {
      remote: this.remote,
      ...(id === undefined ? {} : { client: id }),
      unreadBytes: this.reader.bufferedBytes,
      unsentBytes: this.socket.writableLength,
      paused: this.paused,
    };
  }

  close(why: string): void {
    if (this.socket.destroyed) return;
    this.server.logger?.warn({ remote: this.remote, client: this.clientId, why }, 'hsm: closing connection');
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.append(chunk);
    } catch (e) {
      this.server.logger?.warn({ err: maskDeep(e), remote: this.remote }, 'hsm: bad frame, closing connection');
      this.socket.destroy();
      return;
    }
    this.pump();
  }

  /** Executes buffered messages one at a time; stops reading while input or output is backed up. */
  private pump(): void {
    // More than a whole frame unread: stop reading until the queue is worked off.
    if (this.reader.bufferedBytes > this.server.limits.messageBytesMax + 2) this.pause();
    if (this.busy || this.closing || this.socket.destroyed) return;
    if (this.socket.writableNeedDrain) {
      this.pause();
      return; // 'drain' calls pump again
    }
    const message = this.reader.next();
    this.armFrameTimer();
    if (message === undefined) {
      this.resume();
      return;
    }
    this.busy = true;
    this.execute(message.toString('latin1')).then(
      (response) => {
        this.busy = false;
        if (response !== undefined && !this.socket.destroyed) this.socket.write(frame(response));
        this.pump();
      },
      (e: unknown) => {
        this.server.logger?.warn({ err: scrubText(String(e)) }, 'hsm: command failed');
        this.socket.destroy();
      },
    );
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** A started frame must complete in time; a partial frame that only drips in is closed. */
  private armFrameTimer(): void {
    const partial = this.reader.bufferedBytes > 0 && !this.reader.hasMessage();
    if (!partial) {
      clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    } else {
      this.frameTimer ??= setTimeout(() => this.close('frame timeout'), this.server.limits.frameTimeoutMs);
    }
  }

  private async execute(message: string): Promise<string | undefined> {
    const h = this.server.headerLength;
    const header = message.slice(0, h);
    const command = message.slice(h, h + 2);
    if (this.phase.kind === 'ready') return handleHostMessage(this.phase.port, message, h);
    const refuse = (code: ResultCodeName, why: string): string => {
      this.server.logger?.warn({ remote: this.remote, client: this.clientId, why }, 'hsm: client refused');
      // The answer goes out, then the connection closes; nothing after it is executed.
      this.closing = true;
      setImmediate(() => this.socket.end());
      return `${header}${responseCode(command.length === 2 ? command : 'XA')}${errorCodeFor(code)}`;
    };
    try {
      const r = new FieldReader(message.slice(h + 2));
      if (this.phase.kind === 'hello' && command === 'XA') {
        const clientId = r.variable('client id');
        const clientNonce = r.bytes('nonce');
        r.end();
        if (!HSM_AUTH.clientIdPattern.test(clientId) || clientNonce.length !== HSM_AUTH.nonceBytes) {
          return refuse('HSM_CLIENT_UNAUTHENTICATED', 'malformed hello');
        }
        if (this.server.tls !== undefined && clientId !== this.tlsIdentity) {
          return refuse('HSM_CLIENT_UNAUTHENTICATED', 'client id is not the TLS identity');
        }
        const serverNonce = newNonce();
        this.phase = { kind: 'proof', clientId, clientNonce, serverNonce };
        return `${header}XB00${new FieldWriter().bytes(serverNonce).toString()}`;
      }
      if (this.phase.kind === 'proof' && command === 'XC') {
        const proof = r.bytes('proof');
        r.end();
        const { clientId, clientNonce, serverNonce } = this.phase;
        const known = this.server.clients.get(clientId);
        const secret = known ?? UNKNOWN_CLIENT_SECRET;
        const expected = authProof(secret, 'client', clientId, clientNonce, serverNonce);
        if (!proofMatches(expected, proof) || known === undefined) {
          return refuse('HSM_CLIENT_UNAUTHENTICATED', 'wrong client id or proof');
        }
        if (this.server.authenticatedCount(clientId) >= this.server.limits.connectionsPerClientMax) {
          return refuse('HSM_BUSY', 'connections per client');
        }
        clearTimeout(this.handshakeTimer);
        this.handshakeTimer = undefined;
        this.phase = { kind: 'ready', clientId, port: this.server.hsm.forCaller({ clientId }) };
        this.server.authenticated(this);
        this.server.logger?.info({ remote: this.remote, client: clientId }, 'hsm: client authenticated');
        const serverProof = authProof(secret, 'server', clientId, clientNonce, serverNonce);
        return `${header}XD00${new FieldWriter().bytes(serverProof).toString()}`;
      }
      return refuse('HSM_CLIENT_UNAUTHENTICATED', `${command} before authentication`);
    } catch (e) {
      if (e instanceof FixpayError) return refuse('HSM_CLIENT_UNAUTHENTICATED', 'malformed handshake');
      throw e;
    }
  }
}

/** The connection table and its limits. */
class HsmServerCore {
  readonly limits: HsmServerLimits;
  readonly headerLength: number;
  readonly clients: Map<string, Buffer>;
  /** The TLS context and each client's PSK; undefined for the plain transport. */
  readonly tls: { readonly context: SecureContext; readonly psks: ReadonlyMap<string, Buffer> } | undefined;
  /** Connections still in their handshake, oldest first (Map keeps insertion order). */
  private readonly handshaking = new Set<Connection>();
  private readonly ready = new Set<Connection>();

  constructor(
    readonly hsm: CallerScopedHsm,
    options: HsmServerOptions,
    readonly logger: HsmServerLogger | undefined,
  ) {
    this.limits = { ...HSM_SERVER_LIMITS, ...options.limits };
    this.headerLength = options.headerLength ?? HOST_PROTOCOL_DEFAULTS.headerLength;
    this.clients = new Map(options.clients.map((c) => [c.id, c.secret]));
    this.tls =
      (options.transport ?? 'tls-psk') === 'tls-psk'
        ? {
            context: serverSecureContext(),
            psks: new Map(options.clients.map((c) => [c.id, derivePsk(c.secret, c.id)])),
          }
        : undefined;
  }

  all(): Connection[] {
    return [...this.handshaking, ...this.ready];
  }

  /** Admits a new socket, evicting the oldest handshaking connection where a limit is reached. */
  admit(socket: Socket): void {
    const remote = socket.remoteAddress ?? 'unknown';
    const fromAddress = (): number => this.all().filter((c) => c.remote === remote).length;
    if (this.handshaking.size >= this.limits.handshakesMax) this.evictHandshake();
    if (this.handshaking.size + this.ready.size >= this.limits.connectionsMax && !this.evictHandshake()) {
      this.refuse(socket, 'connections');
      return;
    }
    if (fromAddress() >= this.limits.connectionsPerAddressMax && !this.evictHandshake(remote)) {
      this.refuse(socket, 'connections per address');
      return;
    }
    this.handshaking.add(new Connection(socket, this));
  }

  private refuse(socket: Socket, limit: string): void {
    this.logger?.warn({ remote: socket.remoteAddress, limit }, 'hsm: connection refused');
    socket.destroy();
  }

  /** Closes the oldest connection still in its handshake (from `remote` when given). */
  private evictHandshake(remote?: string): boolean {
    for (const c of this.handshaking) {
      if (remote === undefined || c.remote === remote) {
        this.handshaking.delete(c);
        c.close('evicted: handshake slot needed');
        return true;
      }
    }
    return false;
  }

  authenticated(c: Connection): void {
    this.handshaking.delete(c);
    this.ready.add(c);
  }

  authenticatedCount(clientId: string): number {
    let n = 0;
    for (const c of this.ready) if (c.clientId === clientId) n++;
    return n;
  }

  forget(c: Connection): void {
    this.handshaking.delete(c);
    this.ready.delete(c);
  }
}

/** Starts the server; resolves once it listens. Throws CONFIG_INVALID without any client. */
export function startHsmServer(options: HsmServerOptions): Promise<RunningHsmServer> {
  if (options.clients.length === 0) {
    return Promise.reject(new FixpayError('CONFIG_INVALID', 'the HSM server needs at least one client credential'));
  }
  const transport = options.transport ?? 'tls-psk';
  const core = new HsmServerCore(options.hsm, options, options.logger);
  const server: Server = createServer({ highWaterMark: core.limits.socketBufferBytes }, (socket) => core.admit(socket));
  // A hard cap above ours, so the kernel-level accept loop cannot outgrow the table.
  server.maxConnections = core.limits.connectionsMax + core.limits.handshakesMax;
  const host = options.host ?? HSM_SERVER_DEFAULTS.host;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      options.logger?.info(
        { host, port: address.port, transport, hsm: options.hsm.describe(), clients: options.clients.length },
        'hsm: listening',
      );
      if (transport === 'plain') {
        options.logger?.warn(
          { transport },
          'hsm: PLAIN TRANSPORT — PIN blocks, key handles and MAC data cross the network in clear; use tls-psk',
        );
      }
      resolve({
        host,
        port: address.port,
        transport,
        stats: () => core.all().map((c) => c.stats()),
        close: () =>
          new Promise<void>((done) => {
            for (const c of core.all()) c.socket.destroy();
            server.close(() => {
              done();
            });
          }),
      });
    });
  });
}
