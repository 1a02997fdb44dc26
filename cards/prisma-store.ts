/**
 * Programme cards in the database (`prepaid_card`, prisma/schema/cards.prisma). Rows are parsed on
 * read: a malformed one is an error, never a card. The table's CHECKs refuse clear card data.
 */
import { CARD_STATES } from '../core/cards';
import { FixpayError } from '../domain/errors';
import type { Prisma, PrismaClient } from '../generated/prisma/client';
import type { LmkPan, LmkPin } from '../hsm/port';
import { PrismaLedgerStore } from '../ledger/store';
import type { CardRecord, CardStore, CardUnitOfWork, CardWrites } from './store';

/** How long one card batch or replacement may hold its database transaction, ms. */
export const CARD_TRANSACTION_TIMEOUT_MS_DEFAULT = 120_000;

type Row = Awaited<ReturnType<PrismaClient['prepaidCard']['findUniqueOrThrow']>>;

function fromRow(row: Row): CardRecord {
  const state = CARD_STATES.find((s) => s === row.state);
  if (state === undefined) throw new FixpayError('INTERNAL', 'stored card state is malformed');
  return {
    id: row.id,
    batchId: row.batchId,
    bin: row.bin,
    panToken: row.panToken,
    panMasked: row.panMasked,
    ...(row.panUnderLmk === null ? {} : { panUnderLmk: row.panUnderLmk as LmkPan }),
    state,
    expiry: row.expiry,
    serviceCode: row.serviceCode,
    pinReference: row.pinReference as LmkPin,
    accountRef: row.accountRef,
    ...(row.replaces === null ? {} : { replaces: row.replaces }),
  };
}

export class PrismaCardStore implements CardStore {
  constructor(private readonly prisma: PrismaClient | Prisma.TransactionClient) {}

  /**
   * All or nothing: the card rows and the ledger accounts and transfers of one batch or replacement
   * in one database transaction (ADR 0026).
   */
  static unitOfWork(prisma: PrismaClient, timeoutMs: number = CARD_TRANSACTION_TIMEOUT_MS_DEFAULT): CardUnitOfWork {
    return <T>(fn: (w: CardWrites) => Promise<T>): Promise<T> =>
      prisma.$transaction((tx) => fn({ store: new PrismaCardStore(tx), ledger: PrismaLedgerStore.within(tx) }), {
        timeout: timeoutMs,
        maxWait: timeoutMs,
        isolationLevel: 'ReadCommitted',
      });
  }

  async put(card: CardRecord): Promise<void> {
    await this.prisma.prepaidCard.create({
      data: {
        id: card.id,
        batchId: card.batchId,
        bin: card.bin,
        panToken: card.panToken,
        panMasked: card.panMasked,
        panUnderLmk: card.panUnderLmk ?? null,
        state: card.state,
        expiry: card.expiry,
        serviceCode: card.serviceCode,
        pinReference: card.pinReference,
        accountRef: card.accountRef,
        replaces: card.replaces ?? null,
      },
    });
  }

  async byId(id: string): Promise<CardRecord | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const row = await this.prisma.prepaidCard.findUnique({ where: { id } });
    return row === null ? undefined : fromRow(row);
  }

  async byPanToken(token: string): Promise<CardRecord | undefined> {
    const row = await this.prisma.prepaidCard.findUnique({ where: { panToken: token } });
    return row === null ? undefined : fromRow(row);
  }

  async setState(id: string, state: CardRecord['state']): Promise<void> {
    await this.prisma.prepaidCard.update({ where: { id }, data: { state } });
  }

  async setPinReference(id: string, reference: LmkPin): Promise<void> {
    await this.prisma.prepaidCard.update({ where: { id }, data: { pinReference: reference } });
  }

  async successorOf(id: string): Promise<CardRecord | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const row = await this.prisma.prepaidCard.findFirst({ where: { replaces: id } });
    return row === null ? undefined : fromRow(row);
  }

  async byBatch(batchId: string): Promise<readonly CardRecord[]> {
    if (!/^[0-9a-f-]{36}$/i.test(batchId)) return [];
    const rows = await this.prisma.prepaidCard.findMany({ where: { batchId }, orderBy: { panMasked: 'asc' } });
    return rows.map(fromRow);
  }
}
