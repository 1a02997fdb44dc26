/**
 * The prepaid programme's operator commands (ADR 0026), as the lifecycle run carries them out
 * (`applyCardCommand`, activities/terminal-lifecycle.ts): a BIN range of our own as a `bin_route`
 * row, a batch (all or nothing), activation, a load from `funding:<CUR>` (once per run), a card's
 * view with its balance, block, unblock, replacement (all or nothing) and a PIN reissue. Refusals
 * are results with catalogue codes; the audit row keeps ids, masked numbers and counts only.
 */
import { createHash } from 'node:crypto';
import type { CardCommand, CardCommandResult, CardCommandRunner, CardView } from '../activities/terminal-lifecycle';
import { isOnUs, ON_US_NETWORK, panFor } from '../core/cards';
import type { BinRoute, CoreResult } from '../core/model';
import { isFixpayError } from '../domain/errors';
import type { ResultCodeName } from '../domain/errors';
import type { KeyHandle } from '../hsm/port';
import type { LedgerPort } from '../ledger/model';
import { changeCardState, issueBatch, loadCard, reissuePin, replaceCard } from './issuance';
import type { CardIssuanceDeps } from './issuance';
import { sealBureauFile, sealPinMailer } from './bureau-file';
import type { CardRecord, CardStore, CardUnitOfWork } from './store';

export interface CardCommandDeps {
  readonly hsm: CardIssuanceDeps['hsm'];
  readonly ledger: LedgerPort;
  readonly store: CardStore;
  readonly indexKey: Uint8Array;
  readonly atomically?: CardUnitOfWork;
  /**
   * The CVK pair, the PIN mailer printer's key and the bureau key the bureau file is sealed under;
   * without them issuance, replacement and PIN reissue are refused.
   */
  readonly keys?: { readonly cvk: KeyHandle; readonly printerKey: KeyHandle; readonly bureauKey: KeyHandle };
  readonly routes: {
    addBinRoute(route: BinRoute): Promise<CoreResult<BinRoute>>;
    routeCard(pan: string): Promise<CoreResult<BinRoute>>;
  };
  readonly now?: () => Date;
}

