/**
 * Scripted mode: a list of steps (sign-on, purchase, balance, repeat, hang-up, drop, settle, wait) run by one
 * simulated terminal, for tests, benches and `fixpay sim terminal --script file.yaml`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FixpayError } from '../../domain/errors';
import type { TerminalConfig } from './config';
import { AMOUNT_MINOR_MAX } from './messages';
import { PUSH_WAIT_MS_MAX, PushReceiver } from './push-receiver';
import type { PushListenOptions, ReceivedPush } from './push-receiver';
import { PosTerminal } from './terminal';
import type {
  ConversationResult,
  PromptAction,
  InCallNotice,
  TerminalRunOptions,
  TransactionFaults,
  TransactionResult,
} from './terminal';

export type ScriptStep =
  | { readonly step: 'sign-on' }
  | {
      readonly step: 'purchase';
      /** Minor units (fen). */
      readonly amountMinor: number;
      readonly pin?: string;
      /** Hang up (no REL) as soon as the request is ACKed, without waiting for the response. */
      readonly dropAfterSend?: boolean;
      /** Line faults of this purchase (tests of ADR 0012's loss-point matrix). */
      readonly faults?: TransactionFaults;
    }
  | { readonly step: 'balance'; readonly pin?: string; readonly dropAfterSend?: boolean }
  /** Redial if needed and send the previous request again, byte for byte. */
  | { readonly step: 'repeat'; readonly dropAfterSend?: boolean }
  | { readonly step: 'hang-up' }
  /** Drop the call at once (no REL). */
  | { readonly step: 'drop' }
  /** Send the owed reversal now, if any (ADR 0012; a phone's final flush). */
  | { readonly step: 'settle' }
  | { readonly step: 'wait'; readonly ms: number }
  /** Waits (on-hook) for the next pushed notice on the phone's own line; none within `timeoutMs` fails the script. */
  | { readonly step: 'await-push'; readonly timeoutMs: number }
  /** Asks for the menu (ADR 0018): right after sign-on and at the start of a call. */
  | { readonly step: 'menu' }
  /** Asks for the notices waiting for this phone now (as done before each release with `noticesInCall`). */
  | { readonly step: 'notices' }
  /** A menu service as a conversation: inputs collected before the call, one action per prompt. */
  | {
      readonly step: 'service';
      readonly code: string;
      readonly inputs: Readonly<Record<string, string>>;
      readonly answers: readonly PromptAction[];
    };

export interface TerminalScriptOptions extends TerminalRunOptions {
  readonly config: TerminalConfig;
  /** Stop at the first `failed` transaction (default false: run every step). */
  readonly stopOnFailure?: boolean;
  /** Take push calls on the phone's own line (overrides the config's `push`). */
  readonly push?: PushListenOptions;
  /** Told the port once the push line listens. */
  readonly onPushListening?: (o: PushListenOptions & { readonly number: string }) => void;
}

export interface TerminalScriptResult {
  /** One per transaction step (sign-on, purchase, balance, repeat), in order. */
  readonly transactions: readonly TransactionResult[];
  /** Every step ran and no transaction failed (declines are not failures). */
  readonly ok: boolean;
  /** The last STAN the terminal used (persisted in its state). */
  readonly lastStan: number;
  /** The reversals (0400/0401) the terminal sent before other requests or on `settle`, in order. */
  readonly reversals: readonly TransactionResult[];
  /** One per `service` step: screens shown, the answer, the receipt printed. */
  readonly conversations: readonly ConversationResult[];
  /** Notices pushed to the phone (shown and acknowledged), in order; `await-push` steps that got none count as failures. */
  readonly pushes: readonly ReceivedPush[];
  /** Notices received inside calls (a notice request before each release, with `noticesInCall`). */
  readonly notices: readonly InCallNotice[];
}

/** Longest `wait` step. */
export const WAIT_MS_MAX = 600_000;

/**
 * Runs `steps` on a fresh `PosTerminal` built from `options.config`. A transaction step dials
 * when no call is up; `hang-up` ends the call; the call is always ended at the end. Never
 * throws for a failed transaction (see each result's `outcome`/`failure`); throws
 * TERMINAL_SIM_CONFIG_INVALID when the terminal cannot be built.
 */
