/**
 * The terminal simulator's own config file (YAML or JSON) and state file (JSON). A real POS phone
 * holds its keys in its secure element; the simulator IS the terminal, so its clear test keys
 * (TMK, the PSAM's key) live in its config. The state file keeps what a terminal keeps between
 * calls: the last STAN, the batch, the PSAM counter and the working keys as the host sent them
 * (field 62, enciphered under the TMK). Nothing here holds card data except the configured test card.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FixpayError } from '../../domain/errors';
import { parseTrack2 } from './messages';
import type { Track2 } from './messages';

export type Transport = 'tcp-pcm' | 'sip';

export interface LineConfig {
  readonly transport: Transport;
  /** The access node: TCP PCM listener or SIP UAS address. */
  readonly host: string;
  readonly port: number;
  /** Our number (the ANI the network presents). */
  readonly callerNumber: string;
  /** The platform's access number. */
  readonly calledNumber: string;
  /** SIP/RTP: local address to bind and announce. */
  readonly localHost: string;
  /** TCP PCM: send our audio in real time (20 ms frames); false = at once (fast tests). SIP is always paced. */
  readonly pace: boolean;
  /**
   * Backup numbers, tried in order when the primary cannot be reached (refused, busy, draining, no
   * answer, no EST): another access node of the city (N+1). Every call tries the primary first.
   */
  readonly backups: readonly LineBackup[];
}

/** A backup number: another access node's address, and the number dialled there. */
export interface LineBackup {
  readonly host: string;
  readonly port: number;
  readonly calledNumber: string;
}

/** Most backup numbers a phone holds (a phone's memory has room for a few). */
export const LINE_BACKUPS_MAX = 4;

export interface TimeoutConfig {
  /** Until the call is answered (TCP ANSWER, SIP 200). */
  readonly dialMs: number;
  /** Until the host's EST after the answer. */
  readonly estMs: number;
  /** From the request's last ACK to the complete response. */
  readonly responseMs: number;
  /** Pause after the response's ACK before REL, so the ACK leaves the line first. */
  readonly releaseDelayMs: number;
}

export interface TerminalConfig {
  readonly terminalId: string;
  readonly merchantId: string;
  /** Device profile id (channel-engine/profiles/*.yaml). */
  readonly profile: string;
  /** Extra profile folders, resolved against the config file. */
  readonly profilesDirs: readonly string[];
  readonly tpdu: { readonly destination: string; readonly source: string };
  readonly applicationHeader: string;
  readonly currency: string;
  readonly operatorCode: string;
  readonly line: LineConfig;
  readonly psam: {
    readonly serial: string;
    readonly terminalNumber: string;
    /** The PSAM's diversified key (what the card holds), or … */
    readonly diversifiedKey?: string;
    /** … the issuer's PBOC master key, diversified here by the serial (test convenience). */
    readonly masterKey?: string;
  };
  readonly keys: {
    /** Clear test TMK (double-length, 32 hex). */
    readonly tmk: string;
    /** 60.3 of the sign-on: 003 (TPK + TAK) or 004 (+ TDK). */
    readonly signOnLayout: '003' | '004';
  };
  readonly card: { readonly track2: Track2; readonly pin: string };
  readonly timeouts: TimeoutConfig;
  /**
   * Information push (docs/protocols/push.md): where the phone's own line takes push calls from the
   * access node (TCP PCM or SIP); absent, it takes none.
   */
  readonly push?: { readonly transport: Transport; readonly host: string; readonly port: number };
  /**
   * In-call push (ADR 0021): before it releases a call, the phone asks for the notices waiting for
   * it (a notice request) and shows them. Default false (a phone without this firmware).
   */
  readonly noticesInCall: boolean;
  /** Absolute path of the state file. */
  readonly statePath: string;
}

export const DEFAULT_TIMEOUTS: TimeoutConfig = {
  dialMs: 10_000,
  estMs: 8_000,
  responseMs: 40_000,
  releaseDelayMs: 400,
};
export const DEFAULT_TCP_PCM_PORT = 5070;
export const DEFAULT_SIP_PORT = 5060;
/** Largest config or state file read. */
export const CONFIG_FILE_BYTES_MAX = 64 * 1024;

/** A config for tests and `--init`: test keys and a test card, never real ones. */
export const EXAMPLE_CONFIG = {
  terminalId: '10000001',
  merchantId: '898100000000001',
  profile: 'es201912-v23',
  tpdu: { destination: '0003', source: '0000' },
  applicationHeader: '603100000000',
  currency: '156',
  operatorCode: '001',
  line: {
    transport: 'tcp-pcm',
    host: '127.0.0.1',
    port: DEFAULT_TCP_PCM_PORT,
    callerNumber: '057188880000',
    calledNumber: '95105',
    localHost: '127.0.0.1',
    pace: true,
  },
  psam: {
    serial: '1122334455667788',
    terminalNumber: '000000000001',
    masterKey: '0123456789ABCDEFFEDCBA9876543210',
  },
  keys: { tmk: '4C4C4C4C4C4C4C4C5D5D5D5D5D5D5D5D', signOnLayout: '004' },
  card: { track2: '6225880000000000001=30122011234567890', pin: '123456' },
  timeouts: DEFAULT_TIMEOUTS,
  statePath: 'terminal-state.json',
} as const;

