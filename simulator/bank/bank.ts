/**
 * The issuer / card network behind `fixpay sim bank`: card accounts (debit and credit), balances,
 * PIN verification under the simulator's zone key, limits and response codes, idempotent handling
 * of repeats and reversals, batch settlement, and a settlement file. Pure logic: the TCP server and
 * fault injection live in `server.ts`.
 */
import type { FieldValue, IsoMessage } from '../../gateways/iso8583';
import { bytesField, subfieldsField, textField } from '../../gateways/iso8583';
import type { SettlementRecord } from '../../gateways/card-network';
import { formatSettlementFile } from '../../gateways/card-network';
import { maskPan } from '../../domain/masking';
import { decryptPin } from './pin';

export interface Account {
  readonly pan: string;
  readonly kind: 'debit' | 'credit';
  /** Debit: funds. Credit: negative while the cardholder owes. Minor units. */
  balanceMinor: number;
  /** Credit cards only: how far below zero the balance may go. */
  readonly creditLimitMinor: number;
  readonly pin: string;
  /** YYMM; when set, field 14 must match. */
  readonly expirationDate?: string;
  readonly perTransactionLimitMinor: number;
  readonly blocked?: boolean;
}

interface Movement {
  readonly pan: string;
  readonly deltaMinor: number;
}

interface Transaction {
  readonly key: string;
  readonly response: IsoMessage;
  readonly approved: boolean;
  readonly movements: readonly Movement[];
  readonly record: SettlementRecord;
  readonly batchNumber: string;
  reversed: boolean;
  reversalsApplied: number;
}

export interface BankOptions {
  /** Zone PIN key (16 or 24 bytes). */
  readonly zpk: Buffer;
  readonly accounts: readonly Account[];
  /** Whether transactions need a prior sign-on (0800/001) on the connection; off by default. */
  readonly institutionId?: string;
}

const RESPONSE_FIELDS = [3, 4, 7, 11, 12, 13, 25, 32, 33, 41, 42, 49, 60, 90, 103];

export class Bank {
  private readonly accounts = new Map<string, Account>();
  private readonly transactions = new Map<string, Transaction>();
  private rrnCounter = 0;
  private readonly zpk: Buffer;
  /** Counters the tests read. */
  readonly stats = { requests: 0, reversalMessages: 0, reversalsApplied: 0, signOns: 0, echoes: 0 };

  constructor(options: BankOptions) {
    this.zpk = options.zpk;
    for (const a of options.accounts) this.accounts.set(a.pan, { ...a });
  }

  account(pan: string): Account | undefined {
    return this.accounts.get(pan);
  }

  /** How many times the original named by terminal + STAN was actually reversed (should be 0 or 1). */
  reversalsOf(terminalId: string, stan: string): number {
    let n = 0;
    for (const t of this.transactions.values()) if (t.key.startsWith(`${terminalId}|${stan}|`)) n += t.reversalsApplied;
    return n;
  }

  /** Whether the bank saw the original request at all. */
  sawOriginal(terminalId: string, stan: string): boolean {
    for (const t of this.transactions.values()) if (t.key.startsWith(`${terminalId}|${stan}|`)) return true;
    return false;
  }

  /** Approved, not reversed transactions: what the network will settle. */
  settlementRecords(): SettlementRecord[] {
    return [...this.transactions.values()]
      .filter((t) => t.approved && !t.reversed && !t.record.processingCode.startsWith('31'))
      .map((t) => t.record);
  }

  settlementFile(): string {
    return formatSettlementFile(this.settlementRecords());
  }

  /**
   * The answer to a request the network refuses without processing it (A0: its MAC failed);
   * nothing changes. Undefined for messages that get no answer.
   */
  refuse(msg: IsoMessage, responseCode: string): IsoMessage | undefined {
    if (!['0800', '0200', '0400', '0401', '0500', '0320'].includes(msg.mti)) return undefined;
    return this.reply(msg, responseCode);
  }

  /** Answers one request; undefined for messages that get no answer (responses, unknown MTIs). */
  handle(msg: IsoMessage): IsoMessage | undefined {
    this.stats.requests++;
    switch (msg.mti) {
      case '0800':
        return this.networkManagement(msg);
      case '0200':
        return this.financial(msg);
      case '0400':
      case '0401':
        return this.reversal(msg);
      case '0500':
        return this.batchTotals(msg);
      case '0320':
        return this.batchUpload(msg);
      default:
        return undefined;
    }
  }

  private reply(msg: IsoMessage, responseCode: string, extra: Readonly<Record<number, FieldValue>> = {}): IsoMessage {
    const fields = new Map<number, FieldValue>();
    for (const id of RESPONSE_FIELDS) {
      const v = msg.fields.get(id);
      if (v !== undefined) fields.set(id, v);
    }
    fields.set(39, responseCode);
    for (const [k, v] of Object.entries(extra)) fields.set(Number(k), v);
    const mti = `${msg.mti.slice(0, 2)}${String(Number(msg.mti[2]) + 1)}${msg.mti[3] === '1' ? '0' : (msg.mti[3] ?? '0')}`;
    return { mti, fields };
  }

  private networkManagement(msg: IsoMessage): IsoMessage {
    const code = textField(msg, 70);
    if (code === '001') this.stats.signOns++;
    if (code === '301') this.stats.echoes++;
    const fields = new Map(msg.fields);
    fields.set(39, '00');
    return { mti: '0810', fields };
  }

  private nextRrn(): string {
    this.rrnCounter++;
    return String(this.rrnCounter).padStart(12, '0');
  }

