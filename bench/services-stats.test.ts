import { formatTable, percentile, serviceRows } from './services-stats';

describe('bench:services statistics', () => {
  it('nearest-rank percentiles, ignoring NaN and infinities', () => {
    const v = [5, 1, 4, 2, 3, Number.NaN, Number.POSITIVE_INFINITY];
    expect(percentile(v, 50)).toBe(3);
    expect(percentile(v, 0)).toBe(1);
    expect(percentile(v, 100)).toBe(5);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => 100 - i),
        95,
      ),
    ).toBe(95);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        99,
      ),
    ).toBe(99);
  });

  it('no value, or a percentile outside 0–100', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(percentile([Number.NaN], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });

  it('rows: throughput over the wall time, p50 against the reference service', () => {
    const rows = serviceRows(
      [
        { service: 'purchase', count: 4, approved: 4, seconds: 2, latenciesMs: [10, 20, 30, 40] },
        { service: 'bill-payment', count: 4, approved: 2, seconds: 8, latenciesMs: [40, 60] },
        { service: 'transfer', count: 3, approved: 0, seconds: 0, latenciesMs: [] },
      ],
      'purchase',
    );
    expect(rows.map((r) => [r.service, r.throughput, r.p50, r.ratioP50])).toEqual([
      ['purchase', 2, 20, 1],
      ['bill-payment', 0.5, 40, 2],
      ['transfer', Number.NaN, Number.NaN, Number.NaN],
    ]);
    expect(
      serviceRows([{ service: 'x', count: 1, approved: 1, seconds: 1, latenciesMs: [1] }], 'purchase')[0]?.ratioP50,
    ).toBeNaN();
  });

  it('the table has a header, a rule and a row per service, missing figures as "-"', () => {
    const text = formatTable(
      serviceRows(
        [
          { service: 'purchase', count: 2, approved: 2, seconds: 1, latenciesMs: [10, 30] },
          { service: 'transfer', count: 2, approved: 0, seconds: 1, latenciesMs: [] },
        ],
        'purchase',
      ),
      'purchase',
    ).split('\n');
    expect(text).toHaveLength(4);
    expect(text[0]).toMatch(/^service\s+count\s+approved\s+tx\/s\s+p50 ms\s+p95 ms\s+p99 ms\s+p50 \/ purchase$/);
    expect(text[2]).toMatch(/^purchase\s+2\s+2\s+2\.00\s+10\.0\s+30\.0\s+30\.0\s+1\.00$/);
    expect(text[3]).toMatch(/^transfer\s+2\s+0\s+2\.00\s+-\s+-\s+-\s+-$/);
  });
});
