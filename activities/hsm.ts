/**
 * HSM activities for terminal traffic (docs/security.md): the PSAM per-transaction MAC of a
 * terminal request (with replay protection per PSAM), PIN translation TPK → ZPK, terminal sign-on
 * (new working keys in field 62) and the signed answer. Keys stay behind the HSM port; card data
 * arrives only inside the request (an encrypted workflow payload) and leaves only as a PIN block
 * under the zone PIN key, for the card network gateway.
 *
 * Expected refusals (bad MAC, replayed counter) are outcomes (`valid: false` + reason) so the
 * definition can answer the terminal; broken inputs are non-retryable ApplicationFailures.
 */
import { FixpayError, isFixpayError } from '../domain/errors';
import type { HsmPort, KeyHandle, PsamSessionRequest } from '../hsm/port';
import type { TerminalKeyManager } from '../hsm/terminal-keys';
import { closeAnswer, openTerminalRequest, requestBytes } from '../terminal-protocol/messages';
import type { OpenedTerminalRequest, TerminalAnswer } from '../terminal-protocol/messages';
import { activityFailure } from './failure';

/** The last PSAM counter accepted per PSAM, and the call that used it (so a retry of that call passes). */
export interface PsamCounterStore {
  get(psamSerial: string): Promise<{ counter: number; key: string } | undefined>;
  /** Records `counter` when it is above the stored one (or equal under the same key); false otherwise. */
  advance(psamSerial: string, counter: number, key: string): Promise<boolean>;
}

/** In memory: for a single worker process (`fixpay dev`) and tests. */
export class InMemoryPsamCounterStore implements PsamCounterStore {
  private readonly last = new Map<string, { counter: number; key: string }>();
  /** Most PSAMs remembered; the oldest is forgotten first. */
  constructor(private readonly entriesMax = 100_000) {}

  get(psamSerial: string): Promise<{ counter: number; key: string } | undefined> {
    return Promise.resolve(this.last.get(psamSerial));
  }

  advance(psamSerial: string, counter: number, key: string): Promise<boolean> {
    const seen = this.last.get(psamSerial);
    if (seen !== undefined && (counter < seen.counter || (counter === seen.counter && key !== seen.key)))
      return Promise.resolve(false);
    this.last.delete(psamSerial);
    this.last.set(psamSerial, { counter, key });
    if (this.last.size > this.entriesMax) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    return Promise.resolve(true);
  }
}

export interface HsmActivityDeps {
  readonly hsm: HsmPort;
  /** The PBOC master key a PSAM's session keys derive from (by PSAM serial). */
  readonly psamMasterKey: PsamMasterKeyLookup;
  /** The card network's zone PIN key. */
  readonly zpk: KeyHandle;
  readonly terminalKeys: TerminalKeyManager;
  readonly counters: PsamCounterStore;
}

export interface TerminalRequestInput {
  /** Request bytes, hex. Sensitive (track 2, PIN block): payloads only. */
  readonly request: string;
  readonly idempotencyKey?: string;
}

export interface VerifyTerminalMacOutput {
  readonly valid: boolean;
  /** `OK`, `HSM_MAC_INVALID`, `HSM_PSAM_COUNTER_REPLAYED` or `PSAM_UNKNOWN`. */
  readonly reason: string;
  readonly psamCounter: number;
}

export interface AnswerTerminalInput extends TerminalRequestInput {
  readonly responseCode: string;
  readonly authCode?: string;
  readonly rrn?: string;
  readonly amount?: number;
  readonly balance?: number;
  /** Sign-on: working keys under the TMK (hex). */
  readonly field62?: string;
  /** A menu or receipt (ADR 0018), TLV hex. */
  readonly field59?: string;
}

export interface HsmActivities {
  verifyTerminalMac(input: TerminalRequestInput): Promise<VerifyTerminalMacOutput>;
  /** The request's PIN block re-enciphered under the ZPK (hex, sensitive). */
  translateTerminalPin(input: TerminalRequestInput & { terminalId: string }): Promise<{ pinBlock: string }>;
  /** New working keys for the terminal; field 62 (under its TMK) for the 0810. */
  signOnTerminal(input: { terminalId: string }): Promise<{ field62: string; keyVersion: number }>;
  /** The 0810/0210 answer, MACed with the request's PSAM session key (hex). */
  answerTerminal(input: AnswerTerminalInput): Promise<{ response: string }>;
}

async function guarded<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw activityFailure(e);
  }
}

/**
 * The HSM key a PSAM's session keys derive from, by PSAM serial: the key directory's, or (for a
 * PSAM personalised by the platform) the handle recorded on the active PSAM. Undefined: unknown.
 */
