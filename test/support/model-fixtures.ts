/**
 * Values the generic round-trip test (infra/database/schema.int.test.ts) must use for columns
 * that carry CHECK constraints or formats it cannot guess. Keyed by `Model.field`.
 * Add an entry here when your migration constrains a column's content.
 */
export const FIELD_VALUES: Readonly<Record<string, unknown>> = {
  'IdempotencyRecord.requestHash': 'a'.repeat(64),
  // ledger (prisma/migrations/20261126032100_ledger): UUID ids, ISO 4217 code, exclusive flags.
  'LedgerAccount.id': '00000000-0000-0000-0000-00000000a001',
  'LedgerAccount.currency': 'CNY',
  'LedgerAccount.userData128': '00000000-0000-0000-0000-00000000a002',
  'LedgerAccount.debitsMustNotExceedCredits': false,
  'LedgerAccount.creditsMustNotExceedDebits': false,
  'LedgerTransfer.id': '00000000-0000-0000-0000-00000000a003',
  'LedgerTransfer.userData128': '00000000-0000-0000-0000-00000000a004',
  'LedgerTransfer.pendingId': null,
  'LedgerTransfer.pending': true,
  'LedgerTransfer.postPendingTransfer': false,
  'LedgerTransfer.voidPendingTransfer': false,
  // business core (prisma/migrations/20261126032000_business): formats checked by the SQL.
  'Psam.psamNo': 'A1B2C3D4E5F60001',
  'Psam.kcv': '0A1B2C',
  'Terminal.tmkKcv': '3D4E5F',
  'RebindingRequest.ani': '862150000009',
  'RebindingRequest.psamNo': 'A1B2C3D4E5F60001',
  'OperatorApproval.requestedBy': 'operator:alice',
  'OperatorApproval.decidedBy': 'supervisor:bob',
  'PhoneBinding.ani': '862150000001',
  'PhoneBinding.unboundAt': null,
  'BinRoute.binLow': '622588',
  'BinRoute.binHigh': '622588',
  'TerminalTransaction.panMasked': '622588******1234',
  'TerminalTransaction.currency': 'CNY',
  // service definitions (prisma/migrations/20261126031000_definitions): UUID id.
  'ServiceDefinition.id': '00000000-0000-0000-0000-00000000d001',
  // partner platform (prisma/migrations/20261203141000_partners): hash and currency formats.
  'PartnerApiKey.secretHash': 'b'.repeat(64),
  'PartnerBill.currency': 'CNY',
  'PartnerBill.dueDate': '2026-12-31',
  'Partner.country': 'CN',
  // information push (prisma/migrations/20261203180000_push): a text array.
  'TerminalPushAttributes.entitlements': ['bill-payment'],
  // prepaid cards (prisma/migrations/20261203200000_cards): CHECKs keep clear card data out.
  'PrepaidCard.id': '00000000-0000-0000-0000-00000000c001',
  'PrepaidCard.batchId': '00000000-0000-0000-0000-00000000c002',
  'PrepaidCard.replaces': '00000000-0000-0000-0000-00000000c003',
  'PrepaidCard.bin': '628888',
  'PrepaidCard.panToken': 'b'.repeat(64),
  'PrepaidCard.panMasked': '628888******1234',
  'PrepaidCard.panUnderLmk': `Q${'0A'.repeat(45)}`,
  'PrepaidCard.state': 'active',
  'PrepaidCard.expiry': '2912',
  'PrepaidCard.serviceCode': '120',
  'PrepaidCard.pinReference': `P${'A'.repeat(32)}`,
};
