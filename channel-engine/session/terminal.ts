/**
 * The terminal's end of the line protocol, for tests and the terminal simulator: the same modem,
 * frame hunter and ARQ as the engine, driven the other way (wait for EST, send a request, take
 * the response, send REL). Audio in and out is 8 kHz 16-bit PCM; the caller moves it over a
 * line driver (TCP PCM client, RTP) and reports when its audio has left (`playoutDone`).
 */
import { arqStep, encodeFrame, FrameHunter, INITIAL_ARQ_STATE } from '../link';
import type { ArqAction, ArqState, Frame, HuntEvent } from '../link';
import { createDemodulator, createModulator } from '../modem';
import type { Demodulator, Modulator } from '../modem';
import { SEIZURE_BYTE } from '../profiles';
import type { DeviceProfile } from '../profiles';

export interface TerminalEndpointOptions {
  /** Corrupt the check of our next N DATA transmissions (tests of NAK and retransmission). */
  readonly corruptDataFrames: number;
  /** Ignore (as if lost on the line) the next N DATA frames from the host. */
  readonly ignoreHostDataFrames: number;
  /** Lose our next N ACK frames on the line (silence of the same length is played instead). */
  readonly loseAcks: number;
}

export interface TerminalCounters {
  framesSent: number;
  framesReceived: number;
  retransmissions: number;
  rejected: number;
  naksReceived: number;
}

type Waiter<T> = { resolve(v: T): void; reject(e: Error): void };

export class TerminalEndpoint {
  /** Where our audio goes (set by the harness). */
  onAudioOut: (pcm: Int16Array) => void = () => {};
  readonly counters: TerminalCounters = {
    framesSent: 0,
    framesReceived: 0,
    retransmissions: 0,
    rejected: 0,
    naksReceived: 0,
  };
  private arq: ArqState = INITIAL_ARQ_STATE;
  private readonly hunter: FrameHunter;
  private readonly demodulator: Demodulator;
  private readonly modulator: Modulator;
  private corruptLeft: number;
  private ignoreLeft: number;
  private loseAcksLeft: number;
  private ignoreAcksLeft = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  private estSeen = false;
  private estWaiters: (() => void)[] = [];
  private messageWaiter: Waiter<Uint8Array> | undefined;
  private sendWaiter: Waiter<void> | undefined;
  private readonly inbox: Uint8Array[] = [];

  constructor(
    readonly profile: DeviceProfile,
    options: Partial<TerminalEndpointOptions> = {},
  ) {
    const modem = {
      modulation: profile.modem.modulation,
      levelDbm0: profile.modem.levelDbm0,
      leadInMarkBits: profile.modem.leadInMarkBits,
      trailMarkBits: profile.modem.trailMarkBits,
    };
    this.demodulator = createDemodulator(modem);
    this.modulator = createModulator(modem);
    this.hunter = new FrameHunter(profile.link);
    this.corruptLeft = options.corruptDataFrames ?? 0;
    this.ignoreLeft = options.ignoreHostDataFrames ?? 0;
    this.loseAcksLeft = options.loseAcks ?? 0;
  }

  /** From now on, corrupt the check of our next `n` DATA transmissions (the host rejects them). */
  corruptNextData(n: number): void {
    this.corruptLeft = n;
  }

  /** From now on, ignore the host's next `n` DATA frames (as if lost on the line). */
  ignoreNextHostData(n: number): void {
    this.ignoreLeft = n;
  }

  /** From now on, ignore the host's next `n` ACK frames (as if lost on the line). */
  ignoreNextHostAcks(n: number): void {
    this.ignoreAcksLeft = n;
  }

  /** From now on, lose our next `n` ACK frames on the line (tests of a lost answer ACK). */
  loseNextAcks(n: number): void {
    this.loseAcksLeft = n;
  }

  /** Audio from the line. */
  pushAudio(pcm: Int16Array): void {
    for (const e of this.demodulator.push(pcm)) {
      if (e.type === 'byte') this.onHunt(this.hunter.push([e.value]));
      else if (e.type === 'carrier-off') this.onHunt(this.hunter.endOfBurst());
    }
  }

