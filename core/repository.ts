/**
 * Prisma repositories of the business core. Writes that read-then-change (lifecycle steps,
 * bindings, transaction status) lock the row first (SELECT … FOR UPDATE) inside one transaction;
 * nothing awaits other database work inside it (PGlite runs one transaction at a time).
 * Expected refusals come back as CoreResult codes; database failures throw.
 */
import { parseAni, parseAuthCode, parsePsamNo, parseRrn, parseStan, parseTerminalId } from '../domain/ids';
import { parseCurrency } from '../domain/money';
import type { Prisma, PrismaClient } from '../generated/prisma/client';
import { checkBinding } from './binding';
import { isPrintableName, validateKyc, type Kyc } from './kyc';
import { nextTerminalState, TERMINAL_INITIAL_STATE } from './lifecycle';
import {
  refuse,
  type BinRoute,
  type BindingPurpose,
  type CoreResult,
  type Customer,
  type PhoneBinding,
  type Psam,
  type Terminal,
  type TerminalEvent,
  type TransactionStatus,
} from './model';
import { routeCard, validateBinRange } from './routing';
import { nextTransactionStatus, storablePan } from './transactions';

type Tx = Prisma.TransactionClient;

export interface CoreRepositoryOptions {
  /** Longest a repository transaction may run. */
  readonly transactionTimeoutMs: number;
  /** Longest it waits for a connection. */
  readonly transactionMaxWaitMs: number;
}

export const CORE_REPOSITORY_DEFAULTS: CoreRepositoryOptions = {
  transactionTimeoutMs: 10_000,
  transactionMaxWaitMs: 10_000,
};

const isUniqueViolation = (e: unknown): boolean =>
  /P2002|23505|Unique constraint|UniqueConstraintViolation/i.test(
    e instanceof Error ? `${e.message} ${JSON.stringify(e)}` : String(e),
  );

const toTerminal = (t: {
  id: string;
  customerId: string;
  deviceProfileId: string;
  state: Terminal['state'];
}): Terminal => ({
  id: t.id,
  customerId: t.customerId,
  deviceProfileId: t.deviceProfileId,
  state: t.state,
});

export interface RecordTransactionInput {
  /** The interpreter's idempotency key: a retry returns the same transaction. */
  readonly idempotencyKey: string;
  readonly terminalId: string;
  readonly serviceId: string;
  readonly stan: string;
  /** Masked (BIN + last four) or clear; a clear PAN is masked before it is stored. */
  readonly pan?: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly workflowId?: string;
}

export interface TransactionRecord {
  readonly id: bigint;
  readonly idempotencyKey: string;
  readonly terminalId: string;
  readonly serviceId: string;
  readonly stan: string;
  readonly panMasked: string | undefined;
  readonly amount: bigint;
  readonly currency: string;
  readonly status: TransactionStatus;
  readonly rrn: string | undefined;
  readonly authCode: string | undefined;
  readonly responseCode: string | undefined;
  readonly resultCode: string | undefined;
}

export interface UpdateTransactionStatusInput {
  readonly idempotencyKey: string;
  readonly status: TransactionStatus;
  readonly rrn?: string;
  readonly authCode?: string;
  /** The card network's response code (ISO 8583 field 39). */
  readonly responseCode?: string;
  /** The platform's catalogue code (`FPxxxx`) explaining the status. */
  readonly resultCode?: string;
}

/** One row of the audit trail (`core_audit`): who did what to which subject, and how it ended. */
export interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  /** `customer:<id>`, `terminal:<id>`, `psam:<no>`. */
  readonly subject: string;
  /** `OK` or the refusal's catalogue name. */
  readonly outcome: string;
  /** Safe to keep: ids, states, check values; never key material or card data. */
  readonly detail?: Readonly<Record<string, string | number | boolean | null>>;
  readonly workflowId?: string;
}

export interface RebindingRequestRecord {
  readonly id: bigint;
  readonly terminalId: string;
  readonly ani: string;
  readonly psamNo: string | undefined;
  readonly status: 'pending' | 'approved' | 'rejected';
  readonly attempts: number;
}

/** JSON with object keys sorted (jsonb does not keep the order they were written in). */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    typeof x === 'object' && x !== null && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );

const toPsam = (r: { psamNo: string; status: Psam['status']; keyHandle: string | null }): Psam => ({
  psamNo: r.psamNo,
  status: r.status,
  keyHandle: r.keyHandle ?? undefined,
});

export class CoreRepository {
  private readonly options: CoreRepositoryOptions;

  constructor(
    private readonly prisma: PrismaClient,
    options: Partial<CoreRepositoryOptions> = {},
  ) {
    this.options = { ...CORE_REPOSITORY_DEFAULTS, ...options };
  }

