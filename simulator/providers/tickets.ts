/**
 * The ticketing provider simulator as a real HTTP server (`fixpay sim tickets`, ADR 0023,
 * docs/providers-ticketing.md): airline bookings held until a ticketing deadline, cinema shows
 * whose seats are held under an expiring token, lottery games whose draws go SCHEDULED → OPEN →
 * CLOSED (sales stop at the cut-off) and then carry their results.
 *
 * Requests are signed like every provider's (gateways/providers/http.ts). One order per reference:
 * a repeat with the same content is answered from the record, with other content 409
 * DUPLICATE_REFERENCE. The sandbox rules (below) pick each order's outcome; final states of open
 * orders are announced by signed callbacks. `charged` counts the money taken per order (never > 1).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, randomInt } from 'node:crypto';
import { signedHeaders } from '../../gateways/providers/http';
import { SandboxHttpServer } from './http-server';

/**
 * Last digit of the customer's key (air: the booking reference; cinema: the first seat; lottery:
 * the last number of the last board) → case. 0–3 succeed at once.
 */
export type TicketCase =
  'success' | 'decline' | 'pending-success' | 'issue-failure' | 'timeout' | 'hold-expiring' | 'pending-failure';

export const TICKET_SANDBOX_RULES: Readonly<Record<string, TicketCase>> = {
  '0': 'success',
  '1': 'success',
  '2': 'success',
  '3': 'success',
  '4': 'decline',
  '5': 'pending-success',
  '6': 'issue-failure',
  '7': 'timeout',
  '8': 'hold-expiring',
  '9': 'pending-failure',
};

export function ticketCase(key: string): TicketCase {
  return TICKET_SANDBOX_RULES[key.slice(-1)] ?? 'success';
}

export interface SimShow {
  readonly price: number;
  /** Seats already sold or held by others. */
  readonly taken?: readonly string[];
}
export interface SimGame {
  readonly pricePerBoard: number;
  readonly pick: { count: number; min: number; max: number };
}
export interface SimDraw {
  readonly game: string;
  readonly draw: string;
  readonly opensAt: number;
  readonly cutoffAt: number;
  readonly drawAt: number;
  results: number[];
}
export interface SimAirline {
  /** Three-digit ticket-number prefix. */
  readonly prefix: string;
}

export interface TicketOrder {
  readonly reference: string;
  readonly fingerprint: string;
  readonly type: 'air' | 'cinema' | 'lottery';
  readonly key: string;
  readonly amount: number;
  readonly currency: string;
  readonly case: TicketCase;
  /** PAID, PENDING, DECLINED, EXPIRED, CLOSED, ISSUED, ISSUE_FAILED, REFUNDED, CANCELLED. */
  state: string;
  readonly providerRef: string;
  readonly createdAt: number;
  readonly settleAt: number;
  tickets: string[];
  /** Times the money was taken (must never exceed 1; a refund takes it back). */
  charged: number;
  callbacks: number;
  readonly hold: string;
}

export interface TicketSimulatorOptions {
  readonly host?: string;
  readonly port?: number;
  readonly keys: Readonly<Record<string, { scheme: 'api-key' | 'hmac-sha256'; secret: string }>>;
  readonly currency?: string;
  readonly airlines?: Readonly<Record<string, SimAirline>>;
  readonly shows?: Readonly<Record<string, SimShow>>;
  readonly games?: Readonly<Record<string, SimGame>>;
  /** How long a booking stays payable after its first look-up, and a seat hold after it is made. */
  readonly holdMs?: number;
  readonly pendingMs?: number;
  /** How long the `timeout` case holds its first answer (longer than the client's timeout). */
  readonly timeoutMs?: number;
  readonly callbackUrl?: string;
  readonly callbackKeyId?: string;
  readonly now?: () => number;
}

/**
 * The hold-expiring case: the hold is granted with this short expiry, and the provider finds it
 * lapsed when the payment comes, whatever the clock says (so a test need not wait on time).
 */
const EXPIRING_MS = 30_000;
const RECORDS_MAX = 100_000;

