import { EventEmitter } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import { inFlightLimit } from './partners';

/** A request through the limiter: whether it was admitted, and how to end it. */
function harness(max: number, budgetMs: number, congestedMin = 3) {
  let clock = 0;
  const limit = inFlightLimit(max, budgetMs, () => clock, congestedMin);
  const send = (): { admitted: boolean; retryAfter: string | undefined; end: () => void } => {
    const res = Object.assign(new EventEmitter(), {
      headers: new Map<string, string>(),
      setHeader(name: string, value: string) {
        this.headers.set(name, value);
      },
    });
    const seen: { admitted: boolean; refused?: unknown } = { admitted: false };
    const next: NextFunction = (err?: unknown) => {
      if (err === undefined) seen.admitted = true;
      else seen.refused = err;
    };
    limit(Object.create(null) as Request, res as unknown as Response, next);
    if (!seen.admitted) expect(seen.refused).toMatchObject({ codeName: 'API_OVERLOADED', httpStatus: 503 });
    return { admitted: seen.admitted, retryAfter: res.headers.get('Retry-After'), end: () => res.emit('close') };
  };
  return { send, advance: (ms: number) => (clock += ms) };
}

describe('partner request shedding', () => {
  it('sheds above the in-flight count with Retry-After, and admits again once one ends', () => {
    const h = harness(2, 2_000);
    const a = h.send();
    const b = h.send();
    const c = h.send();
    expect([a.admitted, b.admitted, c.admitted]).toEqual([true, true, false]);
    expect(c.retryAfter).toBe('1');
    a.end();
    expect(h.send().admitted).toBe(true);
  });

  it('sheds while several requests are in flight and the oldest has waited past the budget', () => {
    const h = harness(100, 2_000);
    const queued = Array.from({ length: 5 }, () => h.send());
    expect(queued.every((q) => q.admitted)).toBe(true);
    h.advance(1_000);
    expect(h.send().admitted).toBe(true); // within the budget: admitted
    h.advance(1_500); // the database is slow: the first five have waited 2.5 s
    expect(h.send()).toMatchObject({ admitted: false, retryAfter: '1' });
    // Once the old work is answered, new work is admitted again.
    for (const q of queued) q.end();
    expect(h.send().admitted).toBe(true);
  });

  it('one slow request among few sheds nothing', () => {
    const h = harness(100, 2_000);
    const slow = h.send();
    h.advance(10_000);
    const fast = h.send();
    expect(fast.admitted).toBe(true);
    fast.end();
    expect(h.send().admitted).toBe(true);
    slow.end();
  });
});
