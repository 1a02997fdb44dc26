import { EventEmitter } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import { inFlightLimit } from './partners';

/** A request through the limiter: whether it was admitted, and how to end it. */
function harness(max: number, budgetMs: number, windowMs = 500) {
  let clock = 0;
  const limit = inFlightLimit(max, budgetMs, () => clock, windowMs);
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

  it('sheds while even the fastest answer of the last window took longer than the budget', () => {
    const h = harness(100, 2_000);
    const queued = Array.from({ length: 5 }, () => h.send());
    expect(queued.every((q) => q.admitted)).toBe(true);
    h.advance(2_500); // the database is slow: every answer takes 2.5 s
    for (const q of queued) q.end();
    h.advance(1);
    const shed = h.send();
    expect(shed).toMatchObject({ admitted: false, retryAfter: '1' });
    // A window with no answer (nothing admitted) lifts it: the queue has drained.
    h.advance(600);
    expect(h.send().admitted).toBe(true);
  });

  it('one slow request among fast ones sheds nothing', () => {
    const h = harness(100, 2_000);
    const slow = h.send();
    for (let i = 0; i < 10; i++) {
      const fast = h.send();
      h.advance(100);
      fast.end();
    }
    h.advance(5_000);
    slow.end(); // 6 s, but the window's fastest answer took 100 ms
    h.advance(1);
    expect(h.send().admitted).toBe(true);
  });
});
