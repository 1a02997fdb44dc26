/**
 * The access node's pre-check at the centre: binding and PSAM MAC, and nothing spent — the same
 * request verifies again (a repeat), and the run's counter check still accepts it afterwards.
 */
import { randomBytes } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { CoreRepository } from '../core/repository';
import { toHex } from '../hsm/crypto/bytes';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { InMemoryTerminalKeyStore, TerminalKeyManager } from '../hsm/terminal-keys';
import { PsamEmulator } from '../simulator/psam/psam';
import { EXAMPLE_CONFIG } from '../simulator/terminal/config';
import { buildFinancialRequest, parseTrack2 } from '../simulator/terminal/messages';
import type { MacSigner, TerminalIdentity } from '../simulator/terminal/messages';
import { createHsmActivities, InMemoryPsamCounterStore } from './hsm';
import { createRequestVerificationActivities } from './terminal-verification';
import type { TerminalRequestVerdict, VerifyTerminalRequestInput } from '../terminal-protocol/verification';

const SERIAL = 'A1B2C3D4E5F60001';
const ANI = '862150000001';
const identity: TerminalIdentity = {
  terminalId: 'T0000001',
  merchantId: '898100000000001',
  tpdu: { id: 0x60, destination: '0001', source: '0000' },
  applicationHeader: '603100000000',
  currency: '156',
  operatorCode: '001',
};

type Binding = Pick<CoreRepository, 'checkBinding'>;
/** The binding as the business core answers it: T0000001 on ANI with PSAM SERIAL. */
const core = {
  checkBinding: (q: { terminalId: string; ani: string | undefined; psamNo: string | undefined }) =>
    Promise.resolve(
      q.terminalId === identity.terminalId && q.ani === ANI && q.psamNo === SERIAL
        ? { ok: true, value: {} }
        : { ok: false, code: 'BINDING_ANI_MISMATCH', detail: 'not bound' },
    ),
} as unknown as Binding;

describe('verifyTerminalRequest', () => {
  const hsm = new SoftwareHsm({ lmk: randomBytes(32) });
  const masterKeyHex = EXAMPLE_CONFIG.psam.masterKey;
  const psamMasterKey = hsm.importClearKey('PBOC_MK', 'tdes2', masterKeyHex).handle;
  const keyOf = (serial: string) => (serial === SERIAL ? psamMasterKey : undefined);
  const verification = createRequestVerificationActivities({ core, hsm, psamMasterKey: keyOf });
  const env = new MockActivityEnvironment();
  const verify = (input: VerifyTerminalRequestInput): Promise<TerminalRequestVerdict> =>
    env.run((i: VerifyTerminalRequestInput) => verification.verifyTerminalRequest(i), input);
  const psam = PsamEmulator.issue(masterKeyHex, { serial: SERIAL, terminalNumber: '000000000001' });

  function request(forgeMac = false, serial = SERIAL): string {
    const tx = psam.beginTransaction();
    const signer: MacSigner = {
      psam: { serial, terminalNumber: psam.readTerminalNumber(), random: toHex(tx.random), counter: tx.counter },
      mac: (d) => (forgeMac ? randomBytes(8) : tx.mac(d, 'unionpay-ecb')),
    };
    const track2 = parseTrack2('6225880000000001=30122011234567890');
    return buildFinancialRequest(
      identity,
      { kind: 'purchase', stan: 7, amountMinor: 100, track2, pinBlock: new Uint8Array(8), batch: '000001' },
      signer,
    ).payload.toString('hex');
  }

  it.each([
    ['a bound caller with a valid MAC', () => ({ request: request(), ani: ANI }), true, '00'],
    ['a wrong caller number', () => ({ request: request(), ani: '862150009999' }), false, '03'],
    ['a random MAC', () => ({ request: request(true), ani: ANI }), false, 'A0'],
  ] as const)('%s', async (_name, input, verified, responseCode) => {
    const verdict = await verify(input());
    expect(verdict).toMatchObject({ verified, responseCode });
  });

  it('spends no PSAM counter: the same request verifies twice, and the run then accepts its counter', async () => {
    const hex = request();
    expect((await verify({ request: hex, ani: ANI })).verified).toBe(true);
    expect((await verify({ request: hex, ani: ANI })).verified).toBe(true);
    const counters = new InMemoryPsamCounterStore();
    const run = createHsmActivities({
      hsm,
      psamMasterKey: keyOf,
      zpk: psamMasterKey,
      terminalKeys: new TerminalKeyManager({ hsm, store: new InMemoryTerminalKeyStore() }),
      counters,
    });
    const inRun = await env.run((i: { request: string; idempotencyKey: string }) => run.verifyTerminalMac(i), {
      request: hex,
      idempotencyKey: 'run-1',
    });
    expect(inRun).toMatchObject({ valid: true });
  });
});
