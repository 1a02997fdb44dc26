/**
 * The channel engine: line drivers → FSK modem → link layer (frame hunter + ARQ) → terminal
 * session → the platform's RequestHandler, and back. One CallChannel per live call; all protocol
 * decisions live in the pure machines (`link/arq.ts`, `session/session.ts`); this file only
 * performs their actions (audio, timers, handler calls) and counts what happens.
 */
import { FixpayError } from '../domain/errors';
import type { ResultCodeName } from '../domain/errors';
import { scrubText } from '../domain/masking';
import { arqStep, encodeFrame, FrameHunter, INITIAL_ARQ_STATE } from './link';
import type { ArqAction, ArqEvent, ArqState, Frame, HuntEvent } from './link';
import { SILENT_LOGGER } from './lines/types';
import type { CallListener, CallOffer, LineCall, LineDriver, LineHost, LineLogger, OfferAnswer } from './lines/types';
import { createDemodulator, createModulator } from './modem';
import type { Demodulator, ModemEvent, Modulator } from './modem';
import { SEIZURE_BYTE } from './profiles';
import type { DeviceProfile } from './profiles';
import { INITIAL_SESSION, sessionStep } from './session';
import type { SessionAction, SessionEvent, SessionState } from './session';

/** One decoded terminal message, handed to the platform. */
export interface TerminalRequest {
  readonly nodeId: string;
  readonly lineId: string;
  /** From the signalling (ANI), never from the terminal's data. */
  readonly callerNumber: string | undefined;
  readonly calledNumber: string | undefined;
  readonly profileId: string;
  readonly payload: Uint8Array;
  /**
   * Resolves true once the terminal ACKed the answer to this request, false when the answer could
   * not be delivered (retries exhausted, or the call ended first). A platform uses it to undo a
   * transaction whose approval never reached the terminal. Never rejects.
   */
  readonly answerSettled?: Promise<boolean>;
  /**
   * Keeps the call open this long after the answer to this request was ACKed, instead of the
   * profile's idle timeout: the answer is a screen and a person is keying the reply (ADR 0018).
   */
  readonly holdCall?: (ms: number) => void;
}

/**
 * The platform port: answers one terminal request with the bytes to send back. Throwing (or a
 * rejected promise) ends the call with SESSION_HANDLER_FAILED after a REL.
 */
export type RequestHandler = (request: TerminalRequest) => Promise<Uint8Array>;

/**
 * The profile port, asked at call setup before the modem starts: the device profile id for this
 * caller (the access node looks up the terminal bound to the caller number), or undefined when it
 * has none. Meant never to reject and to answer quickly (the implementation bounds its own wait);
 * a rejection or an id the engine does not know falls back to the called number's or the default
 * profile, counted as `profileFallbacks`.
 */
export type ProfileResolver = (offer: CallOffer) => Promise<string | undefined>;

/** Most audio kept for a call while its profile is being resolved (2 s at 8 kHz); older is dropped. */
export const SETUP_AUDIO_MAX_SAMPLES = 16_000;

export interface ChannelEngineOptions {
  readonly nodeId: string;
  readonly profiles: ReadonlyMap<string, DeviceProfile>;
  readonly defaultProfileId: string;
  /** Called number → profile id, for nodes serving several terminal models. */
  readonly profileByCalledNumber: Readonly<Record<string, string>>;
  /** Caller → profile, asked first (see ProfileResolver); undefined: no per-caller profiles. */
  readonly resolveProfile: ProfileResolver | undefined;
  readonly handler: RequestHandler;
  /** Longest wait for the platform's answer. */
  readonly handlerTimeoutMs: number;
  /** Most concurrent calls (offers beyond get ENGINE_LINES_EXHAUSTED). */
  readonly maxLines: number;
  /**
   * Lines kept for callers `mayUseReserve` admits (trusted trunks by default): others get
   * ENGINE_LINES_RESERVED once only these are free. Below `maxLines` (checked at construction).
   */
  readonly reservedLines: number;
  /** Who may take a reserved line; default: offers from a trusted source. */
  readonly mayUseReserve: (offer: CallOffer) => boolean;
  /** Payload of our EST frame (e.g. a host id); empty by default. */
  readonly estPayload: Uint8Array;
  /** Told when a call ended, whatever the reason (a run waiting on it must know; ADR 0018). */
  readonly onCallEnded: ((lineId: string, outcome: ResultCodeName) => void) | undefined;
}