export async function runTerminalScript(
  options: TerminalScriptOptions,
  steps: readonly ScriptStep[],
): Promise<TerminalScriptResult> {
  const terminal = new PosTerminal(options.config, options);
  const transactions: TransactionResult[] = [];
  const conversations: ConversationResult[] = [];
  let ok = true;
  const listen = options.push ?? options.config.push;
  const number = options.callerNumber ?? options.config.line.callerNumber;
  const receiver =
    listen === undefined
      ? undefined
      : new PushReceiver(number, terminal.profile, listen, {
          show: (lines) => terminal.show(...lines),
          // A phone in a call: the exchange answers push calls busy (ADR 0021: the notice then waits for the call).
          busy: () => terminal.connected,
        });
  let awaited = 0;
  try {
    if (receiver !== undefined && listen !== undefined) {
      const port = await receiver.start();
      options.onPushListening?.({ ...listen, port, number });
    } else if (steps.some((s) => s.step === 'await-push'))
      throw new FixpayError('TERMINAL_SIM_SCRIPT_INVALID', 'await-push needs a push line (config push, --push-port)');
    for (const s of steps) {
      let r: TransactionResult | undefined;
      switch (s.step) {
        case 'sign-on':
          r = await terminal.signOn();
          break;
        case 'purchase':
          r = await terminal.purchase(s.amountMinor, s.pin, { dropAfterSend: s.dropAfterSend ?? false, ...s.faults });
          break;
        case 'balance':
          r = await terminal.balance(s.pin, { dropAfterSend: s.dropAfterSend ?? false });
          break;
        case 'repeat':
          r = await terminal.repeatLast({ dropAfterSend: s.dropAfterSend ?? false });
          break;
        case 'hang-up':
          await terminal.hangUp();
          break;
        case 'drop':
          terminal.dropCall();
          break;
        case 'settle':
          await terminal.settleReversal();
          break;
        case 'wait':
          await new Promise((resolve) => setTimeout(resolve, s.ms));
          break;
        case 'await-push': {
          const got = await receiver?.next(awaited, s.timeoutMs);
          if (got === undefined) {
            ok = false;
            if (options.stopOnFailure === true) return finish();
          } else awaited++;
          break;
        }
        case 'menu':
          r = await terminal.downloadMenu();
          break;
        case 'notices':
          r = await terminal.fetchNotices();
          break;
        case 'service': {
          const c = await terminal.service(s.code, s.inputs, s.answers);
          conversations.push(c);
          if (c.outcome === 'failed') ok = false;
          break;
        }
      }
      if (r === undefined) continue;
      transactions.push(r);
      if (r.outcome === 'failed') {
        ok = false;
        if (options.stopOnFailure === true) break;
      }
    }
  } finally {
    await terminal.hangUp();
    await receiver?.stop();
  }
  return finish();

  function finish(): TerminalScriptResult {
    return {
      transactions,
      ok,
      lastStan: terminal.lastStan,
      reversals: terminal.reversals,
      conversations,
      pushes: [...(receiver?.received ?? [])],
      notices: [...terminal.notices],
    };
  }
}

const invalid = (detail: string): FixpayError => new FixpayError('TERMINAL_SIM_SCRIPT_INVALID', detail);
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `12.50`, `"12.50"` or `{ minor: 1250 }` → 1250. Throws TERMINAL_SIM_SCRIPT_INVALID. */
export function parseAmount(v: unknown, where: string): number {
  if (isObj(v) && typeof v.minor === 'number') {
    if (!Number.isInteger(v.minor) || v.minor <= 0 || v.minor > AMOUNT_MINOR_MAX)
      throw invalid(`${where}: minor must be a positive integer`);
    return v.minor;
  }
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  const m = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(text);
  if (m?.[1] === undefined) throw invalid(`${where}: amount must look like 12.50`);
  const minor = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
  if (minor <= 0) throw invalid(`${where}: amount must be positive`);
  return minor;
}

function pinOf(o: Obj, where: string): { pin?: string } {
  if (o.pin === undefined) return {};
  const pin = typeof o.pin === 'number' ? String(o.pin) : o.pin;
  if (typeof pin !== 'string' || !/^\d{4,12}$/.test(pin)) throw invalid(`${where}: pin must be 4-12 digits`);
  return { pin };
}

