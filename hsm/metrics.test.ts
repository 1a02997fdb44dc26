/**
 * The HSM operation metrics around the real software HSM: ok and failed operations counted by
 * operation and result code name, every one timed, errors passed through untouched, and nothing
 * of a call's arguments (keys, data, MACs) in a label.
 */
import { Registry } from 'prom-client';
import { isFixpayError, resultCode } from '../domain/errors';
import type { ResultCodeName } from '../domain/errors';
import { fromHex, toHex } from './crypto/bytes';
import { HSM_COMMANDS, hsmResultLabel, registerHsmMetrics } from './metrics';
import { SoftwareHsm } from './software/software-hsm';

const LMK = fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
const DATA = Buffer.from('Now is the time for all ', 'ascii');

/** Every sample of `name` as [labels, value]. */
async function samples(registry: Registry, name: string): Promise<[Record<string, string>, number][]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const got = await metric.get();
  return got.values.map((v) => [v.labels as Record<string, string>, v.value]);
}

describe('HSM operation metrics', () => {
  const engine = new SoftwareHsm({ lmk: LMK });
  const tak = engine.importClearKey('TAK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');

  it('count ok and failed operations by operation and result code name, and time every one', async () => {
    const registry = new Registry();
    const hsm = registerHsmMetrics(registry).meter(engine);
    const mac = await hsm.generateMac({ key: tak.handle, algorithm: 'x9.19', data: DATA });
    await hsm.verifyMac({ key: tak.handle, algorithm: 'x9.19', data: DATA, mac });
    const wrong = Buffer.from(mac);
    wrong[0] = (wrong[0] ?? 0) ^ 0xff;
    const refused: unknown = await hsm.verifyMac({ key: tak.handle, algorithm: 'x9.19', data: DATA, mac: wrong }).then(
      () => undefined,
      (e: unknown) => e,
    );
    // The HSM's own error, untouched.
    expect(isFixpayError(refused, 'HSM_MAC_INVALID')).toBe(true);
    // A malformed request: the HSM's refusal, counted under its own code name.
    await expect(hsm.generateMac(undefined as never)).rejects.toThrow('The HSM request data is invalid');

    const counted = await samples(registry, 'fixpay_hsm_commands_total');
    expect(counted).toEqual(
      expect.arrayContaining([
        [{ command: 'generateMac', result: 'ok' }, 1],
        [{ command: 'verifyMac', result: 'ok' }, 1],
        [{ command: 'verifyMac', result: 'HSM_MAC_INVALID' }, 1],
        [{ command: 'generateMac', result: 'HSM_INPUT_INVALID' }, 1],
      ]),
    );
    expect(counted.reduce((n, [, v]) => n + v, 0)).toBe(4);
    const timed = (await samples(registry, 'fixpay_hsm_command_duration_seconds')).filter(([l]) => l['le'] === '+Inf');
    expect(timed).toEqual(
      expect.arrayContaining([
        [{ command: 'generateMac', le: '+Inf' }, 2],
        [{ command: 'verifyMac', le: '+Inf' }, 2],
      ]),
    );
  });

  it('label only operation names and result code names, never key handles, data or MACs', async () => {
    const registry = new Registry();
    const hsm = registerHsmMetrics(registry).meter(engine);
    const mac = await hsm.generateMac({ key: tak.handle, algorithm: 'x9.19', data: DATA });
    await hsm.describeKey(tak.handle);
    await hsm
      .verifyMac({ key: tak.handle, algorithm: 'x9.19', data: DATA, mac: Buffer.alloc(8) })
      .catch(() => undefined);
    await hsm
      .openSealedData({ key: tak.handle, sealed: { format: 'AES-GCM', kcv: '', iv: '', data: '' } } as never)
      .catch(() => undefined);
    for (const [labels] of await samples(registry, 'fixpay_hsm_commands_total')) {
      expect(HSM_COMMANDS).toContain(labels['command']);
      const result = labels['result'] ?? '';
      if (result !== 'ok' && result !== 'error') expect(resultCode(result as ResultCodeName).code).toMatch(/^FP\d+/);
    }
    const text = await registry.metrics();
    expect(text).not.toContain(tak.handle);
    expect(text).not.toContain(toHex(mac));
    expect(text).not.toContain('0123456789ABCDEF');
  });

  it('label anything but a FixpayError `error`, never its message', () => {
    expect(hsmResultLabel(new TypeError('6225880000000001'))).toBe('error');
    expect(hsmResultLabel('a string')).toBe('error');
  });

  it('wrap every operation of the port and keep describe', () => {
    const hsm = registerHsmMetrics(new Registry()).meter(engine);
    // Its own functions, one per operation: nothing reaches the engine unmetered.
    expect(Object.keys(hsm).sort()).toEqual([...HSM_COMMANDS, 'describe'].sort());
    expect(hsm.describe()).toBe(engine.describe());
  });
});