/** Longest a screen may hold a call waiting for a person's reply (ADR 0018). */
export const MAX_HOLD_MS = 5 * 60_000;

/** Silence appended to every burst we send (20 ms). */
export const TAIL_SILENCE_SAMPLES = 160;

export const DEFAULT_ENGINE_OPTIONS = {
  nodeId: 'node-1',
  defaultProfileId: 'es201912-v23',
  profileByCalledNumber: {},
  resolveProfile: undefined,
  handlerTimeoutMs: 30000,
  // About half a core of idle lines at the measured CPU per line (docs/adr/0015).
  maxLines: 1000,
  reservedLines: 0,
  mayUseReserve: (offer: CallOffer): boolean => offer.trustedSource === true,
  estPayload: new Uint8Array(0),
  onCallEnded: undefined,
} as const;

export interface EngineCounters {
  callsOffered: number;
  callsAnswered: number;
  callsRefused: number;
  callsEnded: number;
  framesReceived: number;
  framesSent: number;
  retransmissions: number;
  badFrames: number;
  junkBytes: number;
  framingErrors: number;
  duplicates: number;
  naksReceived: number;
  requests: number;
  responses: number;
  prompts: number;
  handlerFailures: number;
  bursts: number;
  /** Offers refused because only reserved lines were free. */
  callsRefusedReserved: number;
  /** Calls ended by a fault (an exception) inside their own processing. */
  callFaults: number;
  /** Calls whose profile came from the profile resolver (the caller's terminal). */
  profilesResolved: number;
  /** Calls the profile resolver had no profile for (caller number bound to no terminal). */
  profilesUnresolved: number;
  /** Calls whose resolver failed or named an unknown profile (called-number or default profile). */
  profileFallbacks: number;
}

export interface EngineMetrics extends EngineCounters {
  readonly linesActive: number;
  /** Capacity: the line limit and the share of it kept for trusted callers. */
  readonly linesMax: number;
  readonly linesReserved: number;
  /** Lines an untrusted caller could still take now. */
  readonly linesFreeUnreserved: number;
  readonly draining: boolean;
  /** Rejected frames by result code name. */
  readonly badFramesByCode: Readonly<Record<string, number>>;
  /** Ended calls by outcome code name. */
  readonly outcomes: Readonly<Record<string, number>>;
  /** SNR estimate of the last received burst, and the mean over all bursts (dB; NaN before any). */
  readonly lastSnrDb: number;
  readonly meanSnrDb: number;
  /** Driver counters (SIP malformed, RTP lost, …) prefixed by driver name. */
  readonly drivers: Readonly<Record<string, number>>;
}

export interface LiveCallInfo {
  readonly lineId: string;
  readonly callerNumber: string | undefined;
  readonly profileId: string;
  readonly state: SessionState['name'];
}

interface Pending {
  resolve(): void;
  reject(e: Error): void;
}

class CallChannel implements CallListener {
  private session: SessionState = INITIAL_SESSION;
  private arq: ArqState = INITIAL_ARQ_STATE;
  private readonly hunter: FrameHunter;
  private readonly demodulator: Demodulator;
  private readonly modulator: Modulator;
  private sessionTimer: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private prompt: Pending | undefined;
  private promptWaiter: Pending | undefined;
  /** Settles the answer being sent (response frames only; prompts use `promptWaiter`). */
  private responseSettled: ((acked: boolean) => void) | undefined;
  /** How long to keep the call after the answer being sent was ACKed (a screen), once. */
  private holdMs: number | undefined;
  private ended = false;

