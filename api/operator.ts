/**
 * The operator API (`/operator/v1/`, api/openapi.yaml, ADR 0020): onboarding, terminal orders and
 * every lifecycle command, each carried out as a `terminalLifecycleWorkflow` run whose id comes from
 * the request's Idempotency-Key (a retry attaches to the same run). Operators authenticate with
 * their own bearer token and act in a role: `operator` or `supervisor`. Key and card operations
 * (personalise, replacePsam, retire) need four eyes: the request is stored as a pending approval and
 * runs only when a supervisor other than the requester approves it. Every command is audited by
 * its run; approvals and their decisions are rows of `operator_approval`.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { FixpayError } from '../domain/errors';
import { lifecycleWorkflowId, LIFECYCLE_COMMANDS } from '../activities/terminal-lifecycle';
import type { LifecycleCommand, LifecycleOutcome } from '../activities/terminal-lifecycle';
import type { CoreRepository } from '../core/repository';
import type { Prisma, PrismaClient } from '../generated/prisma/client';
import { PrismaPushStore } from '../core/push-store';
import { OPERATOR_CATALOGUE_HANDLERS } from './catalogue';
import { DEFINITION_HANDLERS, isDefinitionRelease, isUniqueViolation, release } from './definitions';
import type { DefinitionApiDeps } from './definitions';
import type { OperatorCatalogueDeps } from './catalogue';
import { expressPath, specOperations } from './openapi';

export const OPERATOR_ROLES = ['operator', 'supervisor'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export interface OperatorCredential {
  readonly id: string;
  readonly role: OperatorRole;
  /** SHA-256 (hex) of the operator's bearer token; the token itself is never stored. */
  readonly tokenSha256: string;
}

export interface OperatorApiDeps extends OperatorCatalogueDeps {
  /** Definitions by API (api/definitions.ts); absent: those operations answer 404. */
  readonly definitions?: DefinitionApiDeps;
  readonly operators: readonly OperatorCredential[];
  readonly core: Pick<CoreRepository, 'terminal' | 'terminalHistory' | 'auditTrail' | 'rebindingRequests' | 'audit'>;
  readonly prisma: PrismaClient;
  /** Runs one lifecycle command to its end under the given run id (a repeat attaches). */
  readonly runLifecycle: (workflowId: string, command: LifecycleCommand, actor: string) => Promise<LifecycleOutcome>;
}

/** Commands that touch keys or cards: they wait for a second person's approval. */
export const FOUR_EYES_COMMANDS: ReadonlySet<LifecycleCommand['kind']> = new Set([
  'personalise',
  'replacePsam',
  'retire',
  // The prepaid programme (ADR 0026): a card batch, a replacement, a new PIN.
  'issueCards',
  'replaceCard',
  'reissuePin',
]);

interface Operator {
  readonly id: string;
  readonly role: OperatorRole;
}

type Handler = (deps: OperatorApiDeps, req: Request, who: Operator) => Promise<{ status: number; body: unknown }>;

const BEARER = /^Bearer ([\x21-\x7e]{16,256})$/;
const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The operator a bearer token names, compared in constant time against every credential. */
export function authenticateOperator(
  operators: readonly OperatorCredential[],
  header: string | undefined,
): Operator | undefined {
  const token = BEARER.exec(header ?? '')?.[1];
  if (token === undefined) return undefined;
  const digest = sha256(token);
  let found: Operator | undefined;
  for (const o of operators) {
    const want = Buffer.from(o.tokenSha256, 'hex');
    if (want.length === digest.length && timingSafeEqual(want, digest)) found = { id: o.id, role: o.role };
  }
  return found;
}

const actorOf = (o: Operator): string => `${o.role}:${o.id}`;

function idempotencyKey(req: Request): string {
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string' || key.length === 0 || key.length > 255) throw new FixpayError('IDEMPOTENCY_KEY_MISSING');
  return key;
}

/** The run id for a request: the command, and a digest of the operator and their Idempotency-Key. */
function runId(command: LifecycleCommand, who: Operator, key: string): string {
  return lifecycleWorkflowId(
    command,
    createHash('sha256')
      .update(`${actorOf(who)}\n${key}`)
      .digest('hex')
      .slice(0, 32),
  );
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** JSON with object keys sorted: a jsonb column gives keys back in its own order. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    typeof x === 'object' && x !== null && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : x,
  );
}