export type PsamMasterKeyLookup = (psamSerial: string) => KeyHandle | undefined | Promise<KeyHandle | undefined>;

export function createHsmActivities(deps: HsmActivityDeps): HsmActivities {
  const { hsm } = deps;

  async function session(opened: OpenedTerminalRequest): Promise<PsamSessionRequest> {
    const masterKey = await deps.psamMasterKey(opened.psam.serial);
    if (masterKey === undefined) throw new FixpayError('NOT_FOUND', 'PSAM has no master key');
    return {
      masterKey,
      factors: [Buffer.from(opened.psam.serial, 'hex')],
      random: Buffer.from(opened.psam.random, 'hex'),
      counter: opened.psam.counter,
    };
  }

  return {
    verifyTerminalMac: (input) =>
      guarded(async () => {
        const opened = openTerminalRequest(requestBytes(input.request));
        const counter = opened.psam.counter;
        if ((await deps.psamMasterKey(opened.psam.serial)) === undefined)
          return { valid: false, reason: 'PSAM_UNKNOWN', psamCounter: counter };
        const key = input.idempotencyKey ?? '';
        const last = await deps.counters.get(opened.psam.serial);
        // A retry of this very call may see its own counter; anything else at or below is a replay.
        const lastCounter = last === undefined ? undefined : last.key === key ? last.counter - 1 : last.counter;
        try {
          await hsm.verifyPsamMac({
            ...(await session(opened)),
            algorithm: 'unionpay-ecb',
            data: opened.macData,
            mac: opened.mac,
            ...(lastCounter === undefined ? {} : { lastCounter }),
          });
        } catch (e) {
          // Below the last accepted counter (not a repeat of it): the PSAM went backwards — a
          // restored or cloned PSAM, told apart from a replayed message.
          if (isFixpayError(e, 'HSM_PSAM_COUNTER_REPLAYED') && lastCounter !== undefined && counter < lastCounter)
            return { valid: false, reason: 'PSAM_COUNTER_REWOUND', psamCounter: counter };
          if (isFixpayError(e) && (e.codeName === 'HSM_MAC_INVALID' || e.codeName === 'HSM_PSAM_COUNTER_REPLAYED'))
            return { valid: false, reason: e.codeName, psamCounter: counter };
          throw e;
        }
        if (!(await deps.counters.advance(opened.psam.serial, counter, key)))
          return { valid: false, reason: 'HSM_PSAM_COUNTER_REPLAYED', psamCounter: counter };
        return { valid: true, reason: 'OK', psamCounter: counter };
      }),

    translateTerminalPin: (input) =>
      guarded(async () => {
        const opened = openTerminalRequest(requestBytes(input.request));
        if (opened.pinBlock === null || opened.pan === null) throw new FixpayError('BAD_REQUEST', 'no PIN block');
        const [keys] = await deps.terminalKeys.keysFor(input.terminalId);
        if (keys === undefined) throw new FixpayError('NOT_FOUND', 'terminal has no working keys (sign on first)');
        const underZpk = await hsm.translatePin({
          source: { key: keys.tpk.handle, format: 0 },
          target: { key: deps.zpk, format: 0 },
          pinBlock: opened.pinBlock,
          pan: opened.pan,
        });
        return { pinBlock: underZpk.toString('hex').toUpperCase() };
      }),

    signOnTerminal: (input) =>
      guarded(async () => {
        const { field62, keys } = await deps.terminalKeys.signOn(input.terminalId);
        return { field62: field62.toString('hex').toUpperCase(), keyVersion: keys.version };
      }),

    answerTerminal: (input) =>
      guarded(async () => {
        const opened = openTerminalRequest(requestBytes(input.request));
        const answer: TerminalAnswer = {
          responseCode: input.responseCode,
          ...(input.authCode === undefined ? {} : { authCode: input.authCode }),
          ...(input.rrn === undefined ? {} : { rrn: input.rrn }),
          ...(input.amount === undefined ? {} : { amountMinor: input.amount }),
          ...(input.balance === undefined ? {} : { balanceMinor: input.balance }),
          ...(input.field62 === undefined ? {} : { field62Hex: input.field62 }),
          ...(input.field59 === undefined ? {} : { field59Hex: input.field59 }),
        };
        const s = await session(opened);
        const bytes = await closeAnswer(opened, answer, (data) =>
          hsm.generatePsamMac({ ...s, algorithm: 'unionpay-ecb', data }),
        );
        return { response: bytes.toString('hex') };
      }),
  };
}
