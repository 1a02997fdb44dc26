/**
 * Every activity the interpreter's definitions call, built from their factories with real
 * dependencies (composition root, shared by `fixpay worker`/`fixpay dev` and the end-to-end tests).
 */
import { join } from 'node:path';
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
import { createRoutedCardNetwork } from '../cards/on-us';
import type { CardStore, CardUnitOfWork } from '../cards/store';
import { createCardCommands } from '../cards/commands';
import { createCardLoadActivities } from '../cards/phone-load';
import { InMemoryTerminalVerdictStore } from '../activities/terminal-verdict-store';
import type { TerminalVerdictStore } from '../activities/terminal-verdict-store';
import { createTerminalVerdictActivities } from '../activities/terminal-verdicts';
import { createProviderActivities } from '../activities/providers';
import { createProviderMoneyActivities } from '../activities/provider-money';
import { createBillConnector } from '../gateways/providers/bill';
import { createTopupConnector } from '../gateways/providers/topup';
import { createTicketingConnector } from '../gateways/providers/ticketing';
import { ProviderDirectory } from '../gateways/providers/profile';
import { offerChoices } from '../gateways/providers/ticket-offers';
import type { ProviderJournal } from '../gateways/providers/journal';
import { MemoryProviderJournal } from '../gateways/providers/journal';
import { openVoucher } from '../gateways/providers/voucher';
import type { VoucherKey } from '../gateways/providers/voucher';
import { createConversationActivities, DEFAULT_DEVICE } from '../activities/terminal-conversation';
import type { TerminalDevice } from '../activities/terminal-conversation';
import { loadProfiles } from '../channel-engine/profiles';
import type { DeviceProfile } from '../channel-engine/profiles';
import type { Registry } from '../services/registry/registry';
import type { MenuService } from '../terminal-protocol/menu';
import { createPartnerBillActivities } from '../activities/partner-bills';
import type { PartnerBillDeps } from '../activities/partner-bills';
import { activityFailure, catalogueFailure } from '../activities/failure';
import { createTerminalNoticeActivities } from '../activities/push';
import type { PrismaPushStore } from '../core/push-store';

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
  /** Bill and top-up connectors (ADR 0019): the watched provider directory, the voucher key, the journal. */
  readonly providers?: ProviderDeps;
  /** Where terminal menus come from (ADR 0018): the live definitions; an empty menu without it. */
  readonly registry?: Pick<Registry, 'liveVersions'>;
  /** Device profiles by id (screens, receipts, menu memory); the shipped ones by default. */
  readonly profiles?: ReadonlyMap<string, DeviceProfile>;
  /** PSAM personalisation keys (ADR 0020); without them personalisation is refused. */
  readonly personalisation?: { readonly psamMasterKey: KeyHandle; readonly transportKey: KeyHandle };
  /** Partner bills paid from the phone (ADR 0027); without them those calls are refused. */
  readonly partnerBills?: PartnerBillDeps;
  /**
   * The prepaid programme (ADR 0026): with it, cards whose BIN route is `onus` are authorised
   * against their card accounts and never reach the network. Without it every card goes to the
   * gateway, as before.
   */
  readonly cards?: {
    readonly store: CardStore;
    readonly indexKey: Uint8Array;
    /** All-or-nothing writes of a batch or replacement (the Prisma store's transaction). */
    readonly atomically?: CardUnitOfWork;
    /** The CVK pair, the PIN mailer printer's key and the bureau key (key directory `cards`); without them no issuance. */
    readonly keys?: { readonly cvk: KeyHandle; readonly printerKey: KeyHandle; readonly bureauKey: KeyHandle };
    /** Seconds a phone's unposted card load holds the money (config cards.loadHoldSeconds). */
    readonly loadHoldSeconds?: number;
  };
  /**
   * The push store (ADR 0021): notice answers carry a terminal's pending pushes inside its call.
   * Without it a notice answer carries none.
   */
  readonly pushStore?: Pick<PrismaPushStore, 'pendingForTerminal' | 'record'>;
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
export async function liveMenuServices(
  registry: Pick<Registry, 'liveVersions'>,
  /** Where choice lists from provider data come from (`choicesFrom`); none: such lists are empty. */
  directory?: Pick<ProviderDirectory, 'current'>,
): Promise<MenuService[]> {
  return (await registry.liveVersions()).flatMap((r) => {
    const t = r.plan.terminal;
    if (t === undefined) return [];
    return [
      {
        serviceId: r.serviceId,
        menu: t.menu,
        title: t.title,
        // A list from provider data is read now: a new game or show is on the next menu download.
        inputs: t.inputs.map(({ choicesFrom, ...i }) =>
          choicesFrom === undefined
            ? i
            : {
                ...i,
                choices:
                  directory === undefined ? [] : offerChoices(directory.current().ticketOffers.values(), choicesFrom),
              },
        ),
        profiles: t.profiles,
        ...(t.card === true ? { card: true } : {}),
      },
    ];
  });
}

