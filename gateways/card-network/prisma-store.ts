/**
 * Durable stores on the project's Prisma client (prisma/schema/card-network.prisma): the reversal
 * queue, the request journal and the reconciliation exception queue. Every state change is a
 * conditional `updateMany`, so concurrent gateways sharing a database cannot both win a transition.
 */
import type { PrismaClient } from '../../generated/prisma/client';
import type { CardNetworkReversal } from '../../generated/prisma/client';
import type { JournalEntry, RequestJournal, StoredResult } from './journal';
import { parseStoredResult } from './journal';
import type {
  NewReversal,
  ReplayOutcome,
  RetryUpdate,
  ReversalQueue,
  ReversalRecord,
  ReversalStatus,
} from './reversal-queue';
import type { ReconciliationException, ReconciliationExceptionQueue, SettlementRecord } from './settlement';

function toRecord(row: CardNetworkReversal): ReversalRecord {
  return {
    key: row.key,
    status: row.status,
    message: {
      originalMti: row.originalMti,
      processingCode: row.processingCode,
      amount: row.amount,
      currency: row.currency,
      stan: row.stan,
      transmissionDateTime: row.transmissionDateTime,
      terminalId: row.terminalId,
      merchantId: row.merchantId,
      acquirerId: row.acquirerId,
      forwardingId: row.forwardingId,
      reasonCode: row.reasonCode,
    },
    attempts: row.attempts,
    deadlineAt: row.deadlineAt,
    nextAttemptAt: row.nextAttemptAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    replays: row.replays,
    attemptsAtReplay: row.attemptsAtReplay,
    ...(row.replayedAt === null ? {} : { replayedAt: row.replayedAt }),
    ...(row.maskedPan === null ? {} : { maskedPan: row.maskedPan }),
    ...(row.leaseUntil === null ? {} : { leaseUntil: row.leaseUntil }),
    ...(row.lastResponseCode === null ? {} : { lastResponseCode: row.lastResponseCode }),
    ...(row.lastError === null ? {} : { lastError: row.lastError }),
  };
}

function columnsOf(r: NewReversal, status: ReversalStatus, nextAttemptAt: Date, now: Date) {
  return {
    key: r.key,
    status,
    ...r.message,
    maskedPan: r.maskedPan ?? null,
    attempts: 0,
    deadlineAt: r.deadlineAt,
    nextAttemptAt,
    leaseUntil: null,
    lastResponseCode: null,
    lastError: null,
    createdAt: now,
    updatedAt: now,
  };
}

export class PrismaReversalQueue implements ReversalQueue {
  constructor(private readonly prisma: PrismaClient) {}

  async arm(r: NewReversal, now: Date): Promise<void> {
    await this.prisma.cardNetworkReversal.createMany({
      data: [columnsOf(r, 'armed', r.deadlineAt, now)],
      skipDuplicates: true,
    });
  }

  async disarm(key: string, now: Date): Promise<boolean> {
    const { count } = await this.prisma.cardNetworkReversal.updateMany({
      where: { key, status: 'armed' },
      data: { status: 'cancelled', updatedAt: now },
    });
    return count === 1;
  }

  async activate(key: string, reasonCode: string, now: Date): Promise<void> {
    await this.prisma.cardNetworkReversal.updateMany({
      where: { key, status: 'armed' },
      data: { status: 'pending', reasonCode, nextAttemptAt: now, updatedAt: now },
    });
  }

  async enqueue(r: NewReversal, now: Date): Promise<void> {
    const { count } = await this.prisma.cardNetworkReversal.createMany({
      data: [columnsOf(r, 'pending', now, now)],
      skipDuplicates: true,
    });
    if (count === 1) return;
    await this.prisma.cardNetworkReversal.updateMany({
      where: { key: r.key, status: { in: ['armed', 'cancelled'] } },
      data: {
        status: 'pending',
        reasonCode: r.message.reasonCode,
        attempts: 0,
        nextAttemptAt: now,
        leaseUntil: null,
        updatedAt: now,
      },
    });
  }

