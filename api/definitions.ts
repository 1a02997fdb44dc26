/**
 * Definitions by API for product teams (docs/definitions.md §By API, ADR 0029): validate a
 * definition's YAML, run its own `tests:` block, deploy it (a stored draft version), then release
 * it — a canary (a share of business keys and/or named terminals), a promotion to live, or a roll
 * back to the previous live version. A release of a definition that moves money (the compiler's
 * `plan.money`, its subflows' included) waits for a second person: it is stored as a pending
 * approval (`operator_approval`) and carried out when a supervisor other than the requester
 * approves it. Every deploy, request and release is in the audit log (`definition:<serviceId>`).
 * The registry, the compiler and the test runner are the same the `fixpay definitions` commands use.
 */
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { parse } from 'yaml';
import { FixpayError } from '../domain/errors';
import type { PrismaClient } from '../generated/prisma/client';
import type { Catalogue } from '../services/catalogue/types';
import { compileDefinition } from '../services/compiler/compile';
import type { Diagnostic } from '../services/compiler/diagnostics';
import { planHash as hashOf } from '../services/plan/hash';
import type { DefinitionRecord, Registry } from '../services/registry/registry';
import type { Plan } from '../services/runtime/plan';
import type { DefinitionTest } from '../services/testing/run-tests';
import { runDefinitionTests } from '../services/testing/run-tests';
import { idempotent } from './catalogue';
import type { OperatorCatalogueDeps } from './catalogue';

export interface DefinitionApiDeps {
  readonly registry: Registry;
  readonly catalogue: Catalogue;
  /** The queues this platform's workers serve (the configured central queue first). */
  readonly servedTaskQueues?: readonly string[];
}

export type ReleaseAction = 'canary' | 'promote' | 'rollback';

/** A release as stored in a pending approval. */
export interface DefinitionRelease {
  readonly kind: 'definitionRelease';
  readonly serviceId: string;
  readonly action: ReleaseAction;
  readonly version?: string;
  readonly percent?: number;
  readonly terminals?: readonly string[];
  /**
   * The live and previous versions seen when the release was requested (null: none). A release
   * carried out later (after its approval) is refused (DEF_RELEASE_STALE) when they changed, so an
   * approved rollback rolls back what was asked about, and two approved rollbacks do not roll back twice.
   */
  readonly seenLive?: string | null;
  readonly seenPrevious?: string | null;
}

export function isDefinitionRelease(v: unknown): v is DefinitionRelease {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'definitionRelease';
}

/** Whether a plan moves money, itself or through a subflow. */
export function movesMoney(plan: Plan): boolean {
  return plan.money || Object.values(plan.subplans).some((s) => movesMoney(s.plan));
}

interface Compiled {
  readonly ok: boolean;
  readonly serviceId: string | null;
  readonly version: string | null;
  readonly planHash: string | null;
  readonly movesMoney: boolean | null;
  readonly diagnostics: readonly Pick<Diagnostic, 'code' | 'name' | 'message' | 'line' | 'column' | 'path'>[];
  readonly plan: Plan | null;
  readonly tests: readonly DefinitionTest[];
}

/** Compiles a definition's text; subflows resolve to the services' live versions in the registry. */
async function compileSource(deps: DefinitionApiDeps, source: string): Promise<Compiled> {
  const live = new Map((await deps.registry.liveVersions()).map((r) => [r.serviceId, r]));
  const r = compileDefinition(source, 'request', {
    catalogue: deps.catalogue,
    ...(deps.servedTaskQueues === undefined ? {} : { servedTaskQueues: deps.servedTaskQueues }),
    resolveSubflow: (id) => {
      const rec = live.get(id);
      return rec === undefined ? undefined : { plan: rec.plan, planHash: rec.planHash };
    },
  });
  if (!r.ok)
    return {
      ok: false,
      serviceId: null,
      version: null,
      planHash: null,
      movesMoney: null,
      plan: null,
      tests: [],
      diagnostics: r.diagnostics.slice(0, 50).map((d) => ({
        code: d.code,
        name: d.name,
        message: d.message.slice(0, 500),
        line: d.line,
        column: d.column,
        path: d.path,
      })),
    };
  // The compiler has parsed and checked this text already; the tests block is read the same way.
  const data = parse(source, { maxAliasCount: 20 }) as { tests?: unknown } | null;
  const tests = Array.isArray(data?.tests) ? (data.tests as DefinitionTest[]) : [];
  return {
    ok: true,
    serviceId: r.plan.serviceId,
    version: r.plan.version,
    planHash: hashOf(r.plan),
    movesMoney: movesMoney(r.plan),
    plan: r.plan,
    tests,
    diagnostics: [],
  };
}

const view = ({ plan: _p, tests: _t, ...rest }: Compiled) => rest;

