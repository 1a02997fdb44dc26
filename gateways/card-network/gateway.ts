/**
 * The card network gateway: one transport (channel), one mux, the reversal store-and-forward and
 * the idempotency journal, wired together. Every financial operation is idempotent under its key;
 * every money-moving request is covered by an armed reversal before it is sent.
 */
import { createHash } from 'node:crypto';
import type { ResultCodeName } from '../../domain/errors';
import { FixpayError, isFixpayError, resultCodes } from '../../domain/errors';
import type { IsoMessage } from '../iso8583';
import { summarizeMessage, textField } from '../iso8583';
import type { MessageTransport } from './channel';
import type { RequestJournal, StoredResult } from './journal';
import type { GatewayLogger } from './logger';
import { silentLogger } from './logger';
import type { NetworkMac } from './mac';
import type { MuxOptions } from './mux';
import { isResponseMti, Mux } from './mux';
import type { ReversalForwarderOptions } from './reversal-forwarder';
import { ReversalForwarder } from './reversal-forwarder';
import type { ReversalQueue, ReversalStatus } from './reversal-queue';
import type { BatchTotals, BatchUploadItem } from './settlement';
import { buildBatchTotals, buildBatchUpload } from './settlement';
import type { CardholderRequest, FinancialKind, Institution, NetworkOutcome } from './transactions';
import {
  buildFinancialRequest,
  buildNetworkManagement,
  FINANCIAL_KINDS,
  maskedPanOf,
  outcomeOf,
  reversalMessageOf,
  validateRequest,
} from './transactions';

export const REQUEST_TIMEOUT_MS_DEFAULT = 10_000;
/** Extra wait before an armed reversal counts as abandoned by its gateway. */
export const REVERSAL_GRACE_MS_DEFAULT = 5_000;
export const ECHO_INTERVAL_MS_DEFAULT = 60_000;
/** How long `reverse` waits for the acknowledgement before answering "still pending". */
export const REVERSE_WAIT_MS_DEFAULT = 15_000;

export interface CardNetworkGatewayOptions extends Institution {
  readonly requestTimeoutMs?: number;
  readonly reversalGraceMs?: number;
  /** 0 disables echo tests. */
  readonly echoIntervalMs?: number;
  readonly signOnOnConnect?: boolean;
  readonly reverseWaitMs?: number;
  readonly mux?: MuxOptions;
  readonly reversals?: Omit<ReversalForwarderOptions, 'requestTimeoutMs'>;
}

export interface CardNetworkGatewayDeps {
  readonly transport: MessageTransport;
  /** MACs every message sent and checks every message received (the link's ZAK, in the HSM). */
  readonly mac: NetworkMac;
  readonly reversals: ReversalQueue;
  readonly journal: RequestJournal;
  readonly clock?: () => Date;
  readonly logger?: GatewayLogger;
}

export interface ReverseOutcome {
  /**
   * `none`: nothing to reverse — nothing was ever sent for this key, it cannot move money, or the
   * issuer declined the original (then `originalResponseCode` is its field 39).
   */
  readonly status: ReversalStatus | 'none';
  readonly responseCode?: string;
  /** Field 39 of a declined original: no money moved, so no 0400 is sent. */
  readonly originalResponseCode?: string;
}

export interface SettlementOutcome {
  readonly inBalance: boolean;
  readonly responseCode: string;
}

function isResultCodeName(name: string): name is ResultCodeName {
  return resultCodes.some((c) => c.name === name);
}