  async promoteOverdue(now: Date): Promise<number> {
    const { count } = await this.prisma.cardNetworkReversal.updateMany({
      where: { status: 'armed', deadlineAt: { lte: now } },
      data: { status: 'pending', nextAttemptAt: now, updatedAt: now },
    });
    return count;
  }

  async claimDue(now: Date, limit: number, leaseMs: number): Promise<ReversalRecord[]> {
    const due = {
      status: 'pending' as const,
      nextAttemptAt: { lte: now },
      OR: [{ leaseUntil: null }, { leaseUntil: { lte: now } }],
    };
    const candidates = await this.prisma.cardNetworkReversal.findMany({
      where: due,
      orderBy: { nextAttemptAt: 'asc' },
      take: limit,
    });
    const leaseUntil = new Date(now.getTime() + leaseMs);
    const claimed: ReversalRecord[] = [];
    for (const row of candidates) {
      // Whoever moves lease_until first owns the attempt; others see count 0.
      const { count } = await this.prisma.cardNetworkReversal.updateMany({
        where: { ...due, key: row.key },
        data: { leaseUntil },
      });
      if (count === 1) claimed.push(toRecord({ ...row, leaseUntil }));
    }
    return claimed;
  }

  async markDone(key: string, responseCode: string, now: Date): Promise<void> {
    await this.prisma.cardNetworkReversal.updateMany({
      where: { key, status: 'pending' },
      data: { status: 'done', lastResponseCode: responseCode, leaseUntil: null, updatedAt: now },
    });
  }

  async markRetry(key: string, u: RetryUpdate, now: Date, replaysSeen: number): Promise<void> {
    const { count } = await this.prisma.cardNetworkReversal.updateMany({
      where: { key, status: 'pending', replays: replaysSeen },
      data: {
        attempts: u.attempts,
        nextAttemptAt: u.nextAttemptAt,
        lastResponseCode: u.lastResponseCode ?? null,
        lastError: u.lastError ?? null,
        leaseUntil: null,
        updatedAt: now,
      },
    });
    if (count === 0) await this.releaseAfterReplay(key, replaysSeen, now);
  }

  async markExpired(key: string, reason: string, now: Date, replaysSeen: number): Promise<void> {
    const { count } = await this.prisma.cardNetworkReversal.updateMany({
      where: { key, status: 'pending', replays: replaysSeen },
      data: { status: 'expired', lastError: reason.slice(0, 200), leaseUntil: null, updatedAt: now },
    });
    if (count === 0) await this.releaseAfterReplay(key, replaysSeen, now);
  }

  /** An operator replayed the record after the caller read it: keep the replay, free the caller's lease. */
  private async releaseAfterReplay(key: string, replaysSeen: number, now: Date): Promise<void> {
    await this.prisma.cardNetworkReversal.updateMany({
      where: { key, status: 'pending', NOT: { replays: replaysSeen } },
      data: { leaseUntil: null, updatedAt: now },
    });
  }

  async get(key: string): Promise<ReversalRecord | undefined> {
    const row = await this.prisma.cardNetworkReversal.findUnique({ where: { key } });
    return row === null ? undefined : toRecord(row);
  }

  async list(status?: ReversalStatus): Promise<ReversalRecord[]> {
    const rows = await this.prisma.cardNetworkReversal.findMany({
      where: status === undefined ? {} : { status },
      orderBy: { createdAt: 'asc' },
    });
    return rows.map(toRecord);
  }

  async replay(key: string, now: Date): Promise<ReplayOutcome> {
    // One conditional statement: attempts_at_replay takes the row's own attempts, and a lease a
    // forwarder holds right now stays (its send goes on; the next attempt is due at once anyway).
    const count = await this.prisma.$executeRaw`
      UPDATE card_network_reversal
         SET status = 'pending',
             next_attempt_at = ${now},
             lease_until = CASE WHEN lease_until > ${now} THEN lease_until ELSE NULL END,
             replays = replays + 1,
             replayed_at = ${now},
             attempts_at_replay = attempts,
             updated_at = ${now}
       WHERE key = ${key} AND status IN ('pending', 'expired')`;
    if (count === 1) return 'replayed';
    const row = await this.prisma.cardNetworkReversal.findUnique({ where: { key }, select: { status: true } });
    return row === null ? 'not-found' : row.status === 'pending' || row.status === 'expired' ? 'replayed' : row.status;
  }
}