  /** Our queued audio has left the line. */
  playoutDone(): void {
    this.step({ type: 'tx-done' });
  }

  /** Resolves when the host's EST has arrived. */
  waitForEst(): Promise<void> {
    if (this.estSeen) return Promise.resolve();
    return new Promise((resolve) => this.estWaiters.push(resolve));
  }

  /** Sends a message; resolves when the host ACKs its last segment. */
  send(message: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sendWaiter = { resolve, reject };
      this.step({ type: 'send', message });
    });
  }

  /** Resolves with the next complete message from the host. */
  receive(): Promise<Uint8Array> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      this.messageWaiter = { resolve, reject };
    });
  }

  /** Sends REL (no acknowledgement; the host hangs up). */
  release(): void {
    this.transmit({ kind: 'rel' });
  }

  dispose(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
  }

  private onHunt(events: HuntEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'rejected') {
        this.counters.rejected++;
        this.step({ type: 'rejected', rejection: ev.rejection });
        continue;
      }
      this.counters.framesReceived++;
      if (ev.frame.kind === 'data' && this.ignoreLeft > 0) {
        this.ignoreLeft--;
        continue;
      }
      if (ev.frame.kind === 'ack' && this.ignoreAcksLeft > 0) {
        this.ignoreAcksLeft--;
        continue;
      }
      this.step({ type: 'frame', frame: ev.frame });
    }
  }

  private step(event: Parameters<typeof arqStep>[1]): void {
    const r = arqStep(this.arq, event, this.profile.link, this.profile.timers);
    this.arq = r.state;
    for (const a of r.actions) this.act(a);
  }

  private act(a: ArqAction): void {
    switch (a.type) {
      case 'transmit':
        if (a.retransmission) this.counters.retransmissions++;
        this.transmit(a.frame);
        return;
      case 'start-ack-timer':
        if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
        this.ackTimer = setTimeout(() => {
          this.ackTimer = undefined;
          this.step({ type: 'ack-timeout' });
        }, a.ms);
        return;
      case 'cancel-ack-timer':
        if (this.ackTimer !== undefined) clearTimeout(this.ackTimer);
        this.ackTimer = undefined;
        return;
      case 'deliver': {
        const w = this.messageWaiter;
        this.messageWaiter = undefined;
        if (w !== undefined) w.resolve(a.message);
        else this.inbox.push(a.message);
        return;
      }
      case 'sent': {
        const w = this.sendWaiter;
        this.sendWaiter = undefined;
        w?.resolve();
        return;
      }
      case 'send-failed': {
        const w = this.sendWaiter;
        this.sendWaiter = undefined;
        w?.reject(new Error(a.codeName));
        return;
      }
      case 'control':
        if (a.frame.kind === 'est') {
          this.estSeen = true;
          const waiters = this.estWaiters;
          this.estWaiters = [];
          for (const w of waiters) w();
        }
        return;
      case 'count':
        if (a.counter === 'nak-received') this.counters.naksReceived++;
        return;
    }
  }

  private transmit(frame: Frame): void {
    const encoded = encodeFrame(this.profile.link, frame);
    if (!encoded.ok) throw new Error(encoded.error.codeName);
    const bytes = encoded.value;
    if (frame.kind === 'data' && this.corruptLeft > 0) {
      this.corruptLeft--;
      const last = bytes.length - 1;
      bytes[last] = (bytes[last] ?? 0) ^ 0xff;
    }
    this.counters.framesSent++;
    const seizure = new Uint8Array(this.profile.modem.seizureBytes).fill(SEIZURE_BYTE);
    const all = new Uint8Array(seizure.length + bytes.length);
    all.set(seizure);
    all.set(bytes, seizure.length);
    const pause = new Int16Array(Math.round((this.profile.timers.turnaroundMs * 8000) / 1000));
    const audio = this.modulator.modulate(all);
    const out = new Int16Array(pause.length + audio.length + 160);
    if (frame.kind === 'ack' && this.loseAcksLeft > 0) {
      // Lost on the line: the line time passes, the host hears nothing.
      this.loseAcksLeft--;
      this.onAudioOut(out);
      return;
    }
    out.set(audio, pause.length);
    this.onAudioOut(out);
  }
}