  constructor(
    private readonly engine: ChannelEngine,
    readonly call: LineCall,
    readonly profile: DeviceProfile,
  ) {
    this.hunter = new FrameHunter(profile.link);
    const modemOptions = {
      modulation: profile.modem.modulation,
      levelDbm0: profile.modem.levelDbm0,
      leadInMarkBits: profile.modem.leadInMarkBits,
      trailMarkBits: profile.modem.trailMarkBits,
    };
    this.demodulator = createDemodulator(modemOptions);
    this.modulator = createModulator(modemOptions);
  }

  get state(): SessionState['name'] {
    return this.session.name;
  }

  start(): void {
    this.sessionEvent({ type: 'accept' });
  }

  // ---- line events ----

  onAudio(pcm: Int16Array): void {
    if (this.ended) return;
    for (const e of this.demodulator.push(pcm)) this.onModem(e);
  }

  onPlayoutDone(): void {
    this.arqEvent({ type: 'tx-done' });
  }

  onHangup(): void {
    this.sessionEvent({ type: 'remote-hangup' });
  }

  // ---- platform requests ----

  sendPrompt(payload: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.prompt !== undefined) {
        reject(new FixpayError('SESSION_NOT_ACTIVE', 'a prompt is already in flight'));
        return;
      }
      this.prompt = { resolve, reject };
      this.sessionEvent({ type: 'prompt', payload });
    });
  }

  hangup(codeName: ResultCodeName): void {
    this.sessionEvent({ type: 'hangup-requested', codeName });
  }

  // ---- modem → link ----

  private onModem(e: ModemEvent): void {
    const c = this.engine.counters;
    switch (e.type) {
      case 'carrier-on':
        return;
      case 'byte':
        this.onHunt(this.hunter.push([e.value]));
        return;
      case 'framing-error':
        c.framingErrors++;
        return;
      case 'carrier-off':
        c.bursts++;
        this.engine.recordSnr(e.snrDb);
        this.onHunt(this.hunter.endOfBurst());
        c.junkBytes += this.hunter.stats.junkBytes;
        this.hunter.stats.junkBytes = 0;
        return;
    }
  }

  private onHunt(events: HuntEvent[]): void {
    for (const ev of events) {
      if (this.ended) return;
      if (ev.type === 'rejected') {
        this.engine.countBadFrame(ev.rejection.codeName);
        this.engine.log.debug(
          { lineId: this.call.offer.lineId, code: ev.rejection.codeName, detail: ev.rejection.detail },
          'bad frame',
        );
        this.arqEvent({ type: 'rejected', rejection: ev.rejection });
      } else {
        this.engine.counters.framesReceived++;
        this.sessionEvent({ type: 'frame-received' });
        this.arqEvent({ type: 'frame', frame: ev.frame });
      }
    }
  }

  // ---- machines ----

  private arqEvent(event: ArqEvent): void {
    if (this.ended) return;
    const r = arqStep(this.arq, event, this.profile.link, this.profile.timers);
    this.arq = r.state;
    for (const a of r.actions) this.arqAction(a);
  }

  private arqAction(a: ArqAction): void {
    const c = this.engine.counters;
    switch (a.type) {
      case 'transmit':
        if (a.retransmission) c.retransmissions++;
        this.transmit(a.frame);
        return;
      case 'start-ack-timer':
        this.clearAckTimer();
        this.ackTimer = setTimeout(() => {
          this.ackTimer = undefined;
          this.guard('ack-timer', () => this.arqEvent({ type: 'ack-timeout' }));
        }, a.ms);
        return;
      case 'cancel-ack-timer':
        this.clearAckTimer();
        return;
      case 'deliver':
        this.sessionEvent({ type: 'request', payload: a.message });
        return;
      case 'sent': {
        if (this.promptWaiter === undefined) this.settleResponse(true);
        this.settlePrompt(true, 'OK');
        const holdMs = this.holdMs;
        this.holdMs = undefined;
        this.sessionEvent(holdMs === undefined ? { type: 'sent' } : { type: 'sent', holdMs });
        return;
      }
      case 'send-failed':
        if (this.promptWaiter === undefined) this.settleResponse(false);
        this.settlePrompt(false, a.codeName);
        this.sessionEvent({ type: 'send-failed', codeName: a.codeName });
        return;
      case 'control':
        if (a.frame.kind === 'rel') this.sessionEvent({ type: 'rel-received' });
        return;
      case 'count':
        if (a.counter === 'duplicate') c.duplicates++;
        else if (a.counter === 'nak-received') c.naksReceived++;
        return;
    }
  }

  private sessionEvent(event: SessionEvent): void {
    if (this.ended) return;
    const r = sessionStep(this.session, event, this.profile.timers);
    this.session = r.state;
    for (const a of r.actions) this.sessionAction(a);
  }

  private sessionAction(a: SessionAction): void {
    switch (a.type) {
      case 'answer':
      case 'reject':
        return; // the driver answered when the engine accepted the offer
      case 'send-control':
        this.transmit(a.frame === 'est' ? { kind: 'est', payload: this.engine.options.estPayload } : { kind: 'rel' });
        return;
      case 'send-message':
        if (a.purpose === 'response') this.engine.counters.responses++;
        else this.engine.counters.prompts++;
        if (a.purpose === 'prompt') this.promptSent();
        this.arqEvent({ type: 'send', message: a.payload });
        return;
      case 'handle-request':
        this.engine.counters.requests++;
        this.handle(a.payload);
        return;
      case 'set-timer':
        this.clearSessionTimer();
        this.sessionTimer = setTimeout(() => {
          this.sessionTimer = undefined;
          this.guard('session-timer', () => this.sessionEvent({ type: 'timer', timer: a.timer }));
        }, a.ms);
        return;
      case 'clear-timer':
        this.clearSessionTimer();
        return;
      case 'prompt-refused': {
        const p = this.prompt;
        this.prompt = undefined;
        p?.reject(new FixpayError(a.codeName, `call is ${this.session.name}`));
        return;
      }
      case 'hangup':
        this.call.hangup();
        return;
      case 'ended':
        this.finish(a.outcome);
        return;
    }
  }

  private promptSent(): void {
    // The prompt's promise settles when the ARQ reports sent or send-failed.
    this.promptWaiter = this.prompt;
    this.prompt = undefined;
  }

  private handle(payload: Uint8Array): void {
    const offer = this.call.offer;
    // A newer request's answer supersedes an older one still unsettled.
    this.settleResponse(false);
    let settle: (acked: boolean) => void = () => undefined;
    const answerSettled = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    this.responseSettled = settle;
    this.holdMs = undefined;
    if (this.ended) this.settleResponse(false);
    const request: TerminalRequest = {
      answerSettled,
      holdCall: (ms) => {
        if (Number.isFinite(ms) && ms > 0) this.holdMs = Math.min(ms, MAX_HOLD_MS);
      },
      nodeId: this.engine.options.nodeId,
      lineId: offer.lineId,
      callerNumber: offer.callerNumber,
      calledNumber: offer.calledNumber,
      profileId: this.profile.id,
      payload,
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new FixpayError('TIMEOUT', 'request handler'));
      }, this.engine.options.handlerTimeoutMs);
    });
    Promise.race([this.engine.options.handler(request), timeout])
      .then(
        (answer) => {
          this.guard('handler-answer', () => this.sessionEvent({ type: 'handler-answered', payload: answer }));
        },
        (e: unknown) => {
          this.engine.counters.handlerFailures++;
          const message = e instanceof Error ? scrubText(e.message) : 'unknown';
          this.engine.log.warn({ lineId: offer.lineId, err: message }, 'request handler failed');
          this.guard('handler-failure', () =>
            this.sessionEvent({ type: 'handler-failed', codeName: 'SESSION_HANDLER_FAILED' }),
          );
        },
      )
      .finally(() => {
        clearTimeout(timer);
      });
  }

  private transmit(frame: Frame): void {
    const encoded = encodeFrame(this.profile.link, frame);
    if (!encoded.ok) {
      this.engine.log.error({ lineId: this.call.offer.lineId, code: encoded.error.codeName }, 'cannot encode frame');
      return;
    }
    this.engine.counters.framesSent++;
    const seizure = new Uint8Array(this.profile.modem.seizureBytes).fill(SEIZURE_BYTE);
    const bytes = new Uint8Array(seizure.length + encoded.value.length);
    bytes.set(seizure);
    bytes.set(encoded.value, seizure.length);
    const audio = this.modulator.modulate(bytes);
    const pause = Math.round((this.profile.timers.turnaroundMs * 8000) / 1000);
    // Silence before (half-duplex turnaround) and after (lets the far receiver drop carrier promptly).
    const out = new Int16Array(pause + audio.length + TAIL_SILENCE_SAMPLES);
    out.set(audio, pause);
    this.call.play(out);
  }

  private clearSessionTimer(): void {
    if (this.sessionTimer !== undefined) clearTimeout(this.sessionTimer);
    this.sessionTimer = undefined;
  }

  private clearAckTimer(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /** Tells the handler whether its answer reached the terminal; once. */
  private settleResponse(acked: boolean): void {
    const settle = this.responseSettled;
    this.responseSettled = undefined;
    settle?.(acked);
  }

  /** Settles a prompt's promise on the ARQ outcome. */
  settlePrompt(ok: boolean, codeName: ResultCodeName): void {
    const w = this.promptWaiter;
    this.promptWaiter = undefined;
    if (w === undefined) return;
    if (ok) w.resolve();
    else w.reject(new FixpayError(codeName));
  }

  /**
   * The per-call fault boundary: runs `fn` and, if it throws, ends this call (the line is hung up
   * and freed, LINE_CALL_FAULT counted and logged without the error's data) instead of letting the
   * exception reach the event loop, where it would stop the process and every other call.
   */
  guard(where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.fault(where, e);
    }
  }
  /** `onAudio` inside the call's fault boundary (`guard`), allocating nothing per packet. */
  guardedAudio(pcm: Int16Array): void {
    try {
      this.onAudio(pcm);
    } catch (e) {
      this.fault('audio', e);
    }
  }

  private fault(where: string, e: unknown): void {
    const engine = this.engine;
    engine.counters.callFaults++;
    engine.log.error(
      {
        lineId: this.call.offer.lineId,
        where,
        code: 'LINE_CALL_FAULT',
        err: e instanceof Error ? scrubText(`${e.name}: ${e.message}`) : 'unknown',
      },
      'fault in call: ending it',
    );
    if (this.ended) return;
    // Ended first, so the driver's hang-up callback finds the call already over.
    this.finish('LINE_CALL_FAULT');
    try {
      this.call.hangup();
    } catch {
      // the driver's own hang-up failed; the engine has released the line regardless
    }
  }

  private finish(outcome: ResultCodeName): void {
    if (this.ended) return;
    this.clearSessionTimer();
    this.clearAckTimer();
    this.ended = true;
    this.settleResponse(false);
    this.settlePrompt(false, outcome === 'OK' ? 'SESSION_NOT_ACTIVE' : outcome);
    const p = this.prompt;
    this.prompt = undefined;
    p?.reject(new FixpayError('SESSION_NOT_ACTIVE'));
    this.engine.callEnded(this, outcome);
  }
}

