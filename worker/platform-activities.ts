/**
 * Every activity the interpreter's definitions call, built from their factories with real
 * dependencies (composition root, shared by `fixpay worker`/`fixpay dev` and the end-to-end tests).
 */
import { createCardNetworkActivities } from '../activities/card-network';
import type { CardNetworkPort } from '../activities/card-network';
import { createHsmActivities, InMemoryPsamCounterStore } from '../activities/hsm';
import type { PsamCounterStore } from '../activities/hsm';
import { createLedgerActivities } from '../activities/ledger';
import { createPingActivities } from '../activities/ping';
import { createTerminalMessageActivities } from '../activities/terminal-messages';
import { createTerminalActivities } from '../activities/terminals';
import type { CoreRepository } from '../core/repository';
import type { HsmPort, KeyHandle } from '../hsm/port';
import type { SoftwareHsm } from '../hsm/software/software-hsm';
import { InMemoryTerminalKeyStore, TerminalKeyManager } from '../hsm/terminal-keys';
import type { TerminalKeyStore } from '../hsm/terminal-keys';
import type { LedgerPort } from '../ledger/model';
import { createTerminalServiceActivities } from './terminal-service-activities';

export interface PlatformActivityDeps {
  readonly nodeName: string;
  readonly hsm: HsmPort;
  readonly psamMasterKey: (psamSerial: string) => KeyHandle | undefined;
  readonly zpk: KeyHandle;
  readonly terminalKeys: TerminalKeyManager;
  readonly counters?: PsamCounterStore;
  readonly core: CoreRepository;
  readonly ledger: LedgerPort;
  readonly gateway: CardNetworkPort;
}

export function createPlatformActivities(deps: PlatformActivityDeps): object {
  const card = createCardNetworkActivities({ gateway: deps.gateway });
  return {
    ...createPingActivities({ responder: deps.nodeName }),
    ...createTerminalActivities({ core: deps.core }),
    ...createLedgerActivities({ ledger: deps.ledger }),
    // The catalogue's names over the gateway: authorize/balanceInquiry/reverse as the gateway has them.
    ...card,
    ...createTerminalMessageActivities(),
    ...createHsmActivities({
      hsm: deps.hsm,
      psamMasterKey: deps.psamMasterKey,
      zpk: deps.zpk,
      terminalKeys: deps.terminalKeys,
      counters: deps.counters ?? new InMemoryPsamCounterStore(),
    }),
    // Last: its postReservation (by reservation id, as the catalogue declares it) wins.
    ...createTerminalServiceActivities({ gateway: deps.gateway, ledger: deps.ledger }),
    emitEvent: () => Promise.resolve({ delivered: true }),
    raiseAlert: () => Promise.resolve({ raised: true }),
  };
}

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
): Promise<{ psamMasterKey: KeyHandle; zpk: KeyHandle; zak: KeyHandle; terminalKeys: TerminalKeyManager }> {
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
  return { psamMasterKey, zpk, zak, terminalKeys: new TerminalKeyManager({ hsm, store, layout: '004' }) };
}