/** The lifecycle command a terminal command body names (the document has checked its shape). */
function terminalCommand(terminalId: string, body: Record<string, unknown>): LifecycleCommand {
  const kind = str(body['command']);
  switch (kind) {
    case 'personalise':
    case 'replacePsam':
      return { kind, terminalId, psamNo: str(body['psamNo']) };
    case 'bind':
      return { kind, terminalId, psamNo: str(body['psamNo']), ani: str(body['ani']) };
    case 'moveLine':
    case 'rejectRebinding':
      return { kind, terminalId, ani: str(body['ani']) };
    case 'activate':
    case 'suspend':
    case 'resume':
    case 'retire':
      return { kind, terminalId };
    default:
      throw new FixpayError('BAD_REQUEST', `unknown command ${kind.slice(0, 32)}`);
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined);

/** The card command a card command body names (the document has checked its shape). */
function cardCommand(cardId: string, body: Record<string, unknown>): LifecycleCommand {
  const kind = str(body['command']);
  switch (kind) {
    case 'activate':
      return { kind: 'activateCard', cardId };
    case 'block':
      return { kind: 'blockCard', cardId };
    case 'unblock':
      return { kind: 'unblockCard', cardId };
    case 'reissuePin':
      return { kind: 'reissuePin', cardId };
    case 'load': {
      const amountMinor = num(body['amountMinor']);
      if (amountMinor === undefined) throw new FixpayError('BAD_REQUEST', 'load needs amountMinor');
      return { kind: 'loadCard', cardId, amountMinor };
    }
    case 'replace': {
      const sequence = num(body['sequence']);
      if (sequence === undefined) throw new FixpayError('BAD_REQUEST', 'replace needs the new card sequence');
      return { kind: 'replaceCard', cardId, sequence };
    }
    default:
      throw new FixpayError('BAD_REQUEST', `unknown command ${kind.slice(0, 32)}`);
  }
}

/**
 * What an approval keeps of a run's outcome: everything but the card bureau file and the PIN
 * mailer file (both sealed under the bureau key), which go back once, in the approving answer.
 */
function storable(outcome: LifecycleOutcome): Record<string, unknown> {
  const { bureau: _bureau, pinMailer: _pinMailer, ...kept } = outcome;
  return JSON.parse(JSON.stringify(kept)) as Record<string, unknown>;
}

/** A refusal as the answer: the outcome with the catalogue's HTTP status. */
function answer(outcome: LifecycleOutcome, created = false): { status: number; body: unknown } {
  if (outcome.ok) return { status: created ? 201 : 200, body: outcome };
  const status = new FixpayError(outcome.reason).httpStatus;
  return { status, body: outcome };
}

async function runOrAsk(
  deps: OperatorApiDeps,
  req: Request,
  who: Operator,
  command: LifecycleCommand,
  created = false,
) {
  const key = idempotencyKey(req);
  if (FOUR_EYES_COMMANDS.has(command.kind)) {
    const id = `apr_${createHash('sha256')
      .update(`${actorOf(who)}\n${key}`)
      .digest('hex')
      .slice(0, 32)}`;
    const existing = await deps.prisma.operatorApproval.findUnique({ where: { id } });
    if (existing === null) {
      try {
        await deps.prisma.operatorApproval.create({
          data: { id, command: command, requestedBy: actorOf(who), status: 'pending' },
        });
      } catch (e) {
        // Two requests with the same key at once: the loser gets a clear answer, not a 500.
        if (isUniqueViolation(e)) throw new FixpayError('APPROVAL_ID_CONFLICT', id, { cause: e });
        throw e;
      }
    } else if (canonicalJson(existing.command) !== canonicalJson(command)) {
      throw new FixpayError('PARTNER_IDEMPOTENCY_KEY_REUSED');
    }
    return { status: 202, body: { approvalId: id, status: existing?.status ?? 'pending', command } };
  }
  return answer(await deps.runLifecycle(runId(command, who, key), command, actorOf(who)), created);
}

function approvalView(a: {
  id: string;
  command: unknown;
  requestedBy: string;
  status: string;
  decidedBy: string | null;
  outcome: unknown;
}): Record<string, unknown> {
  return {
    approvalId: a.id,
    command: a.command,
    requestedBy: a.requestedBy,
    status: a.status,
    ...(a.decidedBy === null ? {} : { decidedBy: a.decidedBy }),
    ...(a.outcome === null ? {} : { outcome: a.outcome }),
  };
}

export const OPERATOR_HANDLERS: Readonly<Record<string, Handler>> = {
  // Information push (ADR 0021): the campaign report, as `fixpay push report` prints it.
  getCampaignReport: async (deps, req) => {
    const campaignId = str(req.params['campaignId']);
    const report = await new PrismaPushStore(deps.prisma).report(campaignId);
    if (report.delivered + report.failed + report.pending === 0)
      throw new FixpayError('PUSH_CAMPAIGN_NOT_FOUND', `no pushes for campaign ${campaignId}`);
    return { status: 200, body: { ...report } };
  },
  onboardCustomer: (deps, req, who) => {
    const b = req.body as Record<string, unknown>;
    const command: LifecycleCommand = {
      kind: 'onboard',
      customerId: str(b['customerId']),
      customerKind: b['kind'] === 'merchant' ? 'merchant' : 'household',
      name: str(b['name']),
      kyc: (b['kyc'] ?? {}) as Record<string, string>,
    };
    return runOrAsk(deps, req, who, command, true);
  },
  orderTerminal: (deps, req, who) => {
    const b = req.body as Record<string, unknown>;
    const command: LifecycleCommand = {
      kind: 'order',
      terminalId: str(b['terminalId']),
      customerId: str(b['customerId']),
      deviceProfileId: str(b['deviceProfileId']),
      ...(typeof b['serialNumber'] === 'string' ? { serialNumber: b['serialNumber'] } : {}),
    };
    return runOrAsk(deps, req, who, command, true);
  },
  terminalCommand: (deps, req, who) =>
    runOrAsk(deps, req, who, terminalCommand(str(req.params['terminalId']), req.body as Record<string, unknown>)),
  getTerminal: async (deps, req) => {
    const id = str(req.params['terminalId']);
    const t = await deps.core.terminal(id);
    if (t === undefined) throw new FixpayError('TERMINAL_UNKNOWN', id);
    const [history, audit] = await Promise.all([deps.core.terminalHistory(id), deps.core.auditTrail(`terminal:${id}`)]);
    return {
      status: 200,
      body: {
        terminal: t,
        history: history.map((h) => ({
          event: h.event,
          ...(h.from === undefined ? {} : { from: h.from }),
          to: h.to,
          actor: h.actor,
        })),
        audit: audit.map((a) => ({
          actor: a.actor,
          action: a.action,
          outcome: a.outcome,
          ...(a.workflowId === undefined ? {} : { workflowId: a.workflowId }),
        })),
      },
    };
  },
  addCardRange: (deps, req, who) => {
    if (who.role !== 'supervisor') throw new FixpayError('FORBIDDEN', 'only a supervisor adds a BIN range');
    const b = req.body as Record<string, unknown>;
    return runOrAsk(
      deps,
      req,
      who,
      { kind: 'addCardRange', binLow: str(b['binLow']), binHigh: str(b['binHigh']), issuerId: str(b['issuerId']) },
      true,
    );
  },
  issueCardBatch: (deps, req, who) => {
    const b = req.body as Record<string, unknown>;
    const opt = (k: string) => (num(b[k]) === undefined ? {} : { [k]: num(b[k]) });
    const command: LifecycleCommand = {
      kind: 'issueCards',
      bin: str(b['bin']),
      firstSequence: num(b['firstSequence']) ?? -1,
      count: num(b['count']) ?? 0,
      currency: str(b['currency']),
      ...opt('panLength'),
      ...opt('validityMonths'),
      ...opt('pinLength'),
      ...(typeof b['serviceCode'] === 'string' ? { serviceCode: b['serviceCode'] } : {}),
    };
    return runOrAsk(deps, req, who, command);
  },
  cardCommand: (deps, req, who) =>
    runOrAsk(deps, req, who, cardCommand(str(req.params['cardId']), req.body as Record<string, unknown>)),
  getCard: async (deps, req, who) => {
    const command: LifecycleCommand = { kind: 'showCard', cardId: str(req.params['cardId']) };
    return answer(await deps.runLifecycle(lifecycleWorkflowId(command, randomUUID()), command, actorOf(who)));
  },
  listRebindings: async (deps) => {
    const rows = await deps.core.rebindingRequests();
    return {
      status: 200,
      body: {
        data: rows.map((r) => ({
          terminalId: r.terminalId,
          ani: r.ani,
          ...(r.psamNo === undefined ? {} : { psamNo: r.psamNo }),
          attempts: r.attempts,
        })),
      },
    };
  },
  listApprovals: async (deps) => {
    const rows = await deps.prisma.operatorApproval.findMany({
      where: { status: 'pending' },
      orderBy: { requestedAt: 'asc' },
      take: 200,
    });
    return { status: 200, body: { data: rows.map(approvalView) } };
  },
  decideApproval: async (deps, req, who) => {
    if (who.role !== 'supervisor') throw new FixpayError('FORBIDDEN', 'only a supervisor decides approvals');
    const id = str(req.params['approvalId']);
    const decision = str((req.body as Record<string, unknown>)['decision']);
    const row = await deps.prisma.operatorApproval.findUnique({ where: { id } });
    if (row === null) throw new FixpayError('NOT_FOUND', 'no such approval');
    if (row.requestedBy === actorOf(who) || row.requestedBy.endsWith(`:${who.id}`))
      throw new FixpayError('FORBIDDEN', 'four eyes: the approver must differ from the requester');
    const stored = row.command as unknown as LifecycleCommand;
    const runApproved = async (decidedBy: string): Promise<LifecycleOutcome> => {
      // The run id is the approval's: a repeated decision attaches to the run already started.
      // A PIN reissue names the card only: the HSM takes the number kept under the LMK.
      const outcome = await deps.runLifecycle(
        lifecycleWorkflowId(stored, id),
        stored,
        `${row.requestedBy}+${decidedBy}`,
      );
      await deps.prisma.operatorApproval.update({
        where: { id },
        data: { outcome: storable(outcome) as Prisma.InputJsonObject },
      });
      return outcome;
    };
    if (row.status !== 'pending') {
      // An approved lifecycle command without an outcome: its runner failed (or the API stopped)
      // after the claim. Approving again attaches to the same run (started once per approval id)
      // and stores its result; anything else only reads the row.
      if (
        row.status === 'approved' &&
        row.outcome === null &&
        decision === 'approve' &&
        !isDefinitionRelease(row.command)
      ) {
        const fresh = await runApproved(row.decidedBy ?? actorOf(who));
        const after = await deps.prisma.operatorApproval.findUniqueOrThrow({ where: { id } });
        return { status: 200, body: { ...approvalView(after), outcome: fresh } };
      }
      return { status: 200, body: approvalView(row) };
    }
    const claimed = await deps.prisma.operatorApproval.updateMany({
      where: { id, status: 'pending' },
      data: {
        status: decision === 'approve' ? 'approved' : 'rejected',
        decidedBy: actorOf(who),
        decidedAt: new Date(),
      },
    });
    if (claimed.count === 0) {
      const now = await deps.prisma.operatorApproval.findUniqueOrThrow({ where: { id } });
      return { status: 200, body: approvalView(now) };
    }
    await deps.core.audit({
      actor: actorOf(who),
      action: decision === 'approve' ? 'approve' : 'reject',
      subject: `approval:${id}`,
      outcome: 'OK',
      detail: { command: stored.kind, requestedBy: row.requestedBy },
    });
    let fresh: LifecycleOutcome | undefined;
    if (decision === 'approve' && isDefinitionRelease(row.command)) {
      // A release of a money-moving definition (api/definitions.ts), carried out by the approver.
      if (deps.definitions === undefined) throw new FixpayError('NOT_FOUND', 'definitions are not served by this API');
      // A release that fails (a stale request, DEF_RELEASE_STALE; a registry refusal; an outage)
      // keeps its approval decided, with a failed outcome: the decision is not repeated against a
      // registry that changed since; the requester asks again (a new request, seen afresh).
      let done: Awaited<ReturnType<typeof release>>;
      try {
        done = await release(deps.definitions, deps.prisma, row.command, `${row.requestedBy}+${actorOf(who)}`);
      } catch (e) {
        const err = e instanceof FixpayError ? e : new FixpayError('INTERNAL', 'the release failed', { cause: e });
        await deps.prisma.operatorApproval.update({
          where: { id },
          data: {
            outcome: { ok: false, reason: err.codeName, resultCode: err.code, detail: err.message.slice(0, 300) },
          },
        });
        throw err;
      }
      await deps.prisma.operatorApproval.update({
        where: { id },
        data: { outcome: { ok: true, reason: 'OK', resultCode: 'FP1000', detail: `${done.action} ${done.serviceId}` } },
      });
    } else if (decision === 'approve') {
      fresh = await runApproved(actorOf(who));
    }
    const after = await deps.prisma.operatorApproval.findUniqueOrThrow({ where: { id } });
    // The bureau file and the mailer block are in this answer only.
    return { status: 200, body: { ...approvalView(after), ...(fresh === undefined ? {} : { outcome: fresh }) } };
  },
  // Definitions by API (api/definitions.ts, ADR 0029).
  ...Object.fromEntries(
    Object.entries(DEFINITION_HANDLERS).map(([id, h]): [string, Handler] => [
      id,
      (deps, req, who) => h(deps, req, { id: who.id, actor: actorOf(who) }),
    ]),
  ),
  // Catalogue management (api/catalogue.ts, ADR 0029).
  ...Object.fromEntries(
    Object.entries(OPERATOR_CATALOGUE_HANDLERS).map(([id, h]): [string, Handler] => [
      id,
      (deps, req, who) => h(deps, req, { id: who.id, actor: actorOf(who) }),
    ]),
  ),
};

/** The operator operations of the document (paths under `/operator/v1/`). */
export const OPERATOR_OPERATIONS = (): ReturnType<typeof specOperations> =>
  specOperations().filter((o) => o.path.startsWith('/operator/v1/'));

/** The operator's bearer token, before the document's validation. */
export function operatorGate(deps: OperatorApiDeps): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const who = authenticateOperator(deps.operators, req.headers.authorization);
    if (who === undefined) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="fixpay-operator"');
      next(new FixpayError('UNAUTHORIZED', 'send Authorization: Bearer <operator token>'));
      return;
    }
    res.locals['operator'] = who;
    next();
  };
}

