/**
 * The provider simulators as real HTTP servers: a bill aggregator (`fixpay sim biller`) and a
 * top-up aggregator (`fixpay sim topup`). Requests must be signed (HMAC-SHA256 or API key, as the
 * profile says); one transaction per reference (a repeat with the same content is answered from
 * the record, with other content 409 DUPLICATE_REFERENCE); the sandbox rules pick outcome and
 * delay; final states are announced by signed callbacks to `callbackUrl`; a daily report lists
 * the day's transactions for reconciliation.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { signedHeaders } from '../../gateways/providers/http';
import { SandboxHttpServer } from './http-server';
import { billAmount, billRule, sandboxCase, type SandboxCase } from './sandbox';

export type SimulatorKind = 'biller' | 'topup';

export interface SimTransaction {
  readonly reference: string;
  readonly fingerprint: string;
  readonly number: string;
  readonly amount: number;
  readonly currency: string;
  readonly product: string;
  readonly case: SandboxCase;
  /** Provider-side state: CREATED → CONFIRMED → SUBMITTED → COMPLETED / DECLINED / CANCELLED / REVERSED. */
  state: string;
  readonly providerRef: string;
  readonly createdAt: number;
  settleAt: number;
  pin: string;
  /** Times the charge was applied (must never exceed 1). */
  charged: number;
  callbacks: number;
}

export interface ProviderSimulatorOptions {
  readonly kind: SimulatorKind;
  readonly host?: string;
  readonly port?: number;
  /** keyId → secret, and how each key authenticates. */
  readonly keys: Readonly<Record<string, { scheme: 'api-key' | 'hmac-sha256'; secret: string }>>;
  /** How long a pending case stays pending. */
  readonly pendingMs?: number;
  /** How long the `timeout` case holds its first answer (longer than the client's timeout). */
  readonly timeoutMs?: number;
  /** How late the late callback comes. */
  readonly lateCallbackMs?: number;
  /** Where signed callbacks go (none when absent); signed with `callbackKeyId`. */
  readonly callbackUrl?: string;
  readonly callbackKeyId?: string;
  /** Product ids (provider's) that deliver a PIN. */
  readonly pinProducts?: readonly string[];
  /** Number prefix → operator id, for the lookup. */
  readonly operatorPrefixes?: Readonly<Record<string, string>>;
  readonly now?: () => number;
}

const TRANSACTIONS_MAX = 100_000;

export class ProviderSimulator extends SandboxHttpServer<ProviderSimulatorOptions> {
  private readonly txs = new Map<string, SimTransaction>();
  /** Requests refused for a bad signature (tests read it). */
  rejected = 0;

  transactions(): SimTransaction[] {
    return [...this.txs.values()];
  }

  /** Moves a transaction on: pending cases settle after pendingMs. */
  private settle(t: SimTransaction): void {
    if (t.state !== 'SUBMITTED' || this.now() < t.settleAt) return;
    const ok = t.case !== 'pending-failure';
    t.state = ok ? 'COMPLETED' : 'DECLINED';
    if (ok) this.charge(t);
    this.callback(t);
  }

  private charge(t: SimTransaction): void {
    t.charged += 1;
    if (this.options.pinProducts?.includes(t.product) === true)
      t.pin =
        Array.from(randomBytes(8), (b) => String(b % 10)).join('') + t.reference.length.toString().padStart(4, '0');
  }

