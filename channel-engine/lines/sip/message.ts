/**
 * A small SIP message parser and serialiser (RFC 3261 §7, §20): start line, headers with compact
 * forms and folding, body by Content-Length. Only what a UAS for payment terminals needs; every
 * limit is named. Parse failures are results, never exceptions.
 */
import type { Result } from '../../../domain/result';

/** Largest SIP datagram accepted (RFC 3261 §18.1.1 suggests staying under the path MTU; UDP only here). */
export const MAX_SIP_MESSAGE_BYTES = 8192;
export const MAX_SIP_HEADERS = 64;
export const MAX_SIP_HEADER_LINE_BYTES = 2048;

/** Compact header forms (RFC 3261 §7.3.3 and extensions). */
const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  f: 'from',
  t: 'to',
  v: 'via',
  l: 'content-length',
  c: 'content-type',
  k: 'supported',
  s: 'subject',
  e: 'content-encoding',
};

export class SipHeaders {
  private readonly list: [string, string][] = [];

  /** Adds a header; the name is stored lower-case with compact forms expanded. */
  add(name: string, value: string): this {
    const lower = name.toLowerCase();
    this.list.push([COMPACT[lower] ?? lower, value]);
    return this;
  }

  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    return this.list.find(([n]) => n === lower)?.[1];
  }

  /** Every value of a header, splitting comma-separated lists of Via, Route, Record-Route, Contact. */
  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    const values = this.list.filter(([n]) => n === lower).map(([, v]) => v);
    if (!['via', 'route', 'record-route', 'contact', 'p-asserted-identity'].includes(lower)) return values;
    return values.flatMap(splitCommaList);
  }

  entries(): readonly (readonly [string, string])[] {
    return this.list;
  }
}

/** Splits a header value at commas outside quotes and angle brackets. */
export function splitCommaList(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '"' && value[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && ch === '<') depth++;
    else if (!quoted && ch === '>') depth = Math.max(0, depth - 1);
    else if (!quoted && depth === 0 && ch === ',') {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter((v) => v.length > 0);
}

export interface SipRequest {
  readonly kind: 'request';
  readonly method: string;
  readonly uri: string;
  readonly headers: SipHeaders;
  readonly body: string;
}

export interface SipResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
  readonly headers: SipHeaders;
  readonly body: string;
}

export type SipMessage = SipRequest | SipResponse;

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;

function fail(detail: string): { ok: false; error: string } {
  return { ok: false, error: detail };
}

/** Parses `123 INVITE`. */
export function parseCSeq(value: string | undefined): CSeq | undefined {
  const m = /^\s*(\d{1,10})\s+([A-Za-z]+)\s*$/.exec(value ?? '');
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  const seq = Number(m[1]);
  return seq <= 0xffffffff ? { seq, method: m[2].toUpperCase() } : undefined;
}

/**
 * Parses one SIP message from a datagram. Requests must carry Via, From, To, Call-ID and a CSeq
 * whose method matches the request line.
 */
