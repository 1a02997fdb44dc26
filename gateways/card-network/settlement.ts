/**
 * End-of-day settlement: batch totals (0500), batch upload (0320), and reconciliation of the
 * ledger's records against the network's settlement file. Matching is by terminal id + STAN +
 * transaction date; an exception is `long` (in our ledger, missing from the network file: the
 * network will not settle it), `short` (in the network file, missing from our ledger: we were
 * settled for something we did not book) or `amount_mismatch`.
 */
import { FixpayError } from '../../domain/errors';
import type { FieldValue, IsoMessage } from '../iso8583';
import { transmissionDateTime } from './transactions';

export interface BatchTotals {
  readonly terminalId: string;
  readonly merchantId: string;
  readonly batchNumber: string;
  readonly currency: string;
  readonly debitsCount: number;
  readonly debitsAmountMinor: number;
  readonly creditsCount: number;
  readonly creditsAmountMinor: number;
}

export interface BatchUploadItem {
  readonly terminalId: string;
  readonly merchantId: string;
  readonly batchNumber: string;
  readonly stan: string;
  readonly rrn: string;
  readonly processingCode: string;
  readonly amountMinor: number;
  readonly currency: string;
}

const digits = (n: number, width: number): string => {
  if (!Number.isSafeInteger(n) || n < 0 || String(n).length > width)
    throw new FixpayError('ISO8583_FIELD_INVALID', `value does not fit n${width}`);
  return String(n).padStart(width, '0');
};

export function buildBatchTotals(t: BatchTotals, stan: string, at: Date): IsoMessage {
  return {
    mti: '0500',
    fields: new Map<number, FieldValue>([
      [7, transmissionDateTime(at)],
      [11, stan],
      [41, t.terminalId],
      [42, t.merchantId],
      [49, t.currency],
      [60, { '1': '00', '2': t.batchNumber, '3': '201' }],
      [74, digits(t.creditsCount, 10)],
      [76, digits(t.debitsCount, 10)],
      [86, digits(t.creditsAmountMinor, 16)],
      [88, digits(t.debitsAmountMinor, 16)],
    ]),
  };
}

export function buildBatchUpload(item: BatchUploadItem, stan: string, at: Date): IsoMessage {
  return {
    mti: '0320',
    fields: new Map<number, FieldValue>([
      [3, item.processingCode],
      [4, digits(item.amountMinor, 12)],
      [7, transmissionDateTime(at)],
      [11, stan],
      [37, item.rrn],
      [41, item.terminalId],
      [42, item.merchantId],
      [49, item.currency],
      [60, { '1': '00', '2': item.batchNumber, '3': '201' }],
      [61, { '1': item.batchNumber, '2': item.stan }],
    ]),
  };
}

/** One settled transaction, from either side. No clear PAN: the masked PAN at most. */
export interface SettlementRecord {
  readonly terminalId: string;
  readonly stan: string;
  /** Transaction date, MMDD. */
  readonly date: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly processingCode: string;
  readonly rrn?: string;
  readonly maskedPan?: string;
}

/** The ledger side of reconciliation (owned by the ledger; this port is what reconciliation needs). */
export interface LedgerRecordSource {
  settledRecords(date: string): Promise<readonly SettlementRecord[]>;
}

export type ExceptionKind = 'long' | 'short' | 'amount_mismatch';

export interface ReconciliationException {
  readonly kind: ExceptionKind;
  readonly key: string;
  readonly ledger?: SettlementRecord;
  readonly network?: SettlementRecord;
}

export interface ReconciliationReport {
  readonly matched: number;
  readonly exceptions: readonly ReconciliationException[];
  readonly ledgerTotalMinor: number;
  readonly networkTotalMinor: number;
}

/** Where exceptions wait for an operator. */
export interface ReconciliationExceptionQueue {
  push(batchId: string, exceptions: readonly ReconciliationException[]): Promise<void>;
  open(batchId?: string): Promise<readonly (ReconciliationException & { readonly batchId: string })[]>;
}

