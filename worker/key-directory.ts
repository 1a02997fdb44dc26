/**
 * The central worker's key directory: which HSM key (a handle under the LMK, never a clear key)
 * serves which purpose — the card network's zone PIN and MAC keys and each PSAM's master key. Written by
 * whoever loads the keys (key ceremony; `fixpay dev`'s demo room with published test keys), read by
 * `fixpay worker` at start. Terminal master keys live in the database (hsm/prisma-terminal-key-store).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config';
import { FixpayError } from '../domain/errors';
import type { KeyHandle } from '../hsm/port';

/** File name of the key directory in the data folder. */
export const KEY_DIRECTORY_FILE = 'hsm-keys.json';
/** Largest key directory accepted, bytes. */
export const KEY_DIRECTORY_BYTES_MAX = 4 * 1024 * 1024;

export interface KeyDirectory {
  /** The card network's zone PIN key. */
  readonly zpk: KeyHandle;
  /** The card network's zone MAC key (network message MACs, field 64/128). */
  readonly zak: KeyHandle;
  /** PBOC master key each PSAM's session keys derive from, by PSAM serial. */
  readonly psamMasterKeys: Readonly<Record<string, KeyHandle>>;
  /**
   * Personalisation (ADR 0020), optional: the PBOC master key new PSAMs are issued under (one of
   * psamMasterKeys' handles) and the key-loading device's transport key (KBPK) a new terminal
   * master key leaves the HSM under. Without them personalisation is refused.
   */
  readonly personalisation?: { readonly psamMasterKey: KeyHandle; readonly transportKey: KeyHandle };
  /**
   * The prepaid card programme (ADR 0026), optional: the CVK pair the card verification values are
   * computed under, the PIN mailer printer's key (a ZEK) and the card bureau's key (a BUREAU key)
   * the bureau file is sealed under. Without them card issuance, replacement and PIN reissue are
   * refused (CARD_PROGRAMME_OFF); on-us authorisation works either way.
   */
  readonly cards?: { readonly cvk: KeyHandle; readonly printerKey: KeyHandle; readonly bureauKey: KeyHandle };
}

export function keyDirectoryPath(config: Config): string {
  return join(config.dataDir, KEY_DIRECTORY_FILE);
}

const isHandle = (v: unknown): v is KeyHandle => typeof v === 'string' && /^[\x21-\x7e]{8,4096}$/.test(v);

/** Reads and checks the key directory. Throws CONFIG_INVALID when it is absent or malformed. */
export function readKeyDirectory(file: string): KeyDirectory {
  if (!existsSync(file)) throw new FixpayError('CONFIG_INVALID', `no key directory at ${file} (load the keys first)`);
  const text = readFileSync(file, 'utf8');
  if (text.length > KEY_DIRECTORY_BYTES_MAX) throw new FixpayError('CONFIG_INVALID', `${file} is too large`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FixpayError('CONFIG_INVALID', `${file} is not JSON`);
  }
  const o = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const psams = o['psamMasterKeys'];
  if (!isHandle(o['zpk']) || !isHandle(o['zak']) || typeof psams !== 'object' || psams === null)
    throw new FixpayError('CONFIG_INVALID', `${file} needs zpk, zak and psamMasterKeys`);
  const psamMasterKeys: Record<string, KeyHandle> = {};
  for (const [serial, handle] of Object.entries(psams)) {
    if (!/^[0-9A-F]{16}$/i.test(serial) || !isHandle(handle))
      throw new FixpayError('CONFIG_INVALID', `${file}: bad PSAM entry ${serial.slice(0, 16)}`);
    psamMasterKeys[serial.toUpperCase()] = handle;
  }
  const c = o['cards'];
  let cards: KeyDirectory['cards'];
  if (c !== undefined) {
    const cr = typeof c === 'object' && c !== null ? (c as Record<string, unknown>) : {};
    const cvk = cr['cvk'];
    const printerKey = cr['printerKey'];
    const bureauKey = cr['bureauKey'];
    if (!isHandle(cvk) || !isHandle(printerKey) || !isHandle(bureauKey))
      throw new FixpayError('CONFIG_INVALID', `${file}: cards needs cvk, printerKey and bureauKey`);
    cards = { cvk, printerKey, bureauKey };
  }
  const withCards = cards === undefined ? {} : { cards };
  const p = o['personalisation'];
  if (p === undefined) return { zpk: o['zpk'], zak: o['zak'], psamMasterKeys, ...withCards };
  const pr = typeof p === 'object' && p !== null ? (p as Record<string, unknown>) : {};
  const master = pr['psamMasterKey'];
  const transport = pr['transportKey'];
  if (!isHandle(master) || !isHandle(transport) || !Object.values(psamMasterKeys).includes(master))
    throw new FixpayError(
      'CONFIG_INVALID',
      `${file}: personalisation needs psamMasterKey (a PSAM master key) and transportKey`,
    );
  return {
    zpk: o['zpk'],
    zak: o['zak'],
    psamMasterKeys,
    personalisation: { psamMasterKey: master, transportKey: transport },
    ...withCards,
  };
}

/** Writes the key directory (owner-only). */
export function writeKeyDirectory(file: string, directory: KeyDirectory): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(directory, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}
