/**
 * Provider documents as data (ADR 0019, docs/providers.md): a connector profile (`kind: Provider`:
 * which connector kind, endpoint, authentication, timeouts, retry classes, status-query schedule,
 * field mappings), billers (`kind: Biller`) and top-up operators with their products
 * (`kind: TopupOperator`). One YAML document per file under a directory the platform reads again
 * whenever a file there changes, so a new biller or operator of an existing kind needs no restart.
 *
 * The loader never throws on a bad file: it keeps the good ones and reports the others.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import schema from '../../schema/provider-profile.schema.json';
import { FixpayError } from '../../domain/errors';
import type { TicketOffer } from './ticket-offers';
import { checkTicketSpec, isTicketDocumentKind, PHONE_OFFER, TICKET_DOCUMENT_KINDS } from './ticket-offers';

export type ConnectorKind = 'bill-aggregator' | 'topup-aggregator' | 'ticketing';

export interface Charge {
  readonly fixed?: number;
  readonly bps?: number;
}
export interface Fees {
  readonly customerFee?: Charge;
  readonly merchantCommission?: Charge;
}
export type Channel = 'terminal' | 'api';
export type Limits = Partial<Record<Channel, { min?: number; max?: number }>>;

export interface ProviderProfile {
  readonly id: string;
  readonly title?: string;
  readonly connector: ConnectorKind;
  readonly endpoint: string;
  readonly currency?: string;
  readonly auth: { scheme: 'api-key' | 'hmac-sha256'; keyId: string; secret?: string; secretFile?: string };
  readonly timeouts: { requestMs: number };
  readonly retry?: { retryable?: number[]; ambiguous?: number[] };
  readonly statusQuery: { queries: number };
  readonly mapping?: {
    request?: Record<string, string>;
    response?: Record<string, string>;
    status?: Record<string, string>;
  };
  /**
   * For a provider a partner wrote through the catalogue: the socket `lookup` every request
   * connects through (the egress policy's connect-time address check), so a name that resolves
   * to a loopback, private or link-local address is refused before anything is sent.
   */
  readonly lookup?: LookupFunction;
}

export interface CustomerParam {
  readonly name: string;
  readonly type: 'numeric' | 'alphanumeric';
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly regex?: string;
}

export interface Biller {
  readonly id: string;
  readonly title?: string;
  readonly provider: string;
  readonly providerBillerId?: string;
  /** The number a phone user keys to pick this biller (Bills → Pay a bill): 1–4 digits, unique. */
  readonly terminalCode?: string;
  readonly category: string;
  readonly customerParams: readonly CustomerParam[];
  readonly fetch: 'required' | 'ad-hoc';
  readonly amount: 'exact' | 'at-least' | 'any';
  readonly limits?: Limits;
  readonly deemedSuccess?: boolean;
  readonly fees?: Fees;
}

export interface TopupProduct {
  readonly id: string;
  readonly providerProductId?: string;
  readonly delivery: 'recharge' | 'pin';
  readonly amount?: number;
  readonly range?: { min: number; max: number };
  readonly fees?: Fees;
}

export interface TopupOperator {
  readonly id: string;
  readonly title?: string;
  readonly provider: string;
  readonly service: 'mobile' | 'fixed-line' | 'phs' | 'game-card' | 'q-coin';
  readonly prefixes: readonly string[];
  readonly numberLength?: { min?: number; max?: number };
  readonly products: readonly TopupProduct[];
}

export interface ProfileProblem {
  readonly file: string;
  readonly message: string;
}

/** What one read of the directory produced. */
export interface ProviderCatalog {
  readonly providers: ReadonlyMap<string, ProviderProfile>;
  readonly billers: ReadonlyMap<string, Biller>;
  readonly operators: ReadonlyMap<string, TopupOperator>;
  /** Airlines, cinemas and lottery games (the ticketing kind, ADR 0023), one id space. */
  readonly ticketOffers: ReadonlyMap<string, TicketOffer>;
  readonly problems: readonly ProfileProblem[];
}

const ajv = new Ajv({ allErrors: false, strict: false });
const validate = ajv.compile(schema);

/** Most files, and largest file, the directory may hold (a bound on what a reload reads). */
export const PROVIDER_FILES_MAX = 2000;
export const PROVIDER_FILE_BYTES_MAX = 256 * 1024;

interface Doc {
  kind: 'Provider' | 'Biller' | 'TopupOperator' | 'Airline' | 'Cinema' | 'LotteryGame';
  metadata: { id: string; title?: string };
  spec: Record<string, unknown>;
}

