/**
 * The access node's side of a terminal transaction (ARCHITECTURE.md §3 steps 3–4): a channel
 * engine RequestHandler that starts the service workflow `<serviceId>:<terminalId>:<stan>:<date>`
 * on `services` (conflict policy USE_EXISTING, so a repeated request attaches to the same run and
 * is recognised before any PSAM counter check), and a Temporal worker on `lines.<nodeId>` whose
 * `deliverTerminalResponse` activity hands the signed answer back to the call waiting for it.
 *
 * Only the card-data-free summary of a request is read here; the request bytes travel whole, as
 * hex, inside the (encrypted) workflow input.
 */
import { Context } from '@temporalio/activity';
import type { Context as ActivityContext } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { OpenTelemetryActivityInboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { Tracer } from '@opentelemetry/api';
import { createHash, randomUUID } from 'node:crypto';
import { closeUnsignedDecline, isReversal, openTerminalRequest, screenOf } from '../../terminal-protocol/messages';
import type { OpenedTerminalRequest } from '../../terminal-protocol/messages';
import {
  BAD_SERVICE_DATA_RESPONSE_CODE,
  DUPLICATE_STAN_RESPONSE_CODE,
  MENU_SERVICE_ID,
  MENU_SERVICE_ROUTE,
  NOT_ON_MENU_RESPONSE_CODE,
  PROMPT_EXPIRED_RESPONSE_CODE,
  PROMPT_REPLY_ROUTE,
  SERVICE_TAGS,
} from '../../terminal-protocol/spec';
import { decodePromptReply, decodeServiceRequest, inputProblem } from '../../terminal-protocol/conversation';
import type { TerminalRequestVerdict, VerifyTerminalRequestInput } from '../../terminal-protocol/verification';
import type { RequestHandler, TerminalRequest } from '../engine';
import { FixpayError, isFixpayError } from '../../domain/errors';
import type { Registry } from '../../services/registry/registry';
import { businessKey, startPlan, workflowIdFor } from '../../services/registry/start';
import type { Plan, ServiceResult } from '../../services/runtime/plan';
import { DELIVER_MESSAGE, TERMINAL_HANGUP_MESSAGE, TERMINAL_REPLY_MESSAGE } from '../../services/runtime/plan';
import {
  VERIFY_REQUEST_WORKFLOW,
  VERIFY_RUNS_MAX,
  VERIFY_TASK_TIMEOUT_MS,
  VERIFY_TIMEOUT_MS,
} from '../../terminal-protocol/verification';

/** Answers kept for repeats after the run has finished (per access node). */
export const ANSWERS_KEPT_MAX = 10_000;
/** Longest wait for a run's answer (below the engine's handler timeout). */
export const ANSWER_TIMEOUT_MS_DEFAULT = 25_000;
/** After a run ended without an answer in its output, how long a delivered one may still arrive. */
export const DELIVERY_GRACE_MS = 1_000;
/** Field 39 when the service run failed outright (no key, a non-retryable activity failure). */
export const RUN_FAILED_RESPONSE_CODE = '96';

/** The task queue of the central worker that verifies requests (holds the HSM). */
export const VERIFY_TASK_QUEUE_DEFAULT = 'services';

/** Has the centre check a request's binding and MAC; claims nothing (random workflow id). */
export type RequestVerifier = (input: VerifyTerminalRequestInput) => Promise<TerminalRequestVerdict>;

/**
 * The verifier over Temporal: a short workflow with a random id on the central worker. `eager`: the
 * client is on the native connection of a central worker in this process, which gets the workflow
 * task in the start's answer (see `AccessHandlerDeps.eagerStart`).
 */
export function verifyThroughCentre(
  client: Client,
  taskQueue: string = VERIFY_TASK_QUEUE_DEFAULT,
  timeoutMs: number = VERIFY_TIMEOUT_MS,
  eager = false,
): RequestVerifier {
  return (input) =>
    client.workflow.execute<(i: VerifyTerminalRequestInput) => Promise<TerminalRequestVerdict>>(
      VERIFY_REQUEST_WORKFLOW,
      {
        taskQueue,
        workflowId: `verify:${randomUUID()}`,
        args: [input],
        workflowExecutionTimeout: timeoutMs,
        workflowTaskTimeout: Math.min(VERIFY_TASK_TIMEOUT_MS, timeoutMs),
        ...(eager ? { requestEagerStart: true } : {}),
      },
    );
}

/** How long an undelivered answer waits for the terminal to call again before the run undoes it. */
export const REPEAT_GRACE_MS_DEFAULT = 8_000;

/**
 * Where the lines worker puts answers and the handler waits for them, by workflow id. It also
 * learns whether an answer reached the terminal: every call that takes an answer registers the
 * engine's `answerSettled` (true once the terminal ACKed the frame), which `handOver` awaits.
 */
export class ResponseBoard {
  private readonly answers = new Map<string, Uint8Array>();
  private readonly waiters = new Map<string, { take(answer: Uint8Array): void; settled?: Promise<boolean> }[]>();
  /** handOver calls listening for calls that take a known answer. */
  private readonly pickups = new Map<string, ((settled: Promise<boolean>) => void)[]>();
  /** The line of the latest call for each run, so the run can talk to that call. */
  private readonly lines = new Map<string, string>();

  /** Records that the call on `lineId` carries a request of this run (latest call wins). */
  track(workflowId: string, lineId: string): void {
    this.lines.delete(workflowId);
    this.lines.set(workflowId, lineId);
    if (this.lines.size > this.keptMax) {
      const oldest = this.lines.keys().next().value;
      if (oldest !== undefined) this.lines.delete(oldest);
    }
  }

  /** The line of the run's latest call, if any. */
  lineOf(workflowId: string): string | undefined {
    return this.lines.get(workflowId);
  }

  /** Prompts on the phones now, by line (ADR 0018): which run asked, and the screen it sent. */
  private readonly prompts = new Map<string, OpenPrompt>();

  /** Records that the call on `lineId` shows the run's prompt (a newer one replaces it). */
  openPrompt(lineId: string, prompt: OpenPrompt): void {
    this.prompts.delete(lineId);
    this.prompts.set(lineId, prompt);
    if (this.prompts.size > this.keptMax) {
      const oldest = this.prompts.keys().next().value;
      if (oldest !== undefined) this.prompts.delete(oldest);
    }
  }

  promptOn(lineId: string): OpenPrompt | undefined {
    return this.prompts.get(lineId);
  }

  closePrompt(lineId: string): void {
    this.prompts.delete(lineId);
  }

  constructor(private readonly keptMax = ANSWERS_KEPT_MAX) {}

  /**
   * Keeps a copy of `answer` in a buffer of its own size: the answer is a view into whatever it was
   * decoded from (a 64 KiB socket or Buffer pool slab), and a kept view pins that whole slab.
   * Kept for `keptMax` answers, the views held ≈ 60 KB per transaction (soak, issue #10).
   */
  private store(workflowId: string, answer: Uint8Array): Uint8Array {
    const own = new Uint8Array(answer);
    this.answers.delete(workflowId);
    this.answers.set(workflowId, own);
    if (this.answers.size > this.keptMax) {
      const oldest = this.answers.keys().next().value;
      if (oldest !== undefined) this.answers.delete(oldest);
    }
    return own;
  }

  /** Stores the answer and hands it to the calls waiting; returns their delivery settlements. */
  private handToWaiters(workflowId: string, answer: Uint8Array): Promise<boolean>[] {
    const own = this.store(workflowId, answer);
    const waiting = this.waiters.get(workflowId) ?? [];
    this.waiters.delete(workflowId);
    waiting.forEach((w) => w.take(own));
    return waiting.map((w) => w.settled ?? Promise.resolve(true));
  }

  /**
   * Hands the answer over and resolves true once a call delivered it to the terminal (ACKed);
   * false when no call took it within `graceMs` or every call that took it lost it. A call that
   * took it just before the deadline is still awaited. An undelivered answer is forgotten, so a
   * later repeat does not get an approval that is being undone.
   */
  handOver(workflowId: string, answer: Uint8Array, graceMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let pending = 0;
      let expired = false;
      let done = false;
      const finish = (delivered: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const rest = (this.pickups.get(workflowId) ?? []).filter((l) => l !== watch);
        if (rest.length === 0) this.pickups.delete(workflowId);
        else this.pickups.set(workflowId, rest);
        if (!delivered) this.answers.delete(workflowId);
        resolve(delivered);
      };
      const watch = (settled: Promise<boolean>): void => {
        pending++;
        void settled.then((acked) => {
          pending--;
          if (acked) finish(true);
          else if (expired && pending === 0) finish(false);
        });
      };
      const timer = setTimeout(() => {
        expired = true;
        if (pending === 0) finish(false);
      }, graceMs);
      this.pickups.set(workflowId, [...(this.pickups.get(workflowId) ?? []), watch]);
      this.handToWaiters(workflowId, answer).forEach(watch);
    });
  }

  /** The stored answer; a call taking it passes its delivery settlement. */
  answer(workflowId: string, settled?: Promise<boolean>): Uint8Array | undefined {
    const known = this.answers.get(workflowId);
    if (known !== undefined && settled !== undefined) (this.pickups.get(workflowId) ?? []).forEach((l) => l(settled));
    return known;
  }

  /**
   * Resolves with the answer (at once when it is already here); undefined after `timeoutMs`. An
   * answer identical to `skip` (the screen a reply answers) is not taken: the run's next one is.
   */
  wait(
    workflowId: string,
    timeoutMs: number,
    settled?: Promise<boolean>,
    skip?: Uint8Array,
  ): Promise<Uint8Array | undefined> {
    const stored = this.answers.get(workflowId);
    const ready = stored === undefined || stored === skip ? undefined : this.answer(workflowId, settled);
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const list = this.waiters.get(workflowId) ?? [];
      const done = (a: Uint8Array | undefined): void => {
        clearTimeout(timer);
        resolve(a);
      };
      const entry = { take: done, ...(settled === undefined ? {} : { settled }) };
      const timer = setTimeout(() => {
        const rest = (this.waiters.get(workflowId) ?? []).filter((w) => w !== entry);
        if (rest.length === 0) this.waiters.delete(workflowId);
        else this.waiters.set(workflowId, rest);
        done(undefined);
      }, timeoutMs);
      // A waiter that lost the race to the run's result must not keep the process alive.
      timer.unref();
      list.push(entry);
      this.waiters.set(workflowId, list);
    });
  }
}