interface Booking {
  readonly pnr: string;
  readonly carrier: string;
  readonly amount: number;
  readonly deadline: number;
  status: 'HELD' | 'TICKETED';
}
interface SeatHold {
  readonly token: string;
  readonly reference: string;
  readonly show: string;
  readonly seats: readonly string[];
  readonly amount: number;
  readonly expiresAt: number;
  used: boolean;
}

export class TicketSimulator extends SandboxHttpServer<TicketSimulatorOptions> {
  private readonly orders = new Map<string, TicketOrder>();
  private readonly bookings = new Map<string, Booking>();
  private readonly holds = new Map<string, SeatHold>();
  private readonly holdsByRef = new Map<string, SeatHold>();
  private readonly shows = new Map<string, SimShow>();
  private readonly games = new Map<string, SimGame>();
  private readonly draws = new Map<string, SimDraw>();
  private readonly airlines = new Map<string, SimAirline>();
  private readonly sold = new Map<string, Set<string>>();
  /** References whose seat hold was released (or released before it arrived): a late hold under one is refused. */
  private readonly releasedHolds = new Set<string>();
  rejected = 0;

  constructor(options: TicketSimulatorOptions) {
    super(options);
    for (const [k, v] of Object.entries(options.airlines ?? {})) this.airlines.set(k, v);
    for (const [k, v] of Object.entries(options.shows ?? {})) this.addShow(k, v);
    for (const [k, v] of Object.entries(options.games ?? {})) this.games.set(k, v);
  }

  addShow(id: string, show: SimShow): void {
    this.shows.set(id, show);
    this.sold.set(id, new Set(show.taken ?? []));
  }
  addGame(id: string, game: SimGame): void {
    this.games.set(id, game);
  }
  addAirline(carrier: string, a: SimAirline): void {
    this.airlines.set(carrier, a);
  }
  /** A draw of a game, with its sales window; results are drawn at `drawAt`. */
  addDraw(game: string, draw: string, t: { opensAt: number; cutoffAt: number; drawAt: number }): void {
    this.draws.set(`${game}/${draw}`, { game, draw, ...t, results: [] });
  }

  transactions(): TicketOrder[] {
    return [...this.orders.values()];
  }

  private currency(): string {
    return this.options.currency ?? '156';
  }

  /** A sandbox booking: any well-formed reference of a known carrier, amount fixed per reference. */
  private booking(pnr: string, carrier: string): Booking | undefined {
    if (!/^[A-Z0-9]{6}$/.test(pnr) || !this.airlines.has(carrier)) return undefined;
    const known = this.bookings.get(`${carrier}/${pnr}`);
    if (known !== undefined) return known;
    if (this.bookings.size >= RECORDS_MAX) return undefined;
    const h = createHash('sha256').update(pnr).digest().readUInt32BE(0);
    const b: Booking = {
      pnr,
      carrier,
      amount: 50_000 + (h % 150_000),
      deadline: this.now() + (ticketCase(pnr) === 'hold-expiring' ? EXPIRING_MS : (this.options.holdMs ?? 15 * 60_000)),
      status: 'HELD',
    };
    this.bookings.set(`${carrier}/${pnr}`, b);
    return b;
  }

  /** Draw state from the clock; results are drawn once at `drawAt`. */
  private drawView(d: SimDraw): Record<string, unknown> {
    const t = this.now();
    const status = t < d.opensAt ? 'SCHEDULED' : t < d.cutoffAt ? 'OPEN' : 'CLOSED';
    const game = this.games.get(d.game);
    if (t >= d.drawAt && d.results.length === 0 && game !== undefined) {
      const picked = new Set<number>();
      while (picked.size < game.pick.count) picked.add(randomInt(game.pick.min, game.pick.max + 1));
      d.results = [...picked].sort((a, b) => a - b);
    }
    return {
      game: d.game,
      draw: d.draw,
      status,
      opensAt: new Date(d.opensAt).toISOString(),
      cutoffAt: new Date(d.cutoffAt).toISOString(),
      drawAt: new Date(d.drawAt).toISOString(),
      pricePerBoard: game?.pricePerBoard ?? 0,
      results: d.results,
    };
  }

