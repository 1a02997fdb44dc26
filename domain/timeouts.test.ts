import { assertTimeoutOrder, TIMEOUT_RELATIONS, timeoutOrderViolations } from './timeouts';
import type { TimeoutFigures } from './timeouts';

const ordered: TimeoutFigures = {
  verifyMs: 7_000,
  answerWaitMs: 25_000,
  handlerTimeoutMs: 30_000,
  cardNetworkMs: 10_000,
  repeatGraceMs: 8_000,
  cardNetworkStepMs: 30_000,
  deliverStepMs: 30_000,
  terminalVerdictWindowMs: 24 * 3_600_000,
  reversalExpiryMs: 7 * 24 * 3_600_000,
};

describe('timeout order', () => {
  it('holds for the shipped defaults', () => {
    expect(timeoutOrderViolations(ordered)).toEqual([]);
    expect(() => assertTimeoutOrder(ordered)).not.toThrow();
  });

  it.each([
    [{ verifyMs: 25_000 }, 'verification < answer wait'],
    [{ answerWaitMs: 30_000 }, 'answer wait < engine handler timeout'],
    [{ cardNetworkMs: 26_000 }, 'card network request < answer wait'],
    [{ cardNetworkStepMs: 9_000 }, 'card network request < its step timeout'],
    [{ deliverStepMs: 5_000 }, 'repeat grace < delivery step timeout'],
    [{ terminalVerdictWindowMs: 8 * 24 * 3_600_000 }, 'terminal verdict window < reversal store expiry'],
  ] as const)('%j breaks %s', (change, relation) => {
    expect(timeoutOrderViolations({ ...ordered, ...change })).toContain(relation);
    expect(() => assertTimeoutOrder({ ...ordered, ...change })).toThrow(relation);
  });

  it('every relation is exercised above', () => {
    expect(TIMEOUT_RELATIONS).toHaveLength(6);
  });
});
