/**
 * Nothing unauthenticated claims an identity at the access node (issue 10, defects 3 and 6): a
 * request whose MAC or binding does not verify neither occupies the transaction's workflow id (the
 * terminal's next STAN) nor receives a stored answer (balance, amount, auth code, RRN). Real
 * engines: Temporal dev server, database, software HSM, bank simulator, FSK terminal over TCP PCM.
 */
import { randomBytes } from 'node:crypto';
import { MemoryStateStore } from '../../simulator/terminal/config';
import { buildFinancialRequest, parseResponse, parseTrack2 } from '../../simulator/terminal/messages';
import type { BuiltRequest, TerminalIdentity } from '../../simulator/terminal/messages';
import { runTerminalScript } from '../../simulator/terminal/script';
import { localDateOf } from '../../channel-engine/access/handler';
import type { E2e } from './harness';
import { CARD_RICH, startE2e } from './harness';

const WRONG_CALLER = '862150009999';

function identityOf(e2e: E2e): TerminalIdentity {
  const config = e2e.terminal();
  return {
    terminalId: config.terminalId,
    merchantId: config.merchantId,
    tpdu: { id: 0x60, destination: config.tpdu.destination, source: config.tpdu.source },
    applicationHeader: config.applicationHeader,
    currency: config.currency,
    operatorCode: config.operatorCode,
  };
}

/** A request for the demo terminal with a random MAC (the forger has no PSAM). */
function forged(
  e2e: E2e,
  kind: 'purchase' | 'balance',
  stan: number,
  psamCounter: number,
  amountMinor?: number,
): BuiltRequest {
  const config = e2e.terminal();
  return buildFinancialRequest(
    identityOf(e2e),
    {
      kind,
      stan,
      ...(amountMinor === undefined ? {} : { amountMinor }),
      track2: parseTrack2(CARD_RICH.track2),
      pinBlock: randomBytes(8),
      batch: '000001',
    },
    {
      psam: {
        serial: config.psam.serial,
        terminalNumber: config.psam.terminalNumber,
        random: randomBytes(4).toString('hex').toUpperCase(),
        counter: psamCounter,
      },
      mac: () => randomBytes(8),
    },
  );
}

async function send(e2e: E2e, request: BuiltRequest, callerNumber: string): Promise<Uint8Array> {
  return e2e.handler({
    nodeId: 'e2e',
    lineId: `forger-${randomBytes(4).toString('hex')}`,
    callerNumber,
    calledNumber: undefined,
    profileId: 'es201912-v23',
    payload: request.payload,
  });
}

describe('the access node verifies a request before it claims an identity or gets an answer', () => {
  jest.setTimeout(180_000);
  let e2e: E2e;

  beforeAll(async () => {
    e2e = await startE2e();
  }, 180_000);
  afterAll(async () => {
    await e2e.stop();
  });

  it("a squatter with a random MAC and the victim's next STAN is refused; the victim's purchase is approved", async () => {
    const state = new MemoryStateStore({ stan: 2_000, batch: '000001', psamCounter: 2_000 });
    const signOn = await runTerminalScript({ config: e2e.terminal(), stateStore: state }, [
      { step: 'sign-on' },
      { step: 'hang-up' },
    ]);
    expect(signOn.transactions[0]?.outcome).toBe('approved');
    const next = state.load();
    // The squatter even spoofs the victim's caller number: only the PSAM MAC tells them apart.
    const squat = forged(e2e, 'purchase', next.stan + 1, next.psamCounter + 1, 100);
    const refused = parseResponse(await send(e2e, squat, e2e.terminal().line.callerNumber), squat, identityOf(e2e));
    expect(refused.responseCode).not.toBe('00');
    // Its workflow id is not taken: nothing runs under the victim's next STAN.
    const squatted = e2e.env.client.workflow.getHandle(`purchase:T0000001:${squat.stan}:${localDateOf(new Date())}`);
    await expect(squatted.describe()).rejects.toThrow(/not found/i);

    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: state }, [
      { step: 'purchase', amountMinor: 1_500 },
      { step: 'hang-up' },
    ]);
    expect(r.transactions[0]).toMatchObject({ kind: 'purchase', stan: squat.stan, outcome: 'approved' });
  });

  it('a wrong caller repeating a real balance inquiry or purchase with a random MAC gets no balance, amount, auth code or RRN', async () => {
    const state = new MemoryStateStore({ stan: 3_000, batch: '000001', psamCounter: 3_000 });
    const r = await runTerminalScript({ config: e2e.terminal(), stateStore: state }, [
      { step: 'sign-on' },
      { step: 'balance' },
      { step: 'purchase', amountMinor: 1_700 },
      { step: 'hang-up' },
    ]);
    const [, balance, purchase] = r.transactions;
    expect(balance?.outcome).toBe('approved');
    expect(purchase?.outcome).toBe('approved');

    const repeatBalance = forged(e2e, 'balance', Number(balance?.stan), 3_002);
    const b = parseResponse(await send(e2e, repeatBalance, WRONG_CALLER), repeatBalance, identityOf(e2e));
    expect(b.responseCode).not.toBe('00');
    expect(b.balance).toBeUndefined();

    const repeatPurchase = forged(e2e, 'purchase', Number(purchase?.stan), 3_003, 1_700);
    const p = parseResponse(await send(e2e, repeatPurchase, WRONG_CALLER), repeatPurchase, identityOf(e2e));
    expect(p.responseCode).not.toBe('00');
    expect(p.authorizationCode).toBeUndefined();
    expect(p.rrn).toBeUndefined();
    expect(p.message.fields.has(4)).toBe(false);
  });
});
