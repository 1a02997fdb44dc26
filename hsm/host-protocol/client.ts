/**
 * `NetworkHsm`: the HSM port over a payShield-style TCP link, to `fixpay hsm` or an appliance
 * speaking the same commands. One connection, requests pipelined and matched by the echoed header
 * (a 4-digit trace number), each with a timeout; the connection is reopened on the next request
 * after a failure. Every failure is a FixpayError: HSM_UNAVAILABLE, HSM_TIMEOUT, or the HSM's own
 * answer mapped from its error code.
 *
 * With `credentials`, each new connection first runs the mutual authentication handshake
 * (auth.ts) — `fixpay hsm serve` refuses everything else — and checks the server's proof too.
 * The transport is TLS 1.3 with a pre-shared key derived from the same secret (tls-psk.ts)
 * unless `transport: 'plain'` is set explicitly; tls-psk needs `credentials`.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { FixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import { maskDeep } from '../../domain/masking';
import { authProof, newNonce, proofMatches } from './auth';
import type { HsmClientCredential } from './auth';
import type {
  LmkPan,
  OpenSealedDataRequest,
  SealDataRequest,
  SealedData,
  CardVerificationRequest,
  DukptMacRequest,
  GeneratedPin,
  GeneratePinRequest,
  ExportKeyRequest,
  GeneratedKey,
  GenerateKeyRequest,
  HsmDiagnostics,
  HsmPort,
  ImportKeyRequest,
  KeyAlgorithm,
  KeyHandle,
  KeyInfo,
  KeyType,
  LmkPin,
  MacRequest,
  PsamMacRequest,
  PsamSessionRequest,
  TranslateDukptPinRequest,
  TranslatePinRequest,
  VerifyMacRequest,
  VerifyPinRequest,
  VerifyPsamMacRequest,
} from '../port';
import {
  ALGORITHM_CODES,
  decodeFrom,
  FieldReader,
  FieldWriter,
  frame,
  FrameReader,
  handleKeyType,
  HOST_PROTOCOL_DEFAULTS,
  KEY_TYPE_CODES,
  MAC_ALGORITHM_CODES,
  PIN_FORMAT_CODES,
  responseCode,
  resultCodeFor,
} from './codec';
import { clientTlsOptions } from './tls-psk';
import type { HsmTransport } from './tls-psk';

export interface NetworkHsmOptions {
  readonly host: string;
  readonly port: number;
  readonly headerLength?: number;
  readonly messageBytesMax?: number;
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly inFlightMax?: number;
  /** This client's id and shared secret (config: hsm.clientId, security.hsmClientSecret). */
  readonly credentials?: HsmClientCredential;
  /** `tls-psk` (default; needs `credentials`) or `plain` (config: hsm.transport). */
  readonly transport?: HsmTransport;
}

interface Pending {
  readonly command: string;
  readonly resolve: (fields: FieldReader) => void;
  readonly reject: (e: FixpayError) => void;
  readonly verificationFailure: ResultCodeName;
  readonly timer: NodeJS.Timeout;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

export class NetworkHsm implements HsmPort {
  private readonly headerLength: number;
  private readonly messageBytesMax: number;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly inFlightMax: number;
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly pending = new Map<string, Pending>();
  private trace = 0;
  private readonly transport: HsmTransport;

  constructor(private readonly options: NetworkHsmOptions) {
    this.headerLength = options.headerLength ?? HOST_PROTOCOL_DEFAULTS.headerLength;
    this.messageBytesMax = options.messageBytesMax ?? HOST_PROTOCOL_DEFAULTS.messageBytesMax;
    this.requestTimeoutMs = options.requestTimeoutMs ?? HOST_PROTOCOL_DEFAULTS.requestTimeoutMs;
    this.connectTimeoutMs = options.connectTimeoutMs ?? HOST_PROTOCOL_DEFAULTS.connectTimeoutMs;
    this.inFlightMax = options.inFlightMax ?? HOST_PROTOCOL_DEFAULTS.inFlightMax;
    this.transport = options.transport ?? 'tls-psk';
    if (this.transport === 'tls-psk' && options.credentials === undefined) {
      throw new FixpayError('CONFIG_INVALID', 'the tls-psk HSM transport needs a client credential');
    }
  }

