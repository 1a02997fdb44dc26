/**
 * The simulated POS phone: PSAM, card reader (track 2 of the configured test card), PIN pad
 * (ISO 9564 format 0 under the TPK), display, and a line it dials over TCP PCM or SIP/RTP,
 * speaking FSK through the real modem and link layer (`TerminalEndpoint`) with the device
 * profile of its config. One call carries any number of transactions until `hangUp`.
 */
import { createHash } from 'node:crypto';
import { addNoise, Rng } from '../../channel-engine/audio';
import { loadProfiles, requireProfile, BUILTIN_PROFILES_DIR } from '../../channel-engine/profiles';
import type { DeviceProfile } from '../../channel-engine/profiles';
import { TerminalEndpoint } from '../../channel-engine/session';
import type { TerminalEndpointOptions } from '../../channel-engine/session';
import { FixpayError, isFixpayError } from '../../domain/errors';
import { maskPan } from '../../domain/masking';
import { fromHex, toHex } from '../../hsm/crypto/bytes';
import { PsamEmulator } from '../psam/psam';
import type { PsamTransaction } from '../psam/psam';
import { KeyLoadError, TerminalSecureElement } from '../psam/terminal-secure-element';
import type { StateStore, TerminalConfig, TerminalState, Transport } from './config';
import { FileStateStore } from './config';
import { lineTimeMs, SipLine, TcpPcmLine } from './line';
import type { TerminalLine } from './line';
import { buildFinancialRequest, buildSignOnRequest, parseResponse, responseText, STAN_MAX } from './messages';
import type { BuiltRequest, MacSigner, ParsedResponse, TerminalIdentity, TransactionKind } from './messages';

/** Logger shape until `infra/logging` is wired here; never given card data. */
export interface TerminalLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
const SILENT: TerminalLogger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

/** Per-run options (scripts, tests, CLI flags) on top of the config file. */
export interface TerminalRunOptions {
  /** Add seeded white noise at this SNR (dB, against the profile's transmit level) to audio both ways. */
  readonly snrDb?: number;
  /** Seed of the noise generator (default 1). */
  readonly noiseSeed?: number;
  /** Overrides `line.callerNumber` (the ANI the host sees). */
  readonly callerNumber?: string;
  readonly transport?: Transport;
  readonly host?: string;
  readonly port?: number;
  /** Overrides `line.pace` (TCP PCM only). */
  readonly pace?: boolean;
  /** PSAM random source (default: crypto random). */
  readonly random?: (bytes: number) => Buffer;
  /** Where the state lives (default: the config's state file). */
  readonly stateStore?: StateStore;
  /** Device profiles (default: built-in plus the config's folders). */
  readonly profiles?: ReadonlyMap<string, DeviceProfile>;
  /** Link-layer fault injection (tests). */
  readonly endpoint?: Partial<TerminalEndpointOptions>;
  readonly logger?: TerminalLogger;
  /** Called with the display's lines whenever they change. */
  readonly onDisplay?: (lines: readonly string[]) => void;
}

export type Outcome = 'approved' | 'declined' | 'dropped' | 'failed';

export interface TransactionResult {
  readonly kind: TransactionKind;
  /** True when this was `repeatLast` (the earlier request's bytes sent again). */
  readonly repeated: boolean;
  readonly outcome: Outcome;
  readonly stan: string | undefined;
  readonly responseCode: string | undefined;
  readonly responseText: string | undefined;
  readonly authorizationCode: string | undefined;
  readonly rrn: string | undefined;
  /** Balance in minor units (balance inquiries, and purchases when the host sends field 54). */
  readonly balanceMinor: number | undefined;
  /** For `failed`: the result code. */
  readonly failure: { readonly code: string; readonly codeName: string; readonly message: string } | undefined;
  /** SHA-256 of the request payload (safe to print; equal digests = byte-identical requests). */
  readonly requestDigest: string | undefined;
  readonly requestBytes: number;
  /** Audio time on the line during this transaction (both directions, ours + the host's), ms. */
  readonly lineTimeMs: number;
  /** Wall-clock time of the transaction including dialling, ms. */
  readonly wallTimeMs: number;
  /** Link-layer retransmissions by the terminal, NAKs it received, frames it rejected. */
  readonly retransmissions: number;
  readonly naksReceived: number;
  readonly framesRejected: number;
  readonly display: readonly string[];
}

/** Display: 4 lines of 20 characters, like the phones' LCDs. */
export const DISPLAY_LINES = 4;
export const DISPLAY_COLUMNS = 20;

interface Call {
  readonly line: TerminalLine;
  readonly endpoint: TerminalEndpoint;
  readonly ended: Promise<string>;
  isEnded: boolean;
}

