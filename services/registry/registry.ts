/**
 * The definition registry: immutable versions (id, version, plan hash, plan, status, author) and
 * aliases (`live`, `canary` with a weight) routed stably by business key. Deploying needs no
 * restart: starters resolve the plan per start and pass it in the workflow input.
 */
import { FixpayError, isFixpayError } from '../../domain/errors';
import { planHash } from '../plan/hash';
import type { Plan } from '../runtime/plan';

export type DefinitionStatus = 'draft' | 'active' | 'retired';

export interface DefinitionRecord {
  id: string;
  serviceId: string;
  version: string;
  planHash: string;
  plan: Plan;
  status: DefinitionStatus;
  author: string;
  createdAt: Date;
}

export interface AliasTarget {
  version: string;
  /** Percentage of business keys (0–100) routed to this version. */
  weight: number;
  /** Terminals whose every request runs this version (a canary by name), whatever the weight. */
  terminals?: string[];
}

/** Most terminals a canary may name. */
export const CANARY_TERMINALS_MAX = 1000;

/** Storage port: Prisma in production (services/registry/prisma-store.ts), memory in tests. */
export interface DefinitionStore {
  insert(rec: DefinitionRecord): Promise<void>;
  get(serviceId: string, version: string): Promise<DefinitionRecord | undefined>;
  list(serviceId?: string): Promise<DefinitionRecord[]>;
  setStatus(serviceId: string, version: string, status: DefinitionStatus): Promise<void>;
  getAlias(serviceId: string, alias: string): Promise<AliasTarget[] | undefined>;
  setAlias(serviceId: string, alias: string, targets: AliasTarget[] | null): Promise<void>;
}

export class MemoryDefinitionStore implements DefinitionStore {
  private readonly defs = new Map<string, DefinitionRecord>();
  private readonly aliases = new Map<string, AliasTarget[]>();
  insert(rec: DefinitionRecord): Promise<void> {
    this.defs.set(`${rec.serviceId}@${rec.version}`, { ...rec });
    return Promise.resolve();
  }
  get(serviceId: string, version: string): Promise<DefinitionRecord | undefined> {
    return Promise.resolve(this.defs.get(`${serviceId}@${version}`));
  }
  list(serviceId?: string): Promise<DefinitionRecord[]> {
    return Promise.resolve([...this.defs.values()].filter((d) => serviceId === undefined || d.serviceId === serviceId));
  }
  setStatus(serviceId: string, version: string, status: DefinitionStatus): Promise<void> {
    const d = this.defs.get(`${serviceId}@${version}`);
    if (d !== undefined) d.status = status;
    return Promise.resolve();
  }
  getAlias(serviceId: string, alias: string): Promise<AliasTarget[] | undefined> {
    return Promise.resolve(this.aliases.get(`${serviceId}/${alias}`));
  }
  setAlias(serviceId: string, alias: string, targets: AliasTarget[] | null): Promise<void> {
    if (targets === null) this.aliases.delete(`${serviceId}/${alias}`);
    else this.aliases.set(`${serviceId}/${alias}`, targets);
    return Promise.resolve();
  }
}