export interface ProviderDeps {
  readonly directory: ProviderDirectory;
  readonly voucherKey: VoucherKey;
  /** In memory when not given (reconciliation then sees only this process's captures). */
  readonly journal?: ProviderJournal;
}

/** The demo provider profiles, billers and operators shipped with the repository. */
export const PROVIDERS_DIR = join(__dirname, '..', 'providers');

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
  const gateway =
    deps.cards === undefined
      ? deps.gateway
      : createRoutedCardNetwork({
          hsm: deps.hsm,
          ledger: deps.ledger,
          store: deps.cards.store,
          indexKey: deps.cards.indexKey,
          zpk: deps.zpk,
          network: deps.gateway,
          routeCard: (pan) => deps.core.routeCard(pan),
        });
  const card = createCardNetworkActivities({ gateway });
  // One counter store for the run's MAC checks and the prompt replies' (both spend counters).
  const counters = deps.counters ?? new InMemoryPsamCounterStore();
  const hsm = createHsmActivities({
    hsm: deps.hsm,
    psamMasterKey: deps.psamMasterKey,
    zpk: deps.zpk,
    terminalKeys: deps.terminalKeys,
    counters,
  });
  const verdicts = deps.verdicts ?? new InMemoryTerminalVerdictStore();
  const verification = createRequestVerificationActivities({
    core: deps.core,
    hsm: deps.hsm,
    psamMasterKey: deps.psamMasterKey,
    verdicts,
    counters,
  });
  const outcome = createTerminalVerdictActivities({ verdicts });
  const terminalCard = createTerminalServiceActivities({ gateway, ledger: deps.ledger });
  // Without provider deps (a parity check) the connectors still bind; they read nothing until called.
  const directory = deps.providers?.directory ?? new ProviderDirectory(PROVIDERS_DIR);
  const voucherKey = deps.providers?.voucherKey ?? { id: 'unset', key: Buffer.alloc(32) };
  const providerActs = createProviderActivities({
    billers: createBillConnector({ directory }),
    topup: createTopupConnector({ directory, voucherKey }),
    ticketing: createTicketingConnector({ directory }),
  });
  const provider = (name: string): ActivityFn => {
    const fn = providerActs[name];
    if (fn === undefined) throw new TypeError(`no activity ${name}`);
    return fn;
  };
  const money = createProviderMoneyActivities({
    ledger: deps.ledger,
    directory,
    journal: deps.providers?.journal ?? new MemoryProviderJournal(),
  });
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
    menuServices: () =>
      deps.registry === undefined ? Promise.resolve([]) : liveMenuServices(deps.registry, deps.providers?.directory),
    // Only with the platform's voucher key: the receipt builder is the one place a top-up PIN is opened.
    ...(deps.providers === undefined ? {} : { openVoucher: (sealed: string) => openVoucher(sealed, [voucherKey]) }),
  });
  const lifecycle = createLifecycleActivities({
    core: deps.core,
    ledger: deps.ledger,
    hsm: deps.hsm,
    terminalKeys: deps.terminalKeys,
    ...(deps.personalisation === undefined ? {} : { personalisation: deps.personalisation }),
    ...(deps.cards === undefined
      ? {}
      : {
          cards: createCardCommands({
            hsm: deps.hsm,
            ledger: deps.ledger,
            store: deps.cards.store,
            indexKey: deps.cards.indexKey,
            ...(deps.cards.atomically === undefined ? {} : { atomically: deps.cards.atomically }),
            ...(deps.cards.keys === undefined ? {} : { keys: deps.cards.keys }),
            routes: deps.core,
          }),
        }),
  });
  const cardLoad =
    deps.cards === undefined
      ? undefined
      : createCardLoadActivities({
          store: deps.cards.store,
          ledger: deps.ledger,
          indexKey: deps.cards.indexKey,
          routeCard: (pan) => deps.core.routeCard(pan),
          ...(deps.cards.loadHoldSeconds === undefined ? {} : { holdSeconds: deps.cards.loadHoldSeconds }),
        });
  const cardLoadActivity =
    (name: 'loadPrepaidCard' | 'postCardLoad' | 'reverseCardLoad'): ActivityFn =>
    async (input: never) => {
      if (cardLoad === undefined) throw catalogueFailure('CARD_PROGRAMME_OFF', 'no card programme on this worker');
      try {
        return await cardLoad[name](input);
      } catch (e) {
        throw activityFailure(e);
      }
    };
  const notices = createTerminalNoticeActivities({
    store: deps.pushStore ?? {
      pendingForTerminal: () => Promise.resolve([]),
      record: () => Promise.resolve('pending'),
    },
  });
  const partnerBills = deps.partnerBills === undefined ? undefined : createPartnerBillActivities(deps.partnerBills);
  const partnerBill = (name: keyof ReturnType<typeof createPartnerBillActivities>): ActivityFn =>
    partnerBills === undefined
      ? () => Promise.reject(catalogueFailure('CONFIG_INVALID', 'partner bills are not configured on this worker'))
      : one(partnerBills, name);
  return {
    // Platform workflows (ping, the access node's request verification).
    ping: one(ping, 'ping'),
    verifyTerminalRequest: one(verification, 'verifyTerminalRequest'),
    // The business core's lifecycle runs (ADR 0020).
    applyLifecycleCommand: one(lifecycle, 'applyLifecycleCommand'),
    personaliseTerminal: one(lifecycle, 'personaliseTerminal'),
    applyCardCommand: one(lifecycle, 'applyCardCommand'),
    destroyTerminalKeys: one(lifecycle, 'destroyTerminalKeys'),
    // Terminal binding (channel).
    checkBinding: one(terminals, 'checkBinding'),
    terminalKeysLoaded: one(terminals, 'terminalKeysLoaded'),
    // HSM.
    verifyTerminalMac: one(hsm, 'verifyTerminalMac'),
    translateTerminalPin: one(hsm, 'translateTerminalPin'),
    signOnTerminal: one(hsm, 'signOnTerminal'),
    answerTerminal: one(hsm, 'answerTerminal'),
    // Conversations (ADR 0018): menus, prompt screens, receipts.
    promptTerminal: one(conversation, 'promptTerminal'),
    buildTerminalMenu: one(conversation, 'buildTerminalMenu'),
    formatReceipt: one(conversation, 'formatReceipt'),
    // In-call push (ADR 0021): the notice answer and its receipt.
    takeTerminalNotices: one(notices, 'takeTerminalNotices'),
    recordTerminalNotices: one(notices, 'recordTerminalNotices'),
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
    // Prepaid cards loaded from the phone (ADR 0026).
    loadPrepaidCard: cardLoadActivity('loadPrepaidCard'),
    reverseCardLoad: cardLoadActivity('reverseCardLoad'),
    postCardLoad: cardLoadActivity('postCardLoad'),
    // The phone's verdict on a purchase (ADR 0012).
    openTerminalVerdict: one(outcome, 'openTerminalVerdict'),
    recordTerminalVerdict: one(outcome, 'recordTerminalVerdict'),
    reverseTerminalSale: one(outcome, 'reverseTerminalSale'),
    // Ledger: the reservation is posted by its id, as the catalogue declares it.
    reserveFunds: one(ledger, 'reserveFunds'),
    voidReservation: one(ledger, 'voidReservation'),
    postReservation: one(terminalCard, 'postReservation'),
    // Bill and top-up aggregators (ADR 0019) and the money around them.
    fetchBill: provider('fetchBill'),
    payBill: provider('payBill'),
    billPaymentStatus: provider('billPaymentStatus'),
    cancelBillPayment: provider('cancelBillPayment'),
    lookupOperator: provider('lookupOperator'),
    topupMobile: provider('topupMobile'),
    topupStatus: provider('topupStatus'),
    cancelTopup: provider('cancelTopup'),
    // Ticketing (ADR 0023): air, cinema, lottery.
    holdTicket: provider('holdTicket'),
    payTicket: provider('payTicket'),
    ticketStatus: provider('ticketStatus'),
    issueTickets: provider('issueTickets'),
    refundTicket: provider('refundTicket'),
    releaseTicketHold: provider('releaseTicketHold'),
    lotteryDraw: provider('lotteryDraw'),
    holdFunds: one(money, 'holdFunds'),
    captureFunds: one(money, 'captureFunds'),
    releaseFunds: one(money, 'releaseFunds'),
    // Partner bills paid from the phone (ADR 0027).
    findPartnerBill: partnerBill('findPartnerBill'),
    claimPartnerBill: partnerBill('claimPartnerBill'),
    reopenPartnerBill: partnerBill('reopenPartnerBill'),
    confirmPartnerBill: partnerBill('confirmPartnerBill'),
    // Notifications (no sink yet: accepted and dropped).
    emitEvent: () => Promise.resolve({ delivered: true }),
    raiseAlert: () => Promise.resolve({ raised: true }),
  };
}