interface Pending {
  readonly kind: TransactionKind;
  readonly request: BuiltRequest;
  readonly psam: PsamTransaction;
}

/** Formats minor units as `1,234.56`. */
export function formatAmount(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  const units = Math.floor(abs / 100).toLocaleString('en-US');
  return `${sign}${units}.${String(abs % 100).padStart(2, '0')}`;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const timeout = <T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class PosTerminal {
  readonly profile: DeviceProfile;
  private readonly identity: TerminalIdentity;
  private readonly psam: PsamEmulator;
  private readonly secureElement: TerminalSecureElement;
  private readonly store: StateStore;
  private state: TerminalState;
  private readonly log: TerminalLogger;
  private call: Call | undefined;
  private pending: Pending | undefined;
  private displayLines: string[] = ['FIXPAY POS', '', '', ''];
  private readonly rxRng: Rng | undefined;
  private readonly txRng: Rng | undefined;
  /** True once working keys are loaded (sign-on done now or in an earlier run). */
  signedOn = false;

  /** Throws TERMINAL_SIM_CONFIG_INVALID for an unknown profile or unusable stored keys. */
  constructor(
    readonly config: TerminalConfig,
    private readonly options: TerminalRunOptions = {},
  ) {
    this.log = options.logger ?? SILENT;
    const profiles = options.profiles ?? loadProfiles([BUILTIN_PROFILES_DIR, ...config.profilesDirs]);
    try {
      this.profile = requireProfile(profiles, config.profile);
    } catch (e) {
      throw new FixpayError('TERMINAL_SIM_CONFIG_INVALID', `profile ${config.profile} is not known`, { cause: e });
    }
    this.identity = {
      terminalId: config.terminalId,
      merchantId: config.merchantId,
      tpdu: { id: 0x60, destination: config.tpdu.destination, source: config.tpdu.source },
      applicationHeader: config.applicationHeader,
      currency: config.currency,
      operatorCode: config.operatorCode,
    };
    this.store = options.stateStore ?? new FileStateStore(config.statePath);
    this.state = this.store.load();
    const issue = {
      serial: config.psam.serial,
      terminalNumber: config.psam.terminalNumber,
      counter: this.state.psamCounter,
      ...(options.random === undefined ? {} : { random: options.random }),
    };
    this.psam =
      config.psam.masterKey !== undefined
        ? PsamEmulator.issue(config.psam.masterKey, issue)
        : new PsamEmulator(fromHex(config.psam.diversifiedKey ?? ''), issue);
    this.secureElement = new TerminalSecureElement(config.keys.tmk);
    const wk = this.state.workingKeys;
    if (wk !== undefined) {
      try {
        this.secureElement.loadWorkingKeys(wk.layout, fromHex(wk.field62));
        this.signedOn = true;
      } catch {
        // Keys from another TMK: the terminal must sign on again.
        this.log.warn({}, 'stored working keys do not load; sign on again');
      }
    }
    if (options.snrDb !== undefined) {
      const seed = options.noiseSeed ?? 1;
      this.rxRng = new Rng(seed);
      this.txRng = new Rng(seed + 1);
    }
  }

  get display(): readonly string[] {
    return this.displayLines;
  }

  get lastStan(): number {
    return this.state.stan;
  }

  get connected(): boolean {
    return this.call !== undefined && !this.call.isEnded;
  }

  /** Shows up to four lines (cut to 20 columns). */
  show(...lines: string[]): void {
    this.displayLines = Array.from({ length: DISPLAY_LINES }, (_, i) => (lines[i] ?? '').slice(0, DISPLAY_COLUMNS));
    this.options.onDisplay?.(this.displayLines);
  }

  /** 0800 sign-on: loads the working keys of the 0810 (field 62 under the TMK). */
  signOn(): Promise<TransactionResult> {
    return this.transact('sign-on', (signer, stan) =>
      buildSignOnRequest(
        this.identity,
        { stan, batch: this.state.batch, layout: this.config.keys.signOnLayout },
        signer,
      ),
    );
  }

  /** 0200 purchase of `amountMinor` with the configured card; `pin` defaults to the card's. */
  purchase(amountMinor: number, pin?: string, opts: { dropAfterSend?: boolean } = {}): Promise<TransactionResult> {
    return this.financial('purchase', amountMinor, pin, opts);
  }

  /** 0200 balance inquiry (310000). */
  balance(pin?: string, opts: { dropAfterSend?: boolean } = {}): Promise<TransactionResult> {
    return this.financial('balance', undefined, pin, opts);
  }

  /** Sends the previous request again, byte for byte (same STAN, PSAM random/counter and MAC). */
  async repeatLast(opts: { dropAfterSend?: boolean } = {}): Promise<TransactionResult> {
    const pending = this.pending;
    const started = performance.now();
    if (pending === undefined)
      return this.failed('purchase', true, started, new FixpayError('TERMINAL_SIM_NOTHING_TO_REPEAT'), undefined);
    return this.exchange(pending, true, started, opts.dropAfterSend ?? false);
  }

  /** Ends the call: REL, then the host hangs up (or we do after a grace period). */
  async hangUp(): Promise<void> {
    const call = this.call;
    this.call = undefined;
    if (call === undefined || call.isEnded) {
      this.show('FIXPAY POS', '', 'READY');
      return;
    }
    await sleep(this.config.timeouts.releaseDelayMs);
    call.endpoint.release();
    const grace = this.profile.timers.releaseDelayMs + 2000;
    let graceTimer: NodeJS.Timeout | undefined;
    const hostHungUp = await Promise.race([
      call.ended.then(() => true),
      new Promise<boolean>((resolve) => {
        graceTimer = setTimeout(() => resolve(false), grace);
      }),
    ]);
    clearTimeout(graceTimer);
    if (!hostHungUp) await call.line.hangup();
    call.isEnded = true;
    call.endpoint.dispose();
    this.show('FIXPAY POS', '', 'READY');
  }

  /** Drops the call at once (no REL). */
  dropCall(): void {
    const call = this.call;
    this.call = undefined;
    if (call === undefined) return;
    call.isEnded = true;
    call.line.drop();
    call.endpoint.dispose();
  }

  private financial(
    kind: 'purchase' | 'balance',
    amountMinor: number | undefined,
    pin: string | undefined,
    opts: { dropAfterSend?: boolean },
  ): Promise<TransactionResult> {
    const card = this.config.card;
    this.show(kind === 'purchase' ? 'PURCHASE' : 'BALANCE', maskPan(card.track2.pan).slice(-DISPLAY_COLUMNS));
    return this.transact(
      kind,
      (signer, stan) => {
        if (!this.signedOn) throw new FixpayError('TERMINAL_SIM_NOT_SIGNED_ON');
        const pinBlock = this.secureElement.encryptPin(pin ?? card.pin, card.track2.pan);
        return buildFinancialRequest(
          this.identity,
          {
            kind,
            stan,
            ...(amountMinor === undefined ? {} : { amountMinor }),
            track2: card.track2,
            pinBlock,
            batch: this.state.batch,
          },
          signer,
        );
      },
      opts.dropAfterSend ?? false,
    );
  }

  private nextStan(): number {
    const stan = this.state.stan >= STAN_MAX ? 1 : this.state.stan + 1;
    return stan;
  }

  private async transact(
    kind: TransactionKind,
    build: (signer: MacSigner, stan: number) => BuiltRequest,
    dropAfterSend = false,
  ): Promise<TransactionResult> {
    const started = performance.now();
    if (kind !== 'sign-on' && !this.signedOn)
      return this.failed(kind, false, started, new FixpayError('TERMINAL_SIM_NOT_SIGNED_ON'), undefined);
    let pending: Pending;
    try {
      const stan = this.nextStan();
      const psam = this.psam.beginTransaction();
      const signer: MacSigner = {
        psam: {
          serial: this.config.psam.serial,
          terminalNumber: this.psam.readTerminalNumber(),
          random: toHex(psam.random),
          counter: psam.counter,
        },
        mac: (d) => psam.mac(d, 'unionpay-ecb'),
      };
      const request = build(signer, stan);
      // Like a terminal: the STAN and the PSAM counter are spent once the message exists.
      this.state = { ...this.state, stan, psamCounter: psam.counter };
      this.store.save(this.state);
      pending = { kind, request, psam };
      this.pending = pending;
    } catch (e) {
      return this.failed(kind, false, started, e, undefined);
    }
    return this.exchange(pending, false, started, dropAfterSend);
  }

  private async exchange(
    pending: Pending,
    repeated: boolean,
    started: number,
    dropAfterSend: boolean,
  ): Promise<TransactionResult> {
    const { kind, request } = pending;
    let call: Call | undefined;
    const before = { sent: 0, received: 0, retx: 0, naks: 0, rejected: 0 };
    const snapshot = (c: Call): typeof before => ({
      sent: c.line.samplesSent,
      received: c.line.samplesReceived,
      retx: c.endpoint.counters.retransmissions,
      naks: c.endpoint.counters.naksReceived,
      rejected: c.endpoint.counters.rejected,
    });
    const stats = (): Pick<
      TransactionResult,
      'lineTimeMs' | 'retransmissions' | 'naksReceived' | 'framesRejected' | 'wallTimeMs'
    > => {
      const now = call === undefined ? before : snapshot(call);
      return {
        lineTimeMs: Math.round(lineTimeMs(now.sent - before.sent + now.received - before.received)),
        retransmissions: now.retx - before.retx,
        naksReceived: now.naks - before.naks,
        framesRejected: now.rejected - before.rejected,
        wallTimeMs: Math.round(performance.now() - started),
      };
    };
    try {
      call = await this.ensureCall();
      Object.assign(before, snapshot(call));
      this.show(this.display[0] ?? '', this.display[1] ?? '', 'SENDING...');
      const ended = call.ended.then((reason) => {
        throw new FixpayError('TERMINAL_SIM_CALL_DROPPED', `line ended: ${reason}`);
      });
      ended.catch(() => {});
      try {
        await Promise.race([call.endpoint.send(request.payload), ended]);
      } catch (e) {
        if (isFixpayError(e)) throw e;
        throw new FixpayError('TERMINAL_SIM_LINK_FAILED', e instanceof Error ? e.message : 'link', { cause: e });
      }
      if (dropAfterSend) {
        this.dropCall();
        this.show(this.display[0] ?? '', 'CALL DROPPED', `STAN ${request.stan}`);
        return {
          ...this.base(kind, repeated, 'dropped', request),
          ...stats(),
          display: this.display,
        };
      }
      this.show(this.display[0] ?? '', this.display[1] ?? '', 'WAITING...');
      const payload = await timeout(
        Promise.race([call.endpoint.receive(), ended]),
        this.config.timeouts.responseMs,
        () => new FixpayError('TERMINAL_SIM_NO_RESPONSE', `${this.config.timeouts.responseMs} ms`),
      );
      const response = parseResponse(payload, request, this.identity);
      this.checkMac(pending, response);
      const result = this.conclude(pending, repeated, response);
      return { ...result, ...stats(), display: this.display };
    } catch (e) {
      const r = this.failed(kind, repeated, started, e, request);
      return { ...r, ...stats() };
    }
  }

  private checkMac(pending: Pending, response: ParsedResponse): void {
    if (response.mac === undefined || response.macData === undefined) {
      // Hosts do not MAC some declines (e.g. A0 after a MAC failure); an approval must be MACed.
      if (response.responseCode === '00')
        throw new FixpayError('TERMINAL_SIM_RESPONSE_MAC_INVALID', 'an approval without field 64');
      return;
    }
    if (!pending.psam.verify(response.macData, response.mac, 'unionpay-ecb'))
      throw new FixpayError('TERMINAL_SIM_RESPONSE_MAC_INVALID');
  }

  private conclude(
    pending: Pending,
    repeated: boolean,
    r: ParsedResponse,
  ): Omit<
    TransactionResult,
    'display' | 'lineTimeMs' | 'wallTimeMs' | 'retransmissions' | 'naksReceived' | 'framesRejected'
  > {
    const approved = r.responseCode === '00';
    const title = pending.kind === 'sign-on' ? 'SIGN ON' : pending.kind === 'purchase' ? 'PURCHASE' : 'BALANCE';
    if (pending.kind === 'sign-on' && approved) {
      if (r.field62 === undefined) throw new FixpayError('TERMINAL_SIM_KEY_LOAD_FAILED', 'no field 62');
      const layout = this.config.keys.signOnLayout;
      try {
        this.secureElement.loadWorkingKeys(layout, r.field62);
      } catch (e) {
        const detail = e instanceof KeyLoadError ? `${e.role} check value` : 'field 62 layout';
        throw new FixpayError('TERMINAL_SIM_KEY_LOAD_FAILED', detail, { cause: e });
      }
      this.signedOn = true;
      const batch = r.batch !== undefined && /^\d{6}$/.test(r.batch) ? r.batch : this.state.batch;
      this.state = { ...this.state, batch, workingKeys: { layout, field62: toHex(r.field62) } };
      this.store.save(this.state);
    }
    const balanceMinor = r.balance?.amountMinor;
    const text = responseText(r.responseCode);
    if (approved) {
      const lines = [title, 'APPROVED'];
      if (r.authorizationCode !== undefined) lines.push(`AUTH ${r.authorizationCode}`);
      if (balanceMinor !== undefined) lines.push(`BAL ${formatAmount(balanceMinor)}`);
      else if (pending.kind === 'sign-on') lines.push(`BATCH ${this.state.batch}`);
      this.show(...lines);
    } else this.show(title, 'DECLINED', `${r.responseCode} ${text}`);
    return {
      ...this.base(pending.kind, repeated, approved ? 'approved' : 'declined', pending.request),
      responseCode: r.responseCode,
      responseText: text,
      authorizationCode: r.authorizationCode,
      rrn: r.rrn,
      balanceMinor,
    };
  }

  private base(
    kind: TransactionKind,
    repeated: boolean,
    outcome: Outcome,
    request: BuiltRequest | undefined,
  ): Omit<
    TransactionResult,
    'display' | 'lineTimeMs' | 'wallTimeMs' | 'retransmissions' | 'naksReceived' | 'framesRejected'
  > {
    return {
      kind,
      repeated,
      outcome,
      stan: request?.stan,
      responseCode: undefined,
      responseText: undefined,
      authorizationCode: undefined,
      rrn: undefined,
      balanceMinor: undefined,
      failure: undefined,
      requestDigest: request === undefined ? undefined : sha256(request.payload),
      requestBytes: request?.payload.length ?? 0,
    };
  }

  private failed(
    kind: TransactionKind,
    repeated: boolean,
    started: number,
    e: unknown,
    request: BuiltRequest | undefined,
  ): TransactionResult {
    const err = isFixpayError(e) ? e : new FixpayError('INTERNAL', e instanceof Error ? e.message : 'failure');
    this.log.warn({ kind, code: err.code, stan: request?.stan }, 'terminal transaction failed');
    if (err.codeName === 'TERMINAL_SIM_CALL_DROPPED' || err.codeName === 'TERMINAL_SIM_LINK_FAILED') this.dropCall();
    if (err.codeName === 'TERMINAL_SIM_NO_RESPONSE') this.dropCall();
    this.show(
      'ERROR',
      err.code,
      err.message.slice(0, DISPLAY_COLUMNS),
      err.message.slice(DISPLAY_COLUMNS, 2 * DISPLAY_COLUMNS),
    );
    return {
      ...this.base(kind, repeated, 'failed', request),
      failure: { code: err.code, codeName: err.codeName, message: err.message },
      lineTimeMs: 0,
      wallTimeMs: Math.round(performance.now() - started),
      retransmissions: 0,
      naksReceived: 0,
      framesRejected: 0,
      display: this.display,
    };
  }

  private async ensureCall(): Promise<Call> {
    if (this.call !== undefined && !this.call.isEnded) return this.call;
    const o = this.options;
    const lc = this.config.line;
    const target = {
      host: o.host ?? lc.host,
      port: o.port ?? lc.port,
      callerNumber: o.callerNumber ?? lc.callerNumber,
      calledNumber: lc.calledNumber,
    };
    const transport = o.transport ?? lc.transport;
    const line: TerminalLine =
      transport === 'sip' ? new SipLine(target, lc.localHost) : new TcpPcmLine(target, o.pace ?? lc.pace);
    const endpoint = new TerminalEndpoint(this.profile, o.endpoint ?? {});
    let resolveEnded: (reason: string) => void = () => {};
    const ended = new Promise<string>((resolve) => {
      resolveEnded = resolve;
    });
    const call: Call = { line, endpoint, ended, isEnded: false };
    const level = this.profile.modem.levelDbm0;
    line.onEnd = (reason) => {
      call.isEnded = true;
      endpoint.dispose();
      resolveEnded(reason);
    };
    line.onAudio = (pcm) => {
      endpoint.pushAudio(this.rxRng === undefined ? pcm : addNoise(pcm, level, this.options.snrDb ?? 0, this.rxRng));
    };
    endpoint.onAudioOut = (pcm) => {
      if (call.isEnded) return;
      const out = this.txRng === undefined ? pcm : addNoise(pcm, level, this.options.snrDb ?? 0, this.txRng);
      line.play(out, () => {
        if (!call.isEnded) endpoint.playoutDone();
      });
    };
    this.show('DIALING', target.calledNumber);
    this.log.info({ transport, host: target.host, port: target.port }, 'dialing');
    await line.dial(this.config.timeouts.dialMs);
    this.call = call;
    this.show('CONNECTED', target.calledNumber);
    try {
      await timeout(
        Promise.race([
          endpoint.waitForEst(),
          ended.then((r) => {
            throw new FixpayError('TERMINAL_SIM_CALL_DROPPED', `line ended before EST: ${r}`);
          }),
        ]),
        this.config.timeouts.estMs,
        () => new FixpayError('TERMINAL_SIM_NO_HOST', `${this.config.timeouts.estMs} ms`),
      );
    } catch (e) {
      this.dropCall();
      throw e;
    }
    return call;
  }
}
