// Table-driven over every state of the reversal lifecycle (armed, pending, done, expired,
// cancelled) and every operation, for the in-memory queue. The Prisma queue is exercised against
// the same behaviour in reversal-durable.int.test.ts.
import type { NewReversal, ReversalQueue, ReversalStatus } from './reversal-queue';
import { InMemoryReversalQueue } from './reversal-queue';

const t0 = new Date('2026-11-26T10:00:00Z');
const at = (ms: number): Date => new Date(t0.getTime() + ms);
const reversal: NewReversal = {
  key: 'k',
  deadlineAt: at(1000),
  maskedPan: '622588******0001',
  message: {
    originalMti: '0200',
    processingCode: '000000',
    amount: '000000001000',
    currency: '156',
    stan: '000001',
    transmissionDateTime: '1126100000',
    terminalId: 'TERM0001',
    merchantId: 'MERCHANT0000001',
    acquirerId: '1234',
    forwardingId: '5678',
    reasonCode: '98',
  },
};

async function inState(status: ReversalStatus): Promise<ReversalQueue> {
  const q = new InMemoryReversalQueue();
  await q.arm(reversal, t0);
  if (status === 'cancelled') await q.disarm('k', t0);
  if (status === 'pending' || status === 'done' || status === 'expired') await q.activate('k', '98', t0);
  if (status === 'done') await q.markDone('k', '00', t0);
  if (status === 'expired') await q.markExpired('k', 'test', t0, 0);
  return q;
}

type Op = [string, (q: ReversalQueue) => Promise<unknown>];
const ops: Op[] = [
  ['disarm', (q) => q.disarm('k', at(1))],
  ['activate', (q) => q.activate('k', '96', at(1))],
  ['enqueue', (q) => q.enqueue({ ...reversal, message: { ...reversal.message, reasonCode: '17' } }, at(1))],
  ['promoteOverdue', (q) => q.promoteOverdue(at(5000))],
  ['markDone', (q) => q.markDone('k', '00', at(1))],
  ['markExpired', (q) => q.markExpired('k', 'x', at(1), 0)],
];

// Expected status after each operation, per starting state (columns in `ops` order).
const table: Record<ReversalStatus, ReversalStatus[]> = {
  armed: ['cancelled', 'pending', 'pending', 'pending', 'armed', 'armed'],
  pending: ['pending', 'pending', 'pending', 'pending', 'done', 'expired'],
  done: ['done', 'done', 'done', 'done', 'done', 'done'],
  expired: ['expired', 'expired', 'expired', 'expired', 'expired', 'expired'],
  cancelled: ['cancelled', 'cancelled', 'pending', 'cancelled', 'cancelled', 'cancelled'],
};

describe('reversal lifecycle', () => {
  for (const [from, expected] of Object.entries(table) as [ReversalStatus, ReversalStatus[]][]) {
    it.each(ops.map(([name, op], i) => [name, op, expected[i]] as const))(
      `${from} --%s--> %s`,
      async (_name, op, to) => {
        const q = await inState(from);
        await op(q);
        expect((await q.get('k'))?.status).toBe(to);
      },
    );
  }

  it('arms once per key, keeps no clear PAN, and leases due records to one claimer at a time', async () => {
    const q = new InMemoryReversalQueue();
    await q.arm(reversal, t0);
    await q.arm({ ...reversal, deadlineAt: at(9999) }, t0);
    expect((await q.get('k'))?.deadlineAt).toEqual(at(1000));
    expect(JSON.stringify(await q.list())).not.toMatch(/6225880000000001/);
    expect(await q.claimDue(at(500), 10, 1000)).toEqual([]); // armed is never claimed
    expect(await q.promoteOverdue(at(1000))).toBe(1);
    expect(await q.claimDue(at(1000), 10, 1000)).toHaveLength(1);
    expect(await q.claimDue(at(1500), 10, 1000)).toHaveLength(0); // leased
    await q.markRetry(
      'k',
      { attempts: 1, nextAttemptAt: at(1600), lastError: 'CARD_NETWORK_NO_RESPONSE' },
      at(1500),
      0,
    );
    const [again] = await q.claimDue(at(1600), 10, 1000);
    expect(again).toMatchObject({ attempts: 1, lastError: 'CARD_NETWORK_NO_RESPONSE' });
  });
});

describe('an operator replay between a forwarder read and its update', () => {
  async function claimedExpiredCandidate(): Promise<{ q: InMemoryReversalQueue; seen: number }> {
    const q = new InMemoryReversalQueue();
    await q.arm(reversal, t0);
    await q.activate('k', '98', t0);
    const [claimed] = await q.claimDue(at(1), 10, 60_000);
    return { q, seen: claimed!.replays ?? 0 };
  }

  it('survives the forwarder giving up on the record it read before the replay', async () => {
    const { q, seen } = await claimedExpiredCandidate();
    expect(await q.replay('k', at(2))).toBe('replayed');
    await q.markExpired('k', 'gave up after 5 attempts', at(3), seen);
    const r = await q.get('k');
    expect(r).toMatchObject({ status: 'pending', replays: 1, nextAttemptAt: at(2) });
    expect(r?.lastError).toBeUndefined();
    // The stale forwarder's lease is released, so the replay is sent on the next pass, not after the lease.
    expect(await q.claimDue(at(3), 10, 1000)).toHaveLength(1);
  });

  it('survives the forwarder rescheduling the record it read before the replay', async () => {
    const { q, seen } = await claimedExpiredCandidate();
    await q.replay('k', at(2));
    await q.markRetry(
      'k',
      { attempts: 9, nextAttemptAt: at(999_999), lastError: 'CARD_NETWORK_NO_RESPONSE' },
      at(3),
      seen,
    );
    expect(await q.get('k')).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: at(2), replays: 1 });
    expect(await q.claimDue(at(3), 10, 1000)).toHaveLength(1);
  });

  it('still expires and reschedules when no replay came in between', async () => {
    const { q, seen } = await claimedExpiredCandidate();
    await q.markRetry('k', { attempts: 1, nextAttemptAt: at(500) }, at(3), seen);
    expect(await q.get('k')).toMatchObject({ status: 'pending', attempts: 1, nextAttemptAt: at(500) });
    // A replay that the forwarder did read does not shield its own later decision.
    await q.replay('k', at(600));
    const [reread] = await q.claimDue(at(600), 10, 1000);
    await q.markExpired('k', 'gave up', at(700), reread!.replays ?? 0);
    expect(await q.get('k')).toMatchObject({ status: 'expired', replays: 1 });
  });
});
