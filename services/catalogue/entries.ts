/**
 * The activity catalogue: every activity a service definition may call, declared as data. The
 * real implementations live in `activities/` (HSM, card network, ledger, terminal I/O, billers);
 * `services/catalogue/fake.ts` implements the same contracts in memory for tests.
 */
import type { VType } from '../runtime/expr';
import type { CatalogueEntry } from './types';

const str = (extra: Partial<VType> = {}): VType => ({ type: 'string', ...extra });
const int: VType = { type: 'integer' };
const money: VType = { type: 'integer', money: true };
const bool: VType = { type: 'boolean' };
const any: VType = { type: 'any' };
const obj = (properties: Record<string, VType>, optional: string[] = []): VType => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
});

const currency = str();
const terminalId = str();

export const catalogueEntries: readonly CatalogueEntry[] = [
  // --- terminal binding and channel -------------------------------------------------------
  {
    name: 'checkBinding',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    local: true,
    input: obj({ terminalId, ani: str(), psamId: str(), purpose: str() }, ['psamId', 'purpose']),
    output: obj({ bound: bool, merchantId: str(), accountId: str() }),
    example: { bound: true, merchantId: 'M0001', accountId: 'merchant:M0001' },
    description:
      'Checks the phone number (ANI) ↔ terminal ↔ PSAM binding; purpose sign-on also admits an activated terminal.',
  },
  {
    name: 'terminalKeysLoaded',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    input: obj({ terminalId }),
    output: obj({ state: str() }),
    example: { state: 'in_service' },
    description:
      'Records a sign-on’s key download (lifecycle step downloadKeys): an activated terminal goes in service.',
  },
  {
    name: 'sendToTerminal',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    input: obj({ terminalId, message: str(), responseCode: str(), reference: str() }, ['responseCode', 'reference']),
    output: obj({ acknowledged: bool }),
    example: { acknowledged: true },
    description:
      'Sends a message (hex) to the terminal on the run’s live call once the call is idle, and waits for the link ACK (task queue lines.<nodeId>); acknowledged: false when the call is gone.',
  },
  {
    name: 'hangUpCall',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    input: obj({ terminalId }),
    output: obj({ released: bool }),
    example: { released: true },
    description: 'Releases the run’s live call (REL, then hang-up; task queue lines.<nodeId>).',
  },
  // The phone's verdict on a purchase (ADR 0012, activities/terminal-verdicts.ts): the run's row
  // in the per-terminal list of sales waiting for a verdict, and the phone's reversal.
  {
    name: 'openTerminalVerdict',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    input: obj({ terminalId, stan: str(), requestDigest: str() }),
    output: obj({ reversed: bool }),
    example: { reversed: false },
    description:
      'Opens the sale in the list of sales waiting for the phone’s verdict (terminal id + STAN); reversed: true when the phone already reversed this STAN (a late copy of its request).',
  },
  {
    name: 'recordTerminalVerdict',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    input: obj(
      {
        terminalId,
        stan: str(),
        state: str({ enum: ['open', 'confirmed', 'reversed', 'declined', 'closed'] }),
        response: str(),
      },
      ['response'],
    ),
    output: obj({ recorded: bool }),
    example: { recorded: true },
    description:
      'Records where the sale stands and the answer the run stands by (hex, no card data), which repeats of the request get from any access node.',
  },
  {
    name: 'reverseTerminalSale',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    input: obj({ terminalId, stan: str() }),
    output: obj({ responseCode: str(), known: bool, late: bool }),
    example: { responseCode: '00', known: true, late: false },
    description:
      'The phone’s reversal (0400): tells the waiting purchase run (it reverses and voids); 25 for a sale the host never saw, which is then remembered as reversed; late: true when the sale was already settled (an operator refunds).',
  },
  {
    name: 'promptTerminal',
    kind: 'hsm',
    effect: 'none',
    idempotent: true,
    input: obj(
      {
        request: str({ sensitive: 'track2' }),
        terminalId,
        prompt: str(),
        input: obj(
          {
            kind: str({ enum: ['digits', 'amount', 'choice'] }),
            label: str(),
            minLength: int,
            maxLength: int,
            min: int,
            max: int,
            masked: bool,
            choices: str(),
          },
          ['kind', 'label', 'minLength', 'maxLength', 'min', 'max', 'masked', 'choices'],
        ),
      },
      ['request', 'input'],
    ),
    output: obj({ value: str(), status: str(), answered: bool }),
    example: { value: '1', status: 'answered', answered: true },
    description:
      'A prompt on the phone, for `listen: { terminal }` (ADR 0018): the text (fitted to the display of the terminal’s profile, card numbers masked) and the input spec (`choices` as `1=YES,2=NO`) go out as a screen signed under `request`’s session, on the call held by `lines.<nodeId>`; the listen’s value is the reply: `value` (empty when cancelled), `status` (`answered` or `cancelled`), `answered`.',
  },
  // --- HSM --------------------------------------------------------------------------------
  {
    name: 'verifyMac',
    kind: 'hsm',
    effect: 'none',
    idempotent: true,
    local: true,
    input: obj({ terminalId, macData: str(), mac: str() }),
    output: obj({ valid: bool }),
    example: { valid: true },
    description: 'Verifies the message MAC with the per-transaction key derived from the PSAM.',
  },
  {
    name: 'translatePin',
    kind: 'hsm',
    effect: 'none',
    idempotent: true,
    local: true,
    input: obj({ terminalId, pan: str({ sensitive: 'pan' }), pinBlock: str({ sensitive: 'pinBlock' }) }),
    output: obj({ pinBlock: str({ sensitive: 'pinBlock' }), keyId: str() }),
    example: { pinBlock: '0123456789ABCDEF', keyId: 'ZPK-1' },
    description: 'Translates the PIN block from the terminal PIN key to the network zone PIN key.',
  },
  // --- card network -----------------------------------------------------------------------
  {
    name: 'authorize',
    kind: 'gateway',
    effect: 'debit',
    idempotent: true,
    input: obj(
      {
        pan: str({ sensitive: 'pan' }),
        track2: str({ sensitive: 'track2' }),
        pinBlock: str({ sensitive: 'pinBlock' }),
        amount: money,
        currency,
        terminalId,
        stan: str(),
      },
      ['track2', 'pinBlock'],
    ),
    output: obj({ approved: bool, responseCode: str(), authCode: str(), rrn: str() }),
    example: { approved: true, responseCode: '00', authCode: 'A12345', rrn: '000000000001' },
    description: 'ISO 8583 financial request (0200) to the card network.',
  },
  {
    name: 'reverse',
    kind: 'gateway',
    effect: 'none',
    idempotent: true,
    undoes: 'authorize',
    input: obj({ amount: money, currency, terminalId, stan: str() }),
    output: obj({ reversed: bool }),
    example: { reversed: true },
    description: 'ISO 8583 reversal (0400) of the authorisation with the same key; a no-op if it never landed.',
  },
  {
    name: 'balanceInquiry',
    kind: 'gateway',
    effect: 'none',
    idempotent: true,
    input: obj({ pan: str({ sensitive: 'pan' }), pinBlock: str({ sensitive: 'pinBlock' }), terminalId, stan: str() }),
    output: obj({ approved: bool, responseCode: str(), balance: money, currency }),
    example: { approved: true, responseCode: '00', balance: 125000, currency: '156' },
    description: 'ISO 8583 balance inquiry (processing code 31).',
  },
  // --- ledger (TigerBeetle model: pending → post | void) ------------------------------------
  {
    name: 'reserveFunds',
    kind: 'ledger',
    effect: 'reserve',
    idempotent: true,
    input: obj({ accountId: str(), amount: money, currency }),
    output: obj({ reservationId: str() }),
    example: { reservationId: 'R1' },
    description: 'Creates a pending transfer (two-phase) for the amount.',
  },
  {
    name: 'voidReservation',
    kind: 'ledger',
    effect: 'none',
    idempotent: true,
    undoes: 'reserveFunds',
    input: obj({ accountId: str() }),
    output: obj({ voided: bool }),
    example: { voided: true },
    description: 'Voids the pending transfer made under the original key; a no-op if there is none.',
  },
  {
    name: 'postReservation',
    kind: 'ledger',
    effect: 'debit',
    idempotent: true,
    settles: 'reserveFunds',
    input: obj({ accountId: str(), reservationId: str() }),
    output: obj({ posted: bool }),
    example: { posted: true },
    description: 'Posts the pending transfer `reservationId`: the money moves for good.',
  },
  // Money around a provider call (ADR 0019, activities/provider-money.ts): hold face value + fee,
  // capture (post, fee to income, merchant commission) or release.
  {
    name: 'holdFunds',
    kind: 'ledger',
    effect: 'reserve',
    idempotent: true,
    input: obj({ accountId: str(), amount: money, currency, product: str() }),
    output: obj({ reservationId: str(), fee: money, total: money }),
    example: { reservationId: 'H1', fee: 100, total: 4650 },
    description:
      'Holds amount + the product’s customer fee on the account, for the provider (`product`: biller:<id> or topup:<operator>/<product>).',
  },
  {
    name: 'releaseFunds',
    kind: 'ledger',
    effect: 'none',
    idempotent: true,
    undoes: 'holdFunds',
    input: obj({ accountId: str() }),
    output: obj({ voided: bool }),
    example: { voided: true },
    description: 'Releases the hold made under the original key; a no-op if there is none.',
  },
  {
    name: 'captureFunds',
    kind: 'ledger',
    effect: 'debit',
    idempotent: true,
    settles: 'holdFunds',
    input: obj({ accountId: str(), reservationId: str(), product: str(), reference: str() }),
    output: obj({ posted: bool }),
    example: { posted: true },
    description:
      'Posts the hold, moves the fee to fee income and the merchant commission to the account, and journals the provider reference for reconciliation.',
  },
  // --- billers (bill-aggregator connector kind, ADR 0019) -----------------------------------
  {
    name: 'fetchBill',
    kind: 'biller',
    effect: 'none',
    idempotent: true,
    input: obj({ billerId: str(), customerRef: str() }),
    output: obj({
      status: str({ enum: ['DUE', 'PAID', 'NOT_FOUND'] }),
      billId: str(),
      amount: money,
      currency,
      fee: money,
      billerId: str(),
    }),
    example: { status: 'DUE', billId: 'B-1', amount: 4550, currency: '156', fee: 100, billerId: 'water-co' },
    description:
      'Bill inquiry at the biller’s aggregator (BBPS fetch); checks the customer reference against the biller’s parameters. `billerId` in: the biller’s id or its terminal code (digits a phone user keys); out: the biller’s id.',
  },
  {
    name: 'payBill',
    kind: 'biller',
    effect: 'debit',
    idempotent: true,
    input: obj({ billerId: str(), billId: str(), customerRef: str(), amount: money, currency }, ['customerRef']),
    output: obj({
      status: str({ enum: ['PAID', 'PENDING', 'DECLINED'] }),
      receipt: str(),
      reference: str(),
      checks: { type: 'array', items: int },
    }),
    example: { status: 'PAID', receipt: 'BR-1', reference: 'R-1', checks: [] },
    description:
      'Pays the bill under the idempotency key (our reference at the aggregator). A timeout or an open answer is PENDING, with `checks`: one item per status query the profile schedules.',
  },
  {
    name: 'billPaymentStatus',
    kind: 'biller',
    effect: 'none',
    idempotent: true,
    input: obj({ billerId: str(), reference: str(), attempt: int }),
    output: obj({
      status: str({ enum: ['PAID', 'PENDING', 'DECLINED'] }),
      receipt: str(),
      reference: str(),
      checks: { type: 'array', items: int },
    }),
    example: { status: 'PAID', receipt: 'BR-1', reference: 'R-1', checks: [] },
    description:
      'Status of the payment made under `reference`; a reference the aggregator never saw is DECLINED; a deemed-success biller counts PENDING at the last attempt as PAID.',
  },
  {
    name: 'cancelBillPayment',
    kind: 'biller',
    effect: 'none',
    idempotent: true,
    undoes: 'payBill',
    input: obj({ billerId: str(), billId: str(), customerRef: str() }, ['customerRef']),
    output: obj({ cancelled: bool }),
    example: { cancelled: true },
    description:
      'Cancels the payment made under the original key (a reference never seen is fenced so a late copy is refused); fails, and is retried, while the payment stands.',
  },
  // --- providers: top-up (top-up-aggregator connector kind) and lottery ----------------------
  {
    name: 'lookupOperator',
    kind: 'provider',
    effect: 'none',
    idempotent: true,
    input: obj({ msisdn: str() }),
    output: obj({ found: bool, operator: str() }),
    example: { found: true, operator: 'mobile-a' },
    description: 'The operator serving a number: prefixes from the operator data, confirmed by the aggregator.',
  },
  {
    name: 'topupMobile',
    kind: 'provider',
    effect: 'issue',
    idempotent: true,
    input: obj({ operator: str(), productId: str(), msisdn: str(), amount: money, currency }, ['productId']),
    output: obj({
      status: str({ enum: ['COMPLETED', 'PENDING', 'DECLINED'] }),
      providerRef: str(),
      reference: str(),
      voucher: str(),
      checks: { type: 'array', items: int },
    }),
    example: { status: 'COMPLETED', providerRef: 'T-1', reference: 'R-1', voucher: '', checks: [] },
    description:
      'Top-up (recharge or PIN product) at the aggregator, our reference = the idempotency key. A PIN comes back sealed (`voucher`), never in clear. A timeout or an open state is PENDING with `checks`.',
  },
  {
    name: 'topupStatus',
    kind: 'provider',
    effect: 'none',
    idempotent: true,
    input: obj({ operator: str(), productId: str(), reference: str() }, ['productId']),
    output: obj({
      status: str({ enum: ['COMPLETED', 'PENDING', 'DECLINED'] }),
      providerRef: str(),
      reference: str(),
      voucher: str(),
      checks: { type: 'array', items: int },
    }),
    example: { status: 'COMPLETED', providerRef: 'T-1', reference: 'R-1', voucher: '', checks: [] },
    description: 'Status of the top-up made under `reference`; a reference the aggregator never saw is DECLINED.',
  },
  {
    name: 'cancelTopup',
    kind: 'provider',
    effect: 'none',
    idempotent: true,
    undoes: 'topupMobile',
    input: obj({ operator: str(), msisdn: str() }),
    output: obj({ reversed: bool }),
    example: { reversed: true },
    description:
      'Cancels or reverses the top-up made under the original key (a no-op if none); fails, and is retried, while it stands.',
  },
  {
    name: 'issueTicket',
    kind: 'provider',
    effect: 'issue',
    idempotent: true,
    input: obj({ gameId: str(), drawId: str(), numbers: { type: 'array', items: int }, amount: money, currency }),
    output: obj({ ticketId: str() }),
    example: { ticketId: 'LT-1' },
    description: 'Issues one lottery ticket.',
  },
  {
    name: 'cancelTicket',
    kind: 'provider',
    effect: 'none',
    idempotent: true,
    undoes: 'issueTicket',
    input: obj({ gameId: str(), drawId: str() }),
    output: obj({ cancelled: bool }),
    example: { cancelled: true },
    description: 'Cancels the ticket issued under the original key (before the draw closes).',
  },
  // --- notify -----------------------------------------------------------------------------
  {
    name: 'emitEvent',
    kind: 'notify',
    effect: 'none',
    idempotent: true,
    input: obj({ event: str(), data: any }),
    output: obj({ delivered: bool }),
    example: { delivered: true },
    description: 'Publishes a business event (webhooks, audit) with the idempotency key as event id.',
  },
  {
    name: 'raiseAlert',
    kind: 'notify',
    effect: 'none',
    idempotent: true,
    input: obj({ severity: str({ enum: ['warning', 'critical'] }), summary: str(), workflowId: str() }),
    output: obj({ raised: bool }),
    example: { raised: true },
    description: 'Pages the operators (a compensation keeps failing).',
  },
  // --- terminal traffic (issue 7: activities/hsm.ts, worker/card-network-activities.ts) ----
  // `request` is the terminal's raw message (hex): it holds track 2 and the PIN block, so it may
  // only reach HSM and gateway activities.
  {
    name: 'verifyTerminalMac',
    kind: 'hsm',
    effect: 'none',
    idempotent: true,
    local: true,
    input: obj({ request: str({ sensitive: 'track2' }) }),
    output: obj({ valid: bool, reason: str(), psamCounter: int }),
    example: { valid: true, reason: 'OK', psamCounter: 12 },
    description: 'Checks the PSAM MAC (field 64) with the per-transaction key and refuses a replayed PSAM counter.',
  },
  {
    name: 'translateTerminalPin',
    kind: 'hsm',
    effect: 'none',
    idempotent: true,
    local: true,
    input: obj({ request: str({ sensitive: 'track2' }), terminalId }),
    output: obj({ pinBlock: str({ sensitive: 'pinBlock' }) }),
    example: { pinBlock: '0412AC89ABCDEF67' },
    description: "Re-enciphers the request's PIN block from the terminal's TPK to the card network's ZPK.",
  },
  {
    name: 'signOnTerminal',
    kind: 'hsm',
    effect: 'none',
    idempotent: false,
    input: obj({ terminalId }),
    output: obj({ field62: str(), keyVersion: int }),
    example: { field62: '00', keyVersion: 1 },
    description: 'New working keys (TPK, TAK, TDK) for the terminal, under its TMK for field 62 of the 0810.',
  },
  {
    name: 'answerTerminal',
    kind: 'hsm',
    effect: 'none',
    idempotent: true,
    local: true,
    input: obj(
      {
        request: str({ sensitive: 'track2' }),
        responseCode: str(),
        authCode: str(),
        rrn: str(),
        amount: int,
        balance: int,
        field62: str(),
        field59: str(),
      },
      ['authCode', 'rrn', 'amount', 'balance', 'field62', 'field59'],
    ),
    output: obj({ response: str() }),
    example: { response: '6000000003603100000000' },
    description:
      'Builds the 0210/0810 answer and MACs it with the PSAM session key of the request; `field59` (hex) carries a menu or a receipt (ADR 0018).',
  },
  {
    name: 'buildTerminalMenu',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    local: true,
    input: obj({ terminalId, menuVersion: str() }, ['menuVersion']),
    output: obj({ version: str(), changed: bool, entries: int, field59: str() }),
    example: { version: '0123456789abcdef', changed: true, entries: 1, field59: 'df0210' },
    description:
      'The terminal’s menu (ADR 0018): the live definitions with a `terminal` block that its device profile may run and hold, and its version; `field59` (hex) holds the entries only when `menuVersion` (what the phone holds) differs.',
  },
  {
    name: 'formatReceipt',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    local: true,
    input: obj({ terminalId, lines: { type: 'array', items: str() }, voucher: str() }, ['voucher']),
    output: obj({ field59: str(), lines: int }),
    example: { field59: 'df5003414243', lines: 1 },
    description:
      'A receipt for the terminal’s printer (ADR 0018): each line sanitised (no control or bidi characters, card numbers masked) and wrapped to the printer width of its profile; `field59` (hex) for `answerTerminal`. Empty on a profile without a printer. `voucher`: a sealed top-up PIN, opened here only and printed as `PIN <pin>` after the lines (never in the result’s clear text elsewhere).',
  },
  {
    name: 'deliverTerminalResponse',
    kind: 'channel',
    effect: 'none',
    idempotent: true,
    input: obj({ terminalId, response: str() }),
    output: obj({ delivered: bool }),
    example: { delivered: true },
    description: 'Hands the answer frame to the access node holding the call (task queue lines.<nodeId>).',
  },
  {
    name: 'authorizeCard',
    kind: 'gateway',
    effect: 'debit',
    idempotent: true,
    input: obj({
      request: str({ sensitive: 'track2' }),
      pinBlock: str({ sensitive: 'pinBlock' }),
      terminalId,
      merchantId: str(),
      stan: str(),
      amount: money,
      currency,
    }),
    output: obj({ approved: bool, responseCode: str(), authCode: str(), rrn: str(), balance: int }),
    example: { approved: true, responseCode: '00', authCode: 'A12345', rrn: '000000000001', balance: 0 },
    description:
      'ISO 8583 purchase (0200) for a terminal request; no answer in time comes back as responseCode 98 (a reversal is armed).',
  },
  {
    name: 'reverseCard',
    kind: 'gateway',
    effect: 'none',
    idempotent: true,
    undoes: 'authorizeCard',
    input: obj({ terminalId, stan: str() }),
    output: obj({ reversed: bool, status: str() }),
    example: { reversed: true, status: 'acknowledged' },
    description: 'ISO 8583 reversal (0400) of the purchase under the original key, from the durable reversal queue.',
  },
  {
    name: 'inquireCardBalance',
    kind: 'gateway',
    effect: 'none',
    idempotent: true,
    input: obj({
      request: str({ sensitive: 'track2' }),
      pinBlock: str({ sensitive: 'pinBlock' }),
      terminalId,
      merchantId: str(),
      stan: str(),
      currency,
    }),
    output: obj({ approved: bool, responseCode: str(), balance: int }),
    example: { approved: true, responseCode: '00', balance: 125000 },
    description: 'ISO 8583 balance inquiry (0200, 310000) for a terminal request.',
  },
];

/** The catalogue, by activity name. */
export function defaultCatalogue(): ReadonlyMap<string, CatalogueEntry> {
  return new Map(catalogueEntries.map((e) => [e.name, e]));
}
