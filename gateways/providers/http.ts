/**
 * The signed HTTP client every connector kind uses (docs/providers.md §Signing). Requests carry
 * `X-Fixpay-Key-Id`, `X-Fixpay-Timestamp` and, for HMAC profiles, `X-Fixpay-Signature`:
 * `v1=` + hex HMAC-SHA256(secret, timestamp \n method \n path \n hex SHA-256(body)). API-key profiles
 * send the secret in `X-Api-Key` instead. Callbacks from a provider are signed the same way.
 *
 * Outcomes are classified by the profile's retry classes: `ok` (2xx, or 404/409/422 with a JSON
 * body the kind interprets), `retryable` (the request surely had no effect: connection refused,
 * 429 and the profile's `retryable` statuses), `ambiguous` (it may have had an effect: a timeout,
 * a reset after sending, 5xx and the profile's `ambiguous` statuses) and `rejected` (any other 4xx, and
 * every 3xx: a redirect is never followed, so a provider cannot point our request at another host).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { FixpayError, isFixpayError } from '../../domain/errors';
import type { ProviderProfile } from './profile';

export const SIGNATURE_HEADER = 'x-fixpay-signature';
export const TIMESTAMP_HEADER = 'x-fixpay-timestamp';
export const KEY_ID_HEADER = 'x-fixpay-key-id';
export const API_KEY_HEADER = 'x-api-key';
/** How far a signed timestamp may be from the receiver's clock. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;
/** Largest answer body a connector reads. */
export const RESPONSE_BYTES_MAX = 64 * 1024;

export function signatureFor(secret: string, timestamp: string, method: string, path: string, body: string): string {
  const digest = createHash('sha256').update(body).digest('hex');
  return `v1=${createHmac('sha256', secret).update(`${timestamp}\n${method.toUpperCase()}\n${path}\n${digest}`).digest('hex')}`;
}

/** Headers for a signed request (or a signed callback). */
export function signedHeaders(
  auth: { scheme: 'api-key' | 'hmac-sha256'; keyId: string; secret: string },
  method: string,
  path: string,
  body: string,
  nowMs: number,
): Record<string, string> {
  const ts = String(Math.floor(nowMs / 1000));
  const h: Record<string, string> = { [KEY_ID_HEADER]: auth.keyId, [TIMESTAMP_HEADER]: ts };
  if (auth.scheme === 'api-key') h[API_KEY_HEADER] = auth.secret;
  else h[SIGNATURE_HEADER] = signatureFor(auth.secret, ts, method, path, body);
  return h;
}

/** Verifies a signed request or callback; throws PROVIDER_SIGNATURE_INVALID. */
export function verifySignature(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  method: string,
  path: string,
  body: string,
  nowMs: number,
): void {
  const one = (n: string): string | undefined => {
    const v = headers[n];
    return Array.isArray(v) ? undefined : v;
  };
  const ts = one(TIMESTAMP_HEADER);
  const sig = one(SIGNATURE_HEADER);
  if (ts === undefined || sig === undefined || !/^\d{1,12}$/.test(ts))
    throw new FixpayError('PROVIDER_SIGNATURE_INVALID', 'signature or timestamp missing');
  if (Math.abs(Number(ts) * 1000 - nowMs) > SIGNATURE_TOLERANCE_MS)
    throw new FixpayError('PROVIDER_SIGNATURE_INVALID', 'timestamp outside the tolerance');
  const want = Buffer.from(signatureFor(secret, ts, method, path, body));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got))
    throw new FixpayError('PROVIDER_SIGNATURE_INVALID', 'signature does not match');
}

/** The profile's secret (inline for sandboxes, else read from its file). Never logged. */
export function profileSecret(p: ProviderProfile): string {
  if (p.auth.secret !== undefined) return p.auth.secret;
  if (p.auth.secretFile !== undefined) return readFileSync(p.auth.secretFile, 'utf8').trim();
  throw new FixpayError('PROVIDER_PROFILE_INVALID', `${p.id}: no secret`);
}

export type HttpOutcome =
  | { kind: 'ok'; status: number; body: Record<string, unknown> }
  | { kind: 'retryable'; detail: string }
  | { kind: 'ambiguous'; detail: string }
  | { kind: 'rejected'; status: number; detail: string };

/** Statuses whose JSON answer the kind module reads (not found, duplicate, unprocessable). */
const ANSWERED = new Set([404, 409, 422]);