/** A prompt on a phone (ADR 0018). */
export interface OpenPrompt {
  readonly workflowId: string;
  readonly promptId: string;
  /** The screen as the board keeps it: the reply's answer is the run's next one. */
  readonly screen: Uint8Array;
}

/** Added to a prompt's timeout while the access node holds the call for the reply. */
export const PROMPT_HOLD_MARGIN_MS = 5_000;

export interface AccessHandlerDeps {
  readonly client: Client;
  readonly registry: Registry;
  readonly board: ResponseBoard;
  readonly nodeId: string;
  readonly answerTimeoutMs?: number;
  /** Checks binding and MAC before anything is claimed; `verifyThroughCentre(client)` by default. */
  readonly verify?: RequestVerifier;
  /** The central task queue the default verifier runs on. */
  readonly verifyTaskQueue?: string;
  /**
   * Eager workflow start (docs/adr/0013-purchase-cost.md): `client` is built on the native
   * connection of a central worker running in this process, so the verification and the run are
   * started with their first workflow task handed straight to that worker (no task queue matching,
   * no poll). Only for a node that shares its process with a central worker (`fixpay dev`, the e2e
   * harness); the client refuses eager starts on any other connection.
   */
  readonly eagerStart?: boolean;
  readonly now?: () => Date;
  /** Called with the workflow id of every request (tests, metrics). */
  readonly onStarted?: (workflowId: string) => void;
  /**
   * Aborted when the access node stops: Temporal calls still waiting (a run's result) are
   * cancelled before the connection closes, and the waiting call gets the decline.
   */
  readonly signal?: AbortSignal;
  /** Called for every answer handed to the line, with the host latency (request in → answer out). */
  readonly onAnswered?: (answered: AnsweredRequest) => void;
}

