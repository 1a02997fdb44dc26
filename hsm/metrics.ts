/**
 * Prometheus metrics of HSM operations: every call a process makes through its HSM port, counted
 * by operation and result and timed, by a decorator around the port (`meterHsm`). The worker wraps
 * the HSM it hands to every activity, so each operation is seen once in that process whether the
 * HSM is the software one in process or a network HSM (docs/operations/metrics.md).
 *
 * Labels: `command` is the port's operation name (a fixed list below), `result` is `ok`, the
 * result code name of a FixpayError (a closed catalogue: HSM_MAC_INVALID, HSM_PIN_INVALID,
 * HSM_TIMEOUT…) or `error` for anything else. No argument of a call is ever looked at.
 */
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { FixpayError } from '../domain/errors';
import type { CallerScopedHsm, HsmPort } from './port';

/** Every operation of the HSM port (`describe` is a local string, not an operation). */
export const HSM_COMMANDS = [
  'diagnostics',
  'generateKey',
  'formKeyFromComponents',
  'describeKey',
  'exportKey',
  'importKey',
  'generateMac',
  'verifyMac',
  'translatePin',
  'translateDukptPin',
  'generateDukptMac',
  'verifyDukptMac',
  'encryptPinUnderLmk',
  'verifyPin',
  'generatePin',
  'generateCardVerificationValue',
  'encryptPanUnderLmk',
  'sealData',
  'openSealedData',
  'derivePsamSessionKey',
  'generatePsamMac',
  'verifyPsamMac',
] as const satisfies readonly (keyof HsmPort)[];

export type HsmCommand = (typeof HSM_COMMANDS)[number];

type Unmetered = Exclude<keyof HsmPort, HsmCommand | 'describe'>;
type Assert<T extends true> = T;
/** Fails the type check when the port gains an operation the list above lacks. */
export type EveryHsmOperationMetered = Assert<[Unmetered] extends [never] ? true : false>;
type Arity = { [K in HsmCommand]: Parameters<HsmPort[K]>['length'] }[HsmCommand];
/** The decorator passes one argument on: fails the type check when an operation takes more. */
export type EveryHsmOperationTakesOneArgument = Assert<[Arity] extends [0 | 1] ? true : false>;

/** HSM operation buckets, seconds: the software HSM answers in well under a millisecond, a network HSM in a few. */
export const HSM_DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

export interface HsmMetrics {
  /** The same HSM, every operation counted and timed. */
  meter(hsm: HsmPort): HsmPort;
  /** The same for an HSM acting for callers (`fixpay hsm serve`): what each caller asks is counted. */
  meterCallerScoped(hsm: CallerScopedHsm): CallerScopedHsm;
}

/** The result label of a failed operation: a result code name, or `error`. */
export function hsmResultLabel(e: unknown): string {
  return e instanceof FixpayError ? e.codeName : 'error';
}

export function registerHsmMetrics(registry: Registry): HsmMetrics {
  const commands = new Counter({
    name: 'fixpay_hsm_commands_total',
    help: 'HSM operations by operation and result (ok, or the result code name of the failure)',
    labelNames: ['command', 'result'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'fixpay_hsm_command_duration_seconds',
    help: 'HSM operation duration by operation, success or failure',
    labelNames: ['command'],
    buckets: HSM_DURATION_BUCKETS,
    registers: [registry],
  });
  // The label sets are made once: a call costs two clock reads, an increment and an observation.
  const children = new Map(
    HSM_COMMANDS.map((command) => [
      command,
      { ok: commands.labels({ command, result: 'ok' }), duration: duration.labels({ command }) },
    ]),
  );
  const meter = (hsm: HsmPort): HsmPort => {
    const metered: Record<string, unknown> = { describe: () => hsm.describe() };
    for (const command of HSM_COMMANDS) {
      // Every operation takes at most one argument (checked by the type above).
      const operation = (hsm[command] as (argument?: unknown) => Promise<unknown>).bind(hsm);
      const child = children.get(command);
      if (child === undefined) throw new TypeError(`no metrics for ${command}`);
      metered[command] = async (argument?: unknown): Promise<unknown> => {
        const started = performance.now();
        try {
          const result = await operation(argument);
          child.ok.inc();
          return result;
        } catch (e) {
          commands.inc({ command, result: hsmResultLabel(e) });
          throw e;
        } finally {
          child.duration.observe((performance.now() - started) / 1000);
        }
      };
    }
    return metered as unknown as HsmPort;
  };
  return {
    meter,
    // One metered port per caller (per connection), not per call.
    meterCallerScoped: (hsm) => ({ ...meter(hsm), forCaller: (caller) => meter(hsm.forCaller(caller)) }),
  };
}