/** The batch id a run writes under: derived from the run's id, so a repeated attempt finds its own batch. */
export function batchIdForRun(workflowId: string): string {
  const h = createHash('sha256').update(`card-batch\n${workflowId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function createCardCommands(deps: CardCommandDeps): CardCommandRunner {
  async function view(card: CardRecord): Promise<CardView> {
    const account = await deps.ledger.accountByReference(card.accountRef);
    return {
      cardId: card.id,
      batchId: card.batchId,
      panMasked: card.panMasked,
      state: card.state,
      expiry: card.expiry,
      serviceCode: card.serviceCode,
      balanceMinor:
        account === undefined ? 0 : Number(account.creditsPosted - account.debitsPosted - account.debitsPending),
      currency: account?.currency ?? '',
      ...(card.replaces === undefined ? {} : { replaces: card.replaces }),
    };
  }

  async function cardView(cardId: string): Promise<CardView | undefined> {
    const card = await deps.store.byId(cardId);
    return card === undefined ? undefined : view(card);
  }

  const refused = (code: ResultCodeName, detail: string): CardCommandResult => ({
    ok: false,
    code,
    detail,
  });

  function issuance(): (CardIssuanceDeps & { readonly bureauKey: KeyHandle }) | undefined {
    if (deps.keys === undefined) return undefined;
    return {
      bureauKey: deps.keys.bureauKey,
      hsm: deps.hsm,
      ledger: deps.ledger,
      store: deps.store,
      cvk: deps.keys.cvk,
      printerKey: deps.keys.printerKey,
      indexKey: deps.indexKey,
      ...(deps.atomically === undefined ? {} : { atomically: deps.atomically }),
    };
  }

  async function carry(c: CardCommand, workflowId: string): Promise<CardCommandResult> {
    const now = deps.now?.() ?? new Date();
    switch (c.kind) {
      case 'addCardRange': {
        const r = await deps.routes.addBinRoute({
          binLow: c.binLow,
          binHigh: c.binHigh,
          network: ON_US_NETWORK,
          issuerId: c.issuerId,
          gatewayId: ON_US_NETWORK,
        });
        if (!r.ok) return r;
        return { ok: true, outcome: {}, audit: { network: ON_US_NETWORK } };
      }
      case 'issueCards': {
        const d = issuance();
        if (d === undefined) return refused('CARD_PROGRAMME_OFF', 'no CVK, mailer and bureau keys on this worker');
        // The range must be ours: a batch of a BIN the routing table sends to a network would never authorise here.
        const first = panFor(c.bin, c.firstSequence, c.panLength);
        if (!first.ok) return first;
        const route = await deps.routes.routeCard(first.value);
        if (!route.ok || !isOnUs(route.value))
          return refused('CARD_ISSUANCE_INVALID', `BIN ${c.bin} is not in a range routed ${ON_US_NETWORK}`);
        const batchId = batchIdForRun(workflowId);
        // An attempt that wrote the batch and then lost its answer: the cards exist, the file is gone.
        if ((await deps.store.byBatch(batchId)).length > 0)
          return refused('CARD_ISSUANCE_INVALID', `batch ${batchId} was issued by an earlier attempt of this run`);
        const batch = await issueBatch(d, {
          bin: c.bin,
          firstSequence: c.firstSequence,
          count: c.count,
          currency: c.currency,
          now,
          batchId,
          ...(c.panLength === undefined ? {} : { panLength: c.panLength }),
          ...(c.serviceCode === undefined ? {} : { serviceCode: c.serviceCode }),
          ...(c.validityMonths === undefined ? {} : { validityMonths: c.validityMonths }),
          ...(c.pinLength === undefined ? {} : { pinLength: c.pinLength }),
        });
        const cards = await Promise.all((await deps.store.byBatch(batch.batchId)).map(view));
        return {
          ok: true,
          // Sealed before it leaves: the run's result (its history) holds no clear card data.
          outcome: {
            batchId: batch.batchId,
            cards,
            bureau: await sealBureauFile(deps.hsm, d.bureauKey, batch.cards),
          },
          audit: { batchId: batch.batchId, issued: batch.cards.length },
        };
      }
      case 'activateCard':
      case 'blockCard':
      case 'unblockCard': {
        const event = c.kind === 'activateCard' ? 'activate' : c.kind === 'blockCard' ? 'block' : 'unblock';
        const state = await changeCardState(deps.store, c.cardId, event);
        const card = await cardView(c.cardId);
        return { ok: true, outcome: card === undefined ? {} : { card }, audit: { state } };
      }
      case 'showCard': {
        const card = await cardView(c.cardId);
        if (card === undefined) return refused('CARD_UNKNOWN', c.cardId.slice(0, 64));
        return { ok: true, outcome: { card }, audit: { state: card.state } };
      }
      case 'loadCard': {
        // Keyed by the run: a repeated request (same run) or a retried attempt loads once.
        const r = await loadCard(
          { store: deps.store, ledger: deps.ledger },
          { cardId: c.cardId, amountMinor: c.amountMinor, idempotencyKey: `operator:${workflowId}` },
        );
        const card = await cardView(c.cardId);
        return {
          ok: true,
          outcome: card === undefined ? {} : { card },
          audit: { amountMinor: c.amountMinor, balanceMinor: r.balanceMinor },
        };
      }
      case 'replaceCard': {
        const d = issuance();
        if (d === undefined) return refused('CARD_PROGRAMME_OFF', 'no CVK, mailer and bureau keys on this worker');
        const issued = await replaceCard(
          { ...d, ledger: deps.ledger },
          { cardId: c.cardId, sequence: c.sequence, now },
        );
        const card = await cardView(issued.cardId);
        return {
          ok: true,
          outcome: {
            ...(card === undefined ? {} : { card }),
            bureau: await sealBureauFile(deps.hsm, d.bureauKey, [issued]),
          },
          audit: { newCardId: issued.cardId, panMasked: card?.panMasked ?? '' },
        };
      }
      case 'reissuePin': {
        const d = issuance();
        if (d === undefined) return refused('CARD_PROGRAMME_OFF', 'no CVK, mailer and bureau keys on this worker');
        const r = await reissuePin(d, { cardId: c.cardId });
        const card = await cardView(c.cardId);
        return {
          ok: true,
          outcome: {
            ...(card === undefined ? {} : { card }),
            pinMailer: await sealPinMailer(deps.hsm, d.bureauKey, r),
          },
          audit: {},
        };
      }
    }
  }

  return async (command, workflowId) => {
    try {
      return await carry(command, workflowId);
    } catch (e) {
      if (isFixpayError(e) && !e.retryable && e.codeName !== 'INTERNAL')
        return { ok: false, code: e.codeName, detail: e.message.slice(0, 200) };
      throw e;
    }
  };
}