  private tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(fn, {
      timeout: this.options.transactionTimeoutMs,
      maxWait: this.options.transactionMaxWaitMs,
    });
  }

  // --- customers ------------------------------------------------------------------------------

  /** Creates the customer or updates its name; its kind never changes (CONFLICT otherwise). */
  async upsertCustomer(c: Customer): Promise<CoreResult<Customer>> {
    const existing = await this.prisma.customer.findUnique({ where: { id: c.id } });
    if (existing !== null && existing.kind !== c.kind)
      return refuse('CONFLICT', `customer ${c.id} is a ${existing.kind}`);
    const row = await this.prisma.customer.upsert({
      where: { id: c.id },
      create: { id: c.id, kind: c.kind, name: c.name },
      update: { name: c.name },
    });
    return { ok: true, value: { id: row.id, kind: row.kind, name: row.name } };
  }

  async customer(id: string): Promise<Customer | undefined> {
    const row = await this.prisma.customer.findUnique({ where: { id } });
    return row === null ? undefined : { id: row.id, kind: row.kind, name: row.name };
  }

  /**
   * Onboards a household or merchant with its KYC data (core/kyc.ts). Idempotent for the same
   * kind, name and KYC; CONFLICT when the id is taken by something else; KYC_INVALID, BAD_REQUEST.
   */
  async onboardCustomer(input: {
    id: string;
    kind: Customer['kind'];
    name: string;
    kyc: unknown;
  }): Promise<CoreResult<Customer & { kyc: Kyc }>> {
    if (!/^[0-9A-Za-z]{1,32}$/.test(input.id))
      return refuse('BAD_REQUEST', 'customer id must be 1 to 32 letters or digits');
    if (!isPrintableName(input.name)) return refuse('BAD_REQUEST', 'name must be 1 to 128 characters');
    const kyc = validateKyc(input.kind, input.kyc);
    if (!kyc.ok) return kyc;
    const value = { id: input.id, kind: input.kind, name: input.name, kyc: kyc.value };
    const existing = await this.prisma.customer.findUnique({ where: { id: input.id } });
    if (existing !== null) {
      const same =
        existing.kind === input.kind &&
        existing.name === input.name &&
        canonical(existing.kyc) === canonical(kyc.value);
      return same ? { ok: true, value } : refuse('CONFLICT', `customer ${input.id} exists with other data`);
    }
    try {
      await this.prisma.customer.create({ data: value });
    } catch (e) {
      if (isUniqueViolation(e)) return refuse('CONFLICT', `customer ${input.id} exists`);
      throw e;
    }
    return { ok: true, value };
  }

  // --- audit ----------------------------------------------------------------------------------

  private async auditIn(tx: Tx, e: AuditEntry): Promise<void> {
    await tx.coreAudit.create({
      data: {
        actor: e.actor.slice(0, 128),
        action: e.action,
        subject: e.subject,
        outcome: e.outcome,
        detail: e.detail ?? {},
        workflowId: e.workflowId ?? null,
      },
    });
  }

  /** Appends one entry to the audit trail (refusals are audited too). */
  async audit(e: AuditEntry): Promise<void> {
    await this.auditIn(this.prisma, e);
  }

  /** A subject's audit trail, oldest first. */
  async auditTrail(subject: string): Promise<AuditEntry[]> {
    const rows = await this.prisma.coreAudit.findMany({ where: { subject }, orderBy: { id: 'asc' } });
    return rows.map((r) => ({
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      outcome: r.outcome,
      detail: (r.detail ?? {}) as Readonly<Record<string, string | number | boolean | null>>,
      ...(r.workflowId === null ? {} : { workflowId: r.workflowId }),
    }));
  }

  // --- terminals ------------------------------------------------------------------------------

  /** Registers a terminal in state `registered`; idempotent for the same customer and profile. */
  async registerTerminal(
    input: { id: string; customerId: string; deviceProfileId: string; serialNumber?: string },
    actor: string,
  ): Promise<CoreResult<Terminal>> {
    if (!parseTerminalId(input.id).ok) return refuse('BAD_REQUEST', 'terminal id must be 8 letters or digits');
    if ((await this.customer(input.customerId)) === undefined) return refuse('CUSTOMER_UNKNOWN', input.customerId);
    const existing = await this.terminal(input.id);
    if (existing !== undefined) {
      return existing.customerId === input.customerId && existing.deviceProfileId === input.deviceProfileId
        ? { ok: true, value: existing }
        : refuse('CONFLICT', `terminal ${input.id} is registered to another customer or profile`);
    }
    const row = await this.tx(async (tx) => {
      const t = await tx.terminal.create({
        data: {
          id: input.id,
          customerId: input.customerId,
          deviceProfileId: input.deviceProfileId,
          serialNumber: input.serialNumber ?? null,
          state: TERMINAL_INITIAL_STATE,
        },
      });
      await tx.terminalStateChange.create({
        data: { terminalId: t.id, event: 'register', fromState: null, toState: t.state, actor },
      });
      return t;
    });
    return { ok: true, value: toTerminal(row) };
  }

  async terminal(id: string): Promise<Terminal | undefined> {
    const row = await this.prisma.terminal.findUnique({ where: { id } });
    return row === null ? undefined : toTerminal(row);
  }

  /** One lifecycle step, recorded in the history. TERMINAL_UNKNOWN or TERMINAL_TRANSITION_INVALID. */
  async applyTerminalEvent(id: string, event: TerminalEvent, actor: string): Promise<CoreResult<Terminal>> {
    return this.tx((tx) => this.applyTerminalEventIn(tx, id, event, actor));
  }

  private async applyTerminalEventIn(
    tx: Tx,
    id: string,
    event: TerminalEvent,
    actor: string,
  ): Promise<CoreResult<Terminal>> {
    const rows = await tx.$queryRawUnsafe<{ state: Terminal['state'] }[]>(
      'SELECT state::text AS state FROM terminal WHERE id = $1 FOR UPDATE',
      id,
    );
    const current = rows[0];
    if (current === undefined) return refuse('TERMINAL_UNKNOWN', id);
    const next = nextTerminalState(current.state, event);
    if (!next.ok) return next;
    const row = await tx.terminal.update({
      where: { id },
      data: { state: next.value, ...(event === 'downloadKeys' ? { keysLoadedAt: new Date() } : {}) },
    });
    await tx.terminalStateChange.create({
      data: { terminalId: id, event, fromState: current.state, toState: next.value, actor },
    });
    return { ok: true, value: toTerminal(row) };
  }

  /** A terminal's lifecycle history, oldest first. */
  async terminalHistory(id: string): Promise<{ event: string; from: string | undefined; to: string; actor: string }[]> {
    const rows = await this.prisma.terminalStateChange.findMany({ where: { terminalId: id }, orderBy: { id: 'asc' } });
    return rows.map((r) => ({ event: r.event, from: r.fromState ?? undefined, to: r.toState, actor: r.actor }));
  }

  /**
   * The terminal's first sign-on (or a later key download): `downloadKeys`, which puts an
   * activated terminal in service. Writes nothing when the terminal is not activated or in service.
   */
  async keysDownloaded(id: string, actor: string): Promise<CoreResult<Terminal>> {
    return this.applyTerminalEvent(id, 'downloadKeys', actor);
  }

  /**
   * PSAM personalisation for an ordered (registered) terminal: the PSAM is recorded active with
   * the HSM handle of the key its card key derives from and that card key's check value, and the
   * terminal with the check value of its injected master key. Idempotent for the same values;
   * PSAM_ALREADY_PERSONALISED otherwise; TERMINAL_UNKNOWN, TERMINAL_TRANSITION_INVALID.
   */
  async personalisePsam(input: {
    terminalId: string;
    psamNo: string;
    keyHandle: string;
    kcv: string;
    tmkKcv: string;
  }): Promise<CoreResult<Psam>> {
    const no = parsePsamNo(input.psamNo);
    if (!no.ok) return refuse('BAD_REQUEST', 'PSAM number must be 12 to 20 hex digits');
    if (!/^[0-9A-F]{6}$/.test(input.kcv) || !/^[0-9A-F]{6}$/.test(input.tmkKcv))
      return refuse('BAD_REQUEST', 'check values must be 6 hex digits');
    try {
      return await this.tx(async (tx): Promise<CoreResult<Psam>> => {
        const t = await tx.terminal.findUnique({ where: { id: input.terminalId } });
        if (t === null) return refuse('TERMINAL_UNKNOWN', input.terminalId);
        const existing = await tx.psam.findUnique({ where: { psamNo: no.value } });
        if (existing !== null) {
          const same = existing.kcv === input.kcv && t.tmkKcv === input.tmkKcv;
          return same ? { ok: true, value: toPsam(existing) } : refuse('PSAM_ALREADY_PERSONALISED', no.value);
        }
        if (t.state !== 'registered')
          return refuse('TERMINAL_TRANSITION_INVALID', `personalise is not allowed in state ${t.state}`);
        const row = await tx.psam.create({
          data: {
            psamNo: no.value,
            status: 'active',
            keyHandle: input.keyHandle,
            kcv: input.kcv,
            personalisedAt: new Date(),
          },
        });
        await tx.terminal.update({ where: { id: t.id }, data: { tmkKcv: input.tmkKcv } });
        return { ok: true, value: toPsam(row) };
      });
    } catch (e) {
      if (isUniqueViolation(e)) return refuse('PSAM_ALREADY_PERSONALISED', no.value);
      throw e;
    }
  }

  /**
   * The PSAM a terminal was personalised with (its master key injected), if any: the one bound,
   * or, before binding, the personalised PSAM recorded with the terminal's audit trail.
   */
  async personalisedPsam(terminalId: string): Promise<string | undefined> {
    const t = await this.prisma.terminal.findUnique({ where: { id: terminalId }, select: { tmkKcv: true } });
    if (t?.tmkKcv == null) return undefined;
    const row = await this.prisma.coreAudit.findFirst({
      where: { subject: `terminal:${terminalId}`, action: 'personalise', outcome: 'OK' },
      orderBy: { id: 'desc' },
    });
    const detail = row?.detail as Record<string, unknown> | undefined;
    return typeof detail?.['psamNo'] === 'string' ? detail['psamNo'] : '(unknown)';
  }

  /** The HSM handle an active PSAM's keys derive from (undefined when unknown or not active). */
  async activePsamKeyHandle(psamNo: string): Promise<string | undefined> {
    const row = await this.prisma.psam.findUnique({ where: { psamNo: psamNo.toUpperCase() } });
    return row?.status === 'active' ? (row.keyHandle ?? undefined) : undefined;
  }

  /**
   * PSAM replacement: the terminal keeps its id, owner, line and history; its old PSAM is retired
   * (it can never sign or bind again) and the new one bound on the same line. The terminal goes
   * back to `activated` (the new PSAM signs on) or stays suspended. PSAM_UNKNOWN, PSAM_NOT_ACTIVE,
   * BINDING_CONFLICT, BINDING_NOT_FOUND, TERMINAL_TRANSITION_INVALID.
   */
  async replacePsam(input: { terminalId: string; psamNo: string }, actor: string): Promise<CoreResult<PhoneBinding>> {
    const no = parsePsamNo(input.psamNo);
    if (!no.ok) return refuse('BAD_REQUEST', 'PSAM number must be 12 to 20 hex digits');
    try {
      return await this.tx(async (tx): Promise<CoreResult<PhoneBinding>> => {
        const current = await tx.phoneBinding.findFirst({ where: { terminalId: input.terminalId, active: true } });
        if (current === null)
          return (await tx.terminal.findUnique({ where: { id: input.terminalId } })) === null
            ? refuse('TERMINAL_UNKNOWN', input.terminalId)
            : refuse('BINDING_NOT_FOUND', input.terminalId);
        if (current.psamNo === no.value) return refuse('BINDING_CONFLICT', 'the new PSAM is the current one');
        const psam = await tx.psam.findUnique({ where: { psamNo: no.value } });
        if (psam === null) return refuse('PSAM_UNKNOWN', no.value);
        if (psam.status !== 'active') return refuse('PSAM_NOT_ACTIVE', no.value);
        const elsewhere = await tx.phoneBinding.findFirst({ where: { psamNo: no.value, active: true } });
        if (elsewhere !== null) return refuse('BINDING_CONFLICT', `PSAM ${no.value} is bound`);
        const step = await this.applyTerminalEventIn(tx, input.terminalId, 'replacePsam', actor);
        if (!step.ok) return step;
        await tx.phoneBinding.update({ where: { id: current.id }, data: { active: false, unboundAt: new Date() } });
        await tx.psam.update({ where: { psamNo: current.psamNo }, data: { status: 'retired' } });
        const next = { terminalId: input.terminalId, psamNo: no.value, ani: current.ani };
        await tx.phoneBinding.create({ data: { ...next, active: true } });
        return { ok: true, value: next };
      });
    } catch (e) {
      if (isUniqueViolation(e)) return refuse('BINDING_CONFLICT', input.terminalId);
      throw e;
    }
  }

  /**
   * Moves a terminal to another line: the binding's caller number changes, the PSAM and the state
   * stay. A pending re-binding request for that line is approved by it. BINDING_CONFLICT when the
   * line is bound to another terminal; BINDING_NOT_FOUND, TERMINAL_UNKNOWN, TERMINAL_TRANSITION_INVALID.
   */
  async moveLine(input: { terminalId: string; ani: string }, actor: string): Promise<CoreResult<PhoneBinding>> {
    const ani = parseAni(input.ani);
    if (!ani.ok) return refuse('BAD_REQUEST', 'caller number must be 3 to 20 digits');
    try {
      return await this.tx(async (tx): Promise<CoreResult<PhoneBinding>> => {
        const current = await tx.phoneBinding.findFirst({ where: { terminalId: input.terminalId, active: true } });
        if (current === null)
          return (await tx.terminal.findUnique({ where: { id: input.terminalId } })) === null
            ? refuse('TERMINAL_UNKNOWN', input.terminalId)
            : refuse('BINDING_NOT_FOUND', input.terminalId);
        if (current.ani === ani.value) return refuse('BINDING_CONFLICT', 'the terminal is already on this line');
        const taken = await tx.phoneBinding.findFirst({ where: { ani: ani.value, active: true } });
        if (taken !== null) return refuse('BINDING_CONFLICT', 'the line is bound to another terminal');
        const step = await this.applyTerminalEventIn(tx, input.terminalId, 'moveLine', actor);
        if (!step.ok) return step;
        await tx.phoneBinding.update({ where: { id: current.id }, data: { active: false, unboundAt: new Date() } });
        const next = { terminalId: input.terminalId, psamNo: current.psamNo, ani: ani.value };
        await tx.phoneBinding.create({ data: { ...next, active: true } });
        const decided = { decidedAt: new Date(), decidedBy: actor };
        await tx.rebindingRequest.updateMany({
          where: { terminalId: input.terminalId, ani: ani.value, status: 'pending' },
          data: { status: 'approved', ...decided },
        });
        await tx.rebindingRequest.updateMany({
          where: { terminalId: input.terminalId, status: 'pending' },
          data: { status: 'rejected', ...decided },
        });
        return { ok: true, value: next };
      });
    } catch (e) {
      if (isUniqueViolation(e)) return refuse('BINDING_CONFLICT', input.terminalId);
      throw e;
    }
  }

  /** Refuses a pending re-binding request (the phone stays refused on that line). REBINDING_UNKNOWN. */
  async rejectRebinding(input: { terminalId: string; ani: string }, actor: string): Promise<CoreResult<true>> {
    const n = await this.prisma.rebindingRequest.updateMany({
      where: { terminalId: input.terminalId, ani: input.ani, status: 'pending' },
      data: { status: 'rejected', decidedAt: new Date(), decidedBy: actor },
    });
    return n.count === 0 ? refuse('REBINDING_UNKNOWN', input.terminalId) : { ok: true, value: true };
  }

  /** Re-binding requests, newest first (pending ones only by default). */
  async rebindingRequests(filter: { terminalId?: string; all?: boolean } = {}): Promise<RebindingRequestRecord[]> {
    const rows = await this.prisma.rebindingRequest.findMany({
      where: {
        ...(filter.terminalId === undefined ? {} : { terminalId: filter.terminalId }),
        ...(filter.all === true ? {} : { status: 'pending' }),
      },
      orderBy: { id: 'desc' },
      take: 500,
    });
    return rows.map((r) => ({
      id: r.id,
      terminalId: r.terminalId,
      ani: r.ani,
      psamNo: r.psamNo ?? undefined,
      status: r.status,
      attempts: r.attempts,
    }));
  }

  /**
   * Retires a terminal: lifecycle step `retire`, its binding ended and its PSAM retired. (Its keys
   * are destroyed by the caller, which holds the key store.)
   */
  async retireTerminal(id: string, actor: string): Promise<CoreResult<Terminal>> {
    return this.tx(async (tx) => {
      const step = await this.applyTerminalEventIn(tx, id, 'retire', actor);
      if (!step.ok) return step;
      const bound = await tx.phoneBinding.findMany({ where: { terminalId: id, active: true } });
      await tx.phoneBinding.updateMany({
        where: { terminalId: id, active: true },
        data: { active: false, unboundAt: new Date() },
      });
      for (const b of bound) await tx.psam.update({ where: { psamNo: b.psamNo }, data: { status: 'retired' } });
      return step;
    });
  }

  // --- PSAMs ----------------------------------------------------------------------------------

  /** Registers a PSAM by number with the HSM handle of its key (never key material). */
  async registerPsam(input: { psamNo: string; keyHandle?: string }): Promise<CoreResult<Psam>> {
    const no = parsePsamNo(input.psamNo);
    if (!no.ok) return refuse('BAD_REQUEST', 'PSAM number must be 12 to 20 hex digits');
    const row = await this.prisma.psam.upsert({
      where: { psamNo: no.value },
      create: { psamNo: no.value, status: 'active', keyHandle: input.keyHandle ?? null },
      update: {},
    });
    return { ok: true, value: { psamNo: row.psamNo, status: row.status, keyHandle: row.keyHandle ?? undefined } };
  }

  async setPsamStatus(psamNo: string, status: Psam['status']): Promise<CoreResult<Psam>> {
    const row = await this.prisma.psam.findUnique({ where: { psamNo } });
    if (row === null) return refuse('PSAM_UNKNOWN', psamNo);
    const updated = await this.prisma.psam.update({ where: { psamNo }, data: { status } });
    return {
      ok: true,
      value: { psamNo: updated.psamNo, status: updated.status, keyHandle: updated.keyHandle ?? undefined },
    };
  }

  // --- bindings -------------------------------------------------------------------------------

  /**
   * Binds a registered terminal to a phone number and a PSAM (lifecycle step `bind`). Idempotent for
   * the same triple. BINDING_CONFLICT when the number or PSAM is bound elsewhere; PSAM_UNKNOWN,
   * PSAM_NOT_ACTIVE, TERMINAL_UNKNOWN, TERMINAL_TRANSITION_INVALID.
   */
  async bind(
    input: { terminalId: string; psamNo: string; ani: string },
    actor: string,
  ): Promise<CoreResult<PhoneBinding>> {
    const ani = parseAni(input.ani);
    if (!ani.ok) return refuse('BAD_REQUEST', 'caller number must be 3 to 20 digits');
    const psamNo = parsePsamNo(input.psamNo);
    if (!psamNo.ok) return refuse('BAD_REQUEST', 'PSAM number must be 12 to 20 hex digits');
    const wanted: PhoneBinding = { terminalId: input.terminalId, psamNo: psamNo.value, ani: ani.value };
    try {
      return await this.tx(async (tx): Promise<CoreResult<PhoneBinding>> => {
        const psam = await tx.psam.findUnique({ where: { psamNo: wanted.psamNo } });
        if (psam === null) return refuse('PSAM_UNKNOWN', wanted.psamNo);
        if (psam.status !== 'active') return refuse('PSAM_NOT_ACTIVE', wanted.psamNo);
        const clashes = await tx.phoneBinding.findMany({
          where: {
            active: true,
            OR: [{ terminalId: wanted.terminalId }, { psamNo: wanted.psamNo }, { ani: wanted.ani }],
          },
        });
        const same = clashes.find(
          (b) => b.terminalId === wanted.terminalId && b.psamNo === wanted.psamNo && b.ani === wanted.ani,
        );
        if (same !== undefined && clashes.length === 1) return { ok: true, value: wanted };
        if (clashes.length > 0) return refuse('BINDING_CONFLICT', `terminal ${wanted.terminalId}`);
        const step = await this.applyTerminalEventIn(tx, wanted.terminalId, 'bind', actor);
        if (!step.ok) return step;
        await tx.phoneBinding.create({ data: { ...wanted, active: true } });
        return { ok: true, value: wanted };
      });
    } catch (e) {
      if (isUniqueViolation(e)) return refuse('BINDING_CONFLICT', `terminal ${wanted.terminalId}`);
      throw e;
    }
  }

  /** Ends the terminal's active binding (lifecycle step `unbind`). */
  async unbind(terminalId: string, actor: string): Promise<CoreResult<Terminal>> {
    return this.tx(async (tx) => {
      const step = await this.applyTerminalEventIn(tx, terminalId, 'unbind', actor);
      if (!step.ok) return step;
      await tx.phoneBinding.updateMany({
        where: { terminalId, active: true },
        data: { active: false, unboundAt: new Date() },
      });
      return step;
    });
  }

  /**
   * The device profile of the terminal actively bound to a caller number (the profile its calls are
   * answered with), or undefined when the number is bound to no terminal. Reads one row.
   */
  async boundDeviceProfile(ani: string): Promise<string | undefined> {
    const b = await this.prisma.phoneBinding.findFirst({
      where: { ani, active: true },
      select: { terminal: { select: { deviceProfileId: true } } },
    });
    return b?.terminal.deviceProfileId;
  }

  /**
   * The binding check for a call: the terminal, its customer and binding when the caller number
   * and PSAM match and the terminal is in service; otherwise a refusal code (see core/binding.ts).
   */
  async checkBinding(input: {
    terminalId: string;
    ani: string | undefined;
    psamNo: string | undefined;
    purpose?: BindingPurpose;
  }): Promise<CoreResult<{ terminal: Terminal; customer: Customer; binding: PhoneBinding }>> {
    const row = await this.prisma.terminal.findUnique({
      where: { id: input.terminalId },
      include: { customer: true, bindings: { where: { active: true }, include: { psam: true } } },
    });
    const b = row?.bindings[0];
    const ani = input.ani === undefined ? undefined : parseAni(input.ani);
    const reportedPsam = input.psamNo?.toUpperCase();
    // Only when the simple check would refuse: who holds the calling line, and the reported PSAM.
    const aniOther =
      b !== undefined && ani?.ok === true && ani.value !== b.ani
        ? await this.prisma.phoneBinding.findFirst({
            where: { ani: ani.value, active: true },
            select: { terminalId: true },
          })
        : undefined;
    const psamOther =
      b !== undefined && reportedPsam !== undefined && reportedPsam !== b.psamNo
        ? await this.prisma.phoneBinding.findFirst({
            where: { psamNo: reportedPsam, active: true },
            select: { terminalId: true },
          })
        : undefined;
    const result = checkBinding({
      terminal: row === null ? undefined : toTerminal(row),
      binding: b === undefined ? undefined : { terminalId: b.terminalId, psamNo: b.psamNo, ani: b.ani },
      psam:
        b === undefined
          ? undefined
          : { psamNo: b.psam.psamNo, status: b.psam.status, keyHandle: b.psam.keyHandle ?? undefined },
      ani: input.ani,
      psamNo: input.psamNo,
      ...(aniOther === undefined ? {} : { aniBoundElsewhere: aniOther !== null }),
      ...(psamOther == null ? {} : { psamBoundTo: psamOther.terminalId }),
      purpose: input.purpose ?? 'transact',
    });
    if (!result.ok && result.code === 'BINDING_REBIND_PENDING' && ani?.ok === true)
      await this.recordRebindingRequest(input.terminalId, ani.value, reportedPsam);
    if (!result.ok || row === null) return result.ok ? refuse('TERMINAL_UNKNOWN', input.terminalId) : result;
    return {
      ok: true,
      value: {
        terminal: toTerminal(row),
        customer: { id: row.customer.id, kind: row.customer.kind, name: row.customer.name },
        binding: result.value,
      },
    };
  }

  /** Records (or counts again) a pending re-binding request for a phone heard on a free line. */
  private async recordRebindingRequest(terminalId: string, ani: string, psamNo: string | undefined): Promise<void> {
    const psam = psamNo !== undefined && parsePsamNo(psamNo).ok ? psamNo : null;
    await this.prisma.$executeRaw`
      INSERT INTO "rebinding_request" ("terminal_id", "ani", "psam_no", "status")
      VALUES (${terminalId}, ${ani}, ${psam}, 'pending')
      ON CONFLICT ("terminal_id", "ani") WHERE "status" = 'pending'
      DO UPDATE SET "attempts" = "rebinding_request"."attempts" + 1`;
  }

  // --- BIN routing ----------------------------------------------------------------------------

  async addBinRoute(route: BinRoute): Promise<CoreResult<BinRoute>> {
    const range = validateBinRange(route.binLow, route.binHigh);
    if (!range.ok) return range;
    const existing = await this.prisma.binRoute.findFirst({
      where: { binLow: route.binLow, binHigh: route.binHigh, gatewayId: route.gatewayId, active: true },
    });
    if (existing === null) await this.prisma.binRoute.create({ data: { ...route, active: true } });
    return { ok: true, value: route };
  }

  /** The route for a card; reads the active routes (a small table) each time. */
  async routeCard(pan: string): Promise<CoreResult<BinRoute>> {
    const rows = await this.prisma.binRoute.findMany({ where: { active: true } });
    return routeCard(
      pan,
      rows.map((r) => ({
        binLow: r.binLow,
        binHigh: r.binHigh,
        network: r.network,
        issuerId: r.issuerId,
        gatewayId: r.gatewayId,
      })),
    );
  }

  // --- transactions ---------------------------------------------------------------------------

  /**
   * Records a transaction as `pending`, idempotently by key: a retry with the same fields returns
   * the same record; with different fields TRANSACTION_EXISTS_WITH_DIFFERENT_FIELDS. The PAN is
   * stored masked (a clear PAN is masked first). TERMINAL_UNKNOWN, BAD_REQUEST otherwise.
   */
  async recordTransaction(input: RecordTransactionInput): Promise<CoreResult<TransactionRecord>> {
    const stan = parseStan(input.stan);
    if (!stan.ok) return refuse('BAD_REQUEST', 'STAN must be 6 digits');
    const currency = parseCurrency(input.currency);
    if (!currency.ok) return refuse('BAD_REQUEST', currency.error.message);
    if (input.amount < 0n) return refuse('BAD_REQUEST', 'amount is negative');
    let panMasked: string | undefined;
    if (input.pan !== undefined) {
      const p = storablePan(input.pan);
      if (!p.ok) return p;
      panMasked = p.value;
    }
    const fields = {
      terminalId: input.terminalId,
      serviceId: input.serviceId,
      stan: stan.value,
      panMasked: panMasked ?? null,
      amount: input.amount,
      currency: currency.value.code,
    };
    const same = (r: TransactionRecord): boolean =>
      r.terminalId === fields.terminalId &&
      r.serviceId === fields.serviceId &&
      r.stan === fields.stan &&
      (r.panMasked ?? null) === fields.panMasked &&
      r.amount === fields.amount &&
      r.currency === fields.currency;
    const existing = await this.transaction(input.idempotencyKey);
    if (existing !== undefined)
      return same(existing)
        ? { ok: true, value: existing }
        : refuse('TRANSACTION_EXISTS_WITH_DIFFERENT_FIELDS', input.idempotencyKey);
    if ((await this.terminal(input.terminalId)) === undefined) return refuse('TERMINAL_UNKNOWN', input.terminalId);
    try {
      await this.tx(async (tx) => {
        const row = await tx.terminalTransaction.create({
          data: {
            ...fields,
            idempotencyKey: input.idempotencyKey,
            status: 'pending',
            workflowId: input.workflowId ?? null,
          },
        });
        await tx.terminalTransactionStatusChange.create({
          data: { transactionId: row.id, fromStatus: null, toStatus: 'pending' },
        });
      });
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
    }
    const stored = await this.transaction(input.idempotencyKey);
    if (stored === undefined) throw new Error('terminal_transaction vanished after insert');
    return same(stored)
      ? { ok: true, value: stored }
      : refuse('TRANSACTION_EXISTS_WITH_DIFFERENT_FIELDS', input.idempotencyKey);
  }

  async transaction(idempotencyKey: string): Promise<TransactionRecord | undefined> {
    const r = await this.prisma.terminalTransaction.findUnique({ where: { idempotencyKey } });
    if (r === null) return undefined;
    return {
      id: r.id,
      idempotencyKey: r.idempotencyKey,
      terminalId: r.terminalId,
      serviceId: r.serviceId,
      stan: r.stan,
      panMasked: r.panMasked ?? undefined,
      amount: r.amount,
      currency: r.currency,
      status: r.status,
      rrn: r.rrn ?? undefined,
      authCode: r.authCode ?? undefined,
      responseCode: r.responseCode ?? undefined,
      resultCode: r.resultCode ?? undefined,
    };
  }

  /**
   * Moves a transaction to a new status and records it in the history; repeating the current
   * status is a no-op. TRANSACTION_UNKNOWN, TRANSACTION_TRANSITION_INVALID, BAD_REQUEST.
   */
  async updateTransactionStatus(input: UpdateTransactionStatusInput): Promise<CoreResult<TransactionRecord>> {
    if (input.rrn !== undefined && !parseRrn(input.rrn).ok) return refuse('BAD_REQUEST', 'RRN must be 12 characters');
    if (input.authCode !== undefined && !parseAuthCode(input.authCode).ok)
      return refuse('BAD_REQUEST', 'auth code must be 6 characters');
    if (input.resultCode !== undefined && !/^FP\d{4}$/.test(input.resultCode))
      return refuse('BAD_REQUEST', 'result code must be FP + 4 digits');
    const outcome = await this.tx(async (tx): Promise<CoreResult<true>> => {
      const rows = await tx.$queryRawUnsafe<{ id: bigint | number | string; status: TransactionStatus }[]>(
        'SELECT id, status::text AS status FROM terminal_transaction WHERE idempotency_key = $1 FOR UPDATE',
        input.idempotencyKey,
      );
      const current = rows[0];
      if (current === undefined) return refuse('TRANSACTION_UNKNOWN', input.idempotencyKey);
      const next = nextTransactionStatus(current.status, input.status);
      if (!next.ok) return next;
      if (next.value.same) return { ok: true, value: true };
      const id = BigInt(current.id);
      await tx.terminalTransaction.update({
        where: { id },
        data: {
          status: input.status,
          ...(input.rrn === undefined ? {} : { rrn: input.rrn }),
          ...(input.authCode === undefined ? {} : { authCode: input.authCode }),
          ...(input.responseCode === undefined ? {} : { responseCode: input.responseCode }),
          ...(input.resultCode === undefined ? {} : { resultCode: input.resultCode }),
        },
      });
      await tx.terminalTransactionStatusChange.create({
        data: {
          transactionId: id,
          fromStatus: current.status,
          toStatus: input.status,
          resultCode: input.resultCode ?? null,
        },
      });
      return { ok: true, value: true };
    });
    if (!outcome.ok) return outcome;
    const stored = await this.transaction(input.idempotencyKey);
    if (stored === undefined) throw new Error('terminal_transaction vanished after update');
    return { ok: true, value: stored };
  }

  /** The status history, oldest first. */
  async transactionHistory(
    idempotencyKey: string,
  ): Promise<{ from: TransactionStatus | undefined; to: TransactionStatus }[]> {
    const rows = await this.prisma.terminalTransactionStatusChange.findMany({
      where: { transaction: { idempotencyKey } },
      orderBy: { id: 'asc' },
    });
    return rows.map((r) => ({ from: r.fromStatus ?? undefined, to: r.toStatus }));
  }
}
