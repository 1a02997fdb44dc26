/**
 * Every activity the interpreter's definitions call, built from their factories with real
 * dependencies (composition root, shared by `fixpay worker`/`fixpay dev` and the end-to-end tests).
 */
import { createCardNetworkActivities } from '../activities/card-network';
import type { CardNetworkPort } from '../activities/card-network';
import { createHsmActivities, InMemoryPsamCounterStore } from '../activities/hsm';
import type { PsamCounterStore, PsamMasterKeyLookup } from '../activities/hsm';
import { createLifecycleActivities } from '../activities/terminal-lifecycle';
import { createLedgerActivities } from '../activities/ledger';
import { createPingActivities } from '../activities/ping';
import { createTerminalActivities } from '../activities/terminals';
import { createRequestVerificationActivities } from '../activities/terminal-verification';
import type { CoreRepository } from '../core/repository';
import type { HsmPort, KeyHandle } from '../hsm/port';
import type { TerminalKeyManager } from '../hsm/terminal-keys';
import type { LedgerPort } from '../ledger/model';
import { createTerminalServiceActivities } from '../activities/terminal-card';
import { InMemoryTerminalVerdictStore } from '../activities/terminal-verdict-store';
import type { TerminalVerdictStore } from '../activities/terminal-verdict-store';
import { createTerminalVerdictActivities } from '../activities/terminal-verdicts';

export interface PlatformActivityDeps {
  readonly nodeName: string;
  readonly hsm: HsmPort;
  readonly psamMasterKey: PsamMasterKeyLookup;
  readonly zpk: KeyHandle;
  readonly terminalKeys: TerminalKeyManager;
  readonly counters?: PsamCounterStore;
  readonly core: CoreRepository;
  readonly ledger: LedgerPort;
  readonly gateway: CardNetworkPort;
  /** The sales waiting for the phone's verdict (ADR 0012); in memory when not given (one worker only). */
  readonly verdicts?: TerminalVerdictStore;
  /** PSAM personalisation keys (ADR 0020); without them personalisation is refused. */
  readonly personalisation?: { readonly psamMasterKey: KeyHandle; readonly transportKey: KeyHandle };
}

/** A registered activity as Temporal calls it. */
type ActivityFn = (input: never) => Promise<unknown>;

/** One implementation, bound to its activity set (the sets are plain objects of functions). */
function one<T extends object>(set: T, name: keyof T): ActivityFn {
  const fn = set[name];
  if (typeof fn !== 'function') throw new TypeError(`no activity ${String(name)}`);
  return (fn as ActivityFn).bind(set);
}

/**
 * Every activity the central worker registers, each named once and bound to its one
 * implementation (no spread, so no object-spread order decides which of two runs). The names are
 * the catalogue's (services/catalogue/entries.ts) plus the platform workflows' own
 * (PLATFORM_ACTIVITIES); worker/activity-parity.test.ts fails when they drift apart.
 */
export function createPlatformActivities(deps: PlatformActivityDeps): Record<string, ActivityFn> {
  const ping = createPingActivities({ responder: deps.nodeName });
  const terminals = createTerminalActivities({ core: deps.core });
  const ledger = createLedgerActivities({ ledger: deps.ledger });
  const card = createCardNetworkActivities({ gateway: deps.gateway });
  const hsm = createHsmActivities({
    hsm: deps.hsm,
    psamMasterKey: deps.psamMasterKey,
    zpk: deps.zpk,
    terminalKeys: deps.terminalKeys,
    counters: deps.counters ?? new InMemoryPsamCounterStore(),
  });
  const verdicts = deps.verdicts ?? new InMemoryTerminalVerdictStore();
  const verification = createRequestVerificationActivities({
    core: deps.core,
    hsm: deps.hsm,
    psamMasterKey: deps.psamMasterKey,
    verdicts,
  });
  const outcome = createTerminalVerdictActivities({ verdicts });
  const terminalCard = createTerminalServiceActivities({ gateway: deps.gateway, ledger: deps.ledger });
  const lifecycle = createLifecycleActivities({
    core: deps.core,
    ledger: deps.ledger,
    hsm: deps.hsm,
    terminalKeys: deps.terminalKeys,
    ...(deps.personalisation === undefined ? {} : { personalisation: deps.personalisation }),
  });
  return {
    // Platform workflows (ping, the access node's request verification).
    ping: one(ping, 'ping'),
    verifyTerminalRequest: one(verification, 'verifyTerminalRequest'),
    // The business core's lifecycle runs (ADR 0020).
    applyLifecycleCommand: one(lifecycle, 'applyLifecycleCommand'),
    personaliseTerminal: one(lifecycle, 'personaliseTerminal'),
    destroyTerminalKeys: one(lifecycle, 'destroyTerminalKeys'),
    // Terminal binding (channel).
    checkBinding: one(terminals, 'checkBinding'),
    terminalKeysLoaded: one(terminals, 'terminalKeysLoaded'),
    // HSM.
    verifyTerminalMac: one(hsm, 'verifyTerminalMac'),
    translateTerminalPin: one(hsm, 'translateTerminalPin'),
    signOnTerminal: one(hsm, 'signOnTerminal'),
    answerTerminal: one(hsm, 'answerTerminal'),
    // Card network, in the gateway's vocabulary (generic definitions) and the terminal's.
    authorize: one(card, 'authorize'),
    reverse: one(card, 'reverse'),
    balanceInquiry: one(card, 'balanceInquiry'),
    authorizeCard: one(terminalCard, 'authorizeCard'),
    reverseCard: one(terminalCard, 'reverseCard'),
    inquireCardBalance: one(terminalCard, 'inquireCardBalance'),
    // The phone's verdict on a purchase (ADR 0012).
    openTerminalVerdict: one(outcome, 'openTerminalVerdict'),
    recordTerminalVerdict: one(outcome, 'recordTerminalVerdict'),
    reverseTerminalSale: one(outcome, 'reverseTerminalSale'),
    // Ledger: the reservation is posted by its id, as the catalogue declares it.
    reserveFunds: one(ledger, 'reserveFunds'),
    voidReservation: one(ledger, 'voidReservation'),
    postReservation: one(terminalCard, 'postReservation'),
    // Notifications (no sink yet: accepted and dropped).
    emitEvent: () => Promise.resolve({ delivered: true }),
    raiseAlert: () => Promise.resolve({ raised: true }),
  };
}