  private settle(o: TicketOrder): void {
    if (o.state !== 'PENDING' || this.now() < o.settleAt) return;
    if (o.case === 'pending-failure') o.state = 'DECLINED';
    else {
      o.state = 'PAID';
      o.charged += 1;
    }
    this.callback(o);
  }

  private callback(o: TicketOrder): void {
    const url = this.options.callbackUrl;
    const keyId = this.options.callbackKeyId;
    if (url === undefined || keyId === undefined) return;
    const key = this.options.keys[keyId];
    if (key === undefined) return;
    const body = JSON.stringify({ reference: o.reference, status: o.state });
    const u = new URL(url);
    const headers = {
      ...signedHeaders({ scheme: 'hmac-sha256', keyId, secret: key.secret }, 'POST', u.pathname, body, this.now()),
      'content-type': 'application/json',
    };
    o.callbacks += 1;
    fetch(u, { method: 'POST', headers, body, signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
  }

  private view(o: TicketOrder): Record<string, unknown> {
    this.settle(o);
    return {
      reference: o.reference,
      status: o.state,
      orderId: o.providerRef,
      amount: o.amount,
      currency: o.currency,
      tickets: o.state === 'ISSUED' ? o.tickets : [],
    };
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname.slice(1) + url.search;
    const body = await this.readBody(req);
    if (body === undefined) return this.send(res, 413, { error: 'TOO_LARGE' });
    if (!this.authentic(req, path, body)) {
      this.rejected += 1;
      return this.send(res, 401, { error: 'SIGNATURE' });
    }
    let json: Record<string, unknown> = {};
    if (body !== '') {
      try {
        const v: unknown = JSON.parse(body);
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        json = v as Record<string, unknown>;
      } catch {
        return this.send(res, 400, { error: 'BAD_JSON' });
      }
    }
    let seg: string[];
    try {
      seg = url.pathname
        .split('/')
        .filter((s) => s !== '')
        .map((s) => decodeURIComponent(s));
    } catch {
      return this.send(res, 400, { error: 'BAD_PATH' });
    }
    const m = req.method;
    if (m === 'GET' && seg[0] === 'bookings' && seg.length === 3) {
      const b = this.booking(seg[2] ?? '', seg[1] ?? '');
      if (b === undefined) return this.send(res, 404, { status: 'NOT_FOUND' });
      const expired = b.status === 'HELD' && this.now() >= b.deadline;
      return this.send(res, 200, {
        booking: b.pnr,
        carrier: b.carrier,
        status: expired ? 'EXPIRED' : b.status,
        amount: b.amount,
        currency: this.currency(),
        deadline: new Date(b.deadline).toISOString(),
      });
    }
    if (m === 'POST' && seg[0] === 'holds' && seg.length === 1) return this.seatHold(res, json);
    if (m === 'POST' && seg[0] === 'holds' && seg.length === 3 && seg[2] === 'cancel')
      return this.releaseHold(res, seg[1] ?? '');
    if (m === 'GET' && seg[0] === 'draws' && seg.length === 3) {
      const d = this.draws.get(`${seg[1]}/${seg[2]}`);
      return d === undefined ? this.send(res, 404, { status: 'NOT_FOUND' }) : this.send(res, 200, this.drawView(d));
    }
    if (m === 'POST' && seg[0] === 'orders' && seg.length === 1) return this.order(res, json);
    if (seg[0] === 'orders' && seg.length >= 2) {
      const o = this.orders.get(seg[1] ?? '');
      if (m === 'GET' && seg.length === 2)
        return o === undefined ? this.send(res, 404, { status: 'NOT_FOUND' }) : this.send(res, 200, this.view(o));
      if (m === 'POST' && seg[2] === 'issue' && seg.length === 3) {
        if (o === undefined) return this.send(res, 404, { status: 'NOT_FOUND' });
        this.settle(o);
        if (o.state === 'PAID') this.issue(o);
        return this.send(res, o.state === 'ISSUED' ? 200 : 422, this.view(o));
      }
      if (m === 'POST' && seg[2] === 'cancel' && seg.length === 3) return this.cancel(res, seg[1] ?? '', o);
    }
    if (m === 'GET' && seg[0] === 'report') {
      const day = url.searchParams.get('date') ?? '';
      const rows = this.transactions()
        .filter((t) => new Date(t.createdAt).toISOString().slice(0, 10) === day)
        .map((t) => {
          this.settle(t);
          return { reference: t.reference, status: t.state, amount: t.amount, currency: t.currency };
        });
      return this.send(res, 200, { date: day, transactions: rows });
    }
    return this.send(res, 404, { error: 'NO_ROUTE' });
  }

  private seatHold(res: ServerResponse, json: Record<string, unknown>): void {
    const reference = typeof json['reference'] === 'string' ? json['reference'] : '';
    const show = typeof json['show'] === 'string' ? json['show'] : '';
    const seats = json['seats'];
    if (!/^[\x21-\x7e]{1,200}$/.test(reference)) return this.send(res, 422, { error: 'FIELDS' });
    if (
      !Array.isArray(seats) ||
      seats.length < 1 ||
      seats.length > 20 ||
      !seats.every((s) => typeof s === 'string' && /^[A-Z][0-9]{1,2}$/.test(s))
    )
      return this.send(res, 422, { error: 'SEATS' });
    if (this.releasedHolds.has(reference))
      return this.send(res, 409, { status: 'UNAVAILABLE', error: 'RELEASED', reference });
    const again = this.holdsByRef.get(reference);
    if (again !== undefined) {
      if (again.show !== show || again.seats.join(',') !== (seats as string[]).join(','))
        return this.send(res, 409, { error: 'DUPLICATE_REFERENCE', reference });
      return this.send(res, 200, this.holdView(again));
    }
    const s = this.shows.get(show);
    if (s === undefined) return this.send(res, 404, { status: 'NOT_FOUND' });
    const taken = this.sold.get(show) ?? new Set<string>();
    const t = this.now();
    const busy = (seat: string): boolean =>
      taken.has(seat) ||
      [...this.holds.values()].some((h) => h.show === show && h.seats.includes(seat) && (h.used || h.expiresAt > t));
    if ((seats as string[]).some(busy)) return this.send(res, 409, { status: 'UNAVAILABLE', error: 'SEATS_TAKEN' });
    if (this.holds.size >= RECORDS_MAX) return this.send(res, 503, { error: 'FULL' });
    const first = (seats as string[])[0] ?? '';
    const h: SeatHold = {
      token: `SH${(this.holds.size + 1).toString().padStart(8, '0')}`,
      reference,
      show,
      seats: [...(seats as string[])],
      amount: s.price * seats.length,
      expiresAt: t + (ticketCase(first) === 'hold-expiring' ? EXPIRING_MS : (this.options.holdMs ?? 10 * 60_000)),
      used: false,
    };
    this.holds.set(h.token, h);
    this.holdsByRef.set(reference, h);
    return this.send(res, 200, this.holdView(h));
  }

  /**
   * Releases the seat hold made under `reference`: its seats are free at once. A hold a paid order
   * uses is not released (409: the order's refund frees it); a reference never seen is fenced.
   */
  private releaseHold(res: ServerResponse, reference: string): void {
    if (!/^[\x21-\x7e]{1,200}$/.test(reference)) return this.send(res, 422, { error: 'FIELDS' });
    const h = this.holdsByRef.get(reference);
    if (h?.used === true) return this.send(res, 409, { status: 'USED', reference });
    if (this.releasedHolds.size >= RECORDS_MAX) return this.send(res, 503, { error: 'FULL' });
    this.releasedHolds.add(reference);
    if (h === undefined) return this.send(res, 404, { status: 'NOT_FOUND', reference });
    this.holds.delete(h.token);
    this.holdsByRef.delete(reference);
    return this.send(res, 200, { status: 'RELEASED', reference, show: h.show, seats: h.seats });
  }

  private holdView(h: SeatHold): Record<string, unknown> {
    return {
      holdToken: h.token,
      status: h.used ? 'USED' : this.now() >= h.expiresAt ? 'EXPIRED' : 'HELD',
      show: h.show,
      seats: h.seats,
      amount: h.amount,
      currency: this.currency(),
      expiresAt: new Date(h.expiresAt).toISOString(),
    };
  }

  private order(res: ServerResponse, json: Record<string, unknown>): void {
    const s = (v: unknown): string => (typeof v === 'string' ? v : '');
    const reference = s(json['reference']);
    const type = s(json['type']);
    const amount = json['amount'];
    if (!/^[\x21-\x7e]{1,200}$/.test(reference)) return this.send(res, 422, { error: 'FIELDS' });
    if (type !== 'air' && type !== 'cinema' && type !== 'lottery') return this.send(res, 422, { error: 'TYPE' });
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0)
      return this.send(res, 422, { error: 'AMOUNT' });
    const fingerprint = JSON.stringify([
      type,
      amount,
      s(json['currency']),
      s(json['booking']),
      s(json['carrier']),
      s(json['holdToken']),
      s(json['game']),
      s(json['draw']),
      json['boards'] ?? null,
    ]);
    const existing = this.orders.get(reference);
    if (existing !== undefined) {
      if (existing.fingerprint !== fingerprint) return this.send(res, 409, { error: 'DUPLICATE_REFERENCE', reference });
      return this.answer(res, existing, false);
    }
    if (this.orders.size >= RECORDS_MAX) return this.send(res, 503, { error: 'FULL' });
    const t = this.now();
    // What is being bought, and whether it can still be bought.
    let key: string;
    let refusal: string | undefined;
    let hold: string;
    if (type === 'air') {
      const b = this.booking(s(json['booking']), s(json['carrier']));
      if (b === undefined) return this.send(res, 404, { status: 'NOT_FOUND' });
      key = b.pnr;
      hold = `${b.carrier}/${b.pnr}`;
      if (b.status !== 'HELD') refusal = 'UNAVAILABLE';
      else if (t >= b.deadline || ticketCase(b.pnr) === 'hold-expiring') refusal = 'EXPIRED';
      else if (amount !== b.amount) return this.send(res, 422, { error: 'AMOUNT' });
    } else if (type === 'cinema') {
      const h = this.holds.get(s(json['holdToken']));
      if (h === undefined) return this.send(res, 404, { status: 'NOT_FOUND' });
      key = h.seats[0] ?? '';
      hold = h.token;
      if (h.used) refusal = 'UNAVAILABLE';
      else if (t >= h.expiresAt || ticketCase(key) === 'hold-expiring') refusal = 'EXPIRED';
      else if (amount !== h.amount) return this.send(res, 422, { error: 'AMOUNT' });
    } else {
      const d = this.draws.get(`${s(json['game'])}/${s(json['draw'])}`);
      const g = this.games.get(s(json['game']));
      const boards = json['boards'];
      if (d === undefined || g === undefined) return this.send(res, 404, { status: 'NOT_FOUND' });
      if (
        !Array.isArray(boards) ||
        boards.length < 1 ||
        boards.length > 10 ||
        !boards.every(
          (b) =>
            Array.isArray(b) &&
            b.length === g.pick.count &&
            new Set(b).size === b.length &&
            b.every((n) => Number.isSafeInteger(n) && (n as number) >= g.pick.min && (n as number) <= g.pick.max),
        )
      )
        return this.send(res, 422, { error: 'BOARDS' });
      const lastBoard = boards[boards.length - 1] as number[];
      key = String(lastBoard[lastBoard.length - 1] ?? 0);
      hold = `${d.game}/${d.draw}`;
      if (t < d.opensAt || t >= d.cutoffAt) refusal = 'CLOSED';
      else if (amount !== g.pricePerBoard * boards.length) return this.send(res, 422, { error: 'AMOUNT' });
    }
    const c = ticketCase(key);
    const o: TicketOrder = {
      reference,
      fingerprint,
      type,
      key,
      amount,
      currency: s(json['currency']),
      case: c,
      state: 'PENDING',
      providerRef: `TO${(this.orders.size + 1).toString().padStart(8, '0')}`,
      createdAt: t,
      settleAt: t + (this.options.pendingMs ?? 1_500),
      tickets: [],
      charged: 0,
      callbacks: 0,
      hold,
    };
    this.orders.set(reference, o);
    if (refusal !== undefined) {
      o.state = refusal;
      return this.send(res, 422, this.view(o));
    }
    this.consume(o);
    switch (c) {
      case 'decline':
        o.state = 'DECLINED';
        this.release(o);
        break;
      case 'pending-success':
      case 'pending-failure':
      case 'timeout':
        this.later((this.options.pendingMs ?? 1_500) + 10, () => {
          this.settle(o);
          if (o.state === 'DECLINED') this.release(o);
        });
        break;
      default:
        o.state = 'PAID';
        o.charged += 1;
    }
    this.answer(res, o, c === 'timeout');
  }

  /** The booking or seats are taken by this order (released again if it is declined or refunded). */
  private consume(o: TicketOrder): void {
    if (o.type === 'cinema') {
      const h = this.holds.get(o.hold);
      if (h !== undefined) h.used = true;
    }
  }
  private release(o: TicketOrder): void {
    if (o.type === 'cinema') {
      const h = this.holds.get(o.hold);
      if (h !== undefined) {
        this.holds.delete(h.token);
        this.holdsByRef.delete(h.reference);
      }
    }
    if (o.type === 'air') {
      const b = this.bookings.get(o.hold);
      if (b !== undefined) b.status = 'HELD';
    }
  }

  private issue(o: TicketOrder): void {
    if (o.case === 'issue-failure') {
      o.state = 'ISSUE_FAILED';
      return;
    }
    const serial = (prefix: string): string =>
      prefix + Array.from({ length: 10 }, () => String(randomInt(0, 10))).join('');
    if (o.type === 'air') {
      const b = this.bookings.get(o.hold);
      if (b !== undefined) b.status = 'TICKETED';
      o.tickets = [serial(this.airlines.get(o.hold.split('/')[0] ?? '')?.prefix ?? '999')];
    } else if (o.type === 'cinema') {
      const h = this.holds.get(o.hold);
      for (const seat of h?.seats ?? []) this.sold.get(h?.show ?? '')?.add(seat);
      o.tickets = (h?.seats ?? []).map((seat) => `${serial('CN')}-${seat}`);
    } else o.tickets = [serial('LT')];
    o.state = 'ISSUED';
  }

  private cancel(res: ServerResponse, reference: string, o: TicketOrder | undefined): void {
    if (o === undefined) {
      // Tombstone: a late order under this reference is refused (nothing may land after a cancel).
      this.orders.set(reference, {
        reference,
        fingerprint: '',
        type: 'air',
        key: '',
        amount: 0,
        currency: '',
        case: 'success',
        state: 'CANCELLED',
        providerRef: '',
        createdAt: this.now(),
        settleAt: this.now(),
        tickets: [],
        charged: 0,
        callbacks: 0,
        hold: '',
      });
      return this.send(res, 200, { reference, status: 'CANCELLED' });
    }
    this.settle(o);
    if (o.type === 'lottery' && o.state === 'ISSUED') {
      const d = this.draws.get(o.hold);
      // A wager stands once its draw is closed.
      if (d !== undefined && this.now() >= d.cutoffAt) return this.send(res, 409, { ...this.view(o), error: 'CLOSED' });
    }
    if (o.state === 'PAID' || o.state === 'ISSUED' || o.state === 'ISSUE_FAILED') {
      o.state = 'REFUNDED';
      o.charged -= 1;
      o.tickets = [];
      this.release(o);
    } else if (o.state === 'PENDING') {
      o.state = 'CANCELLED';
      this.release(o);
    }
    return this.send(res, 200, this.view(o));
  }

  private answer(res: ServerResponse, o: TicketOrder, slow: boolean): void {
    const status = ['DECLINED', 'EXPIRED', 'CLOSED', 'UNAVAILABLE'].includes(o.state) ? 422 : 200;
    if (!slow) return this.send(res, status, this.view(o));
    this.later(this.options.timeoutMs ?? 30_000, () => {
      if (!res.destroyed) this.send(res, 200, this.view(o));
    });
  }
}
