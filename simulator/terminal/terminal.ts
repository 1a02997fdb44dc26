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
import type { LineTarget, TerminalLine } from './line';
import {
  decodeMenu,
  decodeReceipt,
  decodeScreen,
  formatAmount as screenAmount,
} from '../../terminal-protocol/conversation';
import type { Menu, MenuEntry, Notice, Screen } from '../../terminal-protocol/conversation';
import { decodeNotices } from '../../terminal-protocol/conversation';
import { MENU_BLOCKS_MAX, PROMPT_RESPONSE_CODE, SERVICE_DATA_FIELD } from '../../terminal-protocol/spec';
import { encodeTlv, textField, tlvField } from '../../gateways/iso8583';
import {
  buildFinancialRequest,
  buildMenuRequest,
  buildNoticeRequest,
  buildPromptReply,
  buildReversalRequest,
  buildServiceRequest,
  buildSignOnRequest,
  parseResponse,
  reversalRecord,
  responseText,
  STAN_MAX,
} from './messages';
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
  /** Overrides the config's `noticesInCall` (ask for pushed notices before releasing a call). */
  readonly noticesInCall?: boolean;
}

/** A notice pushed inside a call (ADR 0021): what the phone showed, and the STAN of the notice request. */
export interface InCallNotice extends Notice {
  readonly stan: string | undefined;
  readonly display: readonly string[];
}

