/**
 * Wiring of the daily statements (partners/statements.ts): how a bill paid from the phone is found
 * in the ledger. The partner-bill service (definitions/partner-bill.yaml, ADR 0027) claims the
 * bill in its step `claim` and reserved the amount in step `reserve` of the same run, so the claim's
 * key `<run>/claim#<i>` names the reservation `<run>/reserve#<i>` (ledger id from its key); the
 * money moved when that reservation was posted.
 */
import { ledgerIdToUuid } from '../domain/ids';
import type { PrismaClient } from '../generated/prisma/client';
import { ledgerIdFor } from '../ledger/ids';
import type { LedgerLookup } from '../partners/statements';

const CLAIM_KEY = /^(.+)\/claim#(\d+)$/;

export function ledgerPostingLookup(prisma: PrismaClient): LedgerLookup {
  return async ({ paidBy }) => {
    const m = CLAIM_KEY.exec(paidBy);
    if (m === null) return undefined;
    const reservation = ledgerIdToUuid(ledgerIdFor('transfer', `${m[1] ?? ''}/reserve#${m[2] ?? '0'}`));
    const [pending, post] = await Promise.all([
      prisma.ledgerTransfer.findUnique({ where: { id: reservation }, select: { amount: true } }),
      prisma.ledgerTransfer.findFirst({
        where: { pendingId: reservation, postPendingTransfer: true },
        select: { id: true, amount: true },
      }),
    ]);
    if (pending === null || post === null) return undefined;
    // A post of amount 0 posts the whole reservation (TigerBeetle's convention).
    return { transferId: post.id, amountMinor: post.amount === 0n ? pending.amount : post.amount };
  };
}
