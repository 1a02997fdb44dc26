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
import { createRequestVerificationActivities } from '../activities/terminal-verification';
import type { CoreRepository } from '../core/repository';
import type { HsmPort, KeyHandle } from '../hsm/port';
import type { TerminalKeyManager } from '../hsm/terminal-keys';
import type { LedgerPort } from '../ledger/model';
import { createTerminalServiceActivities } from '../activities/terminal-card';

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
    // The access node's pre-check (not a catalogue entry: no definition calls it).
    ...createRequestVerificationActivities({ core: deps.core, hsm: deps.hsm, psamMasterKey: deps.psamMasterKey }),
    // Last: its postReservation (by reservation id, as the catalogue declares it) wins.
    ...createTerminalServiceActivities({ gateway: deps.gateway, ledger: deps.ledger }),
    emitEvent: () => Promise.resolve({ delivered: true }),
    raiseAlert: () => Promise.resolve({ raised: true }),
  };
}
