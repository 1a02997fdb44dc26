/**
 * The information-push store (docs/protocols/push.md, ADR 0021): selects a campaign's audience
 * from the business core (terminals activated or in service, with an active phone binding, whose
 * push attributes match), keeps one `push_message` row per run and terminal, records each call's
 * outcome, hands pending pushes to the access node when a terminal calls in, and reports.
 */
import type { PushCallOutcome, PushReport } from '../domain/push';
import type { PrismaClient } from '../generated/prisma/client';

export interface PushAudience {
  readonly regions?: readonly string[];
  readonly merchantTypes?: readonly string[];
  readonly entitlements?: readonly string[];
  readonly terminals?: readonly string[];
}

/** A terminal a campaign reaches. */
export interface PushCandidate {
  readonly terminalId: string;
  readonly calledNumber: string;
  readonly profileId: string;
  readonly utcOffsetMinutes: number;
}

/** One push as the run and the access node see it. */
export interface PushTarget {
  readonly id: string;
  readonly terminalId: string;
  readonly calledNumber: string;
  readonly profileId: string;
  readonly text: string;
  readonly sender?: string;
  readonly utcOffsetMinutes: number;
}

/** How a push reached its phone: a campaign call, a call after its next call-in, or inside a call (a notice answer). */
export type PushVia = 'call' | 'next-call' | 'in-call';

/** Pending pushes handed to one call-in, at most. */
export const PENDING_PER_CALL_MAX = 5;
const PUSHABLE_STATES = ['activated', 'in_service'] as const;