function dropOf(o: Obj, where: string): { dropAfterSend?: boolean } {
  if (o.dropAfterSend === undefined) return {};
  if (typeof o.dropAfterSend !== 'boolean') throw invalid(`${where}: dropAfterSend must be true or false`);
  return { dropAfterSend: o.dropAfterSend };
}

function allowOnly(o: Obj, keys: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw invalid(`${where}: unknown key ${k}`);
}

/** Parses one step: `sign-on`, `balance`, `hang-up`, `repeat`, `{ purchase: 12.50 }`, `{ purchase: { amount, pin, dropAfterSend } }`, `{ wait: 500 }`. */
export function parseStep(v: unknown, index: number): ScriptStep {
  const where = `steps[${index}]`;
  if (typeof v === 'string') {
    if (v === 'sign-on' || v === 'hang-up' || v === 'drop' || v === 'settle' || v === 'menu' || v === 'notices')
      return { step: v };
    if (v === 'balance' || v === 'repeat') return { step: v };
    if (v === 'await-push') return { step: v, timeoutMs: 60_000 };
    throw invalid(`${where}: unknown step ${v.slice(0, 20)}`);
  }
  if (!isObj(v) || Object.keys(v).length !== 1) throw invalid(`${where}: a step is a name or a one-key mapping`);
  const [name, arg] = Object.entries(v)[0] ?? ['', undefined];
  const o: Obj = isObj(arg) ? arg : {};
  switch (name) {
    case 'purchase': {
      if (isObj(arg)) {
        allowOnly(o, ['amount', 'pin', 'dropAfterSend'], where);
        return { step: 'purchase', amountMinor: parseAmount(o.amount, where), ...pinOf(o, where), ...dropOf(o, where) };
      }
      return { step: 'purchase', amountMinor: parseAmount(arg, where) };
    }
    case 'balance':
    case 'repeat':
      allowOnly(o, name === 'balance' ? ['pin', 'dropAfterSend'] : ['dropAfterSend'], where);
      return name === 'balance'
        ? { step: 'balance', ...pinOf(o, where), ...dropOf(o, where) }
        : { step: 'repeat', ...dropOf(o, where) };
    case 'sign-on':
    case 'hang-up':
    case 'drop':
    case 'settle':
      return { step: name };
    case 'service':
      return parseService(arg, where);
    case 'await-push': {
      const ms = arg === undefined || arg === null ? 60_000 : arg;
      if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1 || ms > PUSH_WAIT_MS_MAX)
        throw invalid(`${where}: await-push takes milliseconds (1..${PUSH_WAIT_MS_MAX})`);
      return { step: 'await-push', timeoutMs: ms };
    }
    case 'wait': {
      if (typeof arg !== 'number' || !Number.isInteger(arg) || arg < 0 || arg > WAIT_MS_MAX)
        throw invalid(`${where}: wait takes milliseconds (0..${WAIT_MS_MAX})`);
      return { step: 'wait', ms: arg };
    }
    default:
      throw invalid(`${where}: unknown step ${name.slice(0, 20)}`);
  }
}

/**
 * `{ service: { code, inputs: { name: value }, answers: ['1', cancel, no-answer, hang-up,
 * { late: '1' }] } }`: a key per prompt, in order; a prompt without an answer is not answered.
 */
function parseService(arg: unknown, where: string): ScriptStep {
  if (!isObj(arg)) throw invalid(`${where}: service takes { code, inputs, answers }`);
  allowOnly(arg, ['code', 'inputs', 'answers'], where);
  const code = arg.code;
  if (typeof code !== 'string' || !/^[a-z][a-z0-9-]{0,39}$/.test(code)) throw invalid(`${where}: code is a service id`);
  const inputs: Record<string, string> = {};
  if (arg.inputs !== undefined) {
    if (!isObj(arg.inputs)) throw invalid(`${where}: inputs must be a mapping`);
    for (const [k, v] of Object.entries(arg.inputs)) {
      const text = typeof v === 'number' ? String(v) : v;
      if (!/^[a-zA-Z][a-zA-Z0-9_]{0,31}$/.test(k) || typeof text !== 'string' || !/^[\x20-\x7e]{0,32}$/.test(text))
        throw invalid(`${where}: input ${k.slice(0, 32)}`);
      inputs[k] = text;
    }
  }
  const raw: unknown = arg.answers === undefined ? [] : arg.answers;
  if (!Array.isArray(raw) || raw.length > 20) throw invalid(`${where}: answers must be a list (at most 20)`);
  const answers = (raw as unknown[]).map((a): PromptAction => {
    if (a === 'cancel' || a === 'hang-up') return a;
    if (a === 'no-answer') return { noAnswer: true };
    if (isObj(a) && typeof a.late === 'string' && /^\d{1,32}$/.test(a.late)) return { noAnswer: true, lateKey: a.late };
    const key = typeof a === 'number' ? String(a) : a;
    if (typeof key === 'string' && /^\d{1,32}$/.test(key)) return { key };
    throw invalid(`${where}: an answer is digits, cancel, no-answer, hang-up or { late: digits }`);
  });
  return { step: 'service', code, inputs, answers };
}

