/**
 * Ticketing offers as data (ADR 0023, docs/providers-ticketing.md): an airline (`kind: Airline`),
 * a cinema with its shows (`kind: Cinema`) and a lottery game (`kind: LotteryGame`), each sold
 * through a provider profile of the `ticketing` connector kind. They live in the watched provider
 * directory with the billers and operators, so a new show, airline or game needs no restart.
 */
import { FixpayError } from '../../domain/errors';
import type { Fees, Limits } from './profile';

export type TicketType = 'air' | 'cinema' | 'lottery';

interface OfferBase {
  readonly id: string;
  readonly title?: string;
  readonly provider: string;
  /** The key a phone presses to choose it (one digit, unique per kind); the menu's choices come from these. */
  readonly terminalCode?: string;
  readonly limits?: Limits;
  readonly fees?: Fees;
}

export interface AirlineOffer extends OfferBase {
  readonly type: 'air';
  readonly carrier: string;
}

export interface CinemaShow {
  readonly id: string;
  /** The key a phone presses for this show (one digit, unique over every cinema). */
  readonly terminalCode?: string;
  readonly title?: string;
  readonly startsAt: string;
  /** Per seat, minor units. */
  readonly price: number;
}

export interface CinemaOffer extends OfferBase {
  readonly type: 'cinema';
  readonly venue?: string;
  readonly maxSeats?: number;
  readonly shows: readonly CinemaShow[];
}

export interface LotteryOffer extends OfferBase {
  readonly type: 'lottery';
  readonly providerGameId?: string;
  readonly pick: { count: number; min: number; max: number };
  readonly pricePerBoard: number;
  readonly maxBoards?: number;
}

export type TicketOffer = AirlineOffer | CinemaOffer | LotteryOffer;

/**
 * How a phone names what it chose: `<type>#<code>` for an offer (`lottery#2`: the lottery game whose
 * terminal code is 2) and `#<code>` for a show. API callers name offers and shows by id.
 */
export const PHONE_OFFER = /^(air|cinema|lottery)#([0-9])$/;
export const PHONE_SHOW = /^#([0-9])$/;

/** The show `show` names in a cinema: its id, or `#<terminal code>` from a phone. */
export function showOf(o: CinemaOffer, show: string | undefined): CinemaShow | undefined {
  const code = PHONE_SHOW.exec(show ?? '')?.[1];
  return o.shows.find((x) => (code === undefined ? x.id === show : x.terminalCode === code));
}

export const TICKET_DOCUMENT_KINDS = { Airline: 'air', Cinema: 'cinema', LotteryGame: 'lottery' } as const;
export type TicketDocumentKind = keyof typeof TICKET_DOCUMENT_KINDS;

export function isTicketDocumentKind(kind: string): kind is TicketDocumentKind {
  return Object.hasOwn(TICKET_DOCUMENT_KINDS, kind);
}

/** Checks what the schema cannot say (ranges, unique show ids); throws PROVIDER_PROFILE_INVALID. */
export function checkTicketSpec(kind: TicketDocumentKind, spec: Record<string, unknown>, file: string): void {
  if (kind === 'LotteryGame') {
    const pick = spec['pick'] as LotteryOffer['pick'];
    if (pick.min >= pick.max || pick.count > pick.max - pick.min + 1)
      throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: pick: count distinct numbers must fit in min..max`);
  }
  if (kind === 'Cinema') {
    const ids = (spec['shows'] as CinemaShow[]).map((s) => s.id);
    if (new Set(ids).size !== ids.length)
      throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: duplicate show id`);
    const codes = (spec['shows'] as CinemaShow[]).flatMap((s) =>
      s.terminalCode === undefined ? [] : [s.terminalCode],
    );
    if (new Set(codes).size !== codes.length)
      throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: two shows share a terminal code`);
    for (const s of spec['shows'] as CinemaShow[])
      if (Number.isNaN(Date.parse(s.startsAt)))
        throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: show ${s.id}: startsAt is not a time`);
  }
}