export class PrismaPushStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** The terminals an audience selects, by terminal id. */
  async audience(a: PushAudience): Promise<PushCandidate[]> {
    const byAttributes = a.regions !== undefined || a.merchantTypes !== undefined || a.entitlements !== undefined;
    const attributes = await this.prisma.terminalPushAttributes.findMany({
      where: {
        ...(a.regions === undefined ? {} : { region: { in: [...a.regions] } }),
        ...(a.merchantTypes === undefined ? {} : { merchantType: { in: [...a.merchantTypes] } }),
        ...(a.entitlements === undefined ? {} : { entitlements: { hasEvery: [...a.entitlements] } }),
        ...(a.terminals === undefined ? {} : { terminalId: { in: [...a.terminals] } }),
      },
    });
    const offsets = new Map(attributes.map((r) => [r.terminalId, r.utcOffsetMinutes]));
    const ids = byAttributes
      ? attributes.map((r) => r.terminalId)
      : a.terminals === undefined
        ? undefined
        : [...a.terminals];
    const terminals = await this.prisma.terminal.findMany({
      where: { state: { in: [...PUSHABLE_STATES] }, ...(ids === undefined ? {} : { id: { in: ids } }) },
      include: { bindings: { where: { active: true }, take: 1 } },
      orderBy: { id: 'asc' },
    });
    const out: PushCandidate[] = [];
    for (const t of terminals) {
      const binding = t.bindings[0];
      if (binding === undefined) continue;
      out.push({
        terminalId: t.id,
        calledNumber: binding.ani,
        profileId: t.deviceProfileId,
        utcOffsetMinutes: offsets.get(t.id) ?? 0,
      });
    }
    return out;
  }

  /**
   * Stores a run's pushes (rows already there are kept: a repeated preparation changes nothing) and
   * returns the run's pushes still pending. `refusals` names terminals whose push can never be
   * delivered (text too long for their display), stored as failed with that reason.
   */
  async createRun(input: {
    campaignId: string;
    runKey: string;
    text: string;
    sender?: string;
    candidates: readonly PushCandidate[];
    refusals: ReadonlyMap<string, string>;
  }): Promise<PushTarget[]> {
    await this.prisma.pushMessage.createMany({
      data: input.candidates.map((c) => {
        const refused = input.refusals.get(c.terminalId);
        return {
          id: `${input.runKey}/${c.terminalId}`,
          campaignId: input.campaignId,
          runKey: input.runKey,
          terminalId: c.terminalId,
          calledNumber: c.calledNumber,
          profileId: c.profileId,
          text: input.text,
          sender: input.sender ?? null,
          utcOffsetMinutes: c.utcOffsetMinutes,
          status: refused === undefined ? ('pending' as const) : ('failed' as const),
          lastOutcome: refused ?? null,
        };
      }),
      skipDuplicates: true,
    });
    const rows = await this.prisma.pushMessage.findMany({
      where: { runKey: input.runKey, status: 'pending' },
      orderBy: { terminalId: 'asc' },
    });
    return rows.map(toTarget);
  }

  /**
   * Records one call's outcome: `delivered` marks a pending push delivered (once: a second receipt
   * changes nothing), `refused` marks it failed, anything else leaves it pending for a retry or the
   * terminal's next call. Returns the status after.
   */
  async record(id: string, outcome: PushCallOutcome, via: PushVia): Promise<'pending' | 'delivered' | 'failed'> {
    const now = new Date();
    if (outcome === 'delivered') {
      await this.prisma.pushMessage.updateMany({
        where: { id, status: 'pending' },
        data: {
          status: 'delivered',
          deliveredVia: via,
          deliveredAt: now,
          lastOutcome: outcome,
          attempts: { increment: 1 },
        },
      });
    } else if (outcome === 'refused') {
      await this.prisma.pushMessage.updateMany({
        where: { id, status: 'pending' },
        data: { status: 'failed', lastOutcome: outcome, attempts: { increment: 1 } },
      });
    } else {
      await this.prisma.pushMessage.updateMany({
        where: { id, status: 'pending' },
        data: { lastOutcome: outcome, attempts: { increment: 1 } },
      });
    }
    const row = await this.prisma.pushMessage.findUnique({ where: { id }, select: { status: true } });
    return row?.status ?? 'failed';
  }

  /** Pending pushes of the terminal bound to this caller number, oldest first. */
  async pendingFor(callerNumber: string): Promise<PushTarget[]> {
    const binding = await this.prisma.phoneBinding.findFirst({ where: { ani: callerNumber, active: true } });
    if (binding === null) return [];
    const rows = await this.prisma.pushMessage.findMany({
      where: { terminalId: binding.terminalId, status: 'pending' },
      orderBy: { createdAt: 'asc' },
      take: PENDING_PER_CALL_MAX,
    });
    return rows.map(toTarget);
  }

  /** Pending pushes of a terminal, oldest first (the notice answer of a call, ADR 0021). */
  async pendingForTerminal(terminalId: string, max = PENDING_PER_CALL_MAX): Promise<PushTarget[]> {
    const rows = await this.prisma.pushMessage.findMany({
      where: { terminalId, status: 'pending' },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: max,
    });
    return rows.map(toTarget);
  }

  /** Delivered, failed and pending pushes of a campaign, over all its runs. */
  async report(campaignId: string): Promise<PushReport> {
    const groups = await this.prisma.pushMessage.groupBy({
      by: ['status'],
      where: { campaignId },
      _count: { _all: true },
    });
    const count = (s: string): number => groups.find((g) => g.status === s)?._count._all ?? 0;
    const vias = await this.prisma.pushMessage.groupBy({
      by: ['deliveredVia'],
      where: { campaignId, status: 'delivered' },
      _count: { _all: true },
    });
    const via = (v: PushVia): number => vias.find((g) => g.deliveredVia === v)?._count._all ?? 0;
    return {
      campaignId,
      delivered: count('delivered'),
      failed: count('failed'),
      pending: count('pending'),
      deliveredAtNextCall: via('next-call'),
      deliveredInCall: via('in-call'),
    };
  }
}

function toTarget(r: {
  id: string;
  terminalId: string;
  calledNumber: string;
  profileId: string;
  text: string;
  sender: string | null;
  utcOffsetMinutes: number;
}): PushTarget {
  return {
    id: r.id,
    terminalId: r.terminalId,
    calledNumber: r.calledNumber,
    profileId: r.profileId,
    text: r.text,
    ...(r.sender === null ? {} : { sender: r.sender }),
    utcOffsetMinutes: r.utcOffsetMinutes,
  };
}

/** The store as the access node's next-call hook uses it (channel-engine/push/next-call.ts). */
export function pushStoreAsPending(store: PrismaPushStore): {
  pendingFor(callerNumber: string): Promise<PushTarget[]>;
  settle(id: string, outcome: PushCallOutcome): Promise<void>;
} {
  return {
    pendingFor: (caller) => store.pendingFor(caller),
    settle: async (id, outcome) => {
      await store.record(id, outcome, 'next-call');
    },
  };
}
