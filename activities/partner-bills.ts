/**
 * Partner bills paid from the phone (ADR 0027): a bill an SP delivered through the partner API
 * (`partner_bill`) is looked up by customer reference, claimed by the run (conditional update
 * `open → paid`, recording the run's key), reopened only by the run that claimed it (compensation),
 * and — after the money is posted — confirmed: one `bill.paid` delivery per bill, its id derived
 * from the bill id, started as the durable run `webhook:<deliveryId>`. Retries, replays of the run
 * and restarts of the API or the worker cannot queue a second confirmation.
 */
import { FixpayError } from '../domain/errors';
import { parseCurrency } from '../domain/money';
import type { PrismaClient } from '../generated/prisma/client';
import type { DeliveryStarter } from '../partners/service';
import { billView } from '../partners/service';
import { activityFailure } from './failure';

export interface PartnerBillDeps {
  readonly prisma: PrismaClient;
  /** Starts the delivery run (api/webhook-runs.ts); starting one twice is harmless. */
  readonly startDelivery: DeliveryStarter;
  /** Whose bills the phones pay: `live` in production, `test` (sandbox bills) on a demo platform. */
  readonly mode: 'live' | 'test';
  readonly now?: () => Date;
}

export interface PartnerBillQuote {
  readonly status: 'DUE' | 'NOT_FOUND' | 'WRONG_CURRENCY';
  readonly billId: string;
  readonly amount: number;
  readonly description: string;
}

export interface PartnerBillActivities {
  findPartnerBill(q: { customerRef: string; currency: string }): Promise<PartnerBillQuote>;
  claimPartnerBill(q: { billId: string; idempotencyKey: string }): Promise<{ claimed: boolean }>;
  reopenPartnerBill(q: { billId: string; originalIdempotencyKey: string }): Promise<{ reopened: boolean }>;
  confirmPartnerBill(q: {
    billId: string;
    terminalId: string;
    idempotencyKey: string;
  }): Promise<{ queued: boolean; deliveryId: string }>;
}

/** Printable reference, as the partner API accepts it (1–64 characters). */
const CUSTOMER_REF = /^[\x21-\x7e]{1,64}$/;
const BILL_ID = /^bill_[A-Za-z0-9_-]{1,27}$/;

/** The one confirmation of a bill: `dlv_<bill id suffix>` (and `msg_<…>` as its `webhook-id`). */
export function confirmationIds(billId: string): { deliveryId: string; messageId: string } {
  const suffix = billId.slice('bill_'.length);
  return { deliveryId: `dlv_${suffix}`, messageId: `msg_${suffix}` };
}

function checkBillId(billId: string): void {
  if (!BILL_ID.test(billId)) throw new FixpayError('BAD_REQUEST', 'billId is not a bill id');
}

function guard<A extends unknown[], R>(f: (...a: A) => Promise<R>): (...a: A) => Promise<R> {
  return async (...a) => {
    try {
      return await f(...a);
    } catch (e) {
      throw activityFailure(e);
    }
  };
}

export function createPartnerBillActivities(deps: PartnerBillDeps): PartnerBillActivities {
  const now = deps.now ?? (() => new Date());
  const prisma = deps.prisma;
  return {
    findPartnerBill: guard(async (q) => {
      if (typeof q.customerRef !== 'string' || !CUSTOMER_REF.test(q.customerRef))
        throw new FixpayError('BAD_REQUEST', 'customerRef must be 1-64 printable characters');
      const want = parseCurrency(q.currency);
      if (!want.ok) throw new FixpayError('BAD_REQUEST', want.error.message);
      // The oldest open bill for the reference (the status index narrows it).
      const bill = await prisma.partnerBill.findFirst({
        where: { status: 'open', mode: deps.mode, customerRef: q.customerRef },
        orderBy: { createdAt: 'asc' },
      });
      if (bill === null) return { status: 'NOT_FOUND', billId: '', amount: 0, description: '' };
      const has = parseCurrency(bill.currency);
      const amount = Number(bill.amountMinor);
      if (!has.ok || has.value.numeric !== want.value.numeric)
        return { status: 'WRONG_CURRENCY', billId: bill.id, amount, description: '' };
      return { status: 'DUE', billId: bill.id, amount, description: bill.description.slice(0, 64) };
    }),

    claimPartnerBill: guard(async (q) => {
      checkBillId(q.billId);
      const changed = await prisma.partnerBill.updateMany({
        where: { id: q.billId, status: 'open', mode: deps.mode },
        data: { status: 'paid', paidAt: now(), paidBy: q.idempotencyKey },
      });
      if (changed.count === 1) return { claimed: true };
      // A retry of our own claim (the answer was lost) is the same claim.
      const bill = await prisma.partnerBill.findUnique({ where: { id: q.billId } });
      if (bill?.status === 'paid' && bill.paidBy === q.idempotencyKey) return { claimed: true };
      throw new FixpayError('BILL_NOT_PAYABLE', bill === null ? 'no such bill' : `bill is ${bill.status}`);
    }),

    reopenPartnerBill: guard(async (q) => {
      checkBillId(q.billId);
      // Only the run that claimed it, and only before a confirmation exists (none does before the pivot).
      const { deliveryId } = confirmationIds(q.billId);
      const confirmed = await prisma.webhookDelivery.findUnique({ where: { id: deliveryId } });
      if (confirmed !== null) return { reopened: false };
      const changed = await prisma.partnerBill.updateMany({
        where: { id: q.billId, status: 'paid', paidBy: q.originalIdempotencyKey },
        data: { status: 'open', paidAt: null, paidBy: null },
      });
      return { reopened: changed.count === 1 };
    }),

    confirmPartnerBill: guard(async (q) => {
      checkBillId(q.billId);
      const bill = await prisma.partnerBill.findUnique({ where: { id: q.billId }, include: { partner: true } });
      if (bill?.status !== 'paid') throw new FixpayError('BILL_NOT_PAYABLE', 'the bill is not paid');
      const { deliveryId, messageId } = confirmationIds(q.billId);
      if (bill.partner.webhookUrl === null) return { queued: false, deliveryId: '' };
      const { partner: _partner, ...row } = bill;
      await prisma
        .$transaction(async (tx) => {
          const existing = await tx.webhookDelivery.findUnique({ where: { id: deliveryId } });
          if (existing !== null) return false;
          await tx.webhookDelivery.create({
            data: {
              id: deliveryId,
              messageId,
              partnerId: bill.partnerId,
              mode: bill.mode,
              eventType: 'bill.paid',
              payload: { bill: { ...billView(row) } },
              status: 'pending',
            },
          });
          await tx.auditEvent.create({
            data: {
              actor: `terminal:${q.terminalId.slice(0, 16)}`,
              action: 'bill.paid',
              subject: `partner:${bill.partnerId}`,
              details: { billId: bill.id, deliveryId },
            },
          });
          return true;
        })
        .catch((e: unknown) => {
          // Two attempts raced on the same delivery id: the other one created it.
          if ((e as { code?: string }).code === 'P2002') return false;
          throw e;
        });
      await deps.startDelivery(deliveryId);
      return { queued: true, deliveryId };
    }),
  };
}
