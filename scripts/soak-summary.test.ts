import { flatLimitPerHour, slope, summarise, WARM_UP_SHARE } from './soak-summary';

describe('soak summary', () => {
  it('fits the least-squares slope', () => {
    expect(slope([])).toBe(0);
    expect(slope([[0, 5]])).toBe(0);
    expect(
      slope([
        [0, 1],
        [1, 3],
        [2, 5],
      ]),
    ).toBeCloseTo(2);
  });

  it('leaves the warm-up out of the slope and calls a plateau flat', () => {
    // Grows fast during warm-up, then stays at 800 MB for the rest of an hour.
    const points = Array.from({ length: 61 }, (_, i) => [i * 60, i < 10 ? 700 + i * 10 : 800] as const);
    const s = summarise(points, 3600, 'mb');
    expect(WARM_UP_SHARE * 3600).toBeGreaterThan(9 * 60);
    expect(s?.slopePerHour).toBeCloseTo(0);
    expect(s?.flat).toBe(true);
    expect(s?.first).toBe(700);
    expect(s?.max).toBe(800);
  });

  it('calls steady growth above the limit not flat', () => {
    // 800 MB growing 1 MB a minute: 60 MB/h against a limit of 2 % of ≈ 830 MB.
    const points = Array.from({ length: 61 }, (_, i) => [i * 60, 800 + i] as const);
    const s = summarise(points, 3600, 'mb');
    expect(s?.slopePerHour).toBeCloseTo(60);
    expect(s?.limitPerHour).toBeCloseTo(0.02 * (s?.mean ?? 0));
    expect(s?.flat).toBe(false);
  });

  it('has a floor for small series and a fixed limit for counts', () => {
    expect(flatLimitPerHour('mb', 10)).toBe(5);
    expect(flatLimitPerHour('mb', 1000)).toBe(20);
    expect(flatLimitPerHour('count', 1000)).toBe(6);
    expect(summarise([], 60, 'count')).toBeUndefined();
  });
});