export class InMemoryReconciliationExceptionQueue implements ReconciliationExceptionQueue {
  private readonly items: (ReconciliationException & { readonly batchId: string })[] = [];
  push(batchId: string, exceptions: readonly ReconciliationException[]): Promise<void> {
    for (const e of exceptions) this.items.push({ ...e, batchId });
    return Promise.resolve();
  }
  open(batchId?: string): Promise<readonly (ReconciliationException & { readonly batchId: string })[]> {
    return Promise.resolve(this.items.filter((e) => batchId === undefined || e.batchId === batchId));
  }
}

export const recordKey = (r: SettlementRecord): string => `${r.terminalId}|${r.stan}|${r.date}`;

/** Compares both sides; pure. */
export function reconcile(
  ledger: readonly SettlementRecord[],
  network: readonly SettlementRecord[],
): ReconciliationReport {
  const byKey = new Map(network.map((r) => [recordKey(r), r]));
  const exceptions: ReconciliationException[] = [];
  let matched = 0;
  for (const l of ledger) {
    const key = recordKey(l);
    const n = byKey.get(key);
    if (n === undefined) exceptions.push({ kind: 'long', key, ledger: l });
    else {
      byKey.delete(key);
      if (n.amountMinor !== l.amountMinor || n.currency !== l.currency)
        exceptions.push({ kind: 'amount_mismatch', key, ledger: l, network: n });
      else matched++;
    }
  }
  for (const [key, n] of byKey) exceptions.push({ kind: 'short', key, network: n });
  const sum = (rs: readonly SettlementRecord[]): number => rs.reduce((a, r) => a + r.amountMinor, 0);
  return { matched, exceptions, ledgerTotalMinor: sum(ledger), networkTotalMinor: sum(network) };
}

/** Header of the settlement file the bank simulator writes (CSV, one transaction per line). */
export const SETTLEMENT_FILE_HEADER = 'date,terminalId,stan,rrn,processingCode,amountMinor,currency,maskedPan';

/** Parses a settlement file. Throws SETTLEMENT_FILE_INVALID naming the line. */
export function parseSettlementFile(text: string): SettlementRecord[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines[0] !== SETTLEMENT_FILE_HEADER) throw new FixpayError('SETTLEMENT_FILE_INVALID', 'unexpected header line');
  return lines.slice(1).map((line, i) => {
    const [date, terminalId, stan, rrn, processingCode, amount, currency, maskedPan, ...rest] = line.split(',');
    const ok =
      rest.length === 0 &&
      date !== undefined &&
      /^\d{4}$/.test(date) &&
      terminalId?.length === 8 &&
      stan !== undefined &&
      /^\d{6}$/.test(stan) &&
      processingCode !== undefined &&
      /^\d{6}$/.test(processingCode) &&
      amount !== undefined &&
      /^\d{1,12}$/.test(amount) &&
      currency !== undefined &&
      /^\d{3}$/.test(currency) &&
      rrn !== undefined &&
      maskedPan !== undefined;
    if (!ok) throw new FixpayError('SETTLEMENT_FILE_INVALID', `line ${i + 2}`);
    return {
      date,
      terminalId,
      stan,
      rrn,
      processingCode,
      amountMinor: Number(amount),
      currency,
      ...(maskedPan === '' ? {} : { maskedPan }),
    };
  });
}

/** Writes records in the settlement file format. */
export function formatSettlementFile(records: readonly SettlementRecord[]): string {
  const rows = records.map((r) =>
    [r.date, r.terminalId, r.stan, r.rrn ?? '', r.processingCode, r.amountMinor, r.currency, r.maskedPan ?? ''].join(
      ',',
    ),
  );
  return [SETTLEMENT_FILE_HEADER, ...rows].join('\n') + '\n';
}