export async function providerRequest(
  p: ProviderProfile,
  method: 'GET' | 'POST',
  path: string,
  payload: Record<string, unknown> | undefined,
  now: () => number = () => Date.now(),
): Promise<HttpOutcome> {
  const body = payload === undefined ? '' : JSON.stringify(payload);
  const headers = {
    ...signedHeaders({ ...p.auth, secret: profileSecret(p) }, method, path, body, now()),
    ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
  };
  const url = new URL(path, p.endpoint.endsWith('/') ? p.endpoint : `${p.endpoint}/`);
  let res: { status: number; text: () => Promise<string> };
  try {
    res =
      p.lookup !== undefined
        ? await requestThrough(p.lookup, url, method, headers, body, p.timeouts.requestMs)
        : await fetch(url, {
            method,
            headers,
            ...(payload === undefined ? {} : { body }),
            // A redirect is never followed: it could send our signed request to an address the
            // endpoint check never saw (an internal service, cloud metadata). A 3xx is a refusal.
            redirect: 'manual',
            signal: AbortSignal.timeout(p.timeouts.requestMs),
          });
  } catch (e) {
    // The endpoint's name resolves to an address providers written by partners may not reach:
    // refused before connecting, so nothing was sent (and nothing charged).
    if (isFixpayError(e)) return { kind: 'rejected', status: 0, detail: 'endpoint address not permitted' };
    const code = (e as { cause?: { code?: string }; code?: string }).cause?.code ?? (e as { code?: string }).code;
    // Refused before anything was sent: the provider surely did nothing.
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') return { kind: 'retryable', detail: code };
    return { kind: 'ambiguous', detail: (e as Error).name === 'TimeoutError' ? 'timeout' : (code ?? 'network') };
  }
  let text: string;
  try {
    text = await res.text();
  } catch {
    return { kind: 'ambiguous', detail: 'answer cut short' };
  }
  const retryable = new Set([429, ...(p.retry?.retryable ?? [])]);
  const ambiguous = new Set(p.retry?.ambiguous ?? []);
  if (retryable.has(res.status)) return { kind: 'retryable', detail: `HTTP ${res.status}` };
  if (ambiguous.has(res.status) || res.status >= 500) return { kind: 'ambiguous', detail: `HTTP ${res.status}` };
  if (res.status >= 300 && res.status < 400)
    return { kind: 'rejected', status: res.status, detail: `HTTP ${res.status}: redirect not followed` };
  if (res.status >= 300 && !ANSWERED.has(res.status))
    return { kind: 'rejected', status: res.status, detail: `HTTP ${res.status}` };
  if (text.length > RESPONSE_BYTES_MAX) return { kind: 'ambiguous', detail: 'answer too large' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'ambiguous', detail: `HTTP ${res.status}, not JSON` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return { kind: 'ambiguous', detail: `HTTP ${res.status}, not an object` };
  return { kind: 'ok', status: res.status, body: json as Record<string, unknown> };
}

/**
 * One request whose socket connects only through `lookup` (a partner's provider: the egress
 * policy's connect-time check). An address literal is checked through the same `lookup` first, as
 * sockets do not look literals up. No redirect is followed; at most RESPONSE_BYTES_MAX + 1 bytes
 * of the answer are kept.
 */
async function requestThrough(
  lookup: LookupFunction,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<{ status: number; text: () => Promise<string> }> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) !== 0)
    await new Promise<void>((resolve, reject) => {
      lookup(host, { all: true }, (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method,
        headers: { ...headers, ...(body === '' ? {} : { 'content-length': String(Buffer.byteLength(body)) }) },
        lookup,
        agent: false,
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const text = new Promise<string>((done, fail) => {
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= RESPONSE_BYTES_MAX + 1) chunks.push(c);
            else res.destroy();
          });
          res.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
          res.on('close', () => {
            if (size > RESPONSE_BYTES_MAX + 1) done(Buffer.concat(chunks).toString('utf8'));
            else if (!res.complete) fail(new Error('answer cut short'));
          });
          res.on('error', fail);
        });
        text.catch(() => undefined);
        resolve({ status: res.statusCode ?? 0, text: () => text });
      },
    );
    req.on('error', reject);
    req.end(body === '' ? undefined : body);
  });
}

/** Reads a dotted path (`a.b.c`) from an object; undefined when absent. */
export function getPath(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const k of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, k)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** Writes a dotted path, creating plain objects on the way. */
export function setPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = o;
  for (const k of keys.slice(0, -1)) {
    const next = Object.hasOwn(cur, k) ? cur[k] : undefined;
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) cur = next as Record<string, unknown>;
    else {
      const made: Record<string, unknown> = {};
      cur[k] = made;
      cur = made;
    }
  }
  cur[keys[keys.length - 1] ?? ''] = value;
}

/** Our canonical request fields renamed by the profile's request mapping (unmapped names kept). */
export function mapRequest(p: ProviderProfile, fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) setPath(out, p.mapping?.request?.[k] ?? k, v);
  return out;
}

/** One canonical field of an answer, through the profile's response mapping. */
export function answerField(p: ProviderProfile, body: Record<string, unknown>, field: string): unknown {
  return getPath(body, p.mapping?.response?.[field] ?? field);
}

/** The provider's status word in our vocabulary (through the profile's status mapping). */
export function canonicalStatus(p: ProviderProfile, raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const mapped = p.mapping?.status;
  if (mapped !== undefined && Object.hasOwn(mapped, raw)) return mapped[raw];
  return raw.toUpperCase();
}
