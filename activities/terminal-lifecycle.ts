/**
 * The business core's lifecycle commands as activities (ADR 0020), run by
 * `terminalLifecycleWorkflow` (workflows/terminal-lifecycle.ts): onboarding, terminal order, PSAM
 * personalisation through the HSM, binding, activation, suspend/resume, PSAM replacement, a move to
 * another line, retirement with its keys destroyed. Every command — carried out or refused — is one
 * row in the audit trail (`core_audit`) with the run's id. Refusals are results (`ok: false` with
 * the catalogue code), not failures: the run ends with them and the caller shows them.
 */
import { resultCode, type ResultCodeName } from '../domain/errors';
import { currency as currencyOf } from '../domain/money';
import { ledgerReferenceFor, type CustomerKind } from '../core/model';
import { ledgerIdFor } from '../ledger/ids';
import { ACCOUNT_CODES, type LedgerPort } from '../ledger/model';
import type { CoreRepository } from '../core/repository';
import type { HsmPort, KeyHandle, SealedData } from '../hsm/port';
import type { TerminalKeyManager } from '../hsm/terminal-keys';
import { activityFailure } from './failure';

export type LifecycleCommand =
  | {
      readonly kind: 'onboard';
      readonly customerId: string;
      readonly customerKind: CustomerKind;
      readonly name: string;
      readonly kyc: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'order';
      readonly terminalId: string;
      readonly customerId: string;
      readonly deviceProfileId: string;
      readonly serialNumber?: string;
    }
  | { readonly kind: 'personalise'; readonly terminalId: string; readonly psamNo: string }
  | { readonly kind: 'bind'; readonly terminalId: string; readonly psamNo: string; readonly ani: string }
  | { readonly kind: 'activate' | 'suspend' | 'resume' | 'retire'; readonly terminalId: string }
  | { readonly kind: 'replacePsam'; readonly terminalId: string; readonly psamNo: string }
  | { readonly kind: 'moveLine'; readonly terminalId: string; readonly ani: string }
  | { readonly kind: 'rejectRebinding'; readonly terminalId: string; readonly ani: string }
  | CardCommand;

/**
 * The prepaid programme's commands (ADR 0026), run like the terminal ones: a BIN range of our own,
 * a card batch, and one card's activation, load, view, block, unblock, replacement and PIN
 * reissue. Card numbers never travel in a command except the one a PIN reissue needs (bound to the
 * PIN), which the approving supervisor gives and nothing stores.
 */
export type CardCommand =
  | { readonly kind: 'addCardRange'; readonly binLow: string; readonly binHigh: string; readonly issuerId: string }
  | {
      readonly kind: 'issueCards';
      readonly bin: string;
      readonly firstSequence: number;
      readonly count: number;
      readonly currency: string;
      readonly panLength?: number;
      readonly serviceCode?: string;
      readonly validityMonths?: number;
      readonly pinLength?: number;
    }
  | {
      readonly kind: 'activateCard' | 'blockCard' | 'unblockCard' | 'showCard';
      readonly cardId: string;
    }
  | { readonly kind: 'loadCard'; readonly cardId: string; readonly amountMinor: number }
  | { readonly kind: 'replaceCard'; readonly cardId: string; readonly sequence: number }
  /** A new PIN: the run names the card only; the HSM takes the number kept under the LMK. */
  | { readonly kind: 'reissuePin'; readonly cardId: string };

export const CARD_COMMANDS = [
  'addCardRange',
  'issueCards',
  'activateCard',
  'blockCard',
  'unblockCard',
  'showCard',
  'loadCard',
  'replaceCard',
  'reissuePin',
] as const satisfies readonly CardCommand['kind'][];

export function isCardCommand(c: LifecycleCommand): c is CardCommand {
  return (CARD_COMMANDS as readonly string[]).includes(c.kind);
}

