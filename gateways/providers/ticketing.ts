/**
 * The ticketing connector kind (ADR 0023, docs/providers-ticketing.md): airlines, cinemas and
 * lottery games from the provider directory, sold in four moves under our reference (the call's
 * idempotency key):
 *
 * - hold: air → look the booking up (`GET bookings/<carrier>/<pnr>`: amount, ticketing deadline);
 *   cinema → hold the seats (`POST holds`: token, expiry); lottery → read the draw
 *   (`GET draws/<game>/<draw>`: SCHEDULED / OPEN / CLOSED, cut-off). Nothing is charged.
 * - pay: `POST orders` (booking, hold token or boards) → PAID / PENDING / DECLINED / EXPIRED / CLOSED.
 *   A timeout or 5xx is PENDING with one `checks` item per status query of the profile.
 * - issue: `POST orders/<ref>/issue` → ISSUED with the ticket serials, or FAILED.
 * - cancel: `POST orders/<ref>/cancel` → the order is refunded (a reference never seen is fenced).
 * - release a seat hold: `POST holds/<ref>/cancel` → the seats are free at once (a NO on the phone,
 *   a run that failed before paying); a hold never made is fenced. Air and lottery hold nothing.
 */
import { FixpayError } from '../../domain/errors';
import { answerField, canonicalStatus, mapRequest, providerRequest } from './http';
import { answerOf, int, readAnswer, str } from './connector';
import type { ProviderDirectory, ProviderProfile } from './profile';
import { withinLimits } from './profile';
import type { TicketOffer, TicketSelection } from './ticket-offers';
import { checkSelection, showOf } from './ticket-offers';

export type HoldStatus = 'HELD' | 'EXPIRED' | 'CLOSED' | 'UNAVAILABLE';
export type PayStatus = 'PAID' | 'PENDING' | 'DECLINED' | 'EXPIRED' | 'CLOSED';

export interface TicketHold {
  readonly status: HoldStatus;
  /** The offer's id (a phone names it `<type>#<code>`): what the rest of the run names it by. */
  readonly offer: string;
  /** Cinema: the show's id (a phone names it `#<code>`); '' otherwise. */
  readonly show: string;
  /** Booking reference, seat-hold token or `<game>/<draw>`: what `pay` buys. */
  readonly holdToken: string;
  readonly amount: number;
  readonly currency: string;
  /** When the hold lapses (booking deadline, seat-hold expiry, draw cut-off), ISO 8601; '' if none. */
  readonly expiresAt: string;
}

export interface TicketPayment {
  readonly status: PayStatus;
  readonly reference: string;
  readonly orderId: string;
  readonly checks: number[];
}

export interface TicketIssue {
  readonly status: 'ISSUED' | 'FAILED';
  readonly tickets: string[];
}

export interface LotteryDraw {
  readonly status: 'SCHEDULED' | 'OPEN' | 'CLOSED' | 'NOT_FOUND';
  readonly cutoffAt: string;
  readonly results: number[];
}

export type TicketQuery = { offer: string } & TicketSelection;

export interface TicketingConnector {
  hold(q: TicketQuery & { idempotencyKey: string }): Promise<TicketHold>;
  pay(
    q: TicketQuery & { holdToken: string; amount: number; currency: string; idempotencyKey: string },
  ): Promise<TicketPayment>;
  status(q: { offer: string; reference: string }): Promise<TicketPayment>;
  issue(q: { offer: string; reference: string }): Promise<TicketIssue>;
  cancel(q: { offer: string; reference: string }): Promise<{ cancelled: boolean }>;
  /** Releases the seat hold made under `reference` (nothing to release for air and lottery). */
  releaseHold(q: { offer: string; reference: string }): Promise<{ released: boolean }>;
  draw(q: { offer: string; draw: string }): Promise<LotteryDraw>;
}