async function runTests(deps: DefinitionApiDeps, c: Compiled) {
  if (c.plan === null || c.planHash === null) return { passed: 0, failed: 0, reports: [] };
  const reports = await runDefinitionTests(c.plan, c.planHash, c.tests, deps.catalogue);
  return {
    passed: reports.filter((r) => r.passed).length,
    failed: reports.filter((r) => !r.passed).length,
    reports: reports.map((r) => ({ name: r.name, passed: r.passed, problems: r.problems.slice(0, 20) })),
  };
}

function sourceOf(req: Request): string {
  const s = (req.body as { source?: unknown } | undefined)?.source;
  if (typeof s !== 'string') throw new FixpayError('BAD_REQUEST', 'source: the definition YAML');
  return s;
}

async function audit(prisma: PrismaClient, actor: string, action: string, serviceId: string, details: object) {
  await prisma.auditEvent.create({ data: { actor, action, subject: `definition:${serviceId}`, details } });
}

/** Carries out a release (after its approval, for money-moving definitions). */
export async function release(
  deps: DefinitionApiDeps,
  prisma: PrismaClient,
  r: DefinitionRelease,
  actor: string,
): Promise<{ action: ReleaseAction; serviceId: string; live: string | null; canary: string | null }> {
  const { registry } = deps;
  if (r.seenLive !== undefined || r.seenPrevious !== undefined) {
    const now = await registry.aliases(r.serviceId);
    const live = now.live?.version ?? null;
    const previous = now.previous?.version ?? null;
    if (
      (r.seenLive !== undefined && r.seenLive !== live) ||
      (r.seenPrevious !== undefined && r.seenPrevious !== previous)
    )
      throw new FixpayError(
        'DEF_RELEASE_STALE',
        `${r.serviceId}: asked with live ${r.seenLive ?? 'none'}, previous ${r.seenPrevious ?? 'none'}; now live ${live ?? 'none'}, previous ${previous ?? 'none'}`,
      );
  }
  if (r.action === 'canary')
    await registry.canary(r.serviceId, r.version ?? '', {
      ...(r.percent === undefined ? {} : { percent: r.percent }),
      ...(r.terminals === undefined ? {} : { terminals: r.terminals }),
    });
  else if (r.action === 'promote') await registry.promote(r.serviceId, r.version ?? '');
  else await registry.rollback(r.serviceId);
  const aliases = await registry.aliases(r.serviceId);
  const done = {
    action: r.action,
    serviceId: r.serviceId,
    live: aliases.live?.version ?? null,
    canary: aliases.canary?.version ?? null,
  };
  await audit(prisma, actor, `definition.${r.action}`, r.serviceId, {
    ...done,
    ...(r.percent === undefined ? {} : { percent: r.percent }),
    ...(r.terminals === undefined ? {} : { terminals: r.terminals.length }),
  });
  return done;
}

/** The versions a release touches, to decide whether it needs four eyes. */
async function touched(registry: Registry, r: DefinitionRelease): Promise<DefinitionRecord[]> {
  const versions = await registry.versionsOf(r.serviceId);
  const aliases = await registry.aliases(r.serviceId);
  const names =
    r.action === 'rollback'
      ? [aliases.live?.version, aliases.previous?.version, aliases.canary?.version]
      : [r.version, aliases.live?.version];
  return versions.filter((v) => names.includes(v.version));
}

type Answer = { readonly status: number; readonly body: unknown };
type Who = { readonly id: string; readonly actor: string };
export type DefinitionHandler = (
  deps: OperatorCatalogueDeps & { readonly definitions?: DefinitionApiDeps; readonly prisma: PrismaClient },
  req: Request,
  who: Who,
) => Promise<Answer>;