export class ChannelEngine implements LineHost {
  readonly options: ChannelEngineOptions;
  readonly counters: EngineCounters = {
    callsOffered: 0,
    callsAnswered: 0,
    callsRefused: 0,
    callsEnded: 0,
    framesReceived: 0,
    framesSent: 0,
    retransmissions: 0,
    badFrames: 0,
    junkBytes: 0,
    framingErrors: 0,
    duplicates: 0,
    naksReceived: 0,
    requests: 0,
    responses: 0,
    prompts: 0,
    handlerFailures: 0,
    bursts: 0,
    callsRefusedReserved: 0,
    callFaults: 0,
    profilesResolved: 0,
    profilesUnresolved: 0,
    profileFallbacks: 0,
  };
  private readonly badByCode: Record<string, number> = {};
  private readonly outcomes: Record<string, number> = {};
  private snrSum = 0;
  private snrCount = 0;
  private lastSnr = Number.NaN;
  private isDraining = false;
  private readonly drivers: LineDriver[] = [];
  private readonly calls = new Map<string, CallChannel>();
  /** Answered calls whose profile is still being resolved (they hold a line). */
  private readonly settingUp = new Set<string>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    options: Partial<ChannelEngineOptions> & Pick<ChannelEngineOptions, 'profiles' | 'handler'>,
    readonly log: LineLogger = SILENT_LOGGER,
  ) {
    this.options = { ...DEFAULT_ENGINE_OPTIONS, ...options };
    const { maxLines, reservedLines } = this.options;
    if (!Number.isInteger(maxLines) || maxLines < 1)
      throw new FixpayError('CONFIG_INVALID', `maxLines ${maxLines} must be a positive integer`);
    if (!Number.isInteger(reservedLines) || reservedLines < 0 || reservedLines >= maxLines)
      throw new FixpayError(
        'CONFIG_INVALID',
        `reservedLines ${reservedLines} must be in 0..maxLines-1 (${maxLines - 1})`,
      );
    if (!this.options.profiles.has(this.options.defaultProfileId))
      throw new FixpayError('PROFILE_NOT_FOUND', this.options.defaultProfileId);
    for (const id of Object.values(this.options.profileByCalledNumber))
      if (!this.options.profiles.has(id)) throw new FixpayError('PROFILE_NOT_FOUND', id);
  }

  get draining(): boolean {
    return this.isDraining;
  }

  addDriver(driver: LineDriver): this {
    this.drivers.push(driver);
    return this;
  }

  async start(): Promise<void> {
    for (const d of this.drivers) await d.start(this);
  }

  /** Stops drivers at once (live calls are hung up). Use `drain()` first for a graceful stop. */
  async stop(): Promise<void> {
    for (const d of this.drivers) await d.stop();
  }

  /**
   * Stops taking new calls (SIP answers 503) and resolves once the live calls have ended, or
   * after `timeoutMs`, when the remaining calls are released.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.isDraining = true;
    this.log.info({ liveCalls: this.calls.size }, 'draining');
    if (this.lineCount === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          for (const c of this.calls.values()) c.hangup('ENGINE_DRAINING');
          resolve();
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * An operator's drain: refuses new calls from now on (SIP 503, TCP PCM reject) and leaves the
   * live calls alone, however long they take; `undrain()` takes calls again.
   */
  refuseNewCalls(): void {
    if (!this.isDraining) this.log.info({ liveCalls: this.calls.size }, 'draining: new calls refused');
    this.isDraining = true;
  }

  /** Resumes answering after a drain. */
  undrain(): void {
    this.isDraining = false;
  }

  offer(offer: CallOffer): OfferAnswer {
    this.counters.callsOffered++;
    if (this.isDraining) {
      this.counters.callsRefused++;
      return { accept: false, codeName: 'ENGINE_DRAINING' };
    }
    if (this.lineCount >= this.options.maxLines) {
      this.counters.callsRefused++;
      return { accept: false, codeName: 'ENGINE_LINES_EXHAUSTED' };
    }
    if (this.lineCount >= this.options.maxLines - this.options.reservedLines && !this.mayUseReserve(offer)) {
      this.counters.callsRefused++;
      this.counters.callsRefusedReserved++;
      return { accept: false, codeName: 'ENGINE_LINES_RESERVED' };
    }
    const resolver = this.options.resolveProfile;
    if (resolver === undefined) {
      const profile = this.fallbackProfile(offer);
      return { accept: true, attach: (call) => this.open(call, profile) };
    }
    // Asked now, while the driver answers the call; the modem starts once the answer is in.
    const resolved = this.resolveProfile(resolver, offer);
    return {
      accept: true,
      attach: (call: LineCall): CallListener => {
        this.settingUp.add(offer.lineId);
        this.counters.callsAnswered++;
        let listener: CallListener | undefined;
        let early: Int16Array[] = [];
        let earlySamples = 0;
        let hungUp = false;
        void resolved
          .then((profile) => {
            this.settingUp.delete(offer.lineId);
            if (hungUp) {
              this.setupEnded(offer.lineId);
              return;
            }
            listener = this.open(call, profile, false);
            for (const pcm of early) listener.onAudio(pcm);
            early = [];
          })
          .catch((e: unknown) => {
            // Only a broken invariant gets here; the call is contained and hung up.
            this.counters.callFaults++;
            this.log.warn(
              { lineId: offer.lineId, err: e instanceof Error ? scrubText(e.message) : 'unknown' },
              'call setup failed',
            );
            this.settingUp.delete(offer.lineId);
            call.hangup();
            if (listener === undefined) this.setupEnded(offer.lineId);
          });
        return {
          onAudio: (pcm) => {
            if (listener !== undefined) return listener.onAudio(pcm);
            // Kept past the call: the driver lends `pcm` (CallListener.onAudio), so it is copied.
            early.push(pcm.slice());
            earlySamples += pcm.length;
            while (earlySamples > SETUP_AUDIO_MAX_SAMPLES && early.length > 0)
              earlySamples -= early.shift()?.length ?? 0;
          },
          onPlayoutDone: () => listener?.onPlayoutDone(),
          onHangup: (reason) => {
            if (listener !== undefined) return listener.onHangup(reason);
            hungUp = true;
          },
        };
      },
    };
  }

  /** Lines in use: live calls and calls still being set up. */
  private get lineCount(): number {
    return this.calls.size + this.settingUp.size;
  }

  /** The called number's profile, else the default. */
  private fallbackProfile(offer: CallOffer): DeviceProfile {
    const profileId =
      (offer.calledNumber === undefined ? undefined : this.options.profileByCalledNumber[offer.calledNumber]) ??
      this.options.defaultProfileId;
    const profile = this.options.profiles.get(profileId);
    if (profile === undefined) throw new FixpayError('PROFILE_NOT_FOUND', profileId);
    return profile;
  }

  /** The caller's profile from the resolver; never rejects (a failure falls back, counted). */
  private async resolveProfile(resolver: ProfileResolver, offer: CallOffer): Promise<DeviceProfile> {
    let id: string | undefined;
    try {
      id = await resolver(offer);
    } catch (e) {
      this.counters.profileFallbacks++;
      this.log.warn(
        { lineId: offer.lineId, err: e instanceof Error ? scrubText(e.message) : 'unknown' },
        'profile resolver failed',
      );
      return this.fallbackProfile(offer);
    }
    if (id === undefined) {
      this.counters.profilesUnresolved++;
      return this.fallbackProfile(offer);
    }
    const profile = this.options.profiles.get(id);
    if (profile === undefined) {
      this.counters.profileFallbacks++;
      this.log.warn({ lineId: offer.lineId, profileId: id }, 'resolved profile unknown on this node');
      return this.fallbackProfile(offer);
    }
    this.counters.profilesResolved++;
    return profile;
  }

  /** Starts the call's channel on its profile; its listener is the call's fault boundary. */
  private open(call: LineCall, profile: DeviceProfile, count = true): CallListener {
    const { offer } = call;
    const channel = new CallChannel(this, call, profile);
    this.calls.set(offer.lineId, channel);
    if (count) this.counters.callsAnswered++;
    this.log.info({ lineId: offer.lineId, callerNumber: offer.callerNumber, profileId: profile.id }, 'call answered');
    // Every way into the call goes through its fault boundary: an exception ends this call only.
    const listener: CallListener = {
      // Audio comes with every packet: the boundary without a closure per call.
      onAudio: (pcm) => {
        channel.guardedAudio(pcm);
      },
      onPlayoutDone: () => {
        channel.guard('playout-done', () => channel.onPlayoutDone());
      },
      onHangup: () => {
        channel.guard('hangup', () => channel.onHangup());
      },
    };
    setImmediate(() => {
      channel.guard('start', () => channel.start());
    });
    return listener;
  }

  /** A call that hung up while its profile was being resolved. */
  private setupEnded(lineId: string): void {
    this.counters.callsEnded++;
    this.outcomes['OK'] = (this.outcomes['OK'] ?? 0) + 1;
    this.log.info({ lineId, outcome: 'OK' }, 'call ended during setup');
    this.wakeIdleWaiters();
  }

  private wakeIdleWaiters(): void {
    if (this.lineCount !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Sends a message to the terminal on a live call; resolves when the terminal ACKs it. */
  async prompt(lineId: string, payload: Uint8Array): Promise<void> {
    const channel = this.calls.get(lineId);
    if (channel === undefined) throw new FixpayError('SESSION_CALL_NOT_FOUND', lineId);
    await channel.sendPrompt(payload);
  }

  /** Releases a live call (REL, then hang-up). */
  hangup(lineId: string, codeName: ResultCodeName = 'OK'): void {
    const channel = this.calls.get(lineId);
    if (channel === undefined) throw new FixpayError('SESSION_CALL_NOT_FOUND', lineId);
    channel.hangup(codeName);
  }

  liveCalls(): LiveCallInfo[] {
    return [...this.calls.values()].map((c) => ({
      lineId: c.call.offer.lineId,
      callerNumber: c.call.offer.callerNumber,
      profileId: c.profile.id,
      state: c.state,
    }));
  }

  metrics(): EngineMetrics {
    const drivers: Record<string, number> = {};
    for (const d of this.drivers) for (const [k, v] of Object.entries(d.metrics())) drivers[`${d.name}.${k}`] = v;
    const { maxLines, reservedLines } = this.options;
    return {
      ...this.counters,
      linesActive: this.lineCount,
      linesMax: maxLines,
      linesReserved: reservedLines,
      linesFreeUnreserved: Math.max(0, maxLines - reservedLines - this.lineCount),
      draining: this.isDraining,
      badFramesByCode: { ...this.badByCode },
      outcomes: { ...this.outcomes },
      lastSnrDb: this.lastSnr,
      meanSnrDb: this.snrCount === 0 ? Number.NaN : this.snrSum / this.snrCount,
      drivers,
    };
  }

  private mayUseReserve(offer: CallOffer): boolean {
    try {
      return this.options.mayUseReserve(offer);
    } catch (e) {
      this.log.warn(
        { lineId: offer.lineId, err: e instanceof Error ? scrubText(e.message) : 'unknown' },
        'reserve policy failed',
      );
      return false;
    }
  }

  /** @internal */
  recordSnr(snrDb: number): void {
    if (!Number.isFinite(snrDb)) return;
    this.lastSnr = snrDb;
    this.snrSum += snrDb;
    this.snrCount++;
  }

  /** @internal */
  countBadFrame(codeName: string): void {
    this.counters.badFrames++;
    this.badByCode[codeName] = (this.badByCode[codeName] ?? 0) + 1;
  }

  /** @internal */
  callEnded(channel: CallChannel, outcome: ResultCodeName): void {
    this.calls.delete(channel.call.offer.lineId);
    this.counters.callsEnded++;
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    this.log.info({ lineId: channel.call.offer.lineId, outcome }, 'call ended');
    this.wakeIdleWaiters();
    try {
      this.options.onCallEnded?.(channel.call.offer.lineId, outcome);
    } catch (e) {
      this.log.warn(
        { lineId: channel.call.offer.lineId, err: e instanceof Error ? scrubText(e.message) : 'unknown' },
        'call-ended listener failed',
      );
    }
  }
}