export function payStatusOf(raw: string | undefined): PayStatus | 'ISSUED' | 'NOT_FOUND' {
  switch (raw) {
    case 'PAID':
    case 'ISSUE_FAILED':
      return 'PAID';
    case 'ISSUED':
      return 'ISSUED';
    case 'EXPIRED':
      return 'EXPIRED';
    case 'CLOSED':
      return 'CLOSED';
    case 'DECLINED':
    case 'UNAVAILABLE':
    case 'CANCELLED':
    case 'REFUNDED':
      return 'DECLINED';
    case 'NOT_FOUND':
      return 'NOT_FOUND';
    default:
      return 'PENDING';
  }
}

const iso = (v: unknown): string => {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? '' : new Date(t).toISOString();
};

export function createTicketingConnector(deps: {
  directory: ProviderDirectory;
  now?: () => number;
}): TicketingConnector {
  const now = deps.now ?? (() => Date.now());
  const lookup = (id: string): { offer: TicketOffer; provider: ProviderProfile } => deps.directory.ticketOffer(id);
  const checks = (p: ProviderProfile): number[] => Array.from({ length: p.statusQuery.queries }, (_, i) => i + 1);

  function payment(
    p: ProviderProfile,
    body: Record<string, unknown>,
    reference: string,
    queries: boolean,
  ): TicketPayment {
    const s = payStatusOf(canonicalStatus(p, answerField(p, body, 'status')));
    const status: PayStatus = s === 'NOT_FOUND' ? 'DECLINED' : s === 'ISSUED' ? 'PAID' : s;
    return {
      status,
      reference,
      orderId: str(answerField(p, body, 'orderId')).slice(0, 64),
      checks: status === 'PENDING' && queries ? checks(p) : [],
    };
  }

  async function holdAt(q: TicketQuery & { idempotencyKey: string }): Promise<Omit<TicketHold, 'offer' | 'show'>> {
    {
      const { offer, provider } = lookup(q.offer);
      const { expected } = checkSelection(offer, q);
      const currency = provider.currency ?? '156';
      if (offer.type === 'air') {
        const booking = q.booking ?? '';
        const a = readAnswer(
          await providerRequest(
            provider,
            'GET',
            `bookings/${encodeURIComponent(offer.carrier)}/${encodeURIComponent(booking)}`,
            undefined,
            now,
          ),
          `${offer.id} booking`,
        );
        if (a.status === 404) return { status: 'UNAVAILABLE', holdToken: booking, amount: 0, currency, expiresAt: '' };
        const amount = int(answerField(provider, a.body, 'amount')) ?? 0;
        const deadline = iso(answerField(provider, a.body, 'deadline'));
        const raw = canonicalStatus(provider, answerField(provider, a.body, 'status'));
        const status: HoldStatus =
          raw === 'EXPIRED' || (deadline !== '' && Date.parse(deadline) <= now())
            ? 'EXPIRED'
            : raw === 'HELD' && amount > 0
              ? 'HELD'
              : 'UNAVAILABLE';
        if (status === 'HELD' && !withinLimits(amount, offer.limits, 'terminal'))
          throw new FixpayError('PROVIDER_AMOUNT_INVALID', `${offer.id}: the booking's amount is outside the limits`);
        return { status, holdToken: booking, amount, currency, expiresAt: deadline };
      }
      if (offer.type === 'cinema') {
        const a = answerOf(
          await providerRequest(
            provider,
            'POST',
            'holds',
            mapRequest(provider, { reference: q.idempotencyKey, venue: offer.venue, show: q.show, seats: q.seats }),
            now,
          ),
          `${offer.id} seat hold`,
        );
        // A hold that may or may not have been made simply lapses: nothing is charged for it.
        if (a.kind === 'ambiguous') throw new FixpayError('PROVIDER_UNAVAILABLE', `${offer.id}: seat hold unanswered`);
        if (a.status === 404)
          throw new FixpayError('TICKET_OFFER_UNKNOWN', `${offer.id}: the provider has no such show`);
        if (a.status === 409 || a.status === 422)
          return { status: 'UNAVAILABLE', holdToken: '', amount: 0, currency, expiresAt: '' };
        const amount = int(answerField(provider, a.body, 'amount')) ?? 0;
        if (amount !== expected)
          throw new FixpayError(
            'TICKET_AMOUNT_MISMATCH',
            `${offer.id}: the provider asks ${amount}, our data ${expected}`,
          );
        const expiresAt = iso(answerField(provider, a.body, 'expiresAt'));
        const raw = canonicalStatus(provider, answerField(provider, a.body, 'status'));
        return {
          status: raw === 'EXPIRED' ? 'EXPIRED' : raw === 'HELD' ? 'HELD' : 'UNAVAILABLE',
          holdToken: str(answerField(provider, a.body, 'holdToken')).slice(0, 64),
          amount,
          currency,
          expiresAt,
        };
      }
      // Lottery: nothing to hold; the draw must be open and before its cut-off.
      const game = offer.providerGameId ?? offer.id;
      const draw = q.draw ?? '';
      const a = readAnswer(
        await providerRequest(
          provider,
          'GET',
          `draws/${encodeURIComponent(game)}/${encodeURIComponent(draw)}`,
          undefined,
          now,
        ),
        `${offer.id} draw`,
      );
      if (a.status === 404) throw new FixpayError('TICKET_OFFER_UNKNOWN', `${offer.id}: no draw ${draw}`);
      const cutoff = iso(answerField(provider, a.body, 'cutoffAt'));
      const open =
        canonicalStatus(provider, answerField(provider, a.body, 'status')) === 'OPEN' &&
        cutoff !== '' &&
        Date.parse(cutoff) > now();
      const amount = expected ?? 0;
      if (open && !withinLimits(amount, offer.limits, 'terminal'))
        throw new FixpayError('PROVIDER_AMOUNT_INVALID', `${offer.id}: the wager is outside the limits`);
      return { status: open ? 'HELD' : 'CLOSED', holdToken: `${game}/${draw}`, amount, currency, expiresAt: cutoff };
    }
  }

  return {
    async hold(q) {
      const { offer } = lookup(q.offer);
      const show = offer.type === 'cinema' ? (showOf(offer, q.show)?.id ?? '') : '';
      return { ...(await holdAt({ ...q, ...(show === '' ? {} : { show }) })), offer: offer.id, show };
    },

    async pay(q) {
      const { offer, provider } = lookup(q.offer);
      const { expected } = checkSelection(offer, q);
      if (!Number.isSafeInteger(q.amount) || q.amount <= 0 || (expected !== undefined && q.amount !== expected))
        throw new FixpayError('TICKET_AMOUNT_MISMATCH', `${offer.id}: the amount does not match the selection`);
      const reference = q.idempotencyKey;
      const fields: Record<string, unknown> = {
        reference,
        type: offer.type,
        amount: q.amount,
        currency: q.currency,
        ...(offer.type === 'air' ? { carrier: offer.carrier, booking: q.holdToken } : {}),
        ...(offer.type === 'cinema' ? { holdToken: q.holdToken } : {}),
        ...(offer.type === 'lottery' ? { game: offer.providerGameId ?? offer.id, draw: q.draw, boards: q.boards } : {}),
      };
      const a = answerOf(
        await providerRequest(provider, 'POST', 'orders', mapRequest(provider, fields), now),
        `${offer.id} order`,
      );
      if (a.kind === 'ambiguous') return { status: 'PENDING', reference, orderId: '', checks: checks(provider) };
      if (a.status === 404) return { status: 'DECLINED', reference, orderId: '', checks: [] };
      if (a.status === 422 && answerField(provider, a.body, 'status') === undefined)
        throw new FixpayError('TICKET_SELECTION_INVALID', `${offer.id}: the provider refused the order`);
      return payment(provider, a.body, reference, true);
    },

    async status(q) {
      const { offer, provider } = lookup(q.offer);
      const a = readAnswer(
        await providerRequest(provider, 'GET', `orders/${encodeURIComponent(q.reference)}`, undefined, now),
        `${offer.id} status`,
      );
      // 404: the order never reached the provider, so nothing was taken.
      if (a.status === 404) return { status: 'DECLINED', reference: q.reference, orderId: '', checks: [] };
      return payment(provider, a.body, q.reference, false);
    },

    async issue(q) {
      const { offer, provider } = lookup(q.offer);
      const a = readAnswer(
        await providerRequest(provider, 'POST', `orders/${encodeURIComponent(q.reference)}/issue`, {}, now),
        `${offer.id} issue`,
      );
      const raw = canonicalStatus(provider, answerField(provider, a.body, 'status'));
      if (a.status === 200 && raw === 'ISSUED') {
        const t = answerField(provider, a.body, 'tickets');
        const tickets = Array.isArray(t)
          ? t
              .map(str)
              .filter((x) => /^[A-Za-z0-9-]{1,40}$/.test(x))
              .slice(0, 20)
          : [];
        if (tickets.length === 0) throw new FixpayError('PROVIDER_UNAVAILABLE', `${offer.id}: issued without serials`);
        return { status: 'ISSUED', tickets };
      }
      return { status: 'FAILED', tickets: [] };
    },

    async cancel(q) {
      const { offer, provider } = lookup(q.offer);
      const a = readAnswer(
        await providerRequest(provider, 'POST', `orders/${encodeURIComponent(q.reference)}/cancel`, {}, now),
        `${offer.id} cancel`,
      );
      if (a.status === 404) return { cancelled: true };
      const s = payStatusOf(canonicalStatus(provider, answerField(provider, a.body, 'status')));
      if (s === 'DECLINED' || s === 'EXPIRED' || s === 'CLOSED' || s === 'NOT_FOUND') return { cancelled: true };
      throw new FixpayError('PROVIDER_NOT_REVERSIBLE', `${offer.id}: the order stands (${s})`);
    },

    async releaseHold(q) {
      const { offer, provider } = lookup(q.offer);
      if (offer.type !== 'cinema') return { released: true };
      const a = answerOf(
        await providerRequest(provider, 'POST', `holds/${encodeURIComponent(q.reference)}/cancel`, {}, now),
        `${offer.id} seat hold release`,
      );
      // Unanswered: retried (the compensation runs until the provider answers).
      if (a.kind === 'ambiguous') throw new FixpayError('PROVIDER_UNAVAILABLE', `${offer.id}: release unanswered`);
      if (a.status === 200 || a.status === 404) return { released: true };
      // A paid order uses the hold: its refund frees the seats.
      if (a.status === 409) return { released: false };
      throw new FixpayError('PROVIDER_REJECTED', `${offer.id}: seat hold release refused (HTTP ${a.status})`);
    },

    async draw(q) {
      const { offer, provider } = lookup(q.offer);
      if (offer.type !== 'lottery') throw new FixpayError('TICKET_OFFER_UNKNOWN', `${offer.id} is not a lottery game`);
      if (!/^[A-Za-z0-9-]{1,32}$/.test(q.draw)) throw new FixpayError('TICKET_SELECTION_INVALID', 'malformed draw id');
      const a = readAnswer(
        await providerRequest(
          provider,
          'GET',
          `draws/${encodeURIComponent(offer.providerGameId ?? offer.id)}/${encodeURIComponent(q.draw)}`,
          undefined,
          now,
        ),
        `${offer.id} draw`,
      );
      if (a.status === 404) return { status: 'NOT_FOUND', cutoffAt: '', results: [] };
      const raw = canonicalStatus(provider, answerField(provider, a.body, 'status'));
      const r = answerField(provider, a.body, 'results');
      return {
        status: raw === 'OPEN' || raw === 'SCHEDULED' ? raw : 'CLOSED',
        cutoffAt: iso(answerField(provider, a.body, 'cutoffAt')),
        results: Array.isArray(r) ? r.filter((n): n is number => Number.isSafeInteger(n)).slice(0, 20) : [],
      };
    },
  };
}