const invalid = (detail: string): FixpayError => new FixpayError('TERMINAL_SIM_CONFIG_INVALID', detail);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, path: string): Obj {
  if (v === undefined) return {};
  if (!isObj(v)) throw invalid(`${path} must be a mapping`);
  return v;
}
function str(o: Obj, key: string, path: string, pattern: RegExp, fallback?: string): string {
  const v = o[key] ?? fallback;
  if (typeof v === 'number' && pattern.test(String(v))) return String(v);
  if (typeof v !== 'string' || !pattern.test(v)) throw invalid(`${path}.${key} must match ${pattern.source}`);
  return v;
}
function int(o: Obj, key: string, path: string, min: number, max: number, fallback: number): number {
  const v = o[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw invalid(`${path}.${key} must be an integer in ${min}..${max}`);
  return v;
}
function bool(o: Obj, key: string, path: string, fallback: boolean): boolean {
  const v = o[key] ?? fallback;
  if (typeof v !== 'boolean') throw invalid(`${path}.${key} must be true or false`);
  return v;
}
function checkKeys(o: Obj, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw invalid(`${path}: unknown key ${k}`);
}

const HEX32 = /^[0-9A-Fa-f]{32}$/;
const NUMBER = /^\+?[0-9*#]{1,32}$/;
const HOST = /^[0-9A-Za-z.:-]{1,255}$/;

/**
 * Validates a parsed config object. `baseDir` resolves relative paths. Throws
 * TERMINAL_SIM_CONFIG_INVALID naming the key (never its value).
 */
export function parseTerminalConfig(data: unknown, baseDir: string): TerminalConfig {
  const root = obj(data, 'config');
  checkKeys(
    root,
    [
      'terminalId',
      'merchantId',
      'profile',
      'profilesDirs',
      'tpdu',
      'applicationHeader',
      'currency',
      'operatorCode',
      'line',
      'psam',
      'keys',
      'card',
      'timeouts',
      'push',
      'noticesInCall',
      'statePath',
    ],
    'config',
  );
  const push = root.push === undefined ? undefined : obj(root.push, 'push');
  if (push !== undefined) checkKeys(push, ['transport', 'host', 'port'], 'push');
  const pushTransport = push?.transport ?? 'tcp-pcm';
  if (pushTransport !== 'tcp-pcm' && pushTransport !== 'sip') throw invalid('push.transport must be tcp-pcm or sip');
  const line = obj(root.line, 'line');
  checkKeys(
    line,
    ['transport', 'host', 'port', 'callerNumber', 'calledNumber', 'localHost', 'pace', 'backups'],
    'line',
  );
  const transport = line.transport ?? 'tcp-pcm';
  if (transport !== 'tcp-pcm' && transport !== 'sip') throw invalid('line.transport must be tcp-pcm or sip');
  const calledNumber = str(line, 'calledNumber', 'line', NUMBER, '95105');
  const backupList = line.backups ?? [];
  if (!Array.isArray(backupList) || backupList.length > LINE_BACKUPS_MAX)
    throw invalid(`line.backups must be a list of at most ${LINE_BACKUPS_MAX} numbers`);
  const backups = backupList.map((b: unknown, i): LineBackup => {
    const path = `line.backups[${i}]`;
    const o = obj(b, path);
    checkKeys(o, ['host', 'port', 'calledNumber'], path);
    return {
      host: str(o, 'host', path, HOST),
      port: int(o, 'port', path, 1, 65535, transport === 'sip' ? DEFAULT_SIP_PORT : DEFAULT_TCP_PCM_PORT),
      calledNumber: str(o, 'calledNumber', path, NUMBER, calledNumber),
    };
  });
  const tpdu = obj(root.tpdu, 'tpdu');
  checkKeys(tpdu, ['destination', 'source'], 'tpdu');
  const psam = obj(root.psam, 'psam');
  checkKeys(psam, ['serial', 'terminalNumber', 'diversifiedKey', 'masterKey'], 'psam');
  const diversifiedKey = psam.diversifiedKey === undefined ? undefined : str(psam, 'diversifiedKey', 'psam', HEX32);
  const masterKey = psam.masterKey === undefined ? undefined : str(psam, 'masterKey', 'psam', HEX32);
  if ((diversifiedKey === undefined) === (masterKey === undefined))
    throw invalid('psam needs exactly one of diversifiedKey and masterKey');
  const keys = obj(root.keys, 'keys');
  checkKeys(keys, ['tmk', 'signOnLayout'], 'keys');
  const layout = keys.signOnLayout ?? '004';
  if (layout !== '003' && layout !== '004') throw invalid('keys.signOnLayout must be 003 or 004');
  const card = obj(root.card, 'card');
  checkKeys(card, ['track2', 'pin'], 'card');
  let track2: Track2;
  try {
    track2 = parseTrack2(str(card, 'track2', 'card', /^[;0-9=D?]{14,39}$/));
  } catch {
    throw invalid('card.track2 is not a track 2 (PAN=YYMM…)');
  }
  const timeouts = obj(root.timeouts, 'timeouts');
  checkKeys(timeouts, ['dialMs', 'estMs', 'responseMs', 'releaseDelayMs'], 'timeouts');
  const profilesDirs = root.profilesDirs ?? [];
  if (!Array.isArray(profilesDirs) || !profilesDirs.every((d): d is string => typeof d === 'string'))
    throw invalid('profilesDirs must be a list of folders');
  const statePath = str(root, 'statePath', 'config', /^.{1,4096}$/, 'terminal-state.json');
  return {
    terminalId: str(root, 'terminalId', 'config', /^[ -~]{8}$/),
    merchantId: str(root, 'merchantId', 'config', /^[ -~]{15}$/),
    profile: str(root, 'profile', 'config', /^[a-z0-9-]{1,64}$/, 'es201912-v23'),
    profilesDirs: profilesDirs.map((d) => resolve(baseDir, d)),
    tpdu: {
      destination: str(tpdu, 'destination', 'tpdu', /^[0-9A-Fa-f]{4}$/, '0003').toUpperCase(),
      source: str(tpdu, 'source', 'tpdu', /^[0-9A-Fa-f]{4}$/, '0000').toUpperCase(),
    },
    applicationHeader: str(root, 'applicationHeader', 'config', /^[0-9A-Fa-f]{12}$/, '603100000000').toUpperCase(),
    currency: str(root, 'currency', 'config', /^\d{3}$/, '156'),
    operatorCode: str(root, 'operatorCode', 'config', /^[ -~]{3}$/, '001'),
    line: {
      transport,
      host: str(line, 'host', 'line', HOST, '127.0.0.1'),
      port: int(line, 'port', 'line', 1, 65535, transport === 'sip' ? DEFAULT_SIP_PORT : DEFAULT_TCP_PCM_PORT),
      callerNumber: str(line, 'callerNumber', 'line', NUMBER),
      calledNumber,
      localHost: str(line, 'localHost', 'line', /^[0-9.]{7,15}$/, '127.0.0.1'),
      pace: bool(line, 'pace', 'line', true),
      backups,
    },
    psam: {
      serial: str(psam, 'serial', 'psam', /^[0-9A-Fa-f]{16}$/).toUpperCase(),
      terminalNumber: str(psam, 'terminalNumber', 'psam', /^[0-9A-Fa-f]{12}$/).toUpperCase(),
      ...(diversifiedKey === undefined ? {} : { diversifiedKey: diversifiedKey.toUpperCase() }),
      ...(masterKey === undefined ? {} : { masterKey: masterKey.toUpperCase() }),
    },
    keys: { tmk: str(keys, 'tmk', 'keys', HEX32).toUpperCase(), signOnLayout: layout },
    card: { track2, pin: str(card, 'pin', 'card', /^\d{4,12}$/, '123456') },
    timeouts: {
      dialMs: int(timeouts, 'dialMs', 'timeouts', 100, 600_000, DEFAULT_TIMEOUTS.dialMs),
      estMs: int(timeouts, 'estMs', 'timeouts', 100, 600_000, DEFAULT_TIMEOUTS.estMs),
      responseMs: int(timeouts, 'responseMs', 'timeouts', 100, 600_000, DEFAULT_TIMEOUTS.responseMs),
      releaseDelayMs: int(timeouts, 'releaseDelayMs', 'timeouts', 0, 10_000, DEFAULT_TIMEOUTS.releaseDelayMs),
    },
    ...(push === undefined
      ? {}
      : {
          push: {
            transport: pushTransport,
            host: str(push, 'host', 'push', /^[0-9.]{7,15}$/, '127.0.0.1'),
            port: int(push, 'port', 'push', 0, 65535, 0),
          },
        }),
    noticesInCall: bool(root, 'noticesInCall', 'config', false),
    statePath: resolve(baseDir, statePath),
  };
}

/** Reads and validates a YAML/JSON config file. Throws TERMINAL_SIM_CONFIG_INVALID. */
export function loadTerminalConfig(path: string): TerminalConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FixpayError('TERMINAL_SIM_CONFIG_INVALID', `${path}: cannot read`, { cause: e });
  }
  if (text.length > CONFIG_FILE_BYTES_MAX) throw invalid(`${path}: over ${CONFIG_FILE_BYTES_MAX} bytes`);
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new FixpayError('TERMINAL_SIM_CONFIG_INVALID', `${path}: not YAML`, { cause: e });
  }
  return parseTerminalConfig(data, dirname(resolve(path)));
}

