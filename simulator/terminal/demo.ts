/**
 * Terminal simulator configs generated from the seeded demo data (demo/seed.ts DEMO): each demo
 * terminal's id, PSAM serial and caller number, with a card that exists at the bank simulator
 * (simulator/bank/accounts.ts), and the simulators' published test keys the platform loads in
 * `fixpay dev`. So `fixpay dev`'s live demo and `fixpay sim terminal --init` work from a fresh
 * clone with no manual edits.
 */
import { DEMO } from '../../demo/seed';
import type { DemoTerminal } from '../../demo/seed';
import { defaultAccounts } from '../bank/accounts';
import { DEFAULT_SIP_PORT, DEFAULT_TCP_PCM_PORT, EXAMPLE_CONFIG, parseTerminalConfig } from './config';
import type { TerminalConfig } from './config';

/** Track 2 after the PAN: expiry YYMM, service code 201, discretionary data. */
const TRACK2_TAIL = '2011234567890';
/** Expiry the bank simulator assumes when an account names none. */
const EXPIRY_DEFAULT = '3012';

export interface DemoCard {
  /** Test PAN (bank simulator account). */
  readonly pan: string;
  readonly track2: string;
  readonly pin: string;
}

/** The bank simulator's usable test cards (not blocked), in account order. */
export function demoCards(): readonly DemoCard[] {
  return defaultAccounts()
    .filter((a) => a.blocked !== true)
    .map((a) => ({ pan: a.pan, track2: `${a.pan}=${a.expirationDate ?? EXPIRY_DEFAULT}${TRACK2_TAIL}`, pin: a.pin }));
}

export interface DemoLineTarget {
  readonly host?: string;
  readonly tcpPcmPort?: number;
  readonly sipPort?: number;
  /** Real-time audio pacing (default true, as a phone line). */
  readonly pace?: boolean;
}

/** The raw (YAML-able) config of demo terminal `index`, with the `index`-th usable bank card. */
export function demoTerminalConfigData(
  index: number,
  transport: 'tcp-pcm' | 'sip',
  target: DemoLineTarget = {},
): Record<string, unknown> {
  const terminal: DemoTerminal | undefined = DEMO.terminals[index];
  if (terminal === undefined) throw new RangeError(`there are ${DEMO.terminals.length} demo terminals`);
  const cards = demoCards();
  const card = cards[index % cards.length];
  if (card === undefined) throw new RangeError('the bank simulator has no usable card');
  return {
    ...EXAMPLE_CONFIG,
    terminalId: terminal.terminalId,
    // The host answers a call with the profile of the terminal bound to the caller number.
    profile: terminal.deviceProfileId,
    psam: { ...EXAMPLE_CONFIG.psam, serial: terminal.psamNo },
    card: { track2: card.track2, pin: card.pin },
    line: {
      ...EXAMPLE_CONFIG.line,
      transport,
      host: target.host ?? EXAMPLE_CONFIG.line.host,
      port: transport === 'sip' ? (target.sipPort ?? DEFAULT_SIP_PORT) : (target.tcpPcmPort ?? DEFAULT_TCP_PCM_PORT),
      pace: target.pace ?? true,
      callerNumber: terminal.ani,
    },
  };
}

/** Parsed config of demo terminal `index` (see `demoTerminalConfigData`). */
export function demoTerminalConfig(
  index: number,
  transport: 'tcp-pcm' | 'sip',
  target: DemoLineTarget = {},
  baseDir = process.cwd(),
): TerminalConfig {
  return parseTerminalConfig(demoTerminalConfigData(index, transport, target), baseDir);
}