export interface AnsweredRequest {
  readonly workflowId: string;
  readonly serviceId: string;
  readonly terminalId: string;
  /** From the demodulated request to the answer ready for the modem, ms. */
  readonly latencyMs: number;
}

/** The local date of a request's business key (YYYYMMDD, UTC). */
export function localDateOf(at: Date): string {
  return at.toISOString().slice(0, 10).replace(/-/g, '');
}

function responseOf(result: ServiceResult): Uint8Array | undefined {
  const out = result.output;
  if (typeof out !== 'object' || out === null) return undefined;
  const hex = (out as Record<string, unknown>)['response'];
  return typeof hex === 'string' && /^([0-9a-f]{2})+$/i.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

/** The menu version a menu or service request carries (field 59), if any. */
function menuVersionOf(opened: OpenedTerminalRequest): string | undefined {
  const v = (opened.serviceData ?? []).find((i) => i.tag === SERVICE_TAGS.menuVersion)?.value;
  if (v === undefined) return undefined;
  const text = Buffer.from(v).toString('latin1');
  return /^[0-9a-f]{1,64}$/.test(text) ? text : undefined;
}

/** A menu choice's key: one digit. */
const CHOICE_KEY = /^[0-9]$/;
function menuBlockOf(opened: OpenedTerminalRequest): string {
  const v = (opened.serviceData ?? []).find((i) => i.tag === SERVICE_TAGS.menuBlock)?.value;
  const text = v === undefined ? '' : Buffer.from(v).toString('latin1');
  return /^\d{1,2}$/.test(text) ? text : '';
}

/**
 * The generic service request (ADR 0018): the service must be on menus (a `terminal` block), allow
 * the caller's profile, and get exactly the inputs it declares, each within its spec, and the card
 * and its PIN block exactly when its `terminal` block says `card` (ADR 0024). Adds the inputs
 * to `input` by name (amounts as integers); returns the unsigned decline's field 39 when refused.
 */
export function collectInputs(
  plan: Plan,
  opened: OpenedTerminalRequest,
  profileId: string,
  input: Record<string, unknown>,
): string | undefined {
  const t = plan.terminal;
  if (t === undefined || (t.profiles !== null && !t.profiles.includes(profileId))) return NOT_ON_MENU_RESPONSE_CODE;
  // A card service (ADR 0024) gets the card and its PIN block, any other service neither: card
  // data goes only to a run whose definition declares it (and its PIN is translated there).
  const hasCard = opened.pan !== null && opened.pinBlock !== null;
  const hasAnyCard = opened.pan !== null || opened.track2 !== null || opened.pinBlock !== null;
  if (t.card === true ? !hasCard : hasAnyCard) return BAD_SERVICE_DATA_RESPONSE_CODE;
  let given: Readonly<Record<string, string>>;
  try {
    given = decodeServiceRequest(opened.serviceData ?? []).inputs;
  } catch {
    return BAD_SERVICE_DATA_RESPONSE_CODE;
  }
  const names = Object.keys(given);
  if (names.length !== t.inputs.length || names.some((n) => !t.inputs.some((i) => i.name === n)))
    return BAD_SERVICE_DATA_RESPONSE_CODE;
  for (const spec of t.inputs) {
    const value = given[spec.name];
    if (value === undefined) return BAD_SERVICE_DATA_RESPONSE_CODE;
    // A choice from provider data: its list is the worker's (the menu); here it is one key, and the
    // run refuses a key no offer has (TICKET_OFFER_UNKNOWN).
    const problem =
      spec.choicesFrom !== undefined && (spec.choices ?? []).length === 0
        ? CHOICE_KEY.test(value)
          ? null
          : 'not a choice key'
        : inputProblem(spec, value);
    if (problem !== null) return BAD_SERVICE_DATA_RESPONSE_CODE;
    input[spec.name] = spec.kind === 'amount' ? Number(value) : value;
  }
  return undefined;
}

/**
 * Tells a run whose prompt is on a call that ended (ADR 0018): the signal `deliver`
 * (`terminalHangup`); the run fails the prompt and compensates. For the engine's `onCallEnded`.
 */
export function promptHangupNotifier(client: Client, board: ResponseBoard): (lineId: string) => void {
  return (lineId) => {
    const prompt = board.promptOn(lineId);
    if (prompt === undefined) return;
    board.closePrompt(lineId);
    void client.workflow
      .getHandle(prompt.workflowId)
      .signal(DELIVER_MESSAGE, { name: TERMINAL_HANGUP_MESSAGE, value: { promptId: prompt.promptId } })
      .catch(() => undefined);
  };
}

/** The decline the access node answers itself when a run failed without answering (no MAC). */
export function runFailedAnswer(payload: Uint8Array): Uint8Array {
  return closeUnsignedDecline(openTerminalRequest(payload), RUN_FAILED_RESPONSE_CODE);
}

/**
 * Runs `fn` with a signal of its own that aborts when `parent` does, and unhooks it from `parent`
 * once `fn` has settled. The Temporal client adds an `abort` listener to the signal it is given for
 * every gRPC call and never removes it: handed the access node's stop signal, which lives as long as
 * the process, every call of every request stayed reachable from it (the call, its HTTP/2 stream
 * and buffers), and `fixpay dev` grew by about 0.3 MB per transaction. A signal per call is
 * garbage once the call is done, its listeners with it.
 */
export async function whileRunning<R>(parent: AbortSignal, fn: (signal: AbortSignal) => Promise<R>): Promise<R> {
  const own = new AbortController();
  const follow = (): void => own.abort(parent.reason);
  if (parent.aborted) follow();
  else parent.addEventListener('abort', follow, { once: true });
  try {
    return await fn(own.signal);
  } finally {
    parent.removeEventListener('abort', follow);
  }
}

/**
 * The RequestHandler. Throws FixpayError on a request that does not parse or names no service.
 * Before the request may claim its workflow id or a stored answer, the centre verifies its binding
 * and MAC; a request that does not verify gets an unsigned decline (03 or A0) and touches nothing.
 * When the run fails (or cannot start, or the verification cannot run) without having answered,
 * the terminal gets an unsigned decline 96 at once. Only when nothing is known within
 * `answerTimeoutMs` (the run may still approve) does it throw SVC_STEP_FAILED: the engine answers
 * nothing and the terminal repeats, attaching to the run.
 */
export function createAccessHandler(deps: AccessHandlerDeps): RequestHandler {
  const timeoutMs = deps.answerTimeoutMs ?? ANSWER_TIMEOUT_MS_DEFAULT;
  const now = deps.now ?? (() => new Date());
  const eager = deps.eagerStart === true;
  const verify = deps.verify ?? verifyThroughCentre(deps.client, deps.verifyTaskQueue, VERIFY_TIMEOUT_MS, eager);
  const stopping = deps.signal;
  const temporal = <R>(fn: () => Promise<R>): Promise<R> =>
    stopping === undefined ? fn() : whileRunning(stopping, (signal) => deps.client.withAbortSignal(signal, fn));
  /**
   * The centre's verdict, or undefined when VERIFY_RUNS_MAX runs gave none (the request is then
   * declined 96). A run without a verdict claimed nothing, so another is tried: one run's task
   * lost with a central worker that died or lost its link must not decline the request.
   */
  const verified = async (input: VerifyTerminalRequestInput): Promise<TerminalRequestVerdict | undefined> => {
    for (let run = 0; run < VERIFY_RUNS_MAX && stopping?.aborted !== true; run++) {
      try {
        return await temporal(() => verify(input));
      } catch {
        // no verdict from this run
      }
    }
    return undefined;
  };

  /** A screen going out: the call shows the run's prompt, and is held for the reply (ADR 0018). */
  const holdForScreen = (req: TerminalRequest, workflowId: string, answer: Uint8Array): Uint8Array => {
    const screen = screenOf(answer);
    if (screen === undefined) return answer;
    const kept = deps.board.answer(workflowId);
    deps.board.openPrompt(req.lineId, { workflowId, promptId: screen.promptId, screen: kept ?? answer });
    req.holdCall?.(screen.timeoutMs + PROMPT_HOLD_MARGIN_MS);
    return answer;
  };

  /**
   * The phone's reply to a prompt: verified like any request, then given to the run waiting on
   * this call as the Update `deliver` (`terminalReply`). The run's validator takes only a reply to
   * the prompt it waits for, once; a late reply gets `68`. The phone then gets the run's next
   * answer: another screen or the final answer.
   */
  const reply = async (
    req: TerminalRequest,
    opened: OpenedTerminalRequest,
    request: string,
    ani: string,
    receivedAt: number,
  ): Promise<Uint8Array> => {
    const verdict = await verified({ request, ani });
    if (verdict === undefined) return closeUnsignedDecline(opened, RUN_FAILED_RESPONSE_CODE);
    if (!verdict.verified) return closeUnsignedDecline(opened, verdict.responseCode);
    let answer: ReturnType<typeof decodePromptReply>;
    try {
      answer = decodePromptReply(opened.serviceData ?? []);
    } catch {
      return closeUnsignedDecline(opened, BAD_SERVICE_DATA_RESPONSE_CODE);
    }
    const prompt = deps.board.promptOn(req.lineId);
    if (prompt?.promptId !== answer.promptId) return closeUnsignedDecline(opened, PROMPT_EXPIRED_RESPONSE_CODE);
    const { workflowId } = prompt;
    const handle = deps.client.workflow.getHandle(workflowId);
    try {
      await temporal(() =>
        handle.executeUpdate(DELIVER_MESSAGE, { args: [{ name: TERMINAL_REPLY_MESSAGE, value: answer }] }),
      );
    } catch (e) {
      // A second copy (the phone repeated its reply): it gets the run's next answer like the first.
      const duplicate = e instanceof Error && /already answered/.test(e.message);
      if (!duplicate) {
        deps.board.closePrompt(req.lineId);
        return closeUnsignedDecline(opened, PROMPT_EXPIRED_RESPONSE_CODE);
      }
    }
    deps.board.closePrompt(req.lineId);
    deps.board.track(workflowId, req.lineId);
    const stopWaiting = new AbortController();
    const waitSignal =
      deps.signal === undefined ? stopWaiting.signal : AbortSignal.any([deps.signal, stopWaiting.signal]);
    const next = deps.board.wait(workflowId, timeoutMs, req.answerSettled, prompt.screen);
    const ended = deps.client
      .withAbortSignal(waitSignal, () => handle.result())
      .then(
        () => undefined,
        () => undefined,
      );
    const noAnswer = ended.then(async () =>
      stopWaiting.signal.aborted
        ? undefined
        : ((await deps.board.wait(workflowId, DELIVERY_GRACE_MS, undefined, prompt.screen)) ??
          closeUnsignedDecline(opened, RUN_FAILED_RESPONSE_CODE)),
    );
    const got = await Promise.race([next, noAnswer]).finally(() => stopWaiting.abort());
    if (got === undefined) throw new FixpayError('SVC_STEP_FAILED', `no answer from ${workflowId}`);
    deps.onAnswered?.({
      workflowId,
      serviceId: workflowId.split(':')[0] ?? '',
      terminalId: opened.summary.terminalId,
      latencyMs: performance.now() - receivedAt,
    });
    return holdForScreen(req, workflowId, got);
  };

  return async (req) => {
    const receivedAt = performance.now();
    const opened = openTerminalRequest(req.payload);
    const s = opened.summary;
    const request = Buffer.from(req.payload).toString('hex');
    // The caller number comes from the line signalling only.
    const ani = req.callerNumber ?? '';
    // A reply to a prompt goes to the run that asked, on this call (ADR 0018).
    if (s.route === PROMPT_REPLY_ROUTE) return reply(req, opened, request, ani, receivedAt);
    const input: Record<string, unknown> = {
      request,
      // Safe to keep (a hash over bytes that include a fresh PSAM random): tells a repeat from a reused STAN.
      requestDigest: createHash('sha256').update(req.payload).digest('hex'),
      mti: s.mti,
      psamCounter: s.psamCounter,
      terminalId: s.terminalId,
      merchantId: s.merchantId,
      stan: s.stan,
      localDate: localDateOf(now()),
      ani,
      psamId: s.psamSerial,
      nodeId: deps.nodeId,
      ...(s.currency === null ? {} : { currency: s.currency }),
      ...(s.amountMinor === null ? {} : { amount: s.amountMinor }),
    };
    const conversation = s.route === MENU_SERVICE_ROUTE || s.route === MENU_SERVICE_ID;
    if (conversation) input['menuVersion'] = menuVersionOf(opened) ?? '';
    // A multi-block menu: the block the phone asks for (ADR 0018); checked by the menu activity.
    if (s.route === MENU_SERVICE_ID) input['menuBlock'] = menuBlockOf(opened);
    // Verification and the plan lookup (read-only) overlap; nothing is claimed before both are in.
    const [verdict, rec] = await Promise.all([
      verified({ request, ani }),
      deps.registry
        .resolveWith(s.serviceId, (plan) => businessKey(plan, input), s.terminalId)
        // An item code no live service has is not on any menu (a generic request names any id).
        .catch((e: unknown) =>
          s.route === MENU_SERVICE_ROUTE && isFixpayError(e, 'DEF_NOT_FOUND')
            ? undefined
            : Promise.reject(e instanceof Error ? e : new Error(String(e))),
        ),
    ]);
    if (verdict === undefined) return closeUnsignedDecline(opened, RUN_FAILED_RESPONSE_CODE);
    if (!verdict.verified) return closeUnsignedDecline(opened, verdict.responseCode);
    if (rec === undefined) return closeUnsignedDecline(opened, NOT_ON_MENU_RESPONSE_CODE);
    if (s.route === MENU_SERVICE_ROUTE) {
      const refused = collectInputs(rec.plan, opened, req.profileId, input);
      if (refused !== undefined) return closeUnsignedDecline(opened, refused);
    }
    // A sale already known under this terminal id and STAN (ADR 0012): its run stands by its answer
    // in the verdict list, so a repeat gets it through any access node, at any time; other bytes
    // under the same STAN are not processed. A reversal goes to its own service.
    const sale = verdict.sale;
    if (sale !== undefined && !isReversal(s.mti)) {
      if (!sale.sameBytes) return closeUnsignedDecline(opened, DUPLICATE_STAN_RESPONSE_CODE);
      if (sale.answer !== null && /^([0-9a-f]{2})+$/i.test(sale.answer)) {
        deps.onAnswered?.({
          workflowId: `${s.serviceId}:${s.terminalId}:${s.stan}`,
          serviceId: s.serviceId,
          terminalId: s.terminalId,
          latencyMs: performance.now() - receivedAt,
        });
        return Buffer.from(sale.answer, 'hex');
      }
    }
    const workflowId = workflowIdFor(rec.plan, input);
    if (sale !== undefined && !isReversal(s.mti) && sale.workflowId !== workflowId) {
      // A repeat that computes another run id (it came on another UTC day) while the sale's run
      // has no answer yet: never a second run for one sale. Only that run's answer may go back;
      // without it the terminal gets nothing (it repeats later, or reverses).
      const late = await deps.board.wait(sale.workflowId, timeoutMs, req.answerSettled);
      if (late === undefined) throw new FixpayError('SVC_STEP_FAILED', `no answer yet from ${sale.workflowId}`);
      return late;
    }
    deps.board.track(workflowId, req.lineId);
    deps.onStarted?.(workflowId);
    const answered = (answer: Uint8Array): Uint8Array => {
      const latencyMs = performance.now() - receivedAt;
      deps.onAnswered?.({ workflowId, serviceId: s.serviceId, terminalId: s.terminalId, latencyMs });
      return holdForScreen(req, workflowId, answer);
    };
    const known = deps.board.answer(workflowId, req.answerSettled);
    if (known !== undefined) return answered(known);
    const failed = (): Uint8Array => closeUnsignedDecline(opened, RUN_FAILED_RESPONSE_CODE);
    let handle: Awaited<ReturnType<typeof startPlan>>;
    try {
      handle = await temporal(() => startPlan(deps.client, { plan: rec.plan, planHash: rec.planHash, input, eager }));
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError))
        return answered(deps.board.answer(workflowId) ?? failed());
      // The run has finished (a finished money run is never started again): its recorded result
      // is where its answer persists, for a verified repeat that reached another node or came late.
      const finished = await temporal(() =>
        deps.client.workflow.getHandle<() => Promise<ServiceResult>>(workflowId).result(),
      ).catch(() => undefined);
      return answered(
        (finished === undefined ? undefined : responseOf(finished)) ?? deps.board.answer(workflowId) ?? failed(),
      );
    }
    // One route back for a running transaction: the run hands its answer to this node's lines
    // worker (deliverTerminalResponse), which gives it to the call waiting here. The run's end
    // only says that no answer is coming any more: after a short grace, the node declines (96).
    const delivered = deps.board.wait(workflowId, timeoutMs, req.answerSettled);
    // The wait for the run's end stops once this call has its answer: an approved purchase stays
    // open until the phone's verdict (ADR 0012), and no call may hold a long poll on it that long.
    const stopWaiting = new AbortController();
    const waitSignal =
      deps.signal === undefined ? stopWaiting.signal : AbortSignal.any([deps.signal, stopWaiting.signal]);
    const ended = deps.client
      .withAbortSignal(waitSignal, () => handle.result())
      .then(
        () => undefined,
        () => undefined,
      );
    const noAnswer = ended.then(async () =>
      stopWaiting.signal.aborted
        ? undefined
        : (deps.board.answer(workflowId) ?? (await deps.board.wait(workflowId, DELIVERY_GRACE_MS)) ?? failed()),
    );
    // `delivered` gives up (undefined) after `timeoutMs`: the run may still be working.
    const answer = await Promise.race([delivered, noAnswer]).finally(() => stopWaiting.abort());
    if (answer === undefined) throw new FixpayError('SVC_STEP_FAILED', `no answer from ${workflowId}`);
    return answered(answer);
  };
}