/** One card as operators see it: no number, only the masked one. */
export interface CardView {
  readonly cardId: string;
  readonly batchId: string;
  readonly panMasked: string;
  readonly state: string;
  readonly expiry: string;
  readonly serviceCode: string;
  readonly balanceMinor: number;
  readonly currency: string;
  readonly replaces?: string;
}

/**
 * What the card bureau's file holds per card, once opened with the bureau key (docs/cards.md, "The
 * bureau file"): the clear number and CVVs. Never in a run's payloads: only sealed.
 */
export interface BureauCard {
  readonly cardId: string;
  readonly pan: string;
  readonly expiry: string;
  readonly serviceCode: string;
  readonly cvv: string;
  readonly cvv2: string;
  readonly icvv: string;
  /** ISO 9564 format 1 PIN block under the mailer printer's key, hex. */
  readonly pinMailer: string;
}

/** What a PIN mailer record holds once opened: the new PIN under the printer's key. */
export interface PinMailerCard {
  readonly cardId: string;
  /** ISO 9564 format 1 PIN block under the mailer printer's key, hex. */
  readonly pinMailer: string;
}

export const BUREAU_FILE_FORMAT = 'fixpay-bureau/v1';

/** One card's record, sealed under the bureau key (AES-GCM; associated data names the file's kind and the card). */
export interface SealedBureauRecord {
  readonly cardId: string;
  readonly panMasked: string;
  readonly sealed: SealedData;
}

/**
 * The file for the card bureau and the mailer printer (`cards`: a `BureauCard` per record) or for
 * the PIN mailer alone (`pin-mailer`: a `PinMailerCard`): sealed per card under the bureau key, so
 * a run's history, the API answer and the CLI's file hold no clear card data.
 */
export interface BureauFile {
  readonly format: typeof BUREAU_FILE_FORMAT;
  readonly content: 'cards' | 'pin-mailer';
  /** Check value of the bureau key the records are sealed under. */
  readonly kcv: string;
  readonly records: readonly SealedBureauRecord[];
}

/** The associated data a record is sealed with: binds it to its file kind and its card. */
export function bureauRecordAad(content: BureauFile['content'], cardId: string): string {
  return `${BUREAU_FILE_FORMAT}|${content}|${cardId}`;
}

/** What a card command answers besides its result (and what its audit row keeps: ids, masked numbers, counts). */
export type CardCommandResult =
  | {
      readonly ok: true;
      readonly outcome: Pick<LifecycleOutcome, 'card' | 'cards' | 'batchId' | 'bureau' | 'pinMailer'>;
      readonly audit: Readonly<Record<string, string | number>>;
    }
  | { readonly ok: false; readonly code: ResultCodeName; readonly detail: string };

/** The card programme behind the card commands (cards/commands.ts); the run's id keys its writes. */
export type CardCommandRunner = (command: CardCommand, workflowId: string) => Promise<CardCommandResult>;

export const LIFECYCLE_COMMANDS = [
  'onboard',
  'order',
  'personalise',
  'bind',
  'activate',
  'suspend',
  'resume',
  'retire',
  'replacePsam',
  'moveLine',
  'rejectRebinding',
  ...CARD_COMMANDS,
] as const satisfies readonly LifecycleCommand['kind'][];

/** The subject a command changes, as the audit trail names it. */
export function subjectOf(c: LifecycleCommand): string {
  switch (c.kind) {
    case 'onboard':
      return `customer:${c.customerId}`;
    case 'addCardRange':
      return `bin:${c.binLow}-${c.binHigh}`;
    case 'issueCards':
      return `bin:${c.bin}`;
    default:
      return 'cardId' in c ? `card:${c.cardId}` : `terminal:${c.terminalId}`;
  }
}

/**
 * The run id for a command: its subject, the command and the caller's request id, so a repeated
 * request attaches to the same run and is carried out once.
 */
export function lifecycleWorkflowId(command: LifecycleCommand, requestId: string): string {
  return `lifecycle:${subjectOf(command)}:${command.kind}:${requestId}`;
}

