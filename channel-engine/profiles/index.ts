/**
 * Device profiles: one YAML file per terminal model (modem, link framing, check, timers),
 * validated against `schema/device-profile.schema.json` and the link-spec sanity rules. A new
 * phone model is a new file in this folder (or in a folder given to `loadProfiles`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { FixpayError } from '../../domain/errors';
import schema from '../../schema/device-profile.schema.json';
import { classifyType, linkSpecProblems } from '../link';
import { MIN_LEAD_IN_MARK_BITS } from '../modem/types';
import type { LinkSpec } from '../link';

export type Modulation = 'v23' | 'bell202';

export interface ModemProfile {
  readonly modulation: Modulation;
  readonly levelDbm0: number;
  readonly leadInMarkBits: number;
  readonly trailMarkBits: number;
  /** 0x55 bytes of channel seizure before the lead-in marks. */
  readonly seizureBytes: number;
}

export interface ProfileTimers {
  readonly answerDelayMs: number;
  readonly turnaroundMs: number;
  readonly ackTimeoutMs: number;
  readonly maxRetransmissions: number;
  readonly handshakeTimeoutMs: number;
  readonly handshakeRetries: number;
  readonly idleTimeoutMs: number;
  readonly releaseDelayMs: number;
}

export type DisplayCharset = 'ascii' | 'iso-8859-1' | 'gb2312' | 'gbk' | 'big5';
export type InputCapability =
  | 'numeric-keypad'
  | 'alpha-keypad'
  | 'function-keys'
  | 'navigation-keys'
  | 'magstripe-reader'
  | 'chip-reader'
  | 'contactless-reader';

/** What the device is beyond its line (optional in a profile; docs/protocols/phone-families.md). */
export interface TerminalCapabilities {
  /** The terminal message spec it speaks (an ISO 8583 spec id). */
  readonly messages: string;
  readonly display: { readonly lines: number; readonly columns: number; readonly charset: DisplayCharset };
  /** No printer, or a receipt printer this many columns wide. */
  readonly printer: 'none' | { readonly columns: number };
  /** Room for a downloaded menu: a menu must fit every limit given. */
  readonly menuMemory: { readonly bytes?: number; readonly entries?: number };
  readonly input: readonly InputCapability[];
  readonly capabilities?: readonly ('magstripe' | 'pin-pad' | 'printer' | 'menu-download' | 'on-hook-data')[];
}

export interface DeviceProfile {
  readonly id: string;
  readonly description: string;
  readonly terminal?: TerminalCapabilities;
  readonly modem: ModemProfile;
  readonly link: LinkSpec;
  readonly timers: ProfileTimers;
}

/** The folder holding the profiles shipped with fixpay. */
export const BUILTIN_PROFILES_DIR = __dirname;
/** Largest profile file read (a limit on what a misplaced file can cost). */
export const MAX_PROFILE_FILE_BYTES = 64 * 1024;
/** The byte a channel seizure is made of (alternating bits in 8N1). */
export const SEIZURE_BYTE = 0x55;

const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile<DeviceProfile>(schema);

/**
 * Parses and validates one profile document.
 * @throws FixpayError PROFILE_INVALID with the schema or link-spec problems.
 */
export function parseProfile(text: string, source: string): DeviceProfile {
  if (text.length > MAX_PROFILE_FILE_BYTES) throw new FixpayError('PROFILE_INVALID', `${source}: file too large`);
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new FixpayError('PROFILE_INVALID', `${source}: not YAML (${e instanceof Error ? e.message : 'parse error'})`);
  }
  if (!validate(doc)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
    throw new FixpayError('PROFILE_INVALID', `${source}: ${problems}`);
  }
  const problems = linkSpecProblems(doc.link);
  if (doc.modem.seizureBytes > 0 && classifyType(doc.link, SEIZURE_BYTE) !== undefined)
    problems.push('0x55 (channel seizure) must not be a frame type');
  if (doc.modem.leadInMarkBits < MIN_LEAD_IN_MARK_BITS)
    problems.push(`leadInMarkBits must be at least ${MIN_LEAD_IN_MARK_BITS} (the receiver's minimum lead-in)`);
  if (doc.terminal !== undefined) problems.push(...terminalProblems(doc.terminal));
  if (problems.length > 0) throw new FixpayError('PROFILE_INVALID', `${source}: ${problems.join('; ')}`);
  return doc;
}

/** Cross-field rules of the terminal section the schema cannot express. */
function terminalProblems(t: TerminalCapabilities): string[] {
  const problems: string[] = [];
  const caps = new Set(t.capabilities ?? []);
  if (caps.has('printer') !== (t.printer !== 'none'))
    problems.push('terminal: capability "printer" and printer must agree (printer: none without it)');
  if (caps.has('magstripe') !== t.input.includes('magstripe-reader'))
    problems.push('terminal: capability "magstripe" and input "magstripe-reader" must agree');
  if (caps.has('menu-download') && (t.menuMemory.bytes === 0 || t.menuMemory.entries === 0))
    problems.push('terminal: "menu-download" needs menu memory');
  return problems;
}

/**
 * Loads every `*.yaml` / `*.yml` profile in the given folders (later folders override earlier ids).
 * @throws FixpayError PROFILE_INVALID for the first bad file.
 */
export function loadProfiles(dirs: readonly string[] = [BUILTIN_PROFILES_DIR]): Map<string, DeviceProfile> {
  const profiles = new Map<string, DeviceProfile>();
  for (const dir of dirs) {
    const files = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
    for (const file of files) {
      const path = join(dir, file);
      const profile = parseProfile(readFileSync(path, 'utf8'), path);
      profiles.set(profile.id, profile);
    }
  }
  return profiles;
}

/** @throws FixpayError PROFILE_NOT_FOUND */
export function requireProfile(profiles: ReadonlyMap<string, DeviceProfile>, id: string): DeviceProfile {
  const p = profiles.get(id);
  if (p === undefined)
    throw new FixpayError('PROFILE_NOT_FOUND', `${id} (known: ${[...profiles.keys()].join(', ') || 'none'})`);
  return p;
}