export function operatorRouter(deps: OperatorApiDeps): express.Router {
  const router = express.Router();
  for (const op of OPERATOR_OPERATIONS()) {
    const handler = OPERATOR_HANDLERS[op.operationId];
    if (handler === undefined) throw new Error(`operation ${op.operationId} of api/openapi.yaml has no handler`);
    router[op.method](expressPath(op.path), (req, res, next) => {
      const who = res.locals['operator'] as Operator;
      handler(deps, req, who)
        .then((a) => res.status(a.status).json(a.body))
        .catch(next);
    });
  }
  return router;
}

/** A new random operator token and its stored digest (for `fixpay` set-up and tests). */
export function newOperatorToken(): { token: string; tokenSha256: string } {
  const token = `fpop_${randomUUID().replace(/-/g, '')}`;
  return { token, tokenSha256: sha256(token).toString('hex') };
}

export const OPERATOR_COMMANDS = LIFECYCLE_COMMANDS;

type LifecycleRun = (input: { command: LifecycleCommand; actor: string }) => Promise<LifecycleOutcome>;

/**
 * Runs lifecycle commands on Temporal: a run id already used (a repeated request) is never started
 * again — its result is read instead, so a command is carried out once per request.
 */
export function temporalLifecycleRunner(client: Client, taskQueue: string): OperatorApiDeps['runLifecycle'] {
  return async (workflowId, command, actor) => {
    try {
      return await client.workflow.execute<LifecycleRun>('terminalLifecycleWorkflow', {
        taskQueue,
        workflowId,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        args: [{ command, actor }],
      });
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
      return (await client.workflow.getHandle(workflowId).result()) as LifecycleOutcome;
    }
  };
}

/** Reads and checks the operators file. Throws CONFIG_INVALID when it is unreadable or malformed. */
export function readOperatorsFile(file: string): OperatorCredential[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new FixpayError('CONFIG_INVALID', `${file} is not a readable JSON file`);
  }
  const list = (parsed as { operators?: unknown } | null)?.operators;
  if (!Array.isArray(list) || list.length > 1000)
    throw new FixpayError('CONFIG_INVALID', `${file} needs an operators list`);
  return list.map((o: unknown, i) => {
    const r = (typeof o === 'object' && o !== null ? o : {}) as Record<string, unknown>;
    const id = r['id'];
    const role = OPERATOR_ROLES.find((x) => x === r['role']);
    const tokenSha256 = r['tokenSha256'];
    if (typeof id !== 'string' || !/^[0-9A-Za-z._-]{1,64}$/.test(id) || role === undefined)
      throw new FixpayError('CONFIG_INVALID', `${file}: operator ${i} needs an id and a role (operator, supervisor)`);
    if (typeof tokenSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(tokenSha256))
      throw new FixpayError('CONFIG_INVALID', `${file}: operator ${id} needs tokenSha256 (64 lowercase hex)`);
    return { id, role, tokenSha256 };
  });
}