export function parseSipMessage(data: Uint8Array | string): Result<SipMessage, string> {
  const byteLength = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (byteLength > MAX_SIP_MESSAGE_BYTES) return fail(`message over ${MAX_SIP_MESSAGE_BYTES} bytes`);
  const text =
    typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8');
  const trimmed = text.replace(/^(\r?\n)+/, ''); // RFC 3261 §7.5: ignore leading CRLFs (keep-alives)
  let headEnd = trimmed.indexOf('\r\n\r\n');
  let sep = 4;
  if (headEnd < 0) {
    headEnd = trimmed.indexOf('\n\n');
    sep = 2;
  }
  if (headEnd < 0) return fail('no empty line after the headers');
  const head = trimmed.slice(0, headEnd);
  const rawBody = trimmed.slice(headEnd + sep);
  const lines = head.split(/\r?\n/);
  const startLine = lines.shift() ?? '';
  if (startLine.length > MAX_SIP_HEADER_LINE_BYTES) return fail('start line too long');

  const headers = new SipHeaders();
  let count = 0;
  let current: [string, string] | undefined;
  const flush = (): void => {
    if (current !== undefined) headers.add(current[0], current[1].trim());
    current = undefined;
  };
  for (const line of lines) {
    if (line.length > MAX_SIP_HEADER_LINE_BYTES) return fail('header line too long');
    if (/^[ \t]/.test(line)) {
      if (current === undefined) return fail('continuation line without a header');
      current[1] += ' ' + line.trim();
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    if (colon <= 0) return fail('header line without a colon');
    const name = line.slice(0, colon).trim();
    if (!TOKEN.test(name)) return fail('bad header name');
    if (++count > MAX_SIP_HEADERS) return fail(`more than ${MAX_SIP_HEADERS} headers`);
    current = [name, line.slice(colon + 1)];
  }
  flush();

  const lengthHeader = headers.get('content-length');
  let body = rawBody;
  if (lengthHeader !== undefined) {
    if (!/^\s*\d{1,6}\s*$/.test(lengthHeader)) return fail('bad Content-Length');
    const length = Number(lengthHeader);
    const bodyBytes = Buffer.from(rawBody, 'utf8');
    if (bodyBytes.length < length) return fail('body shorter than Content-Length');
    body = bodyBytes.subarray(0, length).toString('utf8');
  }

  const response = /^SIP\/2\.0 ([1-6]\d\d) ?(.*)$/.exec(startLine);
  if (response?.[1] !== undefined) {
    if (parseCSeq(headers.get('cseq')) === undefined) return fail('bad or missing CSeq');
    return {
      ok: true,
      value: { kind: 'response', status: Number(response[1]), reason: response[2] ?? '', headers, body },
    };
  }
  const request = /^([A-Za-z]+) (\S+) SIP\/2\.0$/.exec(startLine);
  if (request?.[1] === undefined || request[2] === undefined) return fail('bad start line');
  const method = request[1].toUpperCase();
  for (const required of ['via', 'from', 'to', 'call-id'])
    if (headers.get(required) === undefined) return fail(`missing ${required}`);
  const cseq = parseCSeq(headers.get('cseq'));
  if (cseq === undefined) return fail('bad or missing CSeq');
  if (cseq.method !== method && !(method === 'ACK' && cseq.method === 'ACK'))
    return fail('CSeq method differs from the request method');
  return { ok: true, value: { kind: 'request', method, uri: request[2], headers, body } };
}

/** Serialises a message; Content-Length is always written from the body. */
export function serializeSipMessage(msg: SipMessage): string {
  const start = msg.kind === 'request' ? `${msg.method} ${msg.uri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
  const lines = [start];
  for (const [name, value] of msg.headers.entries()) {
    if (name === 'content-length') continue;
    lines.push(`${canonicalName(name)}: ${value}`);
  }
  lines.push(`Content-Length: ${Buffer.byteLength(msg.body, 'utf8')}`);
  return lines.join('\r\n') + '\r\n\r\n' + msg.body;
}

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'p-asserted-identity': 'P-Asserted-Identity',
};

function canonicalName(lower: string): string {
  return (
    CANONICAL[lower] ??
    lower
      .split('-')
      .map((w) => (w.length > 0 ? (w[0] ?? '').toUpperCase() + w.slice(1) : w))
      .join('-')
  );
}

export interface NameAddr {
  readonly uri: string;
  readonly params: ReadonlyMap<string, string>;
}

/** Parses `"Name" <sip:user@host>;tag=x` or `sip:user@host;tag=x`. */
export function parseNameAddr(value: string): NameAddr | undefined {
  let uri: string;
  let rest: string;
  const lt = value.indexOf('<');
  if (lt >= 0) {
    const gt = value.indexOf('>', lt);
    if (gt < 0) return undefined;
    uri = value.slice(lt + 1, gt).trim();
    rest = value.slice(gt + 1);
  } else {
    const semi = value.indexOf(';');
    uri = (semi < 0 ? value : value.slice(0, semi)).trim();
    rest = semi < 0 ? '' : value.slice(semi);
  }
  if (!/^(sips?|tel):/i.test(uri)) return undefined;
  const params = new Map<string, string>();
  for (const part of rest.split(';')) {
    const p = part.trim();
    if (p.length === 0) continue;
    const eq = p.indexOf('=');
    params.set((eq < 0 ? p : p.slice(0, eq)).toLowerCase(), eq < 0 ? '' : p.slice(eq + 1));
  }
  return { uri, params };
}

/** Longest caller number kept (E.164 allows 15 digits; leave room for prefixes). */
export const MAX_CALLER_NUMBER_LENGTH = 32;

/** The user part of a sip:/tel: URI as a dialable number (digits, +, *, #), or undefined. */
export function numberOfUri(uri: string): string | undefined {
  const m = /^(?:sips?:([^@;?]+)@|tel:([^;?]+))/i.exec(uri);
  const user = m?.[1] ?? m?.[2];
  if (user === undefined) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(user);
  } catch {
    return undefined;
  }
  const cleaned = decoded.replace(/[-.() ]/g, '');
  return /^\+?[0-9*#]{1,32}$/.test(cleaned) && cleaned.length <= MAX_CALLER_NUMBER_LENGTH ? cleaned : undefined;
}

/** Caller number: P-Asserted-Identity first (RFC 3325, set by the trusted network), then From. */
export function callerNumberOf(headers: SipHeaders): string | undefined {
  for (const pai of headers.getAll('p-asserted-identity')) {
    const addr = parseNameAddr(pai);
    const n = addr === undefined ? undefined : numberOfUri(addr.uri);
    if (n !== undefined) return n;
  }
  const from = parseNameAddr(headers.get('from') ?? '');
  return from === undefined ? undefined : numberOfUri(from.uri);
}
