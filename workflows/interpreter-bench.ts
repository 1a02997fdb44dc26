/**
 * Bundle entry for `npm run bench:interpreter`: the interpreter and a hand-written workflow with
 * the same seven activity calls (same ids, timeouts and retries; the same three local), so the overhead of interpreting
 * a plan can be measured on the same server in one run.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { proxyActivities, proxyLocalActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';

export { serviceInterpreter } from './interpreter';

type ActivityFn = (input: Record<string, unknown>) => Promise<Record<string, unknown>>;

interface PaymentInput {
  terminalId: string;
  ani: string;
  stan: string;
  pan: string;
  pinBlock: string;
  amount: number;
  currency: string;
  macData: string;
  mac: string;
}

const call = async (
  name: string,
  id: string,
  timeoutMs: number,
  maxAttempts: number | null,
  args: Record<string, unknown>,
  local = false,
): Promise<Record<string, unknown>> => {
  const retry = {
    initialInterval: 200,
    backoffCoefficient: 2,
    maximumInterval: 30_000,
    ...(maxAttempts === null ? {} : { maximumAttempts: maxAttempts }),
  };
  // The same split as the catalogue (ADR 0008): idempotent calls without effect run locally.
  const acts = local
    ? proxyLocalActivities<Record<string, ActivityFn>>({
        startToCloseTimeout: timeoutMs,
        retry,
        summary: `${id}: ${name}`,
      })
    : proxyActivities<Record<string, ActivityFn>>({
        startToCloseTimeout: timeoutMs,
        retry,
        activityId: `${id}#0`,
        summary: `${id}: ${name}`,
      });
  const fn = acts[name];
  if (fn === undefined) throw new Error(name);
  return fn({ ...args, idempotencyKey: `${workflowInfo().workflowId}/${id}#0` });
};

const OUTCOME = defineSearchAttributeKey('Outcome', 'KEYWORD');

/**
 * The payment flow written by hand (no compensation path is taken on success, as in the plan). Like
 * the interpreter it is started with the identity search attributes and upserts Outcome at the end,
 * so both pay the same visibility cost.
 */
export async function handWrittenPayment(input: PaymentInput): Promise<Record<string, unknown>> {
  const binding = await call(
    'checkBinding',
    'binding',
    3000,
    3,
    { terminalId: input.terminalId, ani: input.ani },
    true,
  );
  const mac = await call(
    'verifyMac',
    'mac',
    2000,
    3,
    {
      terminalId: input.terminalId,
      macData: input.macData,
      mac: input.mac,
    },
    true,
  );
  if (binding['bound'] !== true || mac['valid'] !== true) return { approved: false };
  const pin = await call(
    'translatePin',
    'pin',
    2000,
    3,
    {
      terminalId: input.terminalId,
      pan: input.pan,
      pinBlock: input.pinBlock,
    },
    true,
  );
  const compensations: string[] = ['voidReservation'];
  const reserve = await call('reserveFunds', 'reserve', 5000, 3, {
    accountId: binding['accountId'],
    amount: input.amount,
    currency: input.currency,
  });
  compensations.push('reverse');
  const auth = await call('authorize', 'auth', 20_000, 1, {
    pan: input.pan,
    pinBlock: pin['pinBlock'],
    amount: input.amount,
    currency: input.currency,
    terminalId: input.terminalId,
    stan: input.stan,
  });
  if (auth['approved'] !== true) return { approved: false, compensations };
  await call('postReservation', 'post', 5000, null, {
    accountId: binding['accountId'],
    reservationId: reserve['reservationId'],
  });
  await call('sendToTerminal', 'answer', 5000, 3, {
    terminalId: input.terminalId,
    responseCode: auth['responseCode'],
    message: `APPROVED ${String(auth['authCode'])}`,
    reference: auth['rrn'],
  });
  upsertSearchAttributes([{ key: OUTCOME, value: 'COMPLETED' }]);
  return { approved: true, responseCode: auth['responseCode'], authCode: auth['authCode'], rrn: auth['rrn'] };
}