export interface LifecycleInput {
  readonly command: LifecycleCommand;
  /** Who asked (operator id); recorded in the audit trail and the terminal's history. */
  readonly actor: string;
  /** The run's id, recorded with the audit row. */
  readonly workflowId?: string;
}

export interface LifecycleOutcome {
  readonly ok: boolean;
  /** `OK` or the refusal's catalogue name. */
  readonly reason: ResultCodeName;
  /** `FP1000` or the refusal's FP code. */
  readonly resultCode: string;
  readonly detail: string;
  /** The terminal's state after the command, when it names a terminal that exists. */
  readonly state?: string;
  /** Personalisation: the check values recorded, and the TMK under the key-loading transport key. */
  readonly tmkKcv?: string;
  readonly psamKcv?: string;
  /** TR-31 key block of the terminal master key under the key-loading device's transport key (never a clear key). */
  readonly tmkKeyBlock?: string;
  /** Card commands: the card after the command (masked number, state, balance). */
  readonly card?: CardView;
  /** A batch: its id and its cards (masked). */
  readonly batchId?: string;
  readonly cards?: readonly CardView[];
  /**
   * The card bureau's and the mailer printer's file of a batch or replacement, sealed per card
   * under the bureau key (no clear number, CVV or PIN block; docs/cards.md).
   */
  readonly bureau?: BureauFile;
  /** PIN reissue: the new PIN mailer block, sealed under the bureau key (content `pin-mailer`). */
  readonly pinMailer?: BureauFile;
}

export interface LifecycleActivities {
  applyLifecycleCommand(input: LifecycleInput): Promise<LifecycleOutcome>;
  /** A card command (ADR 0026): carried out by the card programme, audited like the others. */
  applyCardCommand(input: LifecycleInput): Promise<LifecycleOutcome>;
  personaliseTerminal(input: LifecycleInput): Promise<LifecycleOutcome>;
  destroyTerminalKeys(input: {
    terminalId: string;
    actor: string;
    workflowId?: string;
  }): Promise<{ destroyed: boolean }>;
}

export interface LifecycleDeps {
  readonly core: CoreRepository;
  /** Onboarding opens the customer's ledger account (merchant, or household funds without overdraft). */
  readonly ledger: Pick<LedgerPort, 'createAccounts'>;
  /** Currency of the accounts onboarding opens (ISO 4217 alpha); CNY by default. */
  readonly currency?: string;
  readonly hsm: Pick<HsmPort, 'describeKey'>;
  readonly terminalKeys: Pick<TerminalKeyManager, 'injectMasterKey' | 'destroy'>;
  /**
   * Personalisation keys: the PBOC master key new PSAMs' keys derive from, and the key-loading
   * device's transport key (KBPK) the terminal master key leaves the HSM under. Absent: personalise
   * is refused with CONFIG_INVALID.
   */
  readonly personalisation?: { readonly psamMasterKey: KeyHandle; readonly transportKey: KeyHandle };
  /** The prepaid programme (cards/commands.ts); without it card commands are refused with CARD_PROGRAMME_OFF. */
  readonly cards?: CardCommandRunner;
}

type Result = { ok: true; value: unknown } | { ok: false; code: ResultCodeName; detail: string };

/** What of a command is safe to audit (ids and lines; KYC values stay in the customer row). */
function auditDetail(c: LifecycleCommand): Record<string, string> {
  switch (c.kind) {
    case 'onboard':
      return { kind: c.customerKind };
    case 'order':
      return { customerId: c.customerId, deviceProfileId: c.deviceProfileId };
    case 'personalise':
    case 'replacePsam':
      return { psamNo: c.psamNo };
    case 'bind':
      return { psamNo: c.psamNo, ani: c.ani };
    case 'moveLine':
    case 'rejectRebinding':
      return { ani: c.ani };
    case 'addCardRange':
      return { binLow: c.binLow, binHigh: c.binHigh, issuerId: c.issuerId };
    case 'issueCards':
      return { bin: c.bin, firstSequence: String(c.firstSequence), count: String(c.count), currency: c.currency };
    case 'loadCard':
      return { cardId: c.cardId, amountMinor: String(c.amountMinor) };
    case 'activateCard':
    case 'blockCard':
    case 'unblockCard':
    case 'showCard':
    case 'replaceCard':
    case 'reissuePin':
      return { cardId: c.cardId };
    default:
      return {};
  }
}

