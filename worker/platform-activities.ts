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
import { createConversationActivities, DEFAULT_DEVICE } from '../activities/terminal-conversation';
import type { TerminalDevice } from '../activities/terminal-conversation';
import { loadProfiles } from '../channel-engine/profiles';
import type { DeviceProfile } from '../channel-engine/profiles';
import type { Registry } from '../services/registry/registry';
import type { MenuService } from '../terminal-protocol/menu';

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
  /** The sales waiting for the phone's verdict (ADR 0012); in memory when not given (one worker only). */
  readonly verdicts?: TerminalVerdictStore;
  /** Where terminal menus come from (ADR 0018): the live definitions; an empty menu without it. */
  readonly registry?: Pick<Registry, 'liveVersions'>;
  /** Device profiles by id (screens, receipts, menu memory); the shipped ones by default. */
  readonly profiles?: ReadonlyMap<string, DeviceProfile>;
}

/** The device of a profile, as conversations see it (a profile without a terminal section: the default). */
export function deviceOf(profileId: string, profile: DeviceProfile | undefined): TerminalDevice {
  const t = profile?.terminal;
  if (t === undefined) return { profileId, ...DEFAULT_DEVICE };
  return {
    profileId,
    display: { lines: t.display.lines, columns: t.display.columns },
    printer: t.printer === 'none' ? 'none' : { columns: t.printer.columns },
    menuMemory: t.menuMemory,
  };
}

/** The menu entries of the live definitions that carry a `terminal` block. */
export async function liveMenuServices(registry: Pick<Registry, 'liveVersions'>): Promise<MenuService[]> {
  return (await registry.liveVersions()).flatMap((r) => {
    const t = r.plan.terminal;
    if (t === undefined) return [];
    return [
      {
        serviceId: r.serviceId,
        menu: t.menu,
        title: t.title,
        inputs: t.inputs,
        profiles: t.profiles,
        ...(t.card === true ? { card: true } : {}),
      },
    ];
  });
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
  let profiles = deps.profiles;
  const conversation = createConversationActivities({
    hsm: deps.hsm,
    psamMasterKey: deps.psamMasterKey,
    device: async (terminalId) => {
      const t = await deps.core.terminal(terminalId);
      if (t === undefined) return undefined;
      profiles ??= loadProfiles();
      return deviceOf(t.deviceProfileId, profiles.get(t.deviceProfileId));
    },
    menuServices: () => (deps.registry === undefined ? Promise.resolve([]) : liveMenuServices(deps.registry)),
  });
  return {
    // Platform workflows (ping, the access node's request verification).
    ping: one(ping, 'ping'),
    verifyTerminalRequest: one(verification, 'verifyTerminalRequest'),
    // Terminal binding (channel).
    checkBinding: one(terminals, 'checkBinding'),
    // HSM.
    verifyTerminalMac: one(hsm, 'verifyTerminalMac'),
    translateTerminalPin: one(hsm, 'translateTerminalPin'),
    signOnTerminal: one(hsm, 'signOnTerminal'),
    answerTerminal: one(hsm, 'answerTerminal'),
    // Conversations (ADR 0018): menus, prompt screens, receipts.
    promptTerminal: one(conversation, 'promptTerminal'),
    buildTerminalMenu: one(conversation, 'buildTerminalMenu'),
    formatReceipt: one(conversation, 'formatReceipt'),
    // Card network, in the gateway's vocabulary (generic definitions) and the terminal's.
    authorize: one(card, 'authorize'),
    reverse: one(card, 'reverse'),
    balanceInquiry: one(card, 'balanceInquiry'),
    authorizeCard: one(terminalCard, 'authorizeCard'),
    reverseCard: one(terminalCard, 'reverseCard'),
    inquireCardBalance: one(terminalCard, 'inquireCardBalance'),
    // Card services from the phone (ADR 0024); each reversal is the purchase's, by original key.
    transferByCard: one(terminalCard, 'transferByCard'),
    reverseCardTransfer: one(terminalCard, 'reverseCard'),
    repayCreditCardByCard: one(terminalCard, 'repayCreditCardByCard'),
    reverseCardRepayment: one(terminalCard, 'reverseCard'),
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