export class PrismaRequestJournal implements RequestJournal {
  constructor(private readonly prisma: PrismaClient) {}

  async begin(
    key: string,
    requestHash: string,
    now: Date,
  ): Promise<{ started: true } | { started: false; entry: JournalEntry }> {
    const { count } = await this.prisma.cardNetworkRequest.createMany({
      data: [{ key, requestHash, status: 'in_flight', createdAt: now, updatedAt: now }],
      skipDuplicates: true,
    });
    if (count === 1) return { started: true };
    const entry = await this.get(key);
    if (entry === undefined) throw new Error(`card_network_request ${key} vanished`);
    return { started: false, entry };
  }

  async get(key: string): Promise<JournalEntry | undefined> {
    const row = await this.prisma.cardNetworkRequest.findUnique({ where: { key } });
    if (row === null) return undefined;
    const result = parseStoredResult(row.result);
    return {
      key: row.key,
      requestHash: row.requestHash,
      status: row.status === 'done' ? 'done' : 'in_flight',
      createdAt: row.createdAt,
      ...(result === undefined ? {} : { result }),
    };
  }

  async finish(key: string, result: StoredResult, now: Date): Promise<void> {
    await this.prisma.cardNetworkRequest.updateMany({
      where: { key },
      data: { status: 'done', result, updatedAt: now },
    });
  }

  async abandon(key: string): Promise<void> {
    await this.prisma.cardNetworkRequest.deleteMany({ where: { key, status: 'in_flight' } });
  }
}

export class PrismaReconciliationExceptionQueue implements ReconciliationExceptionQueue {
  constructor(private readonly prisma: PrismaClient) {}

  async push(batchId: string, exceptions: readonly ReconciliationException[]): Promise<void> {
    if (exceptions.length === 0) return;
    await this.prisma.cardNetworkReconException.createMany({
      data: exceptions.map((e) => ({
        batchId,
        kind: e.kind,
        key: e.key,
        ...(e.ledger === undefined ? {} : { ledger: { ...e.ledger } }),
        ...(e.network === undefined ? {} : { network: { ...e.network } }),
      })),
    });
  }

  async open(batchId?: string): Promise<readonly (ReconciliationException & { readonly batchId: string })[]> {
    const rows = await this.prisma.cardNetworkReconException.findMany({
      where: { resolved: false, ...(batchId === undefined ? {} : { batchId }) },
      orderBy: { id: 'asc' },
    });
    const out: (ReconciliationException & { readonly batchId: string })[] = [];
    for (const row of rows) {
      if (row.kind !== 'long' && row.kind !== 'short' && row.kind !== 'amount_mismatch') continue;
      const ledger = parseRecord(row.ledger);
      const network = parseRecord(row.network);
      out.push({
        batchId: row.batchId,
        kind: row.kind,
        key: row.key,
        ...(ledger === undefined ? {} : { ledger }),
        ...(network === undefined ? {} : { network }),
      });
    }
    return out;
  }
}

function parseRecord(value: unknown): SettlementRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v: Record<string, unknown> = { ...value };
  const { terminalId, stan, date, amountMinor, currency, processingCode, rrn, maskedPan } = v;
  if (typeof terminalId !== 'string' || typeof stan !== 'string' || typeof date !== 'string') return undefined;
  if (typeof amountMinor !== 'number' || typeof currency !== 'string' || typeof processingCode !== 'string')
    return undefined;
  return {
    terminalId,
    stan,
    date,
    amountMinor,
    currency,
    processingCode,
    ...(typeof rrn === 'string' ? { rrn } : {}),
    ...(typeof maskedPan === 'string' ? { maskedPan } : {}),
  };
}