export function createLifecycleActivities(deps: LifecycleDeps): LifecycleActivities {
  const { core } = deps;

  async function finish(
    input: LifecycleInput,
    r: Result,
    extra: Partial<LifecycleOutcome> = {},
    auditExtra: Readonly<Record<string, string | number>> = {},
  ): Promise<LifecycleOutcome> {
    const c = input.command;
    const terminal = 'terminalId' in c ? await core.terminal(c.terminalId) : undefined;
    const reason: ResultCodeName = r.ok ? 'OK' : r.code;
    await core.audit({
      actor: input.actor,
      action: c.kind,
      subject: subjectOf(c),
      outcome: reason,
      detail: {
        ...auditDetail(c),
        ...(terminal === undefined ? {} : { state: terminal.state }),
        ...(extra.tmkKcv === undefined ? {} : { tmkKcv: extra.tmkKcv }),
        ...(extra.psamKcv === undefined ? {} : { psamKcv: extra.psamKcv }),
        ...auditExtra,
      },
      ...(input.workflowId === undefined ? {} : { workflowId: input.workflowId }),
    });
    return {
      ok: r.ok,
      reason,
      resultCode: resultCode(reason).code,
      detail: r.ok ? 'done' : r.detail,
      ...(terminal === undefined ? {} : { state: terminal.state }),
      ...extra,
    };
  }

  async function apply(input: LifecycleInput): Promise<Result> {
    const c = input.command;
    const actor = input.actor;
    switch (c.kind) {
      case 'onboard': {
        const r = await core.onboardCustomer({ id: c.customerId, kind: c.customerKind, name: c.name, kyc: c.kyc });
        if (!r.ok) return r;
        const cur = currencyOf(deps.currency ?? 'CNY');
        const reference = ledgerReferenceFor(r.value);
        const merchant = r.value.kind === 'merchant';
        const [opened] = await deps.ledger.createAccounts([
          {
            id: ledgerIdFor('account', reference),
            reference,
            ledger: cur.numeric,
            code: merchant ? ACCOUNT_CODES.merchant : ACCOUNT_CODES.customerFunds,
            currency: cur.code,
            flags: merchant ? {} : { debitsMustNotExceedCredits: true },
          },
        ]);
        if (opened !== 'ok' && opened !== 'exists') throw new Error(`ledger account ${reference}: ${String(opened)}`);
        return r;
      }
      case 'order':
        return core.registerTerminal(
          {
            id: c.terminalId,
            customerId: c.customerId,
            deviceProfileId: c.deviceProfileId,
            ...(c.serialNumber === undefined ? {} : { serialNumber: c.serialNumber }),
          },
          actor,
        );
      case 'bind':
        return core.bind({ terminalId: c.terminalId, psamNo: c.psamNo, ani: c.ani }, actor);
      case 'activate':
      case 'suspend':
      case 'resume':
        return core.applyTerminalEvent(c.terminalId, c.kind, actor);
      case 'retire':
        return core.retireTerminal(c.terminalId, actor);
      case 'replacePsam': {
        // A spare PSAM from the same issuer key family is registered on first use.
        if (deps.personalisation !== undefined) {
          const master = await deps.hsm.describeKey(deps.personalisation.psamMasterKey);
          const known = await core.activePsamKeyHandle(c.psamNo);
          if (known === undefined) {
            const reg = await core.registerPsam({ psamNo: c.psamNo, keyHandle: master.handle });
            if (!reg.ok) return reg;
          }
        }
        return core.replacePsam({ terminalId: c.terminalId, psamNo: c.psamNo }, actor);
      }
      case 'moveLine':
        return core.moveLine({ terminalId: c.terminalId, ani: c.ani }, actor);
      case 'rejectRebinding':
        return core.rejectRebinding({ terminalId: c.terminalId, ani: c.ani }, actor);
      case 'personalise':
        return { ok: false, code: 'BAD_REQUEST', detail: 'personalise runs personaliseTerminal' };
      default:
        return { ok: false, code: 'BAD_REQUEST', detail: 'card commands run applyCardCommand' };
    }
  }

  return {
    async applyLifecycleCommand(input) {
      try {
        return await finish(input, await apply(input));
      } catch (e) {
        throw activityFailure(e);
      }
    },

    async applyCardCommand(input) {
      try {
        const c = input.command;
        if (!isCardCommand(c))
          return await finish(input, { ok: false, code: 'BAD_REQUEST', detail: 'not a card command' });
        if (deps.cards === undefined)
          return await finish(input, { ok: false, code: 'CARD_PROGRAMME_OFF', detail: 'no card programme here' });
        const r = await deps.cards(c, input.workflowId ?? `${input.actor}:${c.kind}`);
        if (!r.ok) return await finish(input, r);
        return await finish(input, { ok: true, value: null }, r.outcome, r.audit);
      } catch (e) {
        throw activityFailure(e);
      }
    },

    async personaliseTerminal(input) {
      try {
        const c = input.command;
        if (c.kind !== 'personalise')
          return await finish(input, { ok: false, code: 'BAD_REQUEST', detail: 'not a personalise command' });
        if (deps.personalisation === undefined)
          return await finish(input, {
            ok: false,
            code: 'CONFIG_INVALID',
            detail: 'no personalisation keys configured',
          });
        const terminal = await core.terminal(c.terminalId);
        if (terminal === undefined)
          return await finish(input, { ok: false, code: 'TERMINAL_UNKNOWN', detail: c.terminalId });
        // Checked before a master key is generated: a personalised terminal keeps its master key.
        const done = await core.personalisedPsam(c.terminalId);
        if (done !== undefined)
          return await finish(input, {
            ok: false,
            code: 'PSAM_ALREADY_PERSONALISED',
            detail: `terminal ${c.terminalId} is personalised`,
          });
        if (terminal.state !== 'registered')
          return await finish(input, {
            ok: false,
            code: 'TERMINAL_TRANSITION_INVALID',
            detail: `personalise is not allowed in state ${terminal.state}`,
          });
        const master = await deps.hsm.describeKey(deps.personalisation.psamMasterKey);
        const injected = await deps.terminalKeys.injectMasterKey(
          c.terminalId,
          deps.personalisation.transportKey,
          'tr31',
        );
        const r = await core.personalisePsam({
          terminalId: c.terminalId,
          psamNo: c.psamNo,
          keyHandle: master.handle,
          kcv: master.kcv.toUpperCase(),
          tmkKcv: injected.tmk.kcv.toUpperCase(),
        });
        return await finish(
          input,
          r,
          r.ok
            ? {
                tmkKcv: injected.tmk.kcv.toUpperCase(),
                psamKcv: master.kcv.toUpperCase(),
                tmkKeyBlock: injected.exported,
              }
            : {},
        );
      } catch (e) {
        throw activityFailure(e);
      }
    },

    async destroyTerminalKeys(input) {
      try {
        const destroyed = await deps.terminalKeys.destroy(input.terminalId);
        await core.audit({
          actor: input.actor,
          action: 'destroyKeys',
          subject: `terminal:${input.terminalId}`,
          outcome: 'OK',
          detail: { destroyed },
          ...(input.workflowId === undefined ? {} : { workflowId: input.workflowId }),
        });
        return { destroyed };
      } catch (e) {
        throw activityFailure(e);
      }
    },
  };
}