/** FNV-1a 32-bit: a stable bucket 0–99 for a business key (same key → same version). */
export function routeBucket(serviceId: string, businessKey: string): number {
  let h = 0x811c9dc5;
  const s = `${serviceId}:${businessKey}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 100;
}

/** Stored versions a registry keeps in memory for routing (their plans never change). */
export const VERSIONS_CACHED_MAX = 256;
/** Plans admitted before, by their JSON text (ADR 0013): a repeat costs a stringify, not a hash. */
export const ADMITTED_CACHED_MAX = 32;

export class Registry {
  private readonly versions = new Map<string, DefinitionRecord>();
  private readonly admitted = new Map<string, DefinitionRecord>();

  constructor(private readonly store: DefinitionStore) {}

  /**
   * Stores a compiled version. Re-deploying the same content is a no-op; the same version with
   * other content is refused (DEF_VERSION_EXISTS): versions are immutable. Safe when several
   * processes deploy at once (workers starting together): the one that loses the insert gets the
   * same answer as if it had come second.
   */
  async deploy(plan: Plan, planHash: string, author: string, id: string): Promise<DefinitionRecord> {
    const existing = await this.store.get(plan.serviceId, plan.version);
    if (existing !== undefined) {
      if (existing.planHash === planHash) return existing;
      throw new FixpayError('DEF_VERSION_EXISTS', `${plan.serviceId}@${plan.version}`);
    }
    const rec: DefinitionRecord = {
      id,
      serviceId: plan.serviceId,
      version: plan.version,
      planHash,
      plan,
      status: 'draft',
      author,
      createdAt: new Date(),
    };
    try {
      await this.store.insert(rec);
    } catch (e) {
      // Another process (a second worker starting at the same time) stored this version between
      // our read and our insert: the same rule applies to what it stored.
      const stored = await this.store.get(plan.serviceId, plan.version);
      if (stored === undefined) throw e;
      if (stored.planHash === planHash) return stored;
      throw new FixpayError('DEF_VERSION_EXISTS', `${plan.serviceId}@${plan.version}`);
    }
    return rec;
  }

  /**
   * Makes `version` live, or routes `canaryPercent` of business keys to it. The previous live
   * version is kept for `rollback`.
   */
  async promote(serviceId: string, version: string, canaryPercent?: number): Promise<void> {
    const rec = await this.store.get(serviceId, version);
    if (rec === undefined) throw new FixpayError('DEF_NOT_FOUND', `${serviceId}@${version}`);
    if (canaryPercent !== undefined) return this.canary(serviceId, version, { percent: canaryPercent });
    const live = await this.store.getAlias(serviceId, 'live');
    if (live?.[0] !== undefined && live[0].version !== version) await this.store.setAlias(serviceId, 'previous', live);
    await this.store.setAlias(serviceId, 'live', [{ version, weight: 100 }]);
    await this.store.setAlias(serviceId, 'canary', null);
    await this.store.setStatus(serviceId, version, 'active');
  }

  /**
   * Routes `percent` of business keys, and every request of the named `terminals`, to `version`
   * (a canary); the live version serves the rest.
   */
  async canary(
    serviceId: string,
    version: string,
    target: { percent?: number; terminals?: readonly string[] },
  ): Promise<void> {
    const rec = await this.store.get(serviceId, version);
    if (rec === undefined) throw new FixpayError('DEF_NOT_FOUND', `${serviceId}@${version}`);
    const percent = target.percent ?? 0;
    if (!Number.isInteger(percent) || percent < 0 || percent > 100)
      throw new FixpayError('DEF_ALIAS_INVALID', 'canary weight must be an integer 0–100');
    const terminals = [...new Set(target.terminals ?? [])];
    if (terminals.length > CANARY_TERMINALS_MAX)
      throw new FixpayError('DEF_ALIAS_INVALID', `a canary names at most ${CANARY_TERMINALS_MAX} terminals`);
    await this.store.setAlias(serviceId, 'canary', [
      { version, weight: percent, ...(terminals.length === 0 ? {} : { terminals }) },
    ]);
    await this.store.setStatus(serviceId, version, 'active');
  }

  /** The `live`, `canary` and `previous` targets of a service. */
  async aliases(serviceId: string): Promise<Record<'live' | 'canary' | 'previous', AliasTarget | null>> {
    const [live, canary, previous] = await Promise.all(
      (['live', 'canary', 'previous'] as const).map((a) => this.store.getAlias(serviceId, a)),
    );
    return { live: live?.[0] ?? null, canary: canary?.[0] ?? null, previous: previous?.[0] ?? null };
  }

  /** Every stored version of a service. */
  async versionsOf(serviceId: string): Promise<DefinitionRecord[]> {
    return this.store.list(serviceId);
  }

  /** Puts the previous live version back and drops any canary. */
  async rollback(serviceId: string): Promise<string> {
    const prev = (await this.store.getAlias(serviceId, 'previous'))?.[0];
    if (prev === undefined) throw new FixpayError('DEF_NOT_FOUND', `${serviceId} has no previous live version`);
    const live = (await this.store.getAlias(serviceId, 'live'))?.[0];
    await this.store.setAlias(serviceId, 'live', [{ version: prev.version, weight: 100 }]);
    await this.store.setAlias(serviceId, 'canary', null);
    if (live !== undefined) {
      await this.store.setStatus(serviceId, live.version, 'retired');
      await this.store.setAlias(serviceId, 'previous', null);
    }
    return prev.version;
  }

  /**
   * The live version of every service (no canary routing): what a terminal's menu is built from
   * (ADR 0018). Reads the store's list and each service's `live` alias; versions come from the cache.
   */
  async liveVersions(): Promise<DefinitionRecord[]> {
    const ids = [...new Set((await this.store.list()).map((d) => d.serviceId))].sort();
    const out: DefinitionRecord[] = [];
    for (const id of ids) {
      const live = (await this.store.getAlias(id, 'live'))?.[0];
      if (live !== undefined) out.push(await this.version(id, live.version));
    }
    return out;
  }

  /** The version a new transaction with this business key runs (canary by stable bucket). */
  async resolve(serviceId: string, businessKey: string): Promise<DefinitionRecord> {
    return this.resolveWith(serviceId, () => businessKey);
  }

  /**
   * Resolves the version a request runs on when its business key depends on the plan (the key is
   * computed with the live plan, then routes between live and canary). Reads the aliases once and
   * fresh (a promotion takes effect on the next request, no restart); stored versions are
   * immutable, so their plans are cached in memory. Throws DEF_NOT_FOUND.
   */
  async resolveWith(
    serviceId: string,
    businessKeyOf: (plan: Plan) => string,
    /** The requesting terminal: a canary that names it runs for it. */
    terminalId?: string,
  ): Promise<DefinitionRecord> {
    const [canaries, lives] = await Promise.all([
      this.store.getAlias(serviceId, 'canary'),
      this.store.getAlias(serviceId, 'live'),
    ]);
    const live = lives?.[0];
    if (live === undefined) throw new FixpayError('DEF_NOT_FOUND', `${serviceId} has no live version`);
    const liveRec = await this.version(serviceId, live.version);
    const canary = canaries?.[0];
    if (canary === undefined) return liveRec;
    const named = terminalId !== undefined && canary.terminals?.includes(terminalId) === true;
    if (!named && routeBucket(serviceId, businessKeyOf(liveRec.plan)) >= canary.weight) return liveRec;
    return this.version(serviceId, canary.version);
  }

  /**
   * Admits a plan a worker was handed only when it is a stored version of its service: the hash is
   * recomputed over the plan's canonical JSON (a claimed hash is not trusted) and must equal the
   * stored version's hash. Any status is admitted (a draft under test, a retired version whose runs
   * are still open). Throws SVC_PLAN_NOT_REGISTERED; store failures propagate (retryable).
   */
  async admit(plan: unknown, claimedHash: unknown): Promise<DefinitionRecord> {
    // The plan arrived untyped from a workflow input: read it defensively.
    const fields: Readonly<Record<string, unknown>> =
      typeof plan === 'object' && plan !== null && !Array.isArray(plan) ? (plan as Record<string, unknown>) : {};
    const name = (v: unknown, max: number): string => (typeof v === 'string' ? v.slice(0, max) : '?');
    const refuse = (why: string) =>
      new FixpayError(
        'SVC_PLAN_NOT_REGISTERED',
        `${name(fields['serviceId'], 64)}@${name(fields['version'], 32)}: ${why}`,
      );
    // The same JSON text is the same plan: one already admitted under this hash needs no new hash
    // (3 ms for a purchase plan); any other text takes the full check below.
    let text: string | undefined;
    try {
      text = JSON.stringify(plan);
    } catch {
      text = undefined;
    }
    const known = text === undefined ? undefined : this.admitted.get(text);
    if (known !== undefined && known.planHash === claimedHash) return known;
    const actual = planHash(plan === null ? null : fields);
    if (actual !== claimedHash) throw refuse('the plan does not match its claimed hash');
    const serviceId = fields['serviceId'];
    const version = fields['version'];
    if (typeof serviceId !== 'string' || typeof version !== 'string') throw refuse('no service id or version');
    let rec: DefinitionRecord;
    try {
      rec = await this.version(serviceId, version);
    } catch (e) {
      if (isFixpayError(e, 'DEF_NOT_FOUND')) throw refuse('no such version in the registry');
      throw e;
    }
    if (rec.planHash !== actual) throw refuse('the registry holds another plan under this version');
    if (text !== undefined) {
      if (this.admitted.size >= ADMITTED_CACHED_MAX) {
        const oldest = this.admitted.keys().next().value;
        if (oldest !== undefined) this.admitted.delete(oldest);
      }
      this.admitted.set(text, rec);
    }
    return rec;
  }

  /**
   * A stored version by id, or undefined (the plan-by-reference codec's source, ADR 0013): from
   * memory after the first read. Store failures propagate.
   */
  async storedVersion(serviceId: string, version: string): Promise<DefinitionRecord | undefined> {
    try {
      return await this.version(serviceId, version);
    } catch (e) {
      if (isFixpayError(e, 'DEF_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  /** A stored version (immutable content), from memory after the first read. */
  private async version(serviceId: string, version: string): Promise<DefinitionRecord> {
    const key = `${serviceId}@${version}`;
    const cached = this.versions.get(key);
    if (cached !== undefined) return cached;
    const rec = await this.store.get(serviceId, version);
    if (rec === undefined) throw new FixpayError('DEF_NOT_FOUND', key);
    if (this.versions.size >= VERSIONS_CACHED_MAX) {
      const oldest = this.versions.keys().next().value;
      if (oldest !== undefined) this.versions.delete(oldest);
    }
    this.versions.set(key, rec);
    return rec;
  }

  list(serviceId?: string): Promise<DefinitionRecord[]> {
    return this.store.list(serviceId);
  }
}