/** Validates one parsed document; a FixpayError (PROVIDER_PROFILE_INVALID) says where it is wrong. */
export function parseProviderDocument(text: string, file = 'inline'): Doc {
  let value: unknown;
  try {
    value = parse(text, { maxAliasCount: 20, uniqueKeys: true });
  } catch (e) {
    throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: YAML: ${(e as Error).message.split('\n')[0] ?? ''}`);
  }
  return validateProviderDocument(value, file);
}

/**
 * Checks a parsed document (a file's YAML, or a catalogue entry written by API) against the schema
 * and the rules the schema cannot say; a FixpayError (PROVIDER_PROFILE_INVALID) says where it is wrong.
 */
export function validateProviderDocument(value: unknown, file = 'inline'): Doc {
  if (!validate(value)) {
    const e = validate.errors?.[0];
    const where = e === undefined ? '' : `${e.instancePath || '/'} ${e.message ?? ''}`;
    throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: ${where}`.slice(0, 300));
  }
  const doc = value as unknown as Doc;
  const s = doc.spec;
  if (doc.kind === 'Biller') {
    for (const p of (s['customerParams'] as CustomerParam[] | undefined) ?? []) {
      if (p.regex !== undefined) {
        try {
          new RegExp(p.regex, 'u');
        } catch {
          throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: customer parameter ${p.name}: bad regex`);
        }
      }
      if (p.minLength !== undefined && p.maxLength !== undefined && p.minLength > p.maxLength)
        throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: ${p.name}: minLength above maxLength`);
    }
  }
  if (doc.kind === 'TopupOperator') {
    for (const p of (s['products'] as TopupProduct[] | undefined) ?? []) {
      if (p.range !== undefined && p.range.min > p.range.max)
        throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: product ${p.id}: range min above max`);
    }
  }
  if (isTicketDocumentKind(doc.kind)) checkTicketSpec(doc.kind, s, file);
  return doc;
}

/**
 * A document from outside the directory (the catalogue entries written by API, ADR 0029): where it
 * comes from (for problems), and its parsed value or why it could not be read.
 */
export interface SourcedDocument {
  readonly source: string;
  readonly value?: unknown;
  readonly error?: string;
  /** Written by a partner (not by an operator): its provider connects through `partnerLookup`. */
  readonly partner?: boolean;
}

/** Documents beside the directory; `generation()` changes whenever `documents()` does. */
export interface CatalogueFeed {
  generation(): number;
  documents(): readonly SourcedDocument[];
}

/**
 * Reads every `*.yaml`/`*.yml` under `dir` (one level of sub-directories), then `extra` documents
 * (which never replace a file's: the same id twice is a problem); bad ones become problems.
 */
export function loadProviderCatalog(
  dir: string,
  extra: readonly SourcedDocument[] = [],
  partnerLookup?: LookupFunction,
): ProviderCatalog {
  const providers = new Map<string, ProviderProfile>();
  const billers = new Map<string, Biller>();
  const operators = new Map<string, TopupOperator>();
  const ticketOffers = new Map<string, TicketOffer>();
  const problems: ProfileProblem[] = [];
  const fromExtra = new Set<string>();
  const read: { file: string; isFile: boolean; partner?: boolean; doc: () => Doc }[] = [
    ...providerFiles(dir).map((file) => ({
      file,
      isFile: true,
      doc: () => {
        if (statSync(file).size > PROVIDER_FILE_BYTES_MAX)
          throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: larger than ${PROVIDER_FILE_BYTES_MAX} bytes`);
        return parseProviderDocument(readFileSync(file, 'utf8'), file);
      },
    })),
    ...extra.map((x) => ({
      file: x.source,
      isFile: false,
      partner: x.partner === true,
      doc: () => {
        if (x.error !== undefined) throw new FixpayError('PROVIDER_PROFILE_INVALID', `${x.source}: ${x.error}`);
        return validateProviderDocument(x.value, x.source);
      },
    })),
  ];
  for (const { file, isFile, partner, doc: readDoc } of read) {
    try {
      const doc = readDoc();
      const id = doc.metadata.id;
      const base = { id, ...(doc.metadata.title === undefined ? {} : { title: doc.metadata.title }) };
      if (isTicketDocumentKind(doc.kind)) {
        if (ticketOffers.has(id)) throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: duplicate offer ${id}`);
        ticketOffers.set(id, { ...base, type: TICKET_DOCUMENT_KINDS[doc.kind], ...doc.spec } as TicketOffer);
        if (!isFile) fromExtra.add(`offer:${id}`);
        continue;
      }
      const target: Map<string, unknown> =
        doc.kind === 'Provider' ? providers : doc.kind === 'Biller' ? billers : operators;
      if (target.has(id)) throw new FixpayError('PROVIDER_PROFILE_INVALID', `${file}: duplicate ${doc.kind} ${id}`);
      const guard = doc.kind === 'Provider' && partner === true && partnerLookup !== undefined;
      target.set(id, { ...base, ...doc.spec, ...(guard ? { lookup: partnerLookup } : {}) });
      if (doc.kind === 'Biller' && !isFile) fromExtra.add(id);
    } catch (e) {
      problems.push({ file, message: e instanceof Error ? e.message : String(e) });
    }
  }
  for (const [id, b] of billers)
    if (providers.get(b.provider)?.connector !== 'bill-aggregator') {
      billers.delete(id);
      problems.push({ file: id, message: `biller ${id}: no bill-aggregator provider ${b.provider}` });
    }
  // A code two billers claim picks neither (a clash never sends a phone's payment to the wrong
  // biller); both stay payable by id, and the clash is a problem until one file changes.
  // A code a file's biller holds stays the file's when only catalogue entries claim it too.
  const claims = new Map<string, string[]>();
  for (const [id, b] of billers)
    if (b.terminalCode !== undefined) claims.set(b.terminalCode, [...(claims.get(b.terminalCode) ?? []), id]);
  for (const [code, ids] of claims) {
    if (ids.length < 2) continue;
    const filed = ids.filter((id) => !fromExtra.has(id));
    for (const id of filed.length === 1 ? ids.filter((x) => fromExtra.has(x)) : ids) {
      const { terminalCode: _dropped, ...rest } = billers.get(id) as Biller;
      billers.set(id, rest);
    }
    problems.push({ file: ids.join(', '), message: `billers ${ids.join(' and ')} claim terminal code ${code}` });
  }
  for (const [id, o] of operators)
    if (providers.get(o.provider)?.connector !== 'topup-aggregator') {
      operators.delete(id);
      problems.push({ file: id, message: `operator ${id}: no topup-aggregator provider ${o.provider}` });
    }
  for (const [id, o] of ticketOffers)
    if (providers.get(o.provider)?.connector !== 'ticketing') {
      ticketOffers.delete(id);
      problems.push({ file: id, message: `offer ${id}: no ticketing provider ${o.provider}` });
    }
  // The same for the keys phones press: a code two offers of a kind (or two shows) claim picks neither,
  // except that a code one file's offer (or show) holds stays the file's when only catalogue entries
  // claim it too — a partner's entry never takes a key away from the platform's own offers.
  const offerClaims = new Map<string, string[]>();
  const showClaims = new Map<string, string[]>();
  for (const [id, o] of ticketOffers) {
    if (o.terminalCode !== undefined) {
      const k = `${o.type}#${o.terminalCode}`;
      offerClaims.set(k, [...(offerClaims.get(k) ?? []), id]);
    }
    if (o.type === 'cinema')
      for (const sh of o.shows)
        if (sh.terminalCode !== undefined)
          showClaims.set(sh.terminalCode, [...(showClaims.get(sh.terminalCode) ?? []), `${id}/${sh.id}`]);
  }
  const extraOffer = (id: string): boolean => fromExtra.has(`offer:${id}`);
  for (const [k, ids] of offerClaims) {
    if (ids.length < 2) continue;
    const filed = ids.filter((id) => !extraOffer(id));
    for (const id of filed.length === 1 ? ids.filter(extraOffer) : ids) {
      const { terminalCode: _dropped, ...rest } = ticketOffers.get(id) as TicketOffer;
      ticketOffers.set(id, rest);
    }
    problems.push({ file: ids.join(', '), message: `offers ${ids.join(' and ')} claim terminal code ${k}` });
  }
  for (const [code, ids] of showClaims) {
    if (ids.length < 2) continue;
    const offerOf = (claim: string): string => claim.slice(0, claim.indexOf('/'));
    const filed = ids.filter((c) => !extraOffer(offerOf(c)));
    const losers = new Set((filed.length === 1 ? ids.filter((c) => extraOffer(offerOf(c))) : ids).map(offerOf));
    for (const [id, o] of ticketOffers)
      if (losers.has(id) && o.type === 'cinema' && o.shows.some((x) => x.terminalCode === code))
        ticketOffers.set(id, {
          ...o,
          shows: o.shows.map((x) => {
            if (x.terminalCode !== code) return x;
            const { terminalCode: _dropped, ...rest } = x;
            return rest;
          }),
        });
    problems.push({ file: ids.join(', '), message: `shows ${ids.join(' and ')} claim terminal code ${code}` });
  }
  return { providers, billers, operators, ticketOffers, problems };
}

function providerFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (out.length >= PROVIDER_FILES_MAX) return;
      const p = join(d, n);
      let isDir: boolean;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        continue;
      }
      if (isDir && depth < 1) walk(p, depth + 1);
      else if (/\.ya?ml$/.test(n)) out.push(p);
    }
  };
  walk(dir, 0);
  return out;
}

/** A cheap fingerprint of the directory: names, sizes and modification times. */
function fingerprint(dir: string): string {
  return providerFiles(dir)
    .map((f) => {
      try {
        const s = statSync(f);
        return `${f}:${s.size}:${s.mtimeMs}`;
      } catch {
        return f;
      }
    })
    .join('|');
}

/**
 * The watched directory: `current()` re-reads it when its fingerprint changed (at most once per
 * `checkEveryMs`), so a file dropped in while the worker runs is used by the next call.
 */
export class ProviderDirectory {
  private cached: ProviderCatalog | undefined;
  private print = '';
  private checkedAt = -Infinity;

  constructor(
    readonly dir: string,
    private readonly checkEveryMs = 500,
    private readonly now: () => number = () => Date.now(),
    /** Catalogue entries written by API (catalogue-store.ts), read beside the directory. */
    private readonly feed?: CatalogueFeed,
    /** The connect-time address check of providers partners wrote (the webhook egress policy's). */
    private readonly partnerLookup?: LookupFunction,
  ) {}

