/**
 * The demo world's keys: the simulators' published test keys loaded into the software HSM (under
 * its LMK), the demo terminals' TMKs in the terminal key store, and the key directory the central
 * worker reads. For `fixpay dev` and tests only — never production keys.
 */
import type { SoftwareHsm } from '../hsm/software/software-hsm';
import type { KeyHandle } from '../hsm/port';
import { InMemoryTerminalKeyStore, TerminalKeyManager } from '../hsm/terminal-keys';
import type { TerminalKeyStore } from '../hsm/terminal-keys';
import type { KeyDirectory } from '../worker/key-directory';

/** The demo card programme's CVK pair (ADR 0026): a published test key, never a production one. */
export const DEMO_CVK_HEX = '0123456789ABCDEFFEDCBA9876543210';
/** The demo PIN mailer printer's key (a ZEK): a test key; tests play the printer with it. */
export const DEMO_PRINTER_KEY_HEX = '1323456789ABCDEF0123456789ABCDEF';
/** The demo card bureau's key (a BUREAU key, AES-256): a test key; tests play the bureau with it. */
export const DEMO_BUREAU_KEY_HEX = '6B1C4F0A2D8E97355A0C3B1E7F60D2A94C8B17E5F3A20D6C9E418B72D05F3A61';

/** Demo key material: the simulators' published test keys, never production ones. */
export interface DemoKeyMaterial {
  /** PBOC master key the demo PSAMs derive from (32 hex). */
  readonly psamMasterKeyHex: string;
  /** The bank simulator's zone PIN key (32 hex). */
  readonly zpkHex: string;
  /** The bank simulator's zone MAC key of the network link (32 hex). */
  readonly zakHex: string;
  /** Terminal master keys by terminal id (32 hex each). */
  readonly tmks: Readonly<Record<string, string>>;
}

/**
 * Loads the demo keys into a software HSM (under its LMK) and gives the terminal key manager the
 * demo terminals' TMKs. For `fixpay dev` and tests only.
 */
export async function provisionDemoKeys(
  hsm: SoftwareHsm,
  keys: DemoKeyMaterial,
  store: TerminalKeyStore = new InMemoryTerminalKeyStore(),
): Promise<{
  psamMasterKey: KeyHandle;
  zpk: KeyHandle;
  zak: KeyHandle;
  terminalKeys: TerminalKeyManager;
  cards: { cvk: KeyHandle; printerKey: KeyHandle; bureauKey: KeyHandle };
}> {
  const psamMasterKey = hsm.importClearKey('PBOC_MK', 'tdes2', keys.psamMasterKeyHex).handle;
  const zpk = hsm.importClearKey('ZPK', 'tdes2', keys.zpkHex).handle;
  const zak = hsm.importClearKey('ZAK', 'tdes2', keys.zakHex).handle;
  for (const [terminalId, tmkHex] of Object.entries(keys.tmks)) {
    const stored = await store.get(terminalId);
    // A stored TMK under another LMK (secrets regenerated) is unusable: load it again, sign on anew.
    const usable =
      stored !== undefined &&
      (await hsm.describeKey(stored.tmk.handle).then(
        () => true,
        () => false,
      ));
    if (!usable) await store.put({ terminalId, tmk: hsm.importClearKey('TMK', 'tdes2', tmkHex) });
  }
  const cards = {
    cvk: hsm.importClearKey('CVK', 'tdes2', DEMO_CVK_HEX).handle,
    printerKey: hsm.importClearKey('ZEK', 'tdes2', DEMO_PRINTER_KEY_HEX).handle,
    bureauKey: hsm.importClearKey('BUREAU', 'aes256', DEMO_BUREAU_KEY_HEX).handle,
  };
  return { psamMasterKey, zpk, zak, cards, terminalKeys: new TerminalKeyManager({ hsm, store, layout: '004' }) };
}

/** The key directory for the demo PSAMs: all derive from the one demo PBOC master key. */
export function demoKeyDirectory(
  psamSerials: readonly string[],
  psamMasterKey: KeyHandle,
  zpk: KeyHandle,
  zak: KeyHandle,
  cards?: KeyDirectory['cards'],
): KeyDirectory {
  return {
    zpk,
    zak,
    psamMasterKeys: Object.fromEntries(psamSerials.map((s) => [s.toUpperCase(), psamMasterKey])),
    ...(cards === undefined ? {} : { cards }),
  };
}