/** What the run may do with its live call: the channel engine's line controls. */
export interface LineControl {
  /** Sends a message on the live call; resolves once the terminal ACKed it. */
  prompt(lineId: string, payload: Uint8Array): Promise<void>;
  /** Releases the call (REL, then hang-up). */
  hangup(lineId: string): void;
}

export interface LineActivitiesDeps {
  readonly board: ResponseBoard;
  /** The access node's engine; undefined until it runs (activities then fail retryably). */
  readonly lines?: () => LineControl | undefined;
  /** How long an undelivered answer waits for the terminal to call again. */
  readonly repeatGraceMs?: number;
}

/** The activities of `lines.<nodeId>` (declared in the catalogue as channel activities). */
export interface LineActivities {
  readonly deliverTerminalResponse: (input: {
    terminalId: string;
    response: string;
  }) => Promise<{ delivered: boolean }>;
  readonly sendToTerminal: (input: { terminalId: string; message: string }) => Promise<{ acknowledged: boolean }>;
  readonly hangUpCall: (input: { terminalId: string }) => Promise<{ released: boolean }>;
}

/** What every access node's lines worker registers. */
export const LINE_ACTIVITY_NAMES = [
  'deliverTerminalResponse',
  'sendToTerminal',
  'hangUpCall',
] as const satisfies readonly (keyof LineActivities)[];