  current(): ProviderCatalog {
    const t = this.now();
    if (this.cached !== undefined && t - this.checkedAt < this.checkEveryMs) return this.cached;
    this.checkedAt = t;
    const p = `${fingerprint(this.dir)}#${this.feed?.generation() ?? 0}`;
    if (this.cached === undefined || p !== this.print) {
      this.cached = loadProviderCatalog(this.dir, this.feed?.documents() ?? [], this.partnerLookup);
      this.print = p;
    }
    return this.cached;
  }

  provider(id: string, connector: ConnectorKind): ProviderProfile {
    const p = this.current().providers.get(id);
    if (p?.connector !== connector) throw new FixpayError('PROVIDER_UNKNOWN', `no ${connector} provider ${id}`);
    return p;
  }

  biller(id: string): { biller: Biller; provider: ProviderProfile } {
    const billers = this.current().billers;
    // A phone keys the biller's terminal code (digits); everything else names it by id.
    const b =
      billers.get(id) ??
      (/^[0-9]{1,4}$/.test(id) ? [...billers.values()].find((x) => x.terminalCode === id) : undefined);
    if (b === undefined) throw new FixpayError('PROVIDER_UNKNOWN', `no biller ${id.slice(0, 64)}`);
    return { biller: b, provider: this.provider(b.provider, 'bill-aggregator') };
  }

  ticketOffer(id: string): { offer: TicketOffer; provider: ProviderProfile } {
    const offers = this.current().ticketOffers;
    // A phone names the offer by its kind and terminal code (`lottery#2`); everything else by id.
    const phone = PHONE_OFFER.exec(id);
    const o =
      phone === null
        ? offers.get(id)
        : [...offers.values()].find((x) => x.type === phone[1] && x.terminalCode === phone[2]);
    if (o === undefined) throw new FixpayError('TICKET_OFFER_UNKNOWN', `no ticketing offer ${id.slice(0, 64)}`);
    return { offer: o, provider: this.provider(o.provider, 'ticketing') };
  }

  operator(id: string): { operator: TopupOperator; provider: ProviderProfile } {
    const o = this.current().operators.get(id);
    if (o === undefined) throw new FixpayError('PROVIDER_UNKNOWN', `no operator ${id.slice(0, 64)}`);
    return { operator: o, provider: this.provider(o.provider, 'topup-aggregator') };
  }
}

/** A charge on an amount, rounded down to the minor unit: fixed + amount × bps / 10 000. */
export function chargeOn(amount: number, c: Charge | undefined): number {
  if (c === undefined) return 0;
  return (c.fixed ?? 0) + Math.floor((amount * (c.bps ?? 0)) / 10_000);
}

/**
 * The fee the customer pays on top, and the merchant's commission. The platform pays the commission
 * out of its fee income (which a commission larger than the fee turns into a cost).
 */
export function feesFor(amount: number, fees: Fees | undefined): { fee: number; commission: number } {
  return { fee: chargeOn(amount, fees?.customerFee), commission: chargeOn(amount, fees?.merchantCommission) };
}

/** Checks the amount against a biller's channel limits. */
export function withinLimits(amount: number, limits: Limits | undefined, channel: Channel): boolean {
  const l = limits?.[channel];
  if (l === undefined) return true;
  return (l.min === undefined || amount >= l.min) && (l.max === undefined || amount <= l.max);
}