/** What the customer chose: a booking, a show and seats, or lottery boards. */
export interface TicketSelection {
  /** Airline booking reference (PNR). */
  readonly booking?: string;
  readonly show?: string;
  readonly seats?: readonly string[];
  readonly draw?: string;
  readonly boards?: readonly (readonly number[])[];
}

export const BOOKING_PATTERN = /^[A-Z0-9]{6}$/;
export const SEAT_PATTERN = /^[A-Z][0-9]{1,2}$/;
export const DRAW_PATTERN = /^[A-Za-z0-9-]{1,32}$/;

/**
 * Checks the selection against the offer's data, and gives the price our data expects (`undefined`
 * for air: the airline says what a booking costs). Throws TICKET_SELECTION_INVALID or
 * TICKET_OFFER_UNKNOWN.
 */
export function checkSelection(o: TicketOffer, s: TicketSelection): { expected: number | undefined } {
  const bad = (why: string): FixpayError => new FixpayError('TICKET_SELECTION_INVALID', `${o.id}: ${why}`);
  switch (o.type) {
    case 'air':
      if (typeof s.booking !== 'string' || !BOOKING_PATTERN.test(s.booking))
        throw bad('the booking reference is six letters or digits');
      return { expected: undefined };
    case 'cinema': {
      const show = showOf(o, s.show);
      if (show === undefined)
        throw new FixpayError('TICKET_OFFER_UNKNOWN', `${o.id}: no show ${String(s.show).slice(0, 64)}`);
      const seats = s.seats ?? [];
      const max = o.maxSeats ?? 8;
      if (!Array.isArray(seats) || seats.length < 1 || seats.length > max) throw bad(`between 1 and ${max} seats`);
      if (!seats.every((x) => typeof x === 'string' && SEAT_PATTERN.test(x)))
        throw bad('a seat is a row letter and a number');
      if (new Set(seats).size !== seats.length) throw bad('a seat is chosen twice');
      return { expected: show.price * seats.length };
    }
    case 'lottery': {
      if (typeof s.draw !== 'string' || !DRAW_PATTERN.test(s.draw)) throw bad('the draw id is missing or malformed');
      const boards = s.boards ?? [];
      const max = o.maxBoards ?? 5;
      if (!Array.isArray(boards) || boards.length < 1 || boards.length > max) throw bad(`between 1 and ${max} boards`);
      for (const b of boards) {
        if (!Array.isArray(b) || b.length !== o.pick.count) throw bad(`a board has ${o.pick.count} numbers`);
        if (!b.every((n) => Number.isSafeInteger(n) && n >= o.pick.min && n <= o.pick.max))
          throw bad(`numbers are whole, ${o.pick.min} to ${o.pick.max}`);
        if (new Set(b).size !== b.length) throw bad('a number is chosen twice on a board');
      }
      return { expected: o.pricePerBoard * boards.length };
    }
  }
}

/** Which offers a phone's choice list shows (a definition's `choicesFrom`). */
export type OfferChoiceSource = 'airlines' | 'cinemas' | 'shows' | 'lotteryGames';

/**
 * The choices a phone's menu shows for `from`: every offer (or show) with a terminal code, keyed by
 * it and labelled with its title, in key order. An offer without a code is sold to API callers only.
 */
export function offerChoices(offers: Iterable<TicketOffer>, from: OfferChoiceSource): { key: string; label: string }[] {
  const all = [...offers];
  const type = from === 'airlines' ? 'air' : from === 'lotteryGames' ? 'lottery' : 'cinema';
  const items =
    from === 'shows'
      ? all
          .flatMap((o) => (o.type === 'cinema' ? o.shows : []))
          .map((x) => ({ code: x.terminalCode, label: x.title ?? x.id }))
      : all.filter((o) => o.type === type).map((o) => ({ code: o.terminalCode, label: o.title ?? o.id }));
  const seen = new Set<string>();
  const out: { key: string; label: string }[] = [];
  for (const i of items)
    if (i.code !== undefined && !seen.has(i.code)) {
      seen.add(i.code);
      out.push({ key: i.code, label: i.label });
    }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
