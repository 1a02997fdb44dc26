import { atPace, countOutcome, heldCalls, pacedCapacity, percentile, ratio } from './paced-stats';
import type { PurchaseCounts } from './paced-stats';

describe('bench:e2e paced-lines arithmetic', () => {
  it('held calls: max and mean of the samples, zeros for none', () => {
    expect(heldCalls([2, 4, 4, 6])).toEqual({ max: 6, mean: 4 });
    expect(heldCalls([])).toEqual({ max: 0, mean: 0 });
  });

  it('counts every outcome as completed and only approved ones as approved', () => {
    const c: PurchaseCounts = { completed: 0, approved: 0, failed: 0 };
    for (const o of ['approved', 'approved', 'declined', 'failed', 'error']) countOutcome(c, o);
    expect(c).toEqual({ completed: 5, approved: 2, failed: 3 });
  });

  it('nearest-rank percentiles over finite values', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile([3, Number.NaN, 1, 2], 100)).toBe(3);
    expect(percentile([], 50)).toBeNaN();
  });

  it('platform CPU leaves the phones thread out and adds the child processes', () => {
    // 10 s window, 8 calls held on average: 80 line-seconds; 40 purchases.
    const c = pacedCapacity({ processMs: 9000, phonesMs: 5000, childrenMs: 4000 }, 8, 10, 40);
    expect(c.platformCpuMs).toBe(8000);
    expect(c.lineSeconds).toBe(80);
    expect(c.cpuPerPurchaseMs).toBe(200);
    expect(c.cpuPerLineSecondMs).toBe(100);
    // 1000 ms of CPU per core-second / 100 ms per line-second.
    expect(c.linesPerCore).toBe(10);
  });

  it('no lines held or no purchases: NaN figures rather than infinities', () => {
    const c = pacedCapacity({ processMs: 100, phonesMs: 200, childrenMs: 0 }, 0, 10, 0);
    expect(c.platformCpuMs).toBe(0);
    expect(c.cpuPerLineSecondMs).toBeNaN();
    expect(c.cpuPerPurchaseMs).toBeNaN();
    expect(c.linesPerCore).toBeNaN();
  });

  it('lines per core at a given purchase pace', () => {
    // 0.3 purchases per line-second at 500 ms each: 150 ms per line-second.
    expect(atPace(500, 0.3)).toBeCloseTo(6.667, 3);
    expect(atPace(Number.NaN, 0.3)).toBeNaN();
    expect(atPace(500, 0)).toBeNaN();
  });

  it('ratios only between positive finite figures', () => {
    expect(ratio(3, 2)).toBe('1.50');
    expect(ratio(1, 0)).toBe('n/a');
    expect(ratio(Number.NaN, 2)).toBe('n/a');
  });
});
