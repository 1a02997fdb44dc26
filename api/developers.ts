/**
 * `/developers`: the sandbox developer page, server-rendered HTML with no script at all. Sign up
 * (the sandbox key is shown once), sign in with a sandbox key, set the webhook endpoint, send a
 * test bill, pay it, watch the deliveries of its confirmation and replay one. It calls the same
 * PartnerService as the API, as the signed-in partner with a sandbox principal.
 *
 * Safety: every value is HTML-escaped; a strict CSP (no scripts, the one style block by hash, forms
 * to this origin only, no framing); a session cookie (HttpOnly, SameSite=Strict, random 256-bit id)
 * held in memory and bounded; a per-session CSRF token in every form, checked in constant time;
 * form bodies limited in size and parameter count.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { FixpayError } from '../domain/errors';
import { ALL_SCOPES, tokenMode } from '../partners/keys';
import type { PartnerService, Principal } from '../partners/service';

/** Sessions kept in memory at most (the least recently used goes first). */
export const DEVELOPER_SESSIONS_MAX = 1_000;
/** A session not used for this long is forgotten. */
export const DEVELOPER_SESSION_IDLE_MS = 8 * 60 * 60 * 1000;
/** Largest form body. */
export const DEVELOPER_FORM_BYTES_MAX = 8 * 1024;

const COOKIE = 'fp_dev_session';

interface Session {
  readonly csrf: string;
  partnerId?: string | undefined;
  /** Shown once, on the next page, then dropped. */
  flash?: { readonly newKey?: string; readonly error?: string; readonly notice?: string } | undefined;
  seenAt: number;
}