/** The text cut into display lines at word boundaries where it can be (never more than the display holds). */
export function noticeLines(text: string, columns = DISPLAY_COLUMNS, lines = DISPLAY_LINES): string[] {
  const out: string[] = [];
  let rest = text.trim();
  while (rest.length > 0 && out.length < lines) {
    if (rest.length <= columns) {
      out.push(rest);
      break;
    }
    const cut = rest.lastIndexOf(' ', columns);
    const at = cut > 0 ? cut : columns;
    out.push(rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
  }
  return out;
}

export type Outcome = 'approved' | 'declined' | 'dropped' | 'failed';

/**
 * Faults of one transaction (tests of ADR 0012's loss-point matrix): where the call is cut, ACKs
 * of ours lost on the line, and an answer whose MAC does not verify here (a corruption the link
 * check missed).
 */
export interface TransactionFaults {
  /** Cut the call once the request was ACKed (same as `cut: 'after-send'`). */
  readonly dropAfterSend?: boolean;
  /**
   * `before-send`: the call drops before the request leaves; `after-send`: once the request was
   * ACKed; `after-answer`: once the answer arrived, before our ACK got through.
   */
  readonly cut?: 'before-send' | 'after-send' | 'after-answer';
  /** Lose our next N ACKs on the line (the answer's ACK and its retransmissions'). */
  readonly loseAcks?: number;
  /** Treat the answer's MAC as corrupted (a bit flipped after the link check). */
  readonly corruptAnswerMac?: boolean;
  /** Lose the host's next N DATA frames (the answer and its retransmissions). */
  readonly loseAnswers?: number;
  /** Lose the host's next N ACKs (of our request and its retransmissions). */
  readonly loseRequestAcks?: number;
  /** Lose our next N DATA transmissions on the line (the request and its retransmissions). */
  readonly loseRequests?: number;
}

/** What the display shows when a purchase ends without a valid answer (ADR 0012), on two lines. */
export const CANCELLED_LINES = ['TRANSACTION', 'CANCELLED'] as const;

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

/** MMDD of a date (UTC), for 61.3. */
function mmdd(at: Date): string {
  return at.toISOString().slice(5, 10).replace('-', '');
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

/** A multi-block menu being downloaded: its version, block count and the blocks' entries so far. */
interface PartialMenu {
  readonly version: string;
  readonly blocks: number;
  readonly received: (readonly MenuEntry[])[];
}

/** What the (scripted) user does at a prompt (ADR 0018). */
export type PromptAction =
  | { readonly key: string }
  | 'cancel'
  /** Presses nothing; with `lateKey`, presses it once the prompt has timed out. */
  | { readonly noAnswer: true; readonly lateKey?: string }
  | 'hang-up'
  /** Tests (a replay on the line): sends the last prompt reply this phone sent, byte for byte, old PSAM counter and all. */
  | { readonly replayLastReply: true };

/** A menu service run as a conversation: the screens shown, the answer, the receipt printed. */
export interface ConversationResult {
  readonly code: string;
  readonly outcome: Outcome;
  readonly stan: string | undefined;
  readonly responseCode: string | undefined;
  readonly screens: readonly Screen[];
  /** Printed receipt lines (empty without one). */
  readonly receipt: readonly string[];
  /** The host's answer to a key pressed after the prompt timed out. */
  readonly lateResponseCode?: string;
  /** The final answer carried a MAC and it verified (a host's own decline may come unsigned). */
  readonly signed?: boolean;
  readonly display: readonly string[];
  readonly failure?: { readonly code: string; readonly message: string };
}

/** Seconds a phone waits beyond a prompt's timeout before it gives up on the screen. */
export const PROMPT_GRACE_MS = 1_500;

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
  private lastPurchase: Pending | undefined;
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

  /** The number the current (or last) call reached, and whether it was a backup number. */
  dialled:
    | { readonly host: string; readonly port: number; readonly calledNumber: string; readonly backup: boolean }
    | undefined;
  /** Numbers that could not be reached so far (each failed dial of the primary or a backup). */
  dialFailures = 0;

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
  purchase(amountMinor: number, pin?: string, opts: TransactionFaults = {}): Promise<TransactionResult> {
    return this.financial('purchase', amountMinor, pin, opts);
  }

  /** The reversal this phone owes (ADR 0012), if any: sent before anything else on its next call. */
  get owedReversal(): { readonly stan: string; readonly reason: string; readonly sent: boolean } | undefined {
    const o = this.state.owedReversal;
    return o === undefined ? undefined : { stan: o.stan, reason: o.reason, sent: o.sent };
  }

  /** The purchase sent and not yet validly answered (written before its first transmission). */
  get pendingPurchase(): { readonly stan: string } | undefined {
    const p = this.state.pending;
    return p === undefined ? undefined : { stan: p.stan };
  }

  /** The reversals this phone sent (0400/0401) and what they got, in order. */
  readonly reversals: TransactionResult[] = [];

  /**
   * Sends the owed reversal now, if there is one (a phone's final flush). Resolves with its result,
   * or undefined when nothing was owed.
   */
  async settleReversal(): Promise<TransactionResult | undefined> {
    if (this.state.owedReversal === undefined) return undefined;
    return this.sendOwedReversal();
  }

  /** 0200 balance inquiry (310000). */
  balance(pin?: string, opts: TransactionFaults = {}): Promise<TransactionResult> {
    return this.financial('balance', undefined, pin, opts);
  }

  /** Sends the previous request again, byte for byte (same STAN, PSAM random/counter and MAC). */
  async repeatLast(opts: TransactionFaults = {}): Promise<TransactionResult> {
    const pending = this.pending;
    const started = performance.now();
    if (pending === undefined)
      return this.failed('purchase', true, started, new FixpayError('TERMINAL_SIM_NOTHING_TO_REPEAT'), undefined);
    // The repeat of a purchase that got no valid answer: its reversal is not owed while the repeat
    // is out (a valid answer to the repeat settles it; none makes it owed again).
    const owed = this.state.owedReversal;
    if (pending.kind === 'purchase' && owed !== undefined && owed.stan === pending.request.stan && !owed.sent) {
      const { owedReversal: _owed, ...rest } = this.state;
      this.state = { ...rest, pending: { stan: owed.stan, amountMinor: owed.amountMinor, request: owed.request } };
      this.store.save(this.state);
    }
    return this.exchange(pending, true, started, opts);
  }

  /**
   * Sends the last purchase's request again, byte for byte, whatever came after it (tests of a
   * non-conforming phone's late repeat).
   */
  async repeatPurchase(opts: TransactionFaults = {}): Promise<TransactionResult> {
    const last = this.lastPurchase;
    if (last === undefined)
      return this.failed(
        'purchase',
        true,
        performance.now(),
        new FixpayError('TERMINAL_SIM_NOTHING_TO_REPEAT'),
        undefined,
      );
    this.pending = last;
    return this.repeatLast(opts);
  }

  /** Notices pushed inside calls (ADR 0021), in order. */
  readonly notices: InCallNotice[] = [];

  /**
   * Asks for the notices waiting for this phone (0800/940000) and shows each; the host records them
   * as delivered once our link ACKed its answer. Done before every release when `noticesInCall`.
   */
  async fetchNotices(): Promise<TransactionResult & { readonly notices: readonly InCallNotice[] }> {
    const before = this.notices.length;
    const r = await this.transact('notices', (signer, stan) =>
      buildNoticeRequest(this.identity, { stan, batch: this.state.batch }, signer),
    );
    const got = this.notices.slice(before);
    return { ...r, notices: got, display: this.display };
  }

  private takeNotices(r: ParsedResponse): void {
    const items = tlvField(r.message, SERVICE_DATA_FIELD);
    if (items === undefined) return;
    for (const n of decodeNotices(encodeTlv(items))) {
      this.show(...noticeLines(n.text));
      this.notices.push({ ...n, stan: r.stan, display: this.display });
    }
  }

  /** Ends the call: REL, then the host hangs up (or we do after a grace period). */
  async hangUp(): Promise<void> {
    const asks = this.options.noticesInCall ?? this.config.noticesInCall;
    if (asks && this.signedOn && this.call !== undefined && !this.call.isEnded) await this.fetchNotices();
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

  private heldMenu: Menu | undefined;
  /** The last prompt reply sent (tests replay it). */
  private lastReply: BuiltRequest | undefined;
  /** Receipts printed so far (each a list of lines). */
  readonly printed: string[][] = [];

  /** The menu downloaded from the host (ADR 0018), if any. */
  get menu(): Menu | undefined {
    return this.heldMenu;
  }

  /** Asks for the menu with the version held; the host sends entries only when they changed. */
  async downloadMenu(): Promise<TransactionResult & { readonly changed: boolean; readonly blocks: number }> {
    const before = this.heldMenu?.version;
    this.show('MENU', 'UPDATING...');
    const ask = (block: number): Promise<TransactionResult> =>
      this.transact('menu', (signer, stan) =>
        buildMenuRequest(this.identity, { stan, batch: this.state.batch, menuVersion: before, block }, signer),
      );
    this.partialMenu = undefined;
    let r = await ask(1);
    let blocks = 1;
    // A multi-block menu (ADR 0018): ask for each next block; a menu that changes between blocks
    // starts again from the first, a bounded number of times.
    for (
      let asked = 1;
      r.outcome === 'approved' && this.menuInProgress() !== undefined && asked < 3 * MENU_BLOCKS_MAX;
      asked++
    ) {
      const partial = this.menuInProgress();
      if (partial === undefined) break;
      blocks = partial.blocks;
      r = await ask(partial.received.length < partial.blocks ? partial.received.length + 1 : 1);
    }
    if (r.outcome === 'approved' && this.menuInProgress() !== undefined) {
      this.partialMenu = undefined;
      const failure = this.failed(
        'menu',
        false,
        performance.now(),
        new FixpayError('TERMINAL_SIM_RESPONSE_INVALID', 'menu blocks never agreed'),
        undefined,
      );
      return { ...failure, changed: false, blocks };
    }
    const changed = this.heldMenu?.version !== before;
    if (r.outcome === 'approved')
      this.show('MENU', `${this.heldMenu?.entries.length ?? 0} SERVICES`, changed ? 'UPDATED' : 'UNCHANGED');
    return { ...r, changed, blocks, display: this.display };
  }

  /**
   * Runs a menu service (ADR 0018): the generic request with the collected inputs, then every
   * screen the host sends is shown and answered with the next scripted action, until the final
   * answer (its receipt printed) or the end of the call.
   */
  async service(
    code: string,
    inputs: Readonly<Record<string, string>>,
    /** Scripted answers, one per screen; or a function a person answers through (interactive mode). */
    actions: readonly PromptAction[] | ((screen: Screen, index: number) => Promise<PromptAction>),
    /** Card services (ADR 0024): read the card and key `pin` (default: the card's); default: as the menu entry says. */
    opts: { readonly card?: boolean; readonly pin?: string } = {},
  ): Promise<ConversationResult> {
    const screens: Screen[] = [];
    const result = (o: Partial<ConversationResult> & Pick<ConversationResult, 'outcome'>): ConversationResult => ({
      code,
      stan: undefined,
      responseCode: undefined,
      screens,
      receipt: [],
      display: this.display,
      ...o,
    });
    let first: Pending | undefined;
    try {
      if (!this.signedOn) throw new FixpayError('TERMINAL_SIM_NOT_SIGNED_ON');
      const entry = this.heldMenu?.entries.find((e) => e.code === code);
      this.show(...(entry?.path ?? [code]).slice(-2), 'SENDING...');
      const withCard = opts.card ?? entry?.card === true;
      const card = this.config.card;
      if (withCard) this.show(entry?.title ?? code, maskPan(card.track2.pan).slice(-DISPLAY_COLUMNS), 'PIN ******');
      const call = await this.ensureCall();
      first = this.begin('service', (signer, stan) =>
        buildServiceRequest(
          this.identity,
          {
            stan,
            batch: this.state.batch,
            code,
            menuVersion: this.heldMenu?.version ?? '',
            inputs,
            ...(withCard
              ? {
                  card: {
                    track2: card.track2,
                    pinBlock: this.secureElement.encryptPin(opts.pin ?? card.pin, card.track2.pan),
                  },
                }
              : {}),
          },
          signer,
        ),
      );
      let answer = await this.roundTrip(call, first.request, first);
      for (let i = 0; answer.responseCode === PROMPT_RESPONSE_CODE; i++) {
        const items = tlvField(answer.message, SERVICE_DATA_FIELD) ?? [];
        const screen = decodeScreen(encodeTlv(items));
        screens.push(screen);
        this.show(...screen.lines, screen.input.choices?.map((c) => `${c.key}=${c.label}`).join(' ') ?? '>');
        const action: PromptAction =
          typeof actions === 'function' ? await actions(screen, i) : (actions[i] ?? { noAnswer: true });
        if (action === 'hang-up') {
          this.dropCall();
          this.show('CALL ENDED');
          return result({ outcome: 'dropped', stan: first.request.stan });
        }
        if (typeof action === 'object' && 'noAnswer' in action) {
          await sleep(screen.timeoutSeconds * 1000 + PROMPT_GRACE_MS);
          this.show('NO ANSWER', 'TIMED OUT');
          let late: string | undefined;
          if (action.lateKey !== undefined) {
            const reply = this.begin('reply', (signer, stan) =>
              buildPromptReply(
                this.identity,
                {
                  stan,
                  batch: this.state.batch,
                  reply: { promptId: screen.promptId, status: 'answered', value: action.lateKey ?? '' },
                },
                signer,
              ),
            );
            late = (await this.roundTrip(call, first.request, first, reply.request)).responseCode;
          }
          return result({
            outcome: 'declined',
            stan: first.request.stan,
            ...(late === undefined ? {} : { lateResponseCode: late }),
          });
        }
        if (typeof action === 'object' && 'replayLastReply' in action) {
          const old = this.lastReply;
          if (old === undefined) throw new FixpayError('TERMINAL_SIM_NOTHING_TO_REPEAT', 'no reply sent yet');
          this.show(...screen.lines.slice(0, 2), 'SENDING...');
          answer = await this.roundTrip(call, first.request, first, old);
          continue;
        }
        const reply = this.begin('reply', (signer, stan) =>
          buildPromptReply(
            this.identity,
            {
              stan,
              batch: this.state.batch,
              reply:
                action === 'cancel'
                  ? { promptId: screen.promptId, status: 'cancelled', value: '' }
                  : { promptId: screen.promptId, status: 'answered', value: action.key },
            },
            signer,
          ),
        );
        this.lastReply = reply.request;
        this.show(...screen.lines.slice(0, 2), 'SENDING...');
        answer = await this.roundTrip(call, first.request, first, reply.request);
      }
      const receipt = decodeReceipt(encodeTlv(tlvField(answer.message, SERVICE_DATA_FIELD) ?? []));
      if (receipt.length > 0) this.printed.push(receipt);
      const approved = answer.responseCode === '00';
      const amount = textField(answer.message, 4);
      this.show(
        entry?.title ?? code,
        approved ? 'APPROVED' : 'DECLINED',
        approved
          ? amount === undefined
            ? ''
            : screenAmount(Number(amount))
          : `${answer.responseCode} ${responseText(answer.responseCode)}`,
      );
      return result({
        outcome: approved ? 'approved' : 'declined',
        stan: first.request.stan,
        responseCode: answer.responseCode,
        receipt,
        // roundTrip verified the MAC when there was one.
        signed: answer.mac !== undefined,
      });
    } catch (e) {
      const err = isFixpayError(e) ? e : new FixpayError('INTERNAL', e instanceof Error ? e.message : 'failure');
      if (err.codeName === 'TERMINAL_SIM_CALL_DROPPED' || err.codeName === 'TERMINAL_SIM_NO_RESPONSE') this.dropCall();
      this.show('ERROR', err.code);
      return result({
        outcome: 'failed',
        stan: first?.request.stan,
        failure: { code: err.code, message: err.message },
      });
    }
  }

  /** Spends a STAN and a PSAM counter on a message (like `transact`, without the exchange). */
  private begin(kind: TransactionKind, build: (signer: MacSigner, stan: number) => BuiltRequest): Pending {
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
    this.state = { ...this.state, stan, psamCounter: psam.counter };
    this.store.save(this.state);
    return { kind, request, psam };
  }

  /**
   * Sends `send` (the conversation's request, or a reply) and reads the answer. Answers of the
   * conversation echo its STAN and are MACed under its session; an unsigned decline of a reply
   * echoes the reply's STAN.
   */
  private async roundTrip(
    call: Call,
    conversation: BuiltRequest,
    session: Pending,
    send: BuiltRequest = conversation,
  ): Promise<ParsedResponse> {
    const ended = call.ended.then((reason) => {
      throw new FixpayError('TERMINAL_SIM_CALL_DROPPED', `line ended: ${reason}`);
    });
    ended.catch(() => {});
    await Promise.race([call.endpoint.send(send.payload), ended]);
    const payload = await timeout(
      Promise.race([call.endpoint.receive(), ended]),
      this.config.timeouts.responseMs,
      () => new FixpayError('TERMINAL_SIM_NO_RESPONSE', `${this.config.timeouts.responseMs} ms`),
    );
    let response: ParsedResponse;
    try {
      response = parseResponse(payload, conversation, this.identity);
    } catch (e) {
      if (send === conversation) throw e;
      response = parseResponse(payload, send, this.identity);
      if (response.mac !== undefined)
        throw new FixpayError('TERMINAL_SIM_RESPONSE_INVALID', 'a signed answer to a reply');
      return response;
    }
    this.checkMac(session, response);
    return response;
  }

  /** The blocks of a multi-block menu received so far (ADR 0018). */
  private partialMenu: PartialMenu | undefined;

  /** Read through a call: the exchanges in between change it (takeMenu). */
  private menuInProgress(): PartialMenu | undefined {
    return this.partialMenu;
  }

  private takeMenu(r: ParsedResponse): void {
    const items = tlvField(r.message, SERVICE_DATA_FIELD);
    if (items === undefined) return;
    const menu = decodeMenu(encodeTlv(items));
    if (menu.block === undefined || menu.blocks === undefined) {
      this.partialMenu = undefined;
      if (menu.version !== this.heldMenu?.version) this.heldMenu = menu;
      return;
    }
    const p = this.partialMenu;
    // The first block, or the next one of the same version: kept; anything else starts over.
    if (menu.block === 1 || p === undefined || p.version !== menu.version || menu.block !== p.received.length + 1)
      // A block out of turn (the menu changed meanwhile): nothing kept, the next ask is block 1.
      this.partialMenu = {
        version: menu.version,
        blocks: menu.blocks,
        received: menu.block === 1 ? [menu.entries] : [],
      };
    else p.received.push(menu.entries);
    const done = this.partialMenu;
    if (done !== undefined && done.received.length === done.blocks) {
      this.heldMenu = { version: done.version, entries: done.received.flat() };
      this.partialMenu = undefined;
    }
  }

  private financial(
    kind: 'purchase' | 'balance',
    amountMinor: number | undefined,
    pin: string | undefined,
    opts: TransactionFaults,
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
      opts,
      amountMinor,
    );
  }

  private nextStan(): number {
    const stan = this.state.stan >= STAN_MAX ? 1 : this.state.stan + 1;
    return stan;
  }

  private async transact(
    kind: TransactionKind,
    build: (signer: MacSigner, stan: number) => BuiltRequest,
    faults: TransactionFaults = {},
    amountMinor?: number,
  ): Promise<TransactionResult> {
    const started = performance.now();
    if (kind !== 'sign-on' && !this.signedOn)
      return this.failed(kind, false, started, new FixpayError('TERMINAL_SIM_NOT_SIGNED_ON'), undefined);
    // ADR 0012: an owed reversal goes out before any other request; while it is unanswered, no
    // other request may go (the host would take it as the sale's confirmation).
    if (this.state.owedReversal !== undefined) {
      const r = await this.sendOwedReversal();
      if (this.owedReversal !== undefined)
        return this.failed(
          kind,
          false,
          started,
          new FixpayError('TERMINAL_SIM_NO_RESPONSE', `reversal of STAN ${r.stan ?? '?'} still owed`),
          undefined,
        );
    }
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
      // Like a terminal: the STAN and the PSAM counter are spent once the message exists, and a
      // purchase's pending record is written before its first transmission (ADR 0012).
      this.state = { ...this.state, stan, psamCounter: psam.counter };
      if (kind === 'purchase' && amountMinor !== undefined)
        this.state.pending = {
          stan: request.stan,
          amountMinor,
          request: reversalRecord(request.payload).toString('hex'),
        };
      this.store.save(this.state);
      pending = { kind, request, psam };
      this.pending = pending;
      if (kind === 'purchase') this.lastPurchase = pending;
    } catch (e) {
      return this.failed(kind, false, started, e, undefined);
    }
    return this.exchange(pending, false, started, faults);
  }

  /** Sends the owed reversal (0400, or 0401 once a copy went out) and deletes it on any valid 0410. */
  private async sendOwedReversal(): Promise<TransactionResult> {
    const started = performance.now();
    const owed = this.state.owedReversal;
    if (owed === undefined) throw new FixpayError('INTERNAL', 'no reversal owed');
    let pending: Pending;
    try {
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
      const request = buildReversalRequest(
        this.identity,
        Buffer.from(owed.request, 'hex'),
        { reason: owed.reason, repeat: owed.sent, originalDate: mmdd(new Date()) },
        signer,
      );
      this.state = { ...this.state, psamCounter: psam.counter, owedReversal: { ...owed, sent: true } };
      this.store.save(this.state);
      pending = { kind: 'reversal', request, psam };
    } catch (e) {
      const r = this.failed('reversal', false, started, e, undefined);
      this.reversals.push(r);
      return r;
    }
    this.show('REVERSAL', `STAN ${owed.stan}`);
    const r = await this.exchange(pending, false, started, {});
    this.reversals.push(r);
    return r;
  }

  /**
   * A purchase that ends without a valid answer: the display says CANCELLED (never APPROVED) and
   * the pending record becomes a reversal owed (ADR 0012).
   */
  private cancelPurchase(request: BuiltRequest, macInvalid: boolean): void {
    const p = this.state.pending;
    if (p?.stan !== request.stan) return;
    const { pending: _p, ...rest } = this.state;
    this.state = { ...rest, owedReversal: { ...p, reason: macInvalid ? 'A0' : '98', sent: false } };
    this.store.save(this.state);
  }

  private async exchange(
    pending: Pending,
    repeated: boolean,
    started: number,
    faults: TransactionFaults,
  ): Promise<TransactionResult> {
    const cut = faults.cut ?? (faults.dropAfterSend === true ? 'after-send' : undefined);
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
      if (cut === 'before-send') {
        this.dropCall();
        throw new FixpayError('TERMINAL_SIM_CALL_DROPPED', 'line ended before the request left');
      }
      if (faults.loseAcks !== undefined) call.endpoint.loseNextAcks(faults.loseAcks);
      if (faults.loseAnswers !== undefined) call.endpoint.ignoreNextHostData(faults.loseAnswers);
      if (faults.loseRequestAcks !== undefined) call.endpoint.ignoreNextHostAcks(faults.loseRequestAcks);
      if (faults.loseRequests !== undefined) call.endpoint.corruptNextData(faults.loseRequests);
      if (cut === 'after-answer') call.endpoint.loseNextAcks(Number.MAX_SAFE_INTEGER);
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
      if (cut === 'after-send') {
        this.dropCall();
        if (kind === 'purchase' && this.state.pending?.stan === request.stan) {
          this.cancelPurchase(request, false);
          this.show(...CANCELLED_LINES, 'CALL DROPPED', `STAN ${request.stan}`);
        } else this.show(this.display[0] ?? '', 'CALL DROPPED', `STAN ${request.stan}`);
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
      if (cut === 'after-answer') this.dropCall();
      const response = parseResponse(payload, request, this.identity);
      this.checkMac(pending, response, faults.corruptAnswerMac === true);
      // ADR 0012: delete the pending record, then show the answer (a power cut in between can
      // never leave a displayed approval with a reversal still owed).
      if (kind === 'purchase' && this.state.pending?.stan === request.stan) {
        const { pending: _p, ...rest } = this.state;
        this.state = rest;
        this.store.save(this.state);
      }
      if (kind === 'reversal' && this.state.owedReversal !== undefined) {
        const { owedReversal: _o, ...rest } = this.state;
        this.state = rest;
        this.store.save(this.state);
      }
      const result = this.conclude(pending, repeated, response);
      return { ...result, ...stats(), display: this.display };
    } catch (e) {
      const r = this.failed(kind, repeated, started, e, request);
      if (kind === 'purchase' && this.state.pending?.stan === request.stan) {
        this.cancelPurchase(request, isFixpayError(e) && e.codeName === 'TERMINAL_SIM_RESPONSE_MAC_INVALID');
        const code = isFixpayError(e) && e.codeName === 'TERMINAL_SIM_RESPONSE_MAC_INVALID' ? 'MAC ERROR' : 'NO ANSWER';
        this.show(...CANCELLED_LINES, code, `STAN ${request.stan}`);
        return { ...r, ...stats(), display: this.display };
      }
      return { ...r, ...stats() };
    }
  }

  private checkMac(pending: Pending, response: ParsedResponse, corrupted = false): void {
    if (corrupted) throw new FixpayError('TERMINAL_SIM_RESPONSE_MAC_INVALID', 'the answer was corrupted on the line');
    if (response.mac === undefined || response.macData === undefined) {
      // Hosts do not MAC some declines (e.g. A0 after a MAC failure); an approval must be MACed,
      // and so must a 0410: an unMACed one (anyone can build it) never deletes an owed reversal.
      if (pending.kind === 'reversal')
        throw new FixpayError('TERMINAL_SIM_RESPONSE_MAC_INVALID', 'a 0410 without field 64');
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
    const titles: Record<TransactionKind, string> = {
      'sign-on': 'SIGN ON',
      purchase: 'PURCHASE',
      balance: 'BALANCE',
      reversal: 'REVERSAL',
      menu: 'MENU',
      service: 'SERVICE',
      reply: 'SERVICE',
      notices: 'NOTICES',
    };
    const title = titles[pending.kind];
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
    if (pending.kind === 'menu' && approved) this.takeMenu(r);
    if (pending.kind === 'notices' && approved) {
      // The notices are the display: nothing else is shown over them.
      this.takeNotices(r);
      return {
        ...this.base(pending.kind, repeated, 'approved', pending.request),
        responseCode: r.responseCode,
        responseText: responseText(r.responseCode),
        authorizationCode: undefined,
        rrn: undefined,
        balanceMinor: undefined,
      };
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

  /**
   * The call in progress, or a new one: the primary number first, then each backup number in turn
   * when a number cannot be reached (refused, busy, draining, no answer, no EST). Throws the last
   * number's error when none answers.
   */
  private async ensureCall(): Promise<Call> {
    if (this.call !== undefined && !this.call.isEnded) return this.call;
    const o = this.options;
    const lc = this.config.line;
    const callerNumber = o.callerNumber ?? lc.callerNumber;
    const targets: LineTarget[] = [
      { host: o.host ?? lc.host, port: o.port ?? lc.port, callerNumber, calledNumber: lc.calledNumber },
      ...lc.backups.map((b) => ({ host: b.host, port: b.port, callerNumber, calledNumber: b.calledNumber })),
    ];
    let last: unknown;
    for (const [i, target] of targets.entries()) {
      try {
        const call = await this.dialOne(target);
        this.dialled = { host: target.host, port: target.port, calledNumber: target.calledNumber, backup: i > 0 };
        return call;
      } catch (e) {
        last = e;
        this.dialFailures++;
        if (i < targets.length - 1)
          this.log.warn(
            { host: target.host, port: target.port, code: isFixpayError(e) ? e.codeName : 'error' },
            'number not reached; dialling the next',
          );
      }
    }
    throw last;
  }

  private async dialOne(target: LineTarget): Promise<Call> {
    const o = this.options;
    const lc = this.config.line;
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