  describe(): string {
    return JSON.stringify(
      maskDeep({
        kind: 'network',
        host: this.options.host,
        port: this.options.port,
        client: this.options.credentials?.id ?? 'none',
        transport: this.transport,
      }),
    );
  }

  /** Closes the connection; requests in flight fail with HSM_UNAVAILABLE. */
  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connect(): Promise<Socket> {
    if (this.socket !== undefined && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const target = { host: this.options.host, port: this.options.port };
      const credentials = this.options.credentials;
      const tls = this.transport === 'tls-psk' && credentials !== undefined;
      const socket: Socket = tls ? connectTls({ ...target, ...clientTlsOptions(credentials) }) : connect(target);
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new FixpayError('HSM_UNAVAILABLE', 'connect timed out'));
      }, this.connectTimeoutMs);
      const reader = new FrameReader(this.messageBytesMax);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        this.authenticate(socket).then(
          () => {
            clearTimeout(timer);
            this.socket = socket;
            resolve(socket);
          },
          (e: unknown) => {
            clearTimeout(timer);
            socket.destroy();
            reject(e instanceof FixpayError ? e : new FixpayError('HSM_UNAVAILABLE'));
          },
        );
      });
      socket.on('data', (chunk: Buffer) => {
        try {
          for (const m of reader.push(chunk)) this.onMessage(m.toString('latin1'));
        } catch {
          socket.destroy();
        }
      });
      socket.on('error', (e: Error & { code?: string }) => {
        clearTimeout(timer);
        // A TLS alert during the handshake: the server did not accept our PSK (wrong secret or
        // unknown client id) or refused the offer; a connection failure otherwise.
        const refused = tls && e.code?.startsWith('ERR_SSL_') === true && this.socket !== socket;
        reject(
          refused
            ? new FixpayError('HSM_CLIENT_UNAUTHENTICATED', 'the HSM refused the TLS-PSK handshake')
            : new FixpayError('HSM_UNAVAILABLE'),
        );
      });
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        this.failAll(new FixpayError('HSM_UNAVAILABLE', 'connection closed'));
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private failAll(error: FixpayError): void {
    for (const [header, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(header);
      p.reject(error);
    }
  }

  private onMessage(message: string): void {
    const header = message.slice(0, this.headerLength);
    const p = this.pending.get(header);
    if (p === undefined) return; // late answer after a timeout: dropped
    this.pending.delete(header);
    clearTimeout(p.timer);
    const code = message.slice(this.headerLength, this.headerLength + 2);
    const errorCode = message.slice(this.headerLength + 2, this.headerLength + 4);
    if (code === 'ZZ') {
      p.reject(new FixpayError('HSM_COMMAND_UNSUPPORTED', p.command));
      return;
    }
    if (code !== responseCode(p.command)) {
      p.reject(new FixpayError('HSM_PROTOCOL_ERROR', `answer ${code} to ${p.command}`));
      return;
    }
    if (errorCode !== '00') {
      p.reject(new FixpayError(resultCodeFor(errorCode, p.verificationFailure), `${p.command} error ${errorCode}`));
      return;
    }
    p.resolve(new FieldReader(message.slice(this.headerLength + 4)));
  }

  private nextHeader(): string {
    const modulo = 10 ** this.headerLength;
    for (let i = 0; i < modulo; i++) {
      this.trace = (this.trace + 1) % modulo;
      const header = String(this.trace).padStart(this.headerLength, '0');
      if (!this.pending.has(header)) return header;
    }
    throw new FixpayError('HSM_UNAVAILABLE', 'no free trace number');
  }

  /**
   * The handshake on a fresh socket: hello with our nonce, proof over both nonces, and the
   * server's proof checked in constant time. Rejects with HSM_CLIENT_UNAUTHENTICATED.
   */
  private async authenticate(socket: Socket): Promise<void> {
    const credentials = this.options.credentials;
    if (credentials === undefined) return;
    const clientNonce = newNonce();
    const hello = await this.exchange(
      socket,
      'XA',
      new FieldWriter().variable(credentials.id).bytes(clientNonce).toString(),
    );
    const serverNonce = hello.bytes('nonce');
    const proof = authProof(credentials.secret, 'client', credentials.id, clientNonce, serverNonce);
    const done = await this.exchange(socket, 'XC', new FieldWriter().bytes(proof).toString());
    const serverProof = done.bytes('proof');
    const expected = authProof(credentials.secret, 'server', credentials.id, clientNonce, serverNonce);
    if (!proofMatches(expected, serverProof)) {
      throw new FixpayError('HSM_CLIENT_UNAUTHENTICATED', 'the HSM did not prove it holds our secret');
    }
  }

  /** Sends one command and resolves with the response fields after the error code. */
  async send(
    command: string,
    fields: string,
    verificationFailure: ResultCodeName = 'HSM_MAC_INVALID',
  ): Promise<FieldReader> {
    if (this.pending.size >= this.inFlightMax) throw new FixpayError('HSM_UNAVAILABLE', 'too many requests in flight');
    return this.exchange(await this.connect(), command, fields, verificationFailure);
  }

  private exchange(
    socket: Socket,
    command: string,
    fields: string,
    verificationFailure: ResultCodeName = 'HSM_MAC_INVALID',
  ): Promise<FieldReader> {
    const header = this.nextHeader();
    return new Promise<FieldReader>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(header);
        reject(new FixpayError('HSM_TIMEOUT', command));
      }, this.requestTimeoutMs);
      this.pending.set(header, { command, resolve, reject, verificationFailure, timer });
      socket.write(frame(`${header}${command}${fields}`));
    });
  }

  /** payShield B2 echo. */
  async echo(text: string): Promise<string> {
    const r = await this.send('B2', new FieldWriter().variable(text).toString());
    return r.variable();
  }

  async diagnostics(): Promise<HsmDiagnostics> {
    const r = await this.send('NC', '');
    return { lmkCheckValue: r.fixed(16), firmware: r.variable() };
  }

  private keyInfo(r: FieldReader, type: KeyType, algorithm: KeyAlgorithm): KeyInfo {
    return { handle: r.key() as KeyHandle, type, algorithm, kcv: r.fixed(6) };
  }

  async generateKey(request: GenerateKeyRequest): Promise<GeneratedKey> {
    const w = new FieldWriter()
      .fixed(request.exportUnder === undefined ? '0' : '1', 1)
      .fixed(KEY_TYPE_CODES[request.type], 3)
      .fixed(ALGORITHM_CODES[request.algorithm], 1);
    if (request.exportUnder !== undefined) {
      w.key(request.exportUnder.kek).fixed(request.exportUnder.scheme === 'tr31' ? 'R' : 'E', 1);
    }
    const r = await this.send('A0', w.toString());
    const handle = r.key() as KeyHandle;
    const exported = request.exportUnder === undefined ? undefined : r.variable();
    const base = { handle, type: request.type, algorithm: request.algorithm, kcv: r.fixed(6) };
    if (exported === undefined) return base;
    if (request.exportUnder?.scheme === 'ecb') return { ...base, exported, exportedCheckValue: r.fixed(8) };
    return { ...base, exported };
  }

  async formKeyFromComponents(request: {
    readonly type: KeyType;
    readonly algorithm: KeyAlgorithm;
    readonly components: readonly KeyHandle[];
  }): Promise<KeyInfo> {
    if (request.components.length > 9) throw new FixpayError('HSM_INPUT_INVALID', 'at most 9 components');
    const w = new FieldWriter()
      .fixed(KEY_TYPE_CODES[request.type], 3)
      .fixed(ALGORITHM_CODES[request.algorithm], 1)
      .fixed(String(request.components.length), 1);
    for (const c of request.components) w.key(c);
    return this.keyInfo(await this.send('A4', w.toString()), request.type, request.algorithm);
  }

  async describeKey(key: KeyHandle): Promise<KeyInfo> {
    const r = await this.send('BU', new FieldWriter().key(key).toString());
    const kcv = r.fixed(6);
    const type = decodeFrom(KEY_TYPE_CODES, r.fixed(3), 'key type');
    return { handle: key, kcv, type, algorithm: decodeFrom(ALGORITHM_CODES, r.fixed(1), 'key scheme') };
  }

  async exportKey(request: ExportKeyRequest): Promise<{ readonly cryptogram: string; readonly kcv: string }> {
    const w = new FieldWriter()
      .key(request.key)
      .key(request.kek)
      .fixed(request.scheme === 'tr31' ? 'R' : 'E', 1);
    const r = await this.send('A8', w.toString());
    return { cryptogram: r.variable(), kcv: r.fixed(6) };
  }

  async importKey(request: ImportKeyRequest): Promise<KeyInfo> {
    const w = new FieldWriter()
      .key(request.kek)
      .fixed(request.scheme === 'tr31' ? 'R' : 'E', 1)
      .variable(request.cryptogram)
      .fixed(request.type === undefined ? '---' : KEY_TYPE_CODES[request.type], 3)
      .fixed(request.algorithm === undefined ? '-' : ALGORITHM_CODES[request.algorithm], 1)
      .variable(request.expectedKcv ?? '');
    const r = await this.send('A6', w.toString());
    const handle = r.key() as KeyHandle;
    r.fixed(6);
    // The block's own type and algorithm come back through BU (one extra round trip, import only).
    return this.describeKey(handle);
  }

  private macFields(request: MacRequest): FieldWriter {
    return new FieldWriter()
      .fixed(MAC_ALGORITHM_CODES[request.algorithm], 1)
      .fixed(String(request.padding ?? 1), 1)
      .key(request.key)
      .bytes(request.data);
  }

  async generateMac(request: MacRequest): Promise<Buffer> {
    return (await this.send('M6', this.macFields(request).toString())).bytes();
  }

  async verifyMac(request: VerifyMacRequest): Promise<void> {
    await this.send('M8', this.macFields(request).bytes(request.mac).toString(), 'HSM_MAC_INVALID');
  }

  async translatePin(request: TranslatePinRequest): Promise<Buffer> {
    const w = new FieldWriter()
      .key(request.source.key)
      .key(request.target.key)
      .bytes(request.pinBlock)
      .fixed(PIN_FORMAT_CODES[request.source.format], 2)
      .fixed(PIN_FORMAT_CODES[request.target.format], 2)
      .variable(request.pan);
    // CA for a terminal PIN key, CC zone to zone: the HSM checks the key's type either way.
    const command = handleKeyType(request.source.key) === 'TPK' ? 'CA' : 'CC';
    const r = await this.send(command, w.toString(), 'HSM_PIN_INVALID');
    return r.bytes();
  }

  async translateDukptPin(request: TranslateDukptPinRequest): Promise<Buffer> {
    const w = new FieldWriter()
      .key(request.bdk)
      .key(request.target.key)
      .bytes(request.ksn)
      .bytes(request.pinBlock)
      .fixed(PIN_FORMAT_CODES[request.sourceFormat], 2)
      .fixed(PIN_FORMAT_CODES[request.target.format], 2)
      .variable(request.pan);
    return (await this.send('G0', w.toString(), 'HSM_PIN_INVALID')).bytes();
  }

  private dukptMacFields(mode: '0' | '1', request: DukptMacRequest): FieldWriter {
    return new FieldWriter()
      .fixed(mode, 1)
      .fixed(request.direction === 'request' ? 'Q' : 'S', 1)
      .key(request.bdk)
      .bytes(request.ksn)
      .bytes(request.data);
  }

  async generateDukptMac(request: DukptMacRequest): Promise<Buffer> {
    return (await this.send('GW', this.dukptMacFields('0', request).toString())).bytes();
  }

  async verifyDukptMac(request: DukptMacRequest & { readonly mac: Uint8Array }): Promise<void> {
    await this.send('GW', this.dukptMacFields('1', request).bytes(request.mac).toString(), 'HSM_MAC_INVALID');
  }

  private pinFields(request: Omit<VerifyPinRequest, 'reference'>): FieldWriter {
    return new FieldWriter()
      .key(request.source.key)
      .bytes(request.pinBlock)
      .fixed(PIN_FORMAT_CODES[request.source.format], 2)
      .variable(request.pan);
  }

  async encryptPinUnderLmk(request: Omit<VerifyPinRequest, 'reference'>): Promise<LmkPin> {
    const command = handleKeyType(request.source.key) === 'TPK' ? 'JC' : 'JE';
    const r = await this.send(command, this.pinFields(request).toString());
    return r.variable() as LmkPin;
  }

  async verifyPin(request: VerifyPinRequest): Promise<void> {
    const fields = this.pinFields(request).variable(request.reference).toString();
    await this.send(handleKeyType(request.source.key) === 'TPK' ? 'BC' : 'BE', fields, 'HSM_PIN_INVALID');
  }

  async generatePin(request: GeneratePinRequest): Promise<GeneratedPin> {
    const length = request.length ?? 6;
    if (!Number.isInteger(length) || length < 4 || length > 12)
      throw new FixpayError('HSM_INPUT_INVALID', 'a PIN is 4 to 12 digits');
    // The account field carries the number, or the number under the LMK (`Q…`) the HSM opens itself.
    const fields = new FieldWriter()
      .key(request.printerKey)
      .fixed(String(length).padStart(2, '0'), 2)
      .variable(request.lmkPan ?? request.pan)
      .toString();
    const r = await this.send('JA', fields);
    const reference = r.variable() as LmkPin;
    return { reference, mailer: r.variable() };
  }

  async generateCardVerificationValue(request: CardVerificationRequest): Promise<string> {
    const fields = new FieldWriter()
      .key(request.cvk)
      .fixed(request.expiry, 4)
      .fixed(request.serviceCode, 3)
      .variable(request.pan)
      .toString();
    return (await this.send('CW', fields)).fixed(3);
  }

  async encryptPanUnderLmk(pan: string): Promise<LmkPan> {
    return (await this.send('Y4', new FieldWriter().variable(pan).toString())).variable() as LmkPan;
  }

  async sealData(request: SealDataRequest): Promise<SealedData> {
    const fields = new FieldWriter()
      .key(request.key)
      .bytes(request.aad ?? new Uint8Array(0))
      .bytes(request.data)
      .toString();
    const r = await this.send('M0', fields);
    const kcv = r.fixed(6);
    const iv = r.fixed(24);
    return { format: 'AES-GCM', kcv, iv, data: r.variable() };
  }

  /** Never over the network: opening sealed data is the console's (operator mode). */
  openSealedData(_request: OpenSealedDataRequest): Promise<Buffer> {
    return Promise.reject(new FixpayError('HSM_OPERATOR_MODE_REQUIRED', 'opening sealed data is not served remotely'));
  }

  private psamFields(request: PsamSessionRequest): FieldWriter {
    if (request.factors.length > 9) throw new FixpayError('HSM_INPUT_INVALID', 'at most 9 diversification levels');
    const w = new FieldWriter().key(request.masterKey).fixed(String(request.factors.length), 1);
    for (const f of request.factors) w.fixed(hex(f), 16);
    return w.fixed(hex(request.random), 8).fixed(request.counter.toString(16).toUpperCase().padStart(4, '0'), 4);
  }

  async derivePsamSessionKey(request: PsamSessionRequest): Promise<KeyInfo> {
    return this.keyInfo(await this.send('Y0', this.psamFields(request).toString()), 'PSAM_SESSION', 'des');
  }

  private psamMacFields(mode: '0' | '1', request: PsamMacRequest): string {
    const head = new FieldWriter()
      .fixed(mode, 1)
      .fixed(MAC_ALGORITHM_CODES[request.algorithm], 1)
      .fixed(String(request.padding ?? 1), 1)
      .toString();
    const tail = new FieldWriter()
      .variable(request.lastCounter === undefined ? '' : request.lastCounter.toString(16).toUpperCase())
      .bytes(request.data)
      .toString();
    return head + this.psamFields(request).toString() + tail;
  }

  async generatePsamMac(request: PsamMacRequest): Promise<Buffer> {
    return (await this.send('Y2', this.psamMacFields('0', request))).bytes();
  }

  async verifyPsamMac(request: VerifyPsamMacRequest): Promise<void> {
    const fields = this.psamMacFields('1', request) + new FieldWriter().bytes(request.mac).toString();
    await this.send('Y2', fields, 'HSM_MAC_INVALID');
  }
}