/** What the terminal remembers between calls. */
export interface TerminalState {
  /** Last STAN used (0 = none yet). */
  stan: number;
  /** 60.2, six digits. */
  batch: string;
  /** PSAM counter of the last transaction. */
  psamCounter: number;
  /** Working keys as received in 0810 field 62 (under the TMK). */
  workingKeys?: { layout: '003' | '004'; field62: string };
  /**
   * ADR 0012: the purchase sent and not yet validly answered, written before its first
   * transmission: what its reversal copies (`reversalRecord`: PAN included, never track 2 or the
   * PIN block).
   */
  pending?: PendingPurchase;
  /** A reversal owed for a purchase without a valid answer: sent before anything else on the next call. */
  owedReversal?: OwedReversal;
}

export interface PendingPurchase {
  readonly stan: string;
  readonly amountMinor: number;
  /** The 0200's fields a reversal copies, as a message (hex; `reversalRecord`). */
  readonly request: string;
}

export interface OwedReversal extends PendingPurchase {
  /** Field 39 of the 0400: `98` no valid answer, `A0` the answer's MAC did not verify. */
  readonly reason: '98' | 'A0';
  /** True once a copy was sent: the next one is a `0401`. */
  readonly sent: boolean;
}

export const INITIAL_STATE: TerminalState = { stan: 0, batch: '000001', psamCounter: 0 };

