/**
 * The business core's vocabulary: customers (households, merchants), terminals and their lifecycle,
 * PSAMs, phone bindings, BIN routes and terminal transactions. Pure types and tables; the Prisma
 * repositories are in core/repository.ts. See docs/business-core.md.
 */
import type { ResultCodeName } from '../domain/errors';

export const CUSTOMER_KINDS = ['household', 'merchant'] as const;
export type CustomerKind = (typeof CUSTOMER_KINDS)[number];

export const TERMINAL_STATES = ['registered', 'bound', 'activated', 'in_service', 'suspended', 'retired'] as const;
export type TerminalState = (typeof TERMINAL_STATES)[number];

export const TERMINAL_EVENTS = [
  'bind',
  'unbind',
  'activate',
  'downloadKeys',
  'suspend',
  'resume',
  'retire',
  'replacePsam',
  'moveLine',
] as const;
export type TerminalEvent = (typeof TERMINAL_EVENTS)[number];

export const PSAM_STATUSES = ['active', 'blocked', 'retired'] as const;
export type PsamStatus = (typeof PSAM_STATUSES)[number];

export const TRANSACTION_STATUSES = ['pending', 'authorized', 'completed', 'declined', 'reversed', 'failed'] as const;
export type TransactionStatus = (typeof TRANSACTION_STATUSES)[number];

export interface Customer {
  readonly id: string;
  readonly kind: CustomerKind;
  readonly name: string;
}

/** What a binding check is for: a sign-on may come from a terminal that is activated, not yet in service. */
export type BindingPurpose = 'transact' | 'sign-on';

export interface Terminal {
  readonly id: string;
  readonly customerId: string;
  readonly deviceProfileId: string;
  readonly state: TerminalState;
}

export interface Psam {
  readonly psamNo: string;
  readonly status: PsamStatus;
  /** The HSM key handle its session keys derive from; never the key itself. */
  readonly keyHandle: string | undefined;
}

export interface PhoneBinding {
  readonly terminalId: string;
  readonly psamNo: string;
  /** Caller number, digits only. */
  readonly ani: string;
}

export interface BinRoute {
  /** Inclusive BIN prefix range; both ends have the same number of digits. */
  readonly binLow: string;
  readonly binHigh: string;
  readonly network: string;
  readonly issuerId: string;
  /** The card-network gateway connection to send the authorisation to. */
  readonly gatewayId: string;
}

/** Outcome of a business rule: a value, or a catalogue code with a detail safe to log. */
export type CoreResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: ResultCodeName; readonly detail: string };

export const refuse = (code: ResultCodeName, detail: string): { ok: false; code: ResultCodeName; detail: string } => ({
  ok: false,
  code,
  detail,
});

/**
 * The ledger account a customer's money lives in: a merchant is paid into `merchant:<id>`, a
 * household pays from `customer-funds:<id>`. Seed data and checkBinding use the same names.
 */
export function ledgerReferenceFor(customer: Pick<Customer, 'id' | 'kind'>): string {
  return customer.kind === 'merchant' ? `merchant:${customer.id}` : `customer-funds:${customer.id}`;
}