/** Hash of what identifies a request, without card data (the PAN enters only masked). */
function requestHash(kind: string, req: CardholderRequest): string {
  const canonical = JSON.stringify([
    kind,
    req.terminalId,
    req.merchantId,
    req.stan,
    maskedPanOf(req),
    req.amountMinor ?? null,
    req.currency,
    req.targetAccount === undefined ? null : req.targetAccount.slice(-4),
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

function storedOutcome(value: Readonly<Record<string, unknown>>): NetworkOutcome {
  const { approved, responseCode, resultCode, resultName, rrn, authorizationCode, balanceMinor } = value;
  if (typeof approved !== 'boolean' || typeof responseCode !== 'string' || typeof resultCode !== 'string') {
    throw new FixpayError('INTERNAL', 'stored card network outcome is malformed');
  }
  if (typeof resultName !== 'string' || !isResultCodeName(resultName))
    throw new FixpayError('INTERNAL', 'stored outcome has an unknown result');
  return {
    approved,
    responseCode,
    resultCode,
    resultName,
    ...(typeof rrn === 'string' ? { rrn } : {}),
    ...(typeof authorizationCode === 'string' ? { authorizationCode } : {}),
    ...(typeof balanceMinor === 'number' ? { balanceMinor } : {}),
  };
}

export class CardNetworkGateway {
  readonly mux: Mux;
  private readonly forwarder: ReversalForwarder;
  private readonly clock: () => Date;
  private readonly logger: GatewayLogger;
  private readonly requestTimeoutMs: number;
  private readonly reversalGraceMs: number;
  private stanCounter = Math.floor(Math.random() * 900_000);
  private echoTimer: NodeJS.Timeout | undefined;
  private signedOn = false;

  constructor(
    private readonly deps: CardNetworkGatewayDeps,
    private readonly options: CardNetworkGatewayOptions,
  ) {
    this.clock = deps.clock ?? (() => new Date());
    this.logger = deps.logger ?? silentLogger;
    this.requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
    this.reversalGraceMs = options.reversalGraceMs ?? REVERSAL_GRACE_MS_DEFAULT;
    this.mux = new Mux((msg) => deps.transport.send(msg), { logger: this.logger, ...options.mux });
    this.forwarder = new ReversalForwarder(
      {
        queue: deps.reversals,
        send: (msg, timeoutMs) => this.request(msg, timeoutMs),
        clock: this.clock,
        logger: this.logger,
      },
      { requestTimeoutMs: this.requestTimeoutMs, ...options.reversals },
    );
  }

  get isSignedOn(): boolean {
    return this.signedOn;
  }

  /** Connects, signs on when connected, starts echo tests and the reversal forwarder. */
  start(): void {
    this.deps.transport.setHandlers({
      onMessage: (msg, _envelope, body) => {
        this.onMessage(msg, body).catch((e: unknown) =>
          this.logger.error({ event: 'card_network.receive_failed', error: String(e) }, 'failed to handle a message'),
        );
      },
      onMalformed: (error, partial) => {
        this.logger.error(
          { event: 'card_network.malformed', error: error.message, ...summarizeMessage(partial) },
          'malformed message from card network',
        );
        this.mux.deliverMalformed(partial, error);
      },
      onConnect: () => {
        if (this.options.signOnOnConnect ?? true) {
          this.signOn().catch((e: unknown) =>
            this.logger.error({ event: 'card_network.sign_on_failed', error: String(e) }, 'sign-on failed'),
          );
        }
      },
      onDisconnect: () => {
        this.signedOn = false;
      },
    });
    this.deps.transport.start();
    this.forwarder.start();
    const every = this.options.echoIntervalMs ?? ECHO_INTERVAL_MS_DEFAULT;
    if (every > 0) {
      this.echoTimer = setInterval(() => {
        if (!this.deps.transport.connected) return;
        this.echo().catch((e: unknown) =>
          this.logger.warn({ event: 'card_network.echo_failed', error: String(e) }, 'echo test failed'),
        );
      }, every);
    }
  }

  /**
   * Stops everything. Requests still waiting fail with CARD_NETWORK_NO_RESPONSE and their reversals
   * are activated; the durable queue keeps them for the next start.
   */
  async stop(): Promise<void> {
    if (this.echoTimer !== undefined) clearInterval(this.echoTimer);
    await this.forwarder.stop();
    this.mux.failAll('gateway stopping');
    await this.deps.transport.stop();
  }

  /** One forwarder pass now (tests, operators). */
  forwardReversals(): Promise<number> {
    return this.forwarder.tick();
  }

  /** 0800/001. Throws SIGN_ON_FAILED on a refusal, or the mux's errors. */
  async signOn(): Promise<void> {
    const response = await this.request(
      buildNetworkManagement('001', this.nextStan(), this.options, this.clock()),
      this.requestTimeoutMs,
    );
    const rc = textField(response, 39);
    if (rc !== '00') throw new FixpayError('SIGN_ON_FAILED', `response code ${rc ?? 'missing'}`);
    this.signedOn = true;
    this.logger.info({ event: 'card_network.signed_on' }, 'signed on to card network');
  }

  /** 0800/301 echo test; resolves with the round trip in ms. */
  async echo(): Promise<number> {
    const started = performance.now();
    await this.request(
      buildNetworkManagement('301', this.nextStan(), this.options, this.clock()),
      this.requestTimeoutMs,
    );
    return performance.now() - started;
  }

  authorize(req: CardholderRequest): Promise<NetworkOutcome> {
    return this.financial('purchase', req);
  }

  balanceInquiry(req: CardholderRequest): Promise<NetworkOutcome> {
    return this.financial('balanceInquiry', req);
  }

  transfer(req: CardholderRequest): Promise<NetworkOutcome> {
    return this.financial('transfer', req);
  }

  repayCreditCard(req: CardholderRequest): Promise<NetworkOutcome> {
    return this.financial('creditCardRepayment', req);
  }

  /**
   * Reverses the operation made under `idempotencyKey` (a compensation). Idempotent: queues the
   * reversal once and reports its state, waiting up to `reverseWaitMs` for the acknowledgement.
   * A reversal is needed only when the original's outcome is approved or unknown (no answer,
   * malformed answer, gateway lost): an original the issuer declined, or one never sent, moved no
   * money and completes as `none` without sending anything.
   */
  async reverse(idempotencyKey: string, reasonCode = '17'): Promise<ReverseOutcome> {
    const record = await this.deps.reversals.get(idempotencyKey);
    if (record === undefined) return { status: 'none' };
    const now = this.clock();
    if (record.status === 'cancelled') {
      // Disarmed: a well-formed answer came (declined or approved), or the request never left.
      const entry = await this.deps.journal.get(idempotencyKey);
      if (entry === undefined) return { status: 'none' };
      const answer = entry.status === 'done' && entry.result?.kind === 'outcome' ? entry.result.outcome : undefined;
      if (answer?.['approved'] === false) {
        const rc = answer['responseCode'];
        this.logger.info(
          { event: 'card_network.reversal_not_needed', key: idempotencyKey, responseCode: rc },
          'original declined by the issuer; nothing to reverse',
        );
        return { status: 'none', ...(typeof rc === 'string' ? { originalResponseCode: rc } : {}) };
      }
    }
    if (record.status === 'armed' || record.status === 'cancelled') {
      await this.deps.reversals.enqueue(
        {
          key: record.key,
          message: { ...record.message, reasonCode },
          deadlineAt: now,
          ...(record.maskedPan === undefined ? {} : { maskedPan: record.maskedPan }),
        },
        now,
      );
    }
    const waitUntil = Date.now() + (this.options.reverseWaitMs ?? REVERSE_WAIT_MS_DEFAULT);
    for (;;) {
      const current = await this.deps.reversals.get(idempotencyKey);
      if (current === undefined) return { status: 'none' };
      if (current.status !== 'pending' || Date.now() >= waitUntil) {
        return {
          status: current.status,
          ...(current.lastResponseCode === undefined ? {} : { responseCode: current.lastResponseCode }),
        };
      }
      await this.forwarder.tick();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** 0500 batch totals. */
  async settleBatch(totals: BatchTotals): Promise<SettlementOutcome> {
    const response = await this.request(buildBatchTotals(totals, this.nextStan(), this.clock()), this.requestTimeoutMs);
    const rc = textField(response, 39) ?? '';
    return { inBalance: rc === '00', responseCode: rc };
  }

  /** 0320 batch upload, one message per transaction; returns the response code of each. */
  async uploadBatch(items: readonly BatchUploadItem[]): Promise<string[]> {
    const out: string[] = [];
    for (const item of items) {
      const response = await this.request(buildBatchUpload(item, this.nextStan(), this.clock()), this.requestTimeoutMs);
      out.push(textField(response, 39) ?? '');
    }
    return out;
  }

  private nextStan(): string {
    this.stanCounter = (this.stanCounter % 999_999) + 1;
    return String(this.stanCounter).padStart(6, '0');
  }

  /**
   * MACs `msg` and sends it through the mux. A request that cannot be MACed was not sent: it fails
   * with CARD_NETWORK_UNAVAILABLE (or ISO8583_FIELD_INVALID when it does not pack).
   */
  private async request(msg: IsoMessage, timeoutMs: number): Promise<IsoMessage> {
    let signed: IsoMessage;
    try {
      signed = await this.deps.mac.sign(msg);
    } catch (e) {
      if (isFixpayError(e, 'ISO8583_FIELD_INVALID')) throw e;
      const why = e instanceof FixpayError ? e.code : 'error';
      throw new FixpayError('CARD_NETWORK_UNAVAILABLE', `the request could not be MACed (${why})`, { cause: e });
    }
    return this.mux.request(signed, timeoutMs);
  }

  /** Every message is authenticated first: one without a good MAC is logged and otherwise ignored. */
  private async onMessage(msg: IsoMessage, body: Buffer): Promise<void> {
    const verdict = await this.deps.mac.check(msg, body);
    if (verdict !== 'ok') {
      if (isResponseMti(msg.mti)) this.mux.reject(msg, verdict);
      else
        this.logger.warn(
          { event: 'card_network.request_refused', reason: 'bad-mac', detail: verdict, ...summarizeMessage(msg) },
          'request from card network without a valid MAC; ignored',
        );
      return;
    }
    if (isResponseMti(msg.mti)) {
      this.mux.deliver(msg);
      return;
    }
    if (msg.mti === '0800') {
      // The network's own echo test or sign-on: answer it.
      const fields = new Map(msg.fields);
      fields.set(39, '00');
      try {
        this.deps.transport.send(await this.deps.mac.sign({ mti: '0810', fields }));
      } catch (e) {
        this.logger.warn({ event: 'card_network.reply_failed', error: String(e) }, 'could not answer network 0800');
      }
      return;
    }
    this.logger.warn(
      { event: 'card_network.unexpected_request', ...summarizeMessage(msg) },
      'unexpected request from card network',
    );
  }

  private async financial(kind: FinancialKind, req: CardholderRequest): Promise<NetworkOutcome> {
    validateRequest(kind, req);
    const k = FINANCIAL_KINDS[kind];
    const key = req.idempotencyKey;
    const hash = requestHash(kind, req);
    const now = this.clock();
    const begun = await this.deps.journal.begin(key, hash, now);
    if (!begun.started) {
      const entry = begun.entry;
      if (entry.requestHash !== hash) throw new FixpayError('IDEMPOTENCY_KEY_REUSED', `key ${key}`);
      if (entry.status === 'done' && entry.result !== undefined) return this.replay(entry.result);
      if (now.getTime() - entry.createdAt.getTime() < this.requestTimeoutMs + this.reversalGraceMs) {
        throw new FixpayError('REQUEST_IN_FLIGHT', `key ${key}`);
      }
      // The gateway that sent it died before finishing: the armed reversal covers it.
      await this.deps.reversals.activate(key, '98', now);
      this.forwarder.wake();
      const result: StoredResult = {
        kind: 'error',
        codeName: 'CARD_NETWORK_NO_RESPONSE',
        detail: 'the sending gateway stopped before the response',
      };
      await this.deps.journal.finish(key, result, now);
      return this.replay(result);
    }
    const request = buildFinancialRequest(kind, req, this.options, now);
    if (k.movesMoney) {
      await this.deps.reversals.arm(
        {
          key,
          message: reversalMessageOf(request, '98'),
          maskedPan: maskedPanOf(req),
          deadlineAt: new Date(now.getTime() + this.requestTimeoutMs + this.reversalGraceMs),
        },
        now,
      );
    }
    let response: IsoMessage;
    try {
      response = await this.request(request, this.requestTimeoutMs);
    } catch (e) {
      await this.afterFailure(key, k.movesMoney, e);
      throw e;
    }
    let outcome: NetworkOutcome;
    try {
      outcome = outcomeOf(response);
    } catch (e) {
      await this.afterFailure(key, k.movesMoney, e);
      throw e;
    }
    if (k.movesMoney && !(await this.deps.reversals.disarm(key, this.clock()))) {
      // The forwarder already took the reversal over (the response came after the deadline).
      const result: StoredResult = {
        kind: 'error',
        codeName: 'CARD_NETWORK_NO_RESPONSE',
        detail: 'response came after the reversal deadline',
      };
      await this.deps.journal.finish(key, result, this.clock());
      return this.replay(result);
    }
    await this.deps.journal.finish(key, { kind: 'outcome', outcome: { ...outcome } }, this.clock());
    this.logger.info(
      { event: 'card_network.outcome', kind, key, stan: req.stan, responseCode: outcome.responseCode },
      'card network answered',
    );
    return outcome;
  }

  private async afterFailure(key: string, movesMoney: boolean, e: unknown): Promise<void> {
    const now = this.clock();
    const notSent =
      isFixpayError(e, 'CARD_NETWORK_UNAVAILABLE') ||
      isFixpayError(e, 'MUX_LIMIT_REACHED') ||
      isFixpayError(e, 'MUX_DUPLICATE_KEY') ||
      isFixpayError(e, 'ISO8583_FIELD_INVALID');
    if (notSent) {
      if (movesMoney) await this.deps.reversals.disarm(key, now);
      await this.deps.journal.abandon(key);
      return;
    }
    const codeName = e instanceof FixpayError ? e.codeName : 'CARD_NETWORK_NO_RESPONSE';
    if (movesMoney) {
      await this.deps.reversals.activate(key, codeName === 'CARD_NETWORK_RESPONSE_MALFORMED' ? '96' : '98', now);
      this.forwarder.wake();
    }
    await this.deps.journal.finish(
      key,
      { kind: 'error', codeName, detail: e instanceof Error ? e.message : String(e) },
      now,
    );
    this.logger.warn(
      { event: 'card_network.reversal_activated', key, code: codeName },
      'no usable response; reversal queued',
    );
  }

  private replay(result: StoredResult): NetworkOutcome {
    if (result.kind === 'outcome') return storedOutcome(result.outcome);
    const name = isResultCodeName(result.codeName) ? result.codeName : 'INTERNAL';
    throw new FixpayError(name, result.detail);
  }
}