/** Options a script file may set (CLI flags override them). */
export interface ScriptFileOptions {
  snrDb?: number;
  noiseSeed?: number;
  callerNumber?: string;
  transport?: 'tcp-pcm' | 'sip';
  stopOnFailure?: boolean;
}

export interface TerminalScript {
  readonly options: ScriptFileOptions;
  readonly steps: readonly ScriptStep[];
}

/** Largest script file. */
export const SCRIPT_FILE_BYTES_MAX = 256 * 1024;
/** Most steps in one script. */
export const SCRIPT_STEPS_MAX = 10_000;

/** Parses a script document (`{ options?, steps }` or a bare list of steps). */
export function parseScript(data: unknown): TerminalScript {
  const doc: Obj = Array.isArray(data) ? { steps: data } : isObj(data) ? data : {};
  allowOnly(doc, ['options', 'steps'], 'script');
  if (!Array.isArray(doc.steps) || doc.steps.length === 0) throw invalid('script.steps must be a non-empty list');
  if (doc.steps.length > SCRIPT_STEPS_MAX) throw invalid(`at most ${SCRIPT_STEPS_MAX} steps`);
  const steps = doc.steps.map((s, i) => parseStep(s, i));
  const o: Obj = doc.options === undefined ? {} : isObj(doc.options) ? doc.options : {};
  if (doc.options !== undefined && !isObj(doc.options)) throw invalid('script.options must be a mapping');
  allowOnly(o, ['snrDb', 'noiseSeed', 'callerNumber', 'transport', 'stopOnFailure'], 'options');
  const options: ScriptFileOptions = {};
  if (o.snrDb !== undefined) {
    if (typeof o.snrDb !== 'number' || o.snrDb < -10 || o.snrDb > 80) throw invalid('options.snrDb must be -10..80');
    options.snrDb = o.snrDb;
  }
  if (o.noiseSeed !== undefined) {
    if (typeof o.noiseSeed !== 'number' || !Number.isInteger(o.noiseSeed)) throw invalid('options.noiseSeed: integer');
    options.noiseSeed = o.noiseSeed;
  }
  if (o.callerNumber !== undefined) {
    const n = typeof o.callerNumber === 'number' ? String(o.callerNumber) : o.callerNumber;
    if (typeof n !== 'string' || !/^\+?[0-9*#]{1,32}$/.test(n)) throw invalid('options.callerNumber');
    options.callerNumber = n;
  }
  if (o.transport !== undefined) {
    if (o.transport !== 'tcp-pcm' && o.transport !== 'sip') throw invalid('options.transport: tcp-pcm or sip');
    options.transport = o.transport;
  }
  if (o.stopOnFailure !== undefined) {
    if (typeof o.stopOnFailure !== 'boolean') throw invalid('options.stopOnFailure: true or false');
    options.stopOnFailure = o.stopOnFailure;
  }
  return { options, steps };
}

/** Reads a YAML script file. Throws TERMINAL_SIM_SCRIPT_INVALID. */
export function loadScript(path: string): TerminalScript {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FixpayError('TERMINAL_SIM_SCRIPT_INVALID', `${path}: cannot read`, { cause: e });
  }
  if (text.length > SCRIPT_FILE_BYTES_MAX) throw invalid(`${path}: over ${SCRIPT_FILE_BYTES_MAX} bytes`);
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new FixpayError('TERMINAL_SIM_SCRIPT_INVALID', `${path}: not YAML`, { cause: e });
  }
  return parseScript(data);
}