  private financial(msg: IsoMessage): IsoMessage {
    const terminalId = textField(msg, 41) ?? '';
    const stan = textField(msg, 11) ?? '';
    const key = `${terminalId}|${stan}|${textField(msg, 7) ?? ''}`;
    const seen = this.transactions.get(key);
    if (seen !== undefined) return seen.response; // a repeat gets the same answer, nothing moves twice
    const { responseCode, movements, extra } = this.decide(msg);
    const approved = responseCode === '00';
    for (const m of approved ? movements : []) {
      const a = this.accounts.get(m.pan);
      if (a !== undefined) a.balanceMinor += m.deltaMinor;
    }
    const rrn = this.nextRrn();
    const authorization = approved ? { 38: rrn.slice(-6) } : {};
    const balance =
      approved && textField(msg, 3) === '310000'
        ? { 54: this.balanceGroup(textField(msg, 2) ?? '', textField(msg, 49) ?? '156') }
        : {};
    const response = this.reply(msg, responseCode, { 37: rrn, ...authorization, ...balance, ...extra });
    const pan = textField(msg, 2) ?? '';
    const batch = subfieldsField(msg, 60)?.['2'] ?? '000000';
    this.transactions.set(key, {
      key,
      response,
      approved,
      movements,
      batchNumber: batch,
      reversed: false,
      reversalsApplied: 0,
      record: {
        date: textField(msg, 13) ?? '0000',
        terminalId,
        stan,
        rrn,
        processingCode: textField(msg, 3) ?? '',
        amountMinor: Number(textField(msg, 4) ?? '0'),
        currency: textField(msg, 49) ?? '',
        maskedPan: maskPan(pan),
      },
    });
    return response;
  }

  private balanceGroup(pan: string, currency: string): string {
    const a = this.accounts.get(pan);
    const available = a === undefined ? 0 : a.balanceMinor + (a.kind === 'credit' ? a.creditLimitMinor : 0);
    return `0002${currency}${available < 0 ? 'D' : 'C'}${String(Math.abs(available)).padStart(12, '0')}`;
  }

  private decide(msg: IsoMessage): {
    responseCode: string;
    movements: Movement[];
    extra?: Readonly<Record<number, FieldValue>>;
  } {
    const pan = textField(msg, 2);
    const processingCode = textField(msg, 3) ?? '';
    const amount = Number(textField(msg, 4) ?? '0');
    const account = pan === undefined ? undefined : this.accounts.get(pan);
    if (pan === undefined || account === undefined || account.blocked === true)
      return { responseCode: '14', movements: [] };
    const expiry = textField(msg, 14);
    if (account.expirationDate !== undefined && expiry !== undefined && expiry !== account.expirationDate)
      return { responseCode: '54', movements: [] };
    const pinBlock = bytesField(msg, 52);
    if (pinBlock !== undefined && decryptPin(pinBlock, pan, this.zpk) !== account.pin)
      return { responseCode: '55', movements: [] };
    const available = account.balanceMinor + (account.kind === 'credit' ? account.creditLimitMinor : 0);
    const kind = processingCode.slice(0, 2);
    if (kind === '31') return { responseCode: '00', movements: [] };
    if (amount > account.perTransactionLimitMinor) return { responseCode: '61', movements: [] };
    if (kind === '00') {
      if (amount > available) return { responseCode: '51', movements: [] };
      return { responseCode: '00', movements: [{ pan, deltaMinor: -amount }] };
    }
    if (kind === '40' || kind === '50') {
      const target = textField(msg, 103);
      const to = target === undefined ? undefined : this.accounts.get(target);
      if (target === undefined || to === undefined) return { responseCode: '14', movements: [] };
      if (kind === '50' && to.kind !== 'credit') return { responseCode: '12', movements: [] };
      if (amount > available) return { responseCode: '51', movements: [] };
      return {
        responseCode: '00',
        movements: [
          { pan, deltaMinor: -amount },
          { pan: target, deltaMinor: amount },
        ],
      };
    }
    return { responseCode: '12', movements: [] };
  }

  private reversal(msg: IsoMessage): IsoMessage {
    this.stats.reversalMessages++;
    const original = subfieldsField(msg, 90);
    const terminalId = textField(msg, 41) ?? '';
    if (original === undefined) return this.reply(msg, '30');
    const key = `${terminalId}|${original['2'] ?? ''}|${original['3'] ?? ''}`;
    const t = this.transactions.get(key);
    if (t === undefined) return this.reply(msg, '25');
    if (t.approved && !t.reversed) {
      for (const m of t.movements) {
        const a = this.accounts.get(m.pan);
        if (a !== undefined) a.balanceMinor -= m.deltaMinor;
      }
      t.reversed = true;
      t.reversalsApplied++;
      this.stats.reversalsApplied++;
    }
    return this.reply(msg, '00');
  }

  private batchTotals(msg: IsoMessage): IsoMessage {
    const terminalId = textField(msg, 41) ?? '';
    const batch = subfieldsField(msg, 60)?.['2'] ?? '';
    let debitsCount = 0;
    let debitsAmount = 0;
    for (const t of this.transactions.values()) {
      if (!t.approved || t.reversed || t.record.terminalId !== terminalId || t.batchNumber !== batch) continue;
      if (t.record.processingCode.startsWith('31')) continue;
      debitsCount++;
      debitsAmount += t.record.amountMinor;
    }
    const inBalance =
      Number(textField(msg, 76) ?? '-1') === debitsCount && Number(textField(msg, 88) ?? '-1') === debitsAmount;
    return this.reply(msg, inBalance ? '00' : '95');
  }

  private batchUpload(msg: IsoMessage): IsoMessage {
    const rrn = textField(msg, 37);
    const found = [...this.transactions.values()].some((t) => t.record.rrn === rrn && t.approved && !t.reversed);
    return this.reply(msg, found ? '00' : '25');
  }
}