/** The activities of `lines.<nodeId>`: terminal I/O on the calls this access node holds. */
export function createLineActivities(deps: LineActivitiesDeps): LineActivities {
  const current = (): { workflowId: string; lineId: string; lines: LineControl } => {
    const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
    const lineId = deps.board.lineOf(workflowId);
    if (lineId === undefined) throw new FixpayError('SESSION_CALL_NOT_FOUND', `no call for ${workflowId}`);
    const lines = deps.lines?.();
    if (lines === undefined) throw new FixpayError('SESSION_NOT_ACTIVE', 'the access node is not running');
    return { workflowId, lineId, lines };
  };
  return {
    /** Resolves `delivered: true` only once the terminal ACKed the answer (a repeat call counts). */
    async deliverTerminalResponse(input: { terminalId: string; response: string }): Promise<{ delivered: boolean }> {
      const context = Context.current();
      const workflowId = context.info.workflowExecution?.workflowId ?? '';
      const answer = Buffer.from(input.response, 'hex');
      const handedOver = deps.board.handOver(workflowId, answer, deps.repeatGraceMs ?? REPEAT_GRACE_MS_DEFAULT);
      // A node shutting down cancels the wait (the activity fails and is retried elsewhere, where
      // no call waits: the run then undoes the approval) rather than holding the shutdown up.
      return { delivered: await Promise.race([handedOver, context.cancelled]) };
    },
    /**
     * Sends a message (hex) to the terminal on the run's live call and waits for its link ACK.
     * A call that is gone answers `acknowledged: false` (the run decides what that means).
     */
    async sendToTerminal(input: { terminalId: string; message: string }): Promise<{ acknowledged: boolean }> {
      const { lineId, lines } = current();
      try {
        await lines.prompt(lineId, Buffer.from(input.message, 'hex'));
        return { acknowledged: true };
      } catch {
        return { acknowledged: false };
      }
    },
    /** Releases the run's live call; a call already gone is fine. */
    hangUpCall(_input: { terminalId: string }): Promise<{ released: boolean }> {
      const { lineId, lines } = current();
      try {
        lines.hangup(lineId);
        return Promise.resolve({ released: true });
      } catch {
        return Promise.resolve({ released: false });
      }
    },
  };
}

export interface LinesWorkerDeps extends LineActivitiesDeps {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly nodeId: string;
  readonly dataConverter: DataConverter;
  /**
   * With tracing on, each line activity (the answer delivered to the phone, a prompt, a hang-up)
   * is a span in its transaction's trace, child of the run's `StartActivity` span.
   */
  readonly tracer?: Tracer;
}

/** The access node's worker on `lines.<nodeId>`: terminal I/O for the calls this node holds. */
export async function startLinesWorker(deps: LinesWorkerDeps): Promise<{ shutdown(): Promise<void> }> {
  const tracer = deps.tracer;
  const worker = await Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: `lines.${deps.nodeId}`,
    dataConverter: deps.dataConverter,
    activities: createLineActivities(deps),
    ...(tracer === undefined
      ? {}
      : {
          interceptors: {
            activity: [
              (ctx: ActivityContext) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }) }),
            ],
          },
        }),
  });
  const done = worker.run();
  return {
    shutdown: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