function need(d: DefinitionApiDeps | undefined): DefinitionApiDeps {
  if (d === undefined) throw new FixpayError('NOT_FOUND', 'definitions are not served by this API');
  return d;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Prisma's unique-key refusal (P2002), as the driver adapters report it. */
export const isUniqueViolation = (e: unknown): boolean =>
  (e as { code?: unknown } | null)?.code === 'P2002' ||
  /P2002|23505|Unique constraint|UniqueConstraintViolation/i.test(e instanceof Error ? e.message : String(e));

export const DEFINITION_HANDLERS: Readonly<Record<string, DefinitionHandler>> = {
  validateDefinition: async (deps, req) => {
    const c = await compileSource(need(deps.definitions), sourceOf(req));
    return { status: 200, body: view(c) };
  },
  testDefinition: async (deps, req) => {
    const d = need(deps.definitions);
    const c = await compileSource(d, sourceOf(req));
    return { status: 200, body: { ...view(c), tests: await runTests(d, c) } };
  },
  deployDefinition: (deps, req, who) =>
    idempotent(deps, req, who.id, async () => {
      const d = need(deps.definitions);
      const c = await compileSource(d, sourceOf(req));
      if (!c.ok || c.plan === null || c.planHash === null)
        throw new FixpayError(
          'DEF_REFUSED',
          c.diagnostics
            .map((x) => `${x.code} ${x.message}`)
            .join('; ')
            .slice(0, 500),
        );
      const tests = await runTests(d, c);
      if (tests.failed > 0)
        throw new FixpayError(
          'DEF_TESTS_FAILED',
          tests.reports
            .filter((r) => !r.passed)
            .map((r) => r.name)
            .join(', ')
            .slice(0, 300),
        );
      const id = createHash('sha256')
        .update(`${c.serviceId ?? ''}@${c.version ?? ''}`)
        .digest('hex');
      const uuid = `${id.slice(0, 8)}-${id.slice(8, 12)}-4${id.slice(13, 16)}-8${id.slice(17, 20)}-${id.slice(20, 32)}`;
      const rec = await d.registry.deploy(c.plan, c.planHash, who.actor, uuid);
      await audit(deps.prisma, who.actor, 'definition.deployed', rec.serviceId, {
        version: rec.version,
        planHash: rec.planHash,
        movesMoney: c.movesMoney,
        tests: tests.passed,
      });
      return {
        status: 201,
        body: {
          serviceId: rec.serviceId,
          version: rec.version,
          planHash: rec.planHash,
          status: rec.status,
          movesMoney: c.movesMoney,
          tests,
        },
      };
    }),
  getDefinition: async (deps, req) => {
    const d = need(deps.definitions);
    const serviceId = str(req.params['serviceId']);
    const versions = await d.registry.versionsOf(serviceId);
    if (versions.length === 0) throw new FixpayError('DEF_NOT_FOUND', serviceId);
    const events = await deps.prisma.auditEvent.findMany({
      where: { subject: `definition:${serviceId}` },
      orderBy: { id: 'asc' },
      take: 200,
    });
    return {
      status: 200,
      body: {
        serviceId,
        versions: versions.map((v) => ({
          version: v.version,
          planHash: v.planHash,
          status: v.status,
          author: v.author,
          movesMoney: movesMoney(v.plan),
          createdAt: v.createdAt.toISOString(),
        })),
        aliases: await d.registry.aliases(serviceId),
        audit: events.map((e) => ({
          at: e.occurredAt.toISOString(),
          actor: e.actor,
          action: e.action,
          details: e.details,
        })),
      },
    };
  },
  releaseDefinition: (deps, req, who) =>
    idempotent(deps, req, who.id, async () => {
      const d = need(deps.definitions);
      const b = req.body as Record<string, unknown>;
      const action = b['action'] as ReleaseAction;
      const serviceId = str(req.params['serviceId']);
      const seen = await d.registry.aliases(serviceId);
      const r: DefinitionRelease = {
        kind: 'definitionRelease',
        serviceId,
        action,
        ...(typeof b['version'] === 'string' ? { version: b['version'] } : {}),
        ...(typeof b['percent'] === 'number' ? { percent: b['percent'] } : {}),
        ...(Array.isArray(b['terminals']) ? { terminals: b['terminals'].map(String) } : {}),
        seenLive: seen.live?.version ?? null,
        // A rollback restores the previous version: it must still be the one seen.
        ...(action === 'rollback' ? { seenPrevious: seen.previous?.version ?? null } : {}),
      };
      if (action !== 'rollback' && r.version === undefined)
        throw new FixpayError('BAD_REQUEST', `${action} needs a version`);
      if (action === 'canary' && r.percent === undefined && r.terminals === undefined)
        throw new FixpayError('BAD_REQUEST', 'a canary needs a percent or terminals');
      const versions = await touched(d.registry, r);
      if (action !== 'rollback' && !versions.some((v) => v.version === r.version))
        throw new FixpayError('DEF_NOT_FOUND', `${r.serviceId}@${r.version ?? ''}`);
      if (versions.some((v) => movesMoney(v.plan))) {
        const key = String(req.headers['idempotency-key']);
        // The prefix keeps these ids apart from lifecycle approvals (api/operator.ts) asked with the same key.
        const id = `apr_${createHash('sha256').update(`definitionRelease\n${who.actor}\n${key}`).digest('hex').slice(0, 32)}`;
        try {
          await deps.prisma.operatorApproval.create({
            data: {
              id,
              command: JSON.parse(JSON.stringify(r)) as object,
              requestedBy: who.actor,
              status: 'pending',
            },
          });
        } catch (e) {
          if (isUniqueViolation(e)) throw new FixpayError('APPROVAL_ID_CONFLICT', id, { cause: e });
          throw e;
        }
        await audit(deps.prisma, who.actor, 'definition.release.requested', r.serviceId, {
          approvalId: id,
          action,
          ...(r.version === undefined ? {} : { version: r.version }),
        });
        return { status: 202, body: { approvalId: id, status: 'pending', command: r } };
      }
      return { status: 200, body: await release(d, deps.prisma, r, who.actor) };
    }),
};
