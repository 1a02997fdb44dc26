/**
 * Provider catalogue entries written by API (docs/providers.md §Catalogue by API, ADR 0029):
 * provider profiles, billers, top-up operators and ticketing offers (airlines, cinemas with their
 * shows, lottery games with their draws), stored as the same documents the provider directory
 * holds and validated by the same schema (`validateProviderDocument`). A partner manages only its
 * own entries: the provider profiles it made and the entries that name them; an operator manages
 * every entry and says which partner owns one. Every change is audited in its transaction,
 * concurrent changes are refused instead of lost, and a provider's authentication secret is sealed
 * before it is stored. `CatalogueMirror` feeds the stored entries to a `ProviderDirectory`, so the
 * worker uses a change on its next call, without a restart.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { FixpayError } from '../../domain/errors';
import type { CatalogueEntry, PrismaClient } from '../../generated/prisma/client';
import { Prisma } from '../../generated/prisma/client';
import type { CatalogueFeed, ProviderCatalog, SourcedDocument } from './profile';
import { validateProviderDocument } from './profile';
import { isTicketDocumentKind, TICKET_DOCUMENT_KINDS } from './ticket-offers';

export type CatalogueMode = 'test' | 'live';

/** The document kinds, by the path segment that names them in the API. */
export const CATALOGUE_KINDS = {
  providers: 'Provider',
  billers: 'Biller',
  'topup-operators': 'TopupOperator',
  airlines: 'Airline',
  cinemas: 'Cinema',
  'lottery-games': 'LotteryGame',
} as const;
export type CatalogueKindPath = keyof typeof CATALOGUE_KINDS;
export type CatalogueKind = (typeof CATALOGUE_KINDS)[CatalogueKindPath];

const TICKET_KINDS: readonly CatalogueKind[] = ['Airline', 'Cinema', 'LotteryGame'];
/** The connector a document kind's provider must have. */
const CONNECTOR_OF: Readonly<Record<Exclude<CatalogueKind, 'Provider'>, string>> = {
  Biller: 'bill-aggregator',
  TopupOperator: 'topup-aggregator',
  Airline: 'ticketing',
  Cinema: 'ticketing',
  LotteryGame: 'ticketing',
};

/** Most entries one mode holds (what a mirror reads at once), and most one list answers. */
export const CATALOGUE_ENTRIES_MAX = 2000;
export const CATALOGUE_LIST_MAX = 500;
/** Deepest nesting a document written by API may have (the schema's deepest is 5). */
export const CATALOGUE_DEPTH_MAX = 12;
/** How often a mirror asks the database whether an entry changed, by default. */
export const CATALOGUE_REFRESH_MS_DEFAULT = 1000;

/** Who writes: a partner (its own entries only) or an operator (any entry). */
export type CatalogueActor =
  | { readonly kind: 'partner'; readonly partnerId: string; readonly actor: string }
  | { readonly kind: 'operator'; readonly actor: string };

export interface CatalogueView {
  readonly kind: CatalogueKind;
  readonly id: string;
  readonly mode: CatalogueMode;
  readonly owner: string | null;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly updatedBy: string;
  /** The document; a provider's `spec.auth.secret` reads `[sealed]`. */
  readonly document: unknown;
}

export interface CatalogueStoreDeps {
  readonly prisma: PrismaClient;
  /** The key provider secrets are sealed under (`catalogueSecretKey(lmk)`). */
  readonly sealKey: Buffer;
  /** The directory's own documents, so an id or terminal code a file holds is refused. */
  readonly files?: () => ProviderCatalog;
  /** Throws when a partner's provider endpoint names a host it may not (the webhook egress rule). */
  readonly checkEndpointHost?: (host: string) => void;
  readonly now?: () => Date;
}

// ---------------------------------------------------------------------------------------------
// Sealed secrets

/** The key provider secrets are sealed under, derived from the LMK like the voucher key. */
export function catalogueSecretKey(lmkHex: string): Buffer {
  return createHmac('sha256', Buffer.from(lmkHex, 'hex')).update('fixpay catalogue secrets v1').digest();
}

const SEALED = /^sealed:v1\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)$/;
const aadOf = (mode: string, kind: string, id: string): Buffer => Buffer.from(`fixpay-catalogue:${mode}/${kind}/${id}`);