export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;font-size:.9rem}
code,.key{font-family:ui-monospace,monospace;word-break:break-all}.key{background:#fffbe6;border:1px solid #e6c200;padding:.5rem}
.error{color:#a00}.notice{color:#060}form.inline{display:inline}label{display:block;margin:.3rem 0}
input[type=text],input[type=email],input[type=url],input[type=number]{width:20rem}`;
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

export const DEVELOPER_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${STYLE_HASH}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

function cookieOf(req: Request): string | undefined {
  const header = req.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === COOKIE) return rest.join('=');
  }
  return undefined;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function field(body: unknown, name: string): string {
  const v = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  return typeof v === 'string' ? v.trim() : '';
}

export class DeveloperSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The caller's session, or a new one (with a Set-Cookie). */
  get(req: Request, res: Response): Session {
    const id = cookieOf(req);
    const existing = id === undefined ? undefined : this.sessions.get(id);
    if (id !== undefined && existing !== undefined && this.now() - existing.seenAt < DEVELOPER_SESSION_IDLE_MS) {
      this.sessions.delete(id);
      existing.seenAt = this.now();
      this.sessions.set(id, existing);
      return existing;
    }
    const fresh: Session = { csrf: randomBytes(32).toString('base64url'), seenAt: this.now() };
    const newId = randomBytes(32).toString('base64url');
    this.sessions.set(newId, fresh);
    if (this.sessions.size > DEVELOPER_SESSIONS_MAX) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    res.setHeader('Set-Cookie', `${COOKIE}=${newId}; Path=/developers; HttpOnly; SameSite=Strict`);
    return fresh;
  }

  /** The session a form post belongs to, when its CSRF token matches; throws CSRF_INVALID otherwise. */
  forPost(req: Request): Session {
    const id = cookieOf(req);
    const s = id === undefined ? undefined : this.sessions.get(id);
    const token = field(req.body, '_csrf');
    if (s === undefined || token === '' || !sameToken(token, s.csrf)) throw new FixpayError('CSRF_INVALID');
    s.seenAt = this.now();
    return s;
  }
}

function principalOf(s: Session): Principal {
  if (s.partnerId === undefined) throw new FixpayError('UNAUTHORIZED', 'sign up or sign in first');
  return {
    partnerId: s.partnerId,
    keyId: '',
    mode: 'test',
    scopes: new Set(ALL_SCOPES),
    actor: `developer-page:${s.partnerId}`,
  };
}

const hidden = (s: Session): string => `<input type="hidden" name="_csrf" value="${escapeHtml(s.csrf)}">`;

async function renderPage(service: PartnerService, s: Session): Promise<string> {
  const flash = s.flash;
  s.flash = undefined;
  const parts: string[] = [];
  if (flash?.error !== undefined) parts.push(`<p class="error" role="alert">${escapeHtml(flash.error)}</p>`);
  if (flash?.notice !== undefined) parts.push(`<p class="notice" role="status">${escapeHtml(flash.notice)}</p>`);
  if (s.partnerId === undefined) {
    parts.push(`<h2>Sign up for a sandbox account</h2>
<form method="post" action="/developers/signup">${hidden(s)}
<label>Name <input type="text" name="name" required maxlength="128"></label>
<label>Email <input type="email" name="email" required maxlength="254"></label>
<button type="submit">Sign up</button></form>
<h2>Sign in with a sandbox key</h2>
<form method="post" action="/developers/signin">${hidden(s)}
<label>Key <input type="text" name="key" required maxlength="60" autocomplete="off"></label>
<button type="submit">Sign in</button></form>`);
  } else {
    const p = principalOf(s);
    const account = await service.account(p.partnerId);
    const keys = await service.listKeys(p);
    const bills = await service.listBills(p);
    const deliveries = await service.listDeliveries(p);
    const secret = await service.webhookSecret(p);
    if (flash?.newKey !== undefined)
      parts.push(`<h2>Your sandbox key</h2><p>Copy it now: it is shown once and stored only as a hash.</p>
<p class="key" id="new-key">${escapeHtml(flash.newKey)}</p>`);
    parts.push(`<h2>Account</h2><p>${escapeHtml(account.name)} <code>${escapeHtml(account.id)}</code> —
sandbox ${escapeHtml(account.capabilities.sandbox)}, live ${escapeHtml(account.capabilities.live)}${
      account.requirements.length > 0 ? ` (outstanding: ${account.requirements.map(escapeHtml).join(', ')})` : ''
    }</p>
<form method="post" action="/developers/signout" class="inline">${hidden(s)}<button type="submit">Sign out</button></form>
<h2>Keys</h2><table id="keys"><tr><th>id</th><th>mode</th><th>key</th><th>scopes</th><th>state</th></tr>${keys
      .map(
        (k) =>
          `<tr><td><code>${escapeHtml(k.id)}</code></td><td>${escapeHtml(k.mode)}</td><td><code>${escapeHtml(
            k.prefix,
          )}</code></td><td>${escapeHtml(k.scopes.join(' '))}</td><td>${
            k.revokedAt !== null ? 'revoked' : k.expiresAt !== null ? `expires ${escapeHtml(k.expiresAt)}` : 'active'
          }</td></tr>`,
      )
      .join('')}</table>
<h2>Webhook endpoint</h2>
<form method="post" action="/developers/webhook">${hidden(s)}
<label>URL <input type="url" name="url" required maxlength="2048" value="${escapeHtml(account.webhookUrl ?? '')}"></label>
<button type="submit">Save</button></form>
<p>Signing secret: <code id="webhook-secret">${escapeHtml(secret)}</code></p>
<h2>Send a test bill</h2>
<form method="post" action="/developers/bills">${hidden(s)}
<label>Customer reference <input type="text" name="customerRef" required maxlength="64" value="customer-1"></label>
<label>Amount (minor units) <input type="number" name="amount" required min="1" value="1000"></label>
<label>Currency <input type="text" name="currency" required maxlength="3" value="CNY"></label>
<label>Description <input type="text" name="description" required maxlength="256" value="Test bill"></label>
<button type="submit">Send bill</button></form>
<h2>Bills</h2><table id="bills"><tr><th>id</th><th>customer</th><th>amount</th><th>description</th><th>status</th><th></th></tr>${bills
      .map(
        (b) =>
          `<tr><td><code>${escapeHtml(b.id)}</code></td><td>${escapeHtml(b.customerRef)}</td><td>${escapeHtml(
            b.amount.minor,
          )} ${escapeHtml(b.amount.currency)}</td><td>${escapeHtml(b.description)}</td><td class="status">${escapeHtml(
            b.status,
          )}</td><td>${
            b.status === 'open'
              ? `<form method="post" action="/developers/bills/${encodeURIComponent(b.id)}/pay" class="inline">${hidden(
                  s,
                )}<button type="submit">Pay (sandbox)</button></form>`
              : ''
          }</td></tr>`,
      )
      .join('')}</table>
<h2>Webhook deliveries</h2><p><a href="/developers">Refresh</a></p>
<table id="deliveries"><tr><th>id</th><th>webhook-id</th><th>event</th><th>status</th><th>attempts</th><th>replay of</th><th></th></tr>${deliveries
      .map(
        (d) =>
          `<tr><td><code>${escapeHtml(d.id)}</code></td><td><code>${escapeHtml(d.messageId)}</code></td><td>${escapeHtml(
            d.eventType,
          )}</td><td class="status">${escapeHtml(d.status)}</td><td>${escapeHtml(d.attempts)}</td><td>${escapeHtml(
            d.replayOf ?? '',
          )}</td><td><form method="post" action="/developers/deliveries/${encodeURIComponent(
            d.id,
          )}/replay" class="inline">${hidden(s)}<button type="submit">Replay</button></form></td></tr>`,
      )
      .join('')}</table>`);
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fixpay developers</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body><h1>fixpay developers — sandbox</h1><p>API reference: <a href="/docs">/docs</a> · contract: <a href="/openapi.yaml">/openapi.yaml</a></p>
${parts.join('\n')}</body></html>`;
}

/** The page's router; mount before the JSON body parser (its forms are url-encoded). */
export function developersRouter(service: PartnerService, sessions = new DeveloperSessions()): express.Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: DEVELOPER_FORM_BYTES_MAX, parameterLimit: 20 });
  const page = (_req: Request, res: Response): void => {
    res.setHeader('Content-Security-Policy', DEVELOPER_CSP);
  };

  router.get('/developers', (req, res, next) => {
    page(req, res);
    const s = sessions.get(req, res);
    renderPage(service, s).then((html) => res.type('text/html').send(html), next);
  });

  /** A form post: CSRF check, the action, then back to the page (303) with a flash message. */
  const post =
    (action: (s: Session, req: Request) => Promise<Session['flash']>) =>
    (req: Request, res: Response, next: NextFunction): void => {
      let s: Session;
      try {
        s = sessions.forPost(req);
      } catch (e) {
        next(e);
        return;
      }
      action(s, req).then(
        (flash) => {
          s.flash = flash;
          res.redirect(303, '/developers');
        },
        (e: unknown) => {
          if (!(e instanceof FixpayError)) {
            next(e);
            return;
          }
          s.flash = { error: `${e.code}: ${e.message}` };
          res.redirect(303, '/developers');
        },
      );
    };

  router.post(
    '/developers/signup',
    form,
    post(async (s, req) => {
      const name = field(req.body, 'name');
      const email = field(req.body, 'email');
      if (name === '' || name.length > 128) throw new FixpayError('BAD_REQUEST', 'a name of 1 to 128 characters');
      if (!/^[^\s@]{1,64}@[^\s@]{1,190}$/.test(email)) throw new FixpayError('BAD_REQUEST', 'an email address');
      const { partner, key } = await service.signUp({ name, email }, 'developer-page');
      s.partnerId = partner.id;
      return { newKey: key.secret };
    }),
  );
  router.post(
    '/developers/signin',
    form,
    post(async (s, req) => {
      const key = field(req.body, 'key');
      const principal = tokenMode(key) === 'test' ? await service.authenticate(key) : undefined;
      if (principal === undefined) throw new FixpayError('UNAUTHORIZED', 'not a valid sandbox key');
      s.partnerId = principal.partnerId;
      return { notice: 'Signed in.' };
    }),
  );
  router.post(
    '/developers/signout',
    form,
    post((s) => {
      s.partnerId = undefined;
      return Promise.resolve({ notice: 'Signed out.' });
    }),
  );
  router.post(
    '/developers/webhook',
    form,
    post(async (s, req) => {
      await service.updateAccount(principalOf(s), { webhookUrl: field(req.body, 'url') });
      return { notice: 'Webhook endpoint saved.' };
    }),
  );
  router.post(
    '/developers/bills',
    form,
    post(async (s, req) => {
      const minor = Number(field(req.body, 'amount'));
      const currency = field(req.body, 'currency');
      const customerRef = field(req.body, 'customerRef');
      const description = field(req.body, 'description');
      if (!Number.isSafeInteger(minor) || minor < 1 || minor > 100_000_000_000)
        throw new FixpayError('BAD_REQUEST', 'the amount is a whole number of minor units');
      if (!/^[A-Z]{3}$/.test(currency)) throw new FixpayError('BAD_REQUEST', 'the currency is an ISO 4217 code');
      if (!/^[A-Za-z0-9._:-]{1,64}$/.test(customerRef))
        throw new FixpayError('BAD_REQUEST', 'the customer reference is 1 to 64 letters, digits or ._:-');
      if (description === '' || description.length > 256)
        throw new FixpayError('BAD_REQUEST', 'a description of 1 to 256 characters');
      const bill = await service.createBill(principalOf(s), { customerRef, amount: { minor, currency }, description });
      return { notice: `Bill ${bill.id} sent.` };
    }),
  );
  router.post(
    '/developers/bills/:billId/pay',
    form,
    post(async (s, req) => {
      const { bill, delivery } = await service.payTestBill(principalOf(s), String(req.params['billId']));
      return {
        notice: `Bill ${bill.id} paid${delivery === null ? ' (no webhook endpoint: no confirmation sent)' : '; confirmation queued'}.`,
      };
    }),
  );
  router.post(
    '/developers/deliveries/:deliveryId/replay',
    form,
    post(async (s, req) => {
      const d = await service.replayDelivery(principalOf(s), String(req.params['deliveryId']));
      return { notice: `Replay ${d.id} queued.` };
    }),
  );
  return router;
}
