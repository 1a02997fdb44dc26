/**
 * The check an access node asks the centre for before a terminal request may claim anything
 * (docs/adr/0011-verify-before-identity.md): the binding (caller number from the signalling ↔
 * terminal ↔ PSAM) and the request's PSAM MAC under its per-transaction key in the HSM.
 *
 * It consumes nothing: the PSAM counter is not advanced (the run's `verifyTerminalMac` does that,
 * with the replay rule), so a request that verified here still passes there, and a terminal's
 * retransmission of the same bytes verifies again and attaches to the same run. The exception is
 * a prompt reply (ADR 0018): no run checks its MAC after this, so its counter is spent here, with
 * the same replay rule — a reply whose counter is not above the last accepted one is refused
 * (`A0`), except the same bytes again (the phone's own repeat of that reply).
 */
import { createHash } from 'node:crypto';
import { isFixpayError } from '../domain/errors';
import type { HsmPort } from '../hsm/port';
import type { PsamCounterStore, PsamMasterKeyLookup } from './hsm';
import { PROMPT_REPLY_ROUTE } from '../terminal-protocol/spec';
import { activityFailure } from './failure';
import { openTerminalRequest, requestBytes } from '../terminal-protocol/messages';
import type { TerminalsPort } from './terminals';
import type { TerminalVerdictStore } from './terminal-verdict-store';
import { confirmWaitingSales, signalThroughWorkerClient } from './terminal-verdicts';
import type { VerdictSignaller } from './terminal-verdicts';
import { BAD_MAC_RESPONSE_CODE, UNBOUND_RESPONSE_CODE } from '../terminal-protocol/verification';
import type { TerminalRequestVerdict, VerifyTerminalRequestInput } from '../terminal-protocol/verification';

export interface RequestVerificationDeps {
  readonly core: Pick<TerminalsPort, 'checkBinding'>;
  readonly hsm: Pick<HsmPort, 'verifyPsamMac'>;
  readonly psamMasterKey: PsamMasterKeyLookup;
  /**
   * The sales waiting for the phone's verdict (ADR 0012): a verified request confirms the
   * terminal's other waiting sales, and learns about an earlier sale under its own STAN.
   */
  readonly verdicts?: TerminalVerdictStore;
  readonly signal?: VerdictSignaller;
  /** The PSAM counters the runs spend: a prompt reply's is spent here (without it, replies are only MAC-checked). */
  readonly counters?: PsamCounterStore;
}

export interface RequestVerificationActivities {
  verifyTerminalRequest(input: VerifyTerminalRequestInput): Promise<TerminalRequestVerdict>;
}

export function createRequestVerificationActivities(deps: RequestVerificationDeps): RequestVerificationActivities {
  return {
    async verifyTerminalRequest(input) {
      try {
        const opened = openTerminalRequest(requestBytes(input.request));
        const { terminalId, psamSerial } = opened.summary;
        const purpose = opened.summary.serviceId === 'sign-on' ? 'sign-on' : 'transact';
        const binding = await deps.core.checkBinding({ terminalId, ani: input.ani, psamNo: psamSerial, purpose });
        if (!binding.ok) return { verified: false, reason: binding.code, responseCode: UNBOUND_RESPONSE_CODE };
        const masterKey = await deps.psamMasterKey(psamSerial);
        if (masterKey === undefined)
          return { verified: false, reason: 'PSAM_UNKNOWN', responseCode: BAD_MAC_RESPONSE_CODE };
        try {
          // No lastCounter: the replay rule is the run's, and this check must not spend the counter.
          await deps.hsm.verifyPsamMac({
            masterKey,
            factors: [Buffer.from(psamSerial, 'hex')],
            random: Buffer.from(opened.psam.random, 'hex'),
            counter: opened.psam.counter,
            algorithm: 'unionpay-ecb',
            data: opened.macData,
            mac: opened.mac,
          });
        } catch (e) {
          if (isFixpayError(e, 'HSM_MAC_INVALID'))
            return { verified: false, reason: 'HSM_MAC_INVALID', responseCode: BAD_MAC_RESPONSE_CODE };
          throw e;
        }
        if (opened.summary.route === PROMPT_REPLY_ROUTE && deps.counters !== undefined) {
          // Keyed by the bytes: a retry of this check, or the phone's repeat of the same reply, is not a replay.
          const key = `reply:${createHash('sha256').update(requestBytes(input.request)).digest('hex')}`;
          const counter = opened.psam.counter;
          const last = await deps.counters.get(psamSerial);
          const stale =
            last !== undefined && (counter < last.counter || (counter === last.counter && last.key !== key));
          if (stale || !(await deps.counters.advance(psamSerial, counter, key)))
            return { verified: false, reason: 'HSM_PSAM_COUNTER_REPLAYED', responseCode: BAD_MAC_RESPONSE_CODE };
        }
        if (deps.verdicts === undefined) return { verified: true, reason: 'OK', responseCode: '00' };
        const { stan } = opened.summary;
        const [row] = await Promise.all([
          deps.verdicts.get(terminalId, stan),
          confirmWaitingSales(deps.verdicts, deps.signal ?? signalThroughWorkerClient, terminalId, stan),
        ]);
        if (row?.workflowId == null || row.requestDigest === null)
          return { verified: true, reason: 'OK', responseCode: '00' };
        const digest = createHash('sha256').update(requestBytes(input.request)).digest('hex');
        return {
          verified: true,
          reason: 'OK',
          responseCode: '00',
          sale: {
            state: row.state,
            sameBytes: digest === row.requestDigest,
            answer: row.answer,
            workflowId: row.workflowId,
          },
        };
      } catch (e) {
        throw activityFailure(e);
      }
    },
  };
}