export function sealSecret(key: Buffer, aad: Buffer, secret: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad);
  const data = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
  return `sealed:v1.${iv.toString('base64url')}.${data.toString('base64url')}.${c.getAuthTag().toString('base64url')}`;
}

/** Opens a sealed secret; throws PROVIDER_PROFILE_INVALID when it is not one or does not open. */
export function openSecret(key: Buffer, aad: Buffer, sealed: string): string {
  const m = SEALED.exec(sealed);
  if (m === null) throw new FixpayError('PROVIDER_PROFILE_INVALID', 'the stored secret is not sealed');
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(m[1] ?? '', 'base64url'));
    d.setAAD(aad);
    d.setAuthTag(Buffer.from(m[3] ?? '', 'base64url'));
    return Buffer.concat([d.update(Buffer.from(m[2] ?? '', 'base64url')), d.final()]).toString('utf8');
  } catch {
    throw new FixpayError('PROVIDER_PROFILE_INVALID', 'the stored secret does not open under this key');
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The document with `spec.auth.secret` replaced (a copy; other documents are returned as they are). */
function withSecret(doc: unknown, replace: (secret: string) => string): unknown {
  if (!isObject(doc) || !isObject(doc['spec']) || !isObject(doc['spec']['auth'])) return doc;
  const auth = doc['spec']['auth'];
  if (typeof auth['secret'] !== 'string') return doc;
  return { ...doc, spec: { ...doc['spec'], auth: { ...auth, secret: replace(auth['secret']) } } };
}

// ---------------------------------------------------------------------------------------------
// Hostile input

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Refuses keys that pollute prototypes (`__proto__`, `constructor`, `prototype`) anywhere in the
 * document, and nesting deeper than CATALOGUE_DEPTH_MAX, before anything reads it.
 */
export function refuseHostileDocument(value: unknown, depth = 0): void {
  if (depth > CATALOGUE_DEPTH_MAX) throw new FixpayError('BAD_REQUEST', 'the document is nested too deeply');
  if (Array.isArray(value)) {
    for (const v of value) refuseHostileDocument(v, depth + 1);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const k of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(k)) throw new FixpayError('BAD_REQUEST', `forbidden key ${k}`);
    refuseHostileDocument((value as Json)[k], depth + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// The store

function view(row: CatalogueEntry): CatalogueView {
  return {
    kind: row.kind as CatalogueKind,
    id: row.entryId,
    mode: row.mode,
    owner: row.ownerPartnerId,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    updatedBy: row.updatedBy,
    document: withSecret(row.document, () => '[sealed]'),
  };
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    isObject(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, x[k]]),
        )
      : x,
  );

export class CatalogueStore {
  private readonly prisma: PrismaClient;
  private readonly now: () => Date;

  constructor(private readonly deps: CatalogueStoreDeps) {
    this.prisma = deps.prisma;
    this.now = deps.now ?? (() => new Date());
  }

  private row(mode: CatalogueMode, kind: CatalogueKind, id: string): Promise<CatalogueEntry | null> {
    return this.prisma.catalogueEntry.findUnique({ where: { mode_kind_entryId: { mode, kind, entryId: id } } });
  }

  private mine(who: CatalogueActor, row: CatalogueEntry): void {
    if (who.kind === 'partner' && row.ownerPartnerId !== who.partnerId)
      throw new FixpayError('CATALOGUE_NOT_OWNER', `${row.kind} ${row.entryId} is not yours`);
  }

  async get(who: CatalogueActor, mode: CatalogueMode, kind: CatalogueKind, id: string): Promise<CatalogueView> {
    const row = await this.row(mode, kind, id);
    if (row === null) throw new FixpayError('NOT_FOUND', `no ${kind} ${id}`);
    this.mine(who, row);
    return view(row);
  }

  async list(who: CatalogueActor, mode: CatalogueMode, kind?: CatalogueKind): Promise<CatalogueView[]> {
    const rows = await this.prisma.catalogueEntry.findMany({
      where: {
        mode,
        ...(kind === undefined ? {} : { kind }),
        ...(who.kind === 'partner' ? { ownerPartnerId: who.partnerId } : {}),
      },
      orderBy: [{ kind: 'asc' }, { entryId: 'asc' }],
      take: CATALOGUE_LIST_MAX,
    });
    return rows.map(view);
  }

  /**
   * Creates or replaces an entry. `owner` (operators only) names the partner that manages it; a
   * partner's entry is its own. An unchanged document answers the stored entry (no new version).
   */
  async put(
    who: CatalogueActor,
    input: { mode: CatalogueMode; kind: CatalogueKind; id: string; document: unknown; owner?: string | null },
  ): Promise<{ entry: CatalogueView; created: boolean }> {
    const { mode, kind, id } = input;
    refuseHostileDocument(input.document);
    const doc = validateProviderDocument(input.document, `${kind}/${id}`);
    if (doc.kind !== kind || doc.metadata.id !== id)
      throw new FixpayError('PROVIDER_PROFILE_INVALID', `the document must be kind ${kind} with metadata.id ${id}`);
    const existing = await this.row(mode, kind, id);
    if (existing !== null) this.mine(who, existing);
    const owner =
      who.kind === 'partner'
        ? who.partnerId
        : input.owner === undefined
          ? (existing?.ownerPartnerId ?? null)
          : input.owner;
    if (who.kind === 'operator' && owner !== null) {
      const p = await this.prisma.partner.findUnique({ where: { id: owner }, select: { id: true } });
      if (p === null) throw new FixpayError('PROVIDER_PROFILE_INVALID', `no partner ${owner}`);
    }
    const files = this.deps.files?.();
    if (existing === null) await this.idFree(mode, kind, id, files);
    const spec = doc.spec;
    if (kind === 'Provider') {
      const auth = spec['auth'] as { secretFile?: string } | undefined;
      if (who.kind === 'partner') {
        if (auth?.secretFile !== undefined)
          throw new FixpayError('FORBIDDEN', 'auth.secretFile names a file on our hosts: operators only');
        this.checkEndpoint(String(spec['endpoint']));
      }
      if (existing !== null) await this.connectorKept(mode, id, String(spec['connector']), existing);
    } else {
      await this.providerUsable(who, mode, kind, String(spec['provider']), owner, files);
    }
    if (kind === 'Biller' && typeof spec['terminalCode'] === 'string')
      await this.terminalCodeFree(mode, id, spec['terminalCode'], files);
    if (isTicketDocumentKind(kind)) await this.ticketKeysFree(mode, kind, id, spec, files);
    if (kind === 'TopupOperator' && who.kind === 'partner') await this.prefixesFree(mode, id, spec, owner, files);

    const stored = withSecret(input.document, (s) => sealSecret(this.deps.sealKey, aadOf(mode, kind, id), s));
    if (existing !== null) {
      const before = withSecret(existing.document, (s) => openSecret(this.deps.sealKey, aadOf(mode, kind, id), s));
      if (canonical(before) === canonical(input.document) && existing.ownerPartnerId === owner)
        return { entry: view(existing), created: false };
    }
    const at = this.now();
    const audit = {
      actor: who.actor,
      action: existing === null ? 'catalogue.created' : 'catalogue.updated',
      subject: owner === null ? `catalogue:${mode}` : `partner:${owner}`,
      details: { mode, kind, id, version: (existing?.version ?? 0) + 1 },
    };
    const row = await this.prisma.$transaction(async (tx) => {
      if (existing === null) {
        try {
          const created = await tx.catalogueEntry.create({
            data: {
              mode,
              kind,
              entryId: id,
              ownerPartnerId: owner,
              document: stored as Prisma.InputJsonValue,
              version: 1,
              createdAt: at,
              updatedAt: at,
              updatedBy: who.actor,
            },
          });
          await tx.auditEvent.create({ data: audit });
          return created;
        } catch (e) {
          if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002')
            throw new FixpayError('CATALOGUE_CONFLICT', `${kind} ${id} was created meanwhile`);
          throw e;
        }
      }
      // Optimistic: a change made since we read the entry wins and this one is refused.
      const changed = await tx.catalogueEntry.updateMany({
        where: { mode, kind, entryId: id, version: existing.version },
        data: {
          document: stored as Prisma.InputJsonValue,
          ownerPartnerId: owner,
          version: existing.version + 1,
          updatedAt: at,
          updatedBy: who.actor,
        },
      });
      if (changed.count !== 1) throw new FixpayError('CATALOGUE_CONFLICT', `${kind} ${id} changed meanwhile`);
      await tx.auditEvent.create({ data: audit });
      return tx.catalogueEntry.findUniqueOrThrow({ where: { mode_kind_entryId: { mode, kind, entryId: id } } });
    });
    return { entry: view(row), created: existing === null };
  }

  /** Withdraws an entry; a provider some entry still names is refused. */
  async remove(who: CatalogueActor, mode: CatalogueMode, kind: CatalogueKind, id: string): Promise<CatalogueView> {
    const existing = await this.row(mode, kind, id);
    if (existing === null) throw new FixpayError('NOT_FOUND', `no ${kind} ${id}`);
    this.mine(who, existing);
    if (kind === 'Provider') {
      const users = await this.usersOf(mode, id);
      if (users.length > 0)
        throw new FixpayError('CATALOGUE_CONFLICT', `provider ${id} is named by ${users.slice(0, 5).join(', ')}`);
    }
    await this.prisma.$transaction(async (tx) => {
      const gone = await tx.catalogueEntry.deleteMany({
        where: { mode, kind, entryId: id, version: existing.version },
      });
      if (gone.count !== 1) throw new FixpayError('CATALOGUE_CONFLICT', `${kind} ${id} changed meanwhile`);
      await tx.auditEvent.create({
        data: {
          actor: who.actor,
          action: 'catalogue.deleted',
          subject: existing.ownerPartnerId === null ? `catalogue:${mode}` : `partner:${existing.ownerPartnerId}`,
          details: { mode, kind, id, version: existing.version },
        },
      });
    });
    return view(existing);
  }

  private checkEndpoint(endpoint: string): void {
    let host: string;
    try {
      const u = new URL(endpoint);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('scheme');
      if (u.username !== '' || u.password !== '') throw new Error('credentials');
      host = u.hostname;
    } catch {
      throw new FixpayError('PROVIDER_PROFILE_INVALID', 'spec.endpoint must be an http(s) URL without credentials');
    }
    try {
      this.deps.checkEndpointHost?.(host);
    } catch {
      throw new FixpayError('CATALOGUE_ENDPOINT_FORBIDDEN', `spec.endpoint host ${host.slice(0, 64)}`);
    }
  }

  /** An id no other entry of its id space (files included) holds. */
  private async idFree(
    mode: CatalogueMode,
    kind: CatalogueKind,
    id: string,
    files: ProviderCatalog | undefined,
  ): Promise<void> {
    const space = TICKET_KINDS.includes(kind) ? TICKET_KINDS : [kind];
    const other = await this.prisma.catalogueEntry.findFirst({
      where: { mode, entryId: id, kind: { in: [...space] } },
      select: { kind: true },
    });
    if (other !== null) throw new FixpayError('CATALOGUE_CONFLICT', `id ${id} is taken by a ${other.kind}`);
    const inFiles =
      files === undefined
        ? false
        : kind === 'Provider'
          ? files.providers.has(id)
          : kind === 'Biller'
            ? files.billers.has(id)
            : kind === 'TopupOperator'
              ? files.operators.has(id)
              : files.ticketOffers.has(id);
    if (inFiles) throw new FixpayError('CATALOGUE_CONFLICT', `id ${id} is taken by the platform's provider files`);
  }

  /** The provider an entry names exists, has the entry's connector and is the entry owner's. */
  private async providerUsable(
    who: CatalogueActor,
    mode: CatalogueMode,
    kind: Exclude<CatalogueKind, 'Provider'>,
    providerId: string,
    owner: string | null,
    files: ProviderCatalog | undefined,
  ): Promise<void> {
    const row = await this.row(mode, 'Provider', providerId);
    const filed = files?.providers.get(providerId);
    if (row === null && filed === undefined)
      throw new FixpayError('PROVIDER_PROFILE_INVALID', `spec.provider: no provider ${providerId}`);
    if (who.kind === 'partner' && (row === null || row.ownerPartnerId !== owner))
      throw new FixpayError('CATALOGUE_NOT_OWNER', `provider ${providerId} is not yours`);
    const connector =
      row === null ? filed?.connector : ((row.document as { spec?: { connector?: unknown } }).spec?.connector ?? '');
    if (connector !== CONNECTOR_OF[kind])
      throw new FixpayError(
        'PROVIDER_PROFILE_INVALID',
        `spec.provider: ${providerId} is not a ${CONNECTOR_OF[kind]} provider`,
      );
  }

  /** A provider whose entries depend on its connector keeps it. */
  private async connectorKept(
    mode: CatalogueMode,
    id: string,
    connector: string,
    existing: CatalogueEntry,
  ): Promise<void> {
    const before = (existing.document as { spec?: { connector?: unknown } }).spec?.connector;
    if (before === connector) return;
    const users = await this.usersOf(mode, id);
    if (users.length > 0)
      throw new FixpayError('CATALOGUE_CONFLICT', `provider ${id} is named by ${users.slice(0, 5).join(', ')}`);
  }

  private async usersOf(mode: CatalogueMode, providerId: string): Promise<string[]> {
    const rows = await this.prisma.catalogueEntry.findMany({
      where: { mode, kind: { not: 'Provider' }, document: { path: ['spec', 'provider'], equals: providerId } },
      select: { kind: true, entryId: true },
      take: 10,
    });
    return rows.map((r) => `${r.kind} ${r.entryId}`);
  }

  /** A terminal code no other biller (files included) claims: a second claim would void both. */
  private async terminalCodeFree(
    mode: CatalogueMode,
    id: string,
    code: string,
    files: ProviderCatalog | undefined,
  ): Promise<void> {
    const other = await this.prisma.catalogueEntry.findFirst({
      where: {
        mode,
        kind: 'Biller',
        entryId: { not: id },
        document: { path: ['spec', 'terminalCode'], equals: code },
      },
      select: { entryId: true },
    });
    const filed = [...(files?.billers.values() ?? [])].find((b) => b.terminalCode === code && b.id !== id);
    if (other !== null || filed !== undefined)
      throw new FixpayError('CATALOGUE_CONFLICT', `terminal code ${code} is taken`);
  }

  /**
   * A partner's recharge operator may not claim numbers another owner's operator of the same
   * service answers for (the platform's files included): no prefix of it may start another's or be
   * started by one, or a customer's number could reach the partner instead of its real operator.
   */
  private async prefixesFree(
    mode: CatalogueMode,
    id: string,
    spec: Record<string, unknown>,
    owner: string | null,
    files: ProviderCatalog | undefined,
  ): Promise<void> {
    const service = spec['service'];
    const mine = Array.isArray(spec['prefixes'])
      ? (spec['prefixes'] as unknown[]).filter((x): x is string => typeof x === 'string')
      : [];
    if (mine.length === 0) return;
    const overlaps = (theirs: readonly unknown[]): string | undefined => {
      for (const t of theirs)
        if (typeof t === 'string') {
          const hit = mine.find((m) => m.startsWith(t) || t.startsWith(m));
          if (hit !== undefined) return hit;
        }
      return undefined;
    };
    let clash: string | undefined;
    for (const o of files?.operators.values() ?? [])
      if (o.id !== id && o.service === service) clash ??= overlaps(o.prefixes);
    const stored = await this.prisma.catalogueEntry.findMany({
      where: { mode, kind: 'TopupOperator', entryId: { not: id } },
      select: { ownerPartnerId: true, document: true },
    });
    for (const row of stored) {
      if (row.ownerPartnerId === owner) continue;
      const other = (row.document as { spec?: { service?: unknown; prefixes?: unknown } } | null)?.spec;
      if (other !== undefined && other.service === service && Array.isArray(other.prefixes))
        clash ??= overlaps(other.prefixes as unknown[]);
    }
    if (clash !== undefined)
      throw new FixpayError('CATALOGUE_CONFLICT', `prefix ${clash.slice(0, 16)} overlaps another owner's operator`);
  }

  /**
   * The keys a phone presses for a ticket offer: an offer's terminal code is unique among the offers
   * of its type, a show's among all shows (files and stored entries of the mode, this entry aside).
   */
  private async ticketKeysFree(
    mode: CatalogueMode,
    kind: keyof typeof TICKET_DOCUMENT_KINDS,
    id: string,
    spec: Record<string, unknown>,
    files: ProviderCatalog | undefined,
  ): Promise<void> {
    const type = TICKET_DOCUMENT_KINDS[kind];
    const code = spec['terminalCode'];
    if (typeof code === 'string') {
      const other = await this.prisma.catalogueEntry.findFirst({
        where: { mode, kind, entryId: { not: id }, document: { path: ['spec', 'terminalCode'], equals: code } },
        select: { entryId: true },
      });
      const filed = [...(files?.ticketOffers.values() ?? [])].find(
        (o) => o.type === type && o.terminalCode === code && o.id !== id,
      );
      if (other !== null || filed !== undefined)
        throw new FixpayError('CATALOGUE_CONFLICT', `terminal code ${code} of a ${type} offer is taken`);
    }
    if (kind !== 'Cinema' || !Array.isArray(spec['shows'])) return;
    const wanted = new Set(
      (spec['shows'] as unknown[])
        .map((sh) =>
          typeof sh === 'object' && sh !== null ? (sh as Record<string, unknown>)['terminalCode'] : undefined,
        )
        .filter((c): c is string => typeof c === 'string'),
    );
    if (wanted.size === 0) return;
    const taken = new Set<string>();
    for (const o of files?.ticketOffers.values() ?? [])
      if (o.type === 'cinema' && o.id !== id)
        for (const sh of o.shows) if (sh.terminalCode !== undefined) taken.add(sh.terminalCode);
    const stored = await this.prisma.catalogueEntry.findMany({
      where: { mode, kind: 'Cinema', entryId: { not: id } },
      select: { document: true },
    });
    for (const row of stored) {
      const shows = ((row.document as { spec?: { shows?: unknown } } | null)?.spec?.shows ?? []) as unknown;
      if (Array.isArray(shows))
        for (const sh of shows as ({ terminalCode?: unknown } | null)[])
          if (typeof sh?.terminalCode === 'string') taken.add(sh.terminalCode);
    }
    const clash = [...wanted].find((c) => taken.has(c));
    if (clash !== undefined) throw new FixpayError('CATALOGUE_CONFLICT', `show terminal code ${clash} is taken`);
  }
}

// ---------------------------------------------------------------------------------------------
// The mirror the loader reads

/**
 * The stored entries of one mode, for a `ProviderDirectory` (CatalogueFeed): `refresh()` asks the
 * database whether anything changed (count, newest change, sum of versions) and reads the entries
 * again only then; `start()` does that every `refreshMs`. Secrets are opened here, in the worker.
 */
export class CatalogueMirror implements CatalogueFeed {
  private gen = 0;
  private docs: SourcedDocument[] = [];
  private stamp = '';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly mode: CatalogueMode,
    private readonly sealKey: Buffer,
    private readonly refreshMs: number = CATALOGUE_REFRESH_MS_DEFAULT,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  generation(): number {
    return this.gen;
  }

  documents(): readonly SourcedDocument[] {
    return this.docs;
  }

  /** Reads the entries again when they changed; true when they did. */
  async refresh(): Promise<boolean> {
    const agg = await this.prisma.catalogueEntry.aggregate({
      where: { mode: this.mode },
      _count: { _all: true },
      _max: { updatedAt: true },
      _sum: { version: true },
    });
    const stamp = `${agg._count._all}:${agg._max.updatedAt?.toISOString() ?? ''}:${agg._sum.version ?? 0}`;
    if (stamp === this.stamp) return false;
    const rows = await this.prisma.catalogueEntry.findMany({
      where: { mode: this.mode },
      orderBy: [{ createdAt: 'asc' }, { kind: 'asc' }, { entryId: 'asc' }],
      take: CATALOGUE_ENTRIES_MAX,
    });
    this.docs = rows.map((r) => {
      const source = `catalogue:${r.mode}/${r.kind}/${r.entryId}`;
      try {
        return {
          source,
          partner: r.ownerPartnerId !== null,
          value: withSecret(r.document, (s) => openSecret(this.sealKey, aadOf(r.mode, r.kind, r.entryId), s)),
        };
      } catch (e) {
        return { source, partner: r.ownerPartnerId !== null, error: e instanceof Error ? e.message : String(e) };
      }
    });
    this.stamp = stamp;
    this.gen++;
    return true;
  }

  /** A first read, then one every `refreshMs` until `stop()`; a failed read keeps the last entries. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.refresh().catch(this.onError);
    const tick = (): void => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.refresh().catch(this.onError).finally(tick);
      }, this.refreshMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}