  private callback(t: SimTransaction): void {
    const url = this.options.callbackUrl;
    const keyId = this.options.callbackKeyId;
    if (url === undefined || keyId === undefined || t.case === 'no-callback') return;
    const key = this.options.keys[keyId];
    if (key === undefined) return;
    const go = (): void => {
      const body = JSON.stringify({ reference: t.reference, status: t.state });
      const u = new URL(url);
      const headers = {
        ...signedHeaders({ scheme: 'hmac-sha256', keyId, secret: key.secret }, 'POST', u.pathname, body, this.now()),
        'content-type': 'application/json',
      };
      t.callbacks += 1;
      fetch(u, { method: 'POST', headers, body, signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    };
    if (t.case === 'late-callback') this.later(this.options.lateCallbackMs ?? 5_000, go);
    else go();
  }

  private view(t: SimTransaction): Record<string, unknown> {
    this.settle(t);
    const base = {
      reference: t.reference,
      status: t.state,
      providerRef: t.providerRef,
      amount: t.amount,
      currency: t.currency,
    };
    if (this.options.kind === 'biller') return { ...base, receipt: t.state === 'COMPLETED' ? t.providerRef : '' };
    // The top-up aggregator speaks its own names (the profile's mapping translates them).
    return {
      external_id: t.reference,
      id: t.providerRef,
      status: t.state,
      amount: t.amount,
      currency: t.currency,
      ...(t.pin !== '' && t.state === 'COMPLETED' ? { pin: { code: t.pin } } : {}),
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
    const seg = url.pathname.split('/').filter((s) => s !== '');
    const s = (v: unknown): string => (typeof v === 'string' ? v : '');
    const kind = this.options.kind;

    if (req.method === 'GET' && seg[0] === 'report') {
      const day = url.searchParams.get('date') ?? '';
      const rows = this.transactions()
        .filter((t) => new Date(t.createdAt).toISOString().slice(0, 10) === day)
        .map((t) => {
          this.settle(t);
          return { reference: t.reference, status: t.state, amount: t.amount, currency: t.currency };
        });
      return this.send(res, 200, { date: day, transactions: rows });
    }
    if (kind === 'biller' && req.method === 'POST' && seg[0] === 'bills' && seg[1] === 'fetch') {
      const ref = s(json['customerRef']);
      if (!/^[A-Za-z0-9-]{1,64}$/.test(ref)) return this.send(res, 422, { error: 'CUSTOMER_REF' });
      const rule = billRule(ref);
      if (rule === 'NOT_FOUND') return this.send(res, 404, { status: 'NOT_FOUND' });
      return this.send(res, 200, {
        status: rule,
        billId: `BILL-${s(json['billerId'])}-${ref}`,
        amount: billAmount(ref),
        currency: '156',
      });
    }
    if (kind === 'topup' && req.method === 'GET' && seg[0] === 'lookup') {
      const n = url.searchParams.get('number') ?? '';
      // The longest matching prefix names the operator (a mobile 138… is not the Q-coin 1…).
      const hit = Object.entries(this.options.operatorPrefixes ?? {})
        .filter(([p]) => n.startsWith(p))
        .sort((a, b) => b[0].length - a[0].length)[0];
      return hit === undefined ? this.send(res, 404, { operator: '' }) : this.send(res, 200, { operator: hit[1] });
    }
    const create =
      (kind === 'biller' && req.method === 'POST' && seg[0] === 'bills' && seg[1] === 'pay' && seg.length === 2) ||
      (kind === 'topup' && req.method === 'POST' && seg[0] === 'transactions' && seg.length === 1);
    if (create) return this.create(res, json);
    const statusPath =
      (kind === 'biller' && seg[0] === 'bills' && seg[1] === 'status' && seg.length === 3) ||
      (kind === 'topup' && seg[0] === 'transactions' && seg.length === 2);
    const cancelPath =
      (kind === 'biller' && seg[0] === 'bills' && seg[1] === 'cancel' && seg.length === 3) ||
      (kind === 'topup' && seg[0] === 'transactions' && seg[2] === 'cancel' && seg.length === 3);
    if (req.method === 'GET' && statusPath) {
      const t = this.txs.get(decodeURIComponent(seg[kind === 'biller' ? 2 : 1] ?? ''));
      return t === undefined ? this.send(res, 404, { status: 'NOT_FOUND' }) : this.send(res, 200, this.view(t));
    }
    if (req.method === 'POST' && cancelPath) {
      const reference = decodeURIComponent(seg[kind === 'biller' ? 2 : 1] ?? '');
      const t = this.txs.get(reference);
      if (t === undefined) {
        // Tombstone: a late create under this reference is refused (nothing may land after a cancel).
        this.txs.set(
          reference,
          this.record(reference, '', { number: '', amount: 0, currency: '', product: '' }, 'CANCELLED'),
        );
        return this.send(res, 200, { reference, status: 'CANCELLED' });
      }
      this.settle(t);
      if (t.state === 'COMPLETED') {
        t.state = 'REVERSED';
        t.charged -= 1;
      } else if (t.state === 'SUBMITTED' || t.state === 'CREATED' || t.state === 'CONFIRMED') t.state = 'CANCELLED';
      return this.send(res, 200, this.view(t));
    }
    return this.send(res, 404, { error: 'NO_ROUTE' });
  }

  private record(
    reference: string,
    fingerprint: string,
    f: { number: string; amount: number; currency: string; product: string },
    state: string,
  ): SimTransaction {
    const c = sandboxCase(f.number);
    return {
      reference,
      fingerprint,
      ...f,
      case: c,
      state,
      providerRef: `${this.options.kind === 'biller' ? 'BR' : 'TX'}${(this.txs.size + 1).toString().padStart(8, '0')}`,
      createdAt: this.now(),
      settleAt: this.now() + (this.options.pendingMs ?? 1_500),
      pin: '',
      charged: 0,
      callbacks: 0,
    };
  }

  private create(res: ServerResponse, json: Record<string, unknown>): void {
    const s = (v: unknown): string => (typeof v === 'string' ? v : '');
    const biller = this.options.kind === 'biller';
    const party = json['credit_party'];
    const reference = s(biller ? json['reference'] : json['external_id']);
    const number = biller
      ? s(json['customerRef'])
      : s(
          typeof party === 'object' && party !== null ? (party as Record<string, unknown>)['mobile_number'] : undefined,
        );
    const amount = json['amount'];
    if (!/^[\x21-\x7e]{1,200}$/.test(reference) || !/^[A-Za-z0-9-]{1,64}$/.test(number))
      return this.send(res, 422, { error: 'FIELDS' });
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0)
      return this.send(res, 422, { error: 'AMOUNT' });
    const product = biller ? s(json['billerId']) : s(json['product_id']);
    if (this.options.kind === 'biller') {
      const due = billAmount(number);
      const rule = s(json['amountRule']);
      if ((rule === 'exact' && amount !== due) || (rule === 'at-least' && amount < due))
        return this.send(res, 422, { error: 'AMOUNT' });
    }
    const fingerprint = JSON.stringify([number, amount, s(json['currency']), product]);
    const existing = this.txs.get(reference);
    if (existing !== undefined) {
      if (existing.fingerprint !== fingerprint) return this.send(res, 409, { error: 'DUPLICATE_REFERENCE', reference });
      return this.answerLater(res, existing, false);
    }
    if (this.txs.size >= TRANSACTIONS_MAX) return this.send(res, 503, { error: 'FULL' });
    const t = this.record(
      reference,
      fingerprint,
      { number, amount, currency: s(json['currency']), product },
      'CREATED',
    );
    this.txs.set(reference, t);
    t.state = 'CONFIRMED';
    switch (t.case) {
      case 'decline':
        t.state = 'DECLINED';
        this.callback(t);
        break;
      case 'pending-success':
      case 'pending-failure':
      case 'timeout':
        t.state = 'SUBMITTED';
        this.later((this.options.pendingMs ?? 1_500) + 10, () => this.settle(t));
        break;
      default:
        t.state = 'COMPLETED';
        this.charge(t);
        this.callback(t);
    }
    this.answerLater(res, t, t.case === 'timeout');
  }

  private answerLater(res: ServerResponse, t: SimTransaction, slow: boolean): void {
    if (!slow) return this.send(res, t.state === 'DECLINED' ? 422 : 200, this.view(t));
    this.later(this.options.timeoutMs ?? 30_000, () => {
      if (!res.destroyed) this.send(res, 200, this.view(t));
    });
  }
}