/** Persists the state; `memory` keeps it in the process only (tests). */
export interface StateStore {
  load(): TerminalState;
  save(state: TerminalState): void;
}

export class MemoryStateStore implements StateStore {
  private state: TerminalState;
  constructor(initial: TerminalState = INITIAL_STATE) {
    this.state = structuredClone(initial);
  }
  load(): TerminalState {
    return structuredClone(this.state);
  }
  save(state: TerminalState): void {
    this.state = structuredClone(state);
  }
}

export function parseTerminalState(data: unknown): TerminalState {
  const o = obj(data, 'state');
  const stan = int(o, 'stan', 'state', 0, 999_999, 0);
  const batch = str(o, 'batch', 'state', /^\d{6}$/, '000001');
  const psamCounter = int(o, 'psamCounter', 'state', 0, 0xffff, 0);
  const wk = o.workingKeys;
  const out: TerminalState = { stan, batch, psamCounter };
  if (wk !== undefined) {
    const w = obj(wk, 'state.workingKeys');
    const layout = w.layout;
    if (layout !== '003' && layout !== '004') throw invalid('state.workingKeys.layout must be 003 or 004');
    const field62 = str(w, 'field62', 'state.workingKeys', /^(?:[0-9A-F]{2}){1,84}$/);
    out.workingKeys = { layout, field62 };
  }
  const pendingOf = (v: unknown, where: string): PendingPurchase => {
    const p = obj(v, where);
    return {
      stan: str(p, 'stan', where, /^\d{6}$/),
      amountMinor: int(p, 'amountMinor', where, 1, 999_999_999_999, 1),
      request: str(p, 'request', where, /^(?:[0-9a-f]{2}){1,1024}$/),
    };
  };
  if (o.pending !== undefined) out.pending = pendingOf(o.pending, 'state.pending');
  if (o.owedReversal !== undefined) {
    const r = obj(o.owedReversal, 'state.owedReversal');
    const reason = r.reason;
    if (reason !== '98' && reason !== 'A0') throw invalid('state.owedReversal.reason must be 98 or A0');
    out.owedReversal = { ...pendingOf(r, 'state.owedReversal'), reason, sent: r.sent === true };
  }
  return out;
}

/** JSON file; written to a temporary name and renamed, so a crash never leaves half a file. */
export class FileStateStore implements StateStore {
  constructor(readonly path: string) {}
  load(): TerminalState {
    if (!existsSync(this.path)) return structuredClone(INITIAL_STATE);
    let data: unknown;
    try {
      const text = readFileSync(this.path, 'utf8');
      if (text.length > CONFIG_FILE_BYTES_MAX) throw invalid('state file too large');
      data = JSON.parse(text);
    } catch (e) {
      if (e instanceof FixpayError) throw e;
      throw new FixpayError('TERMINAL_SIM_CONFIG_INVALID', `${this.path}: not JSON`, { cause: e });
    }
    return parseTerminalState(data);
  }
  save(state: TerminalState): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
