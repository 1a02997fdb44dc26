import { startVacuumSchedule } from './maintenance';

describe('startVacuumSchedule', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs every interval, never two at once, and not after stop', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const vacuum = (): Promise<void> => {
      runs++;
      return new Promise((resolve) => (release = resolve));
    };
    const s = startVacuumSchedule(vacuum, 1_000, () => undefined);
    expect(runs).toBe(0);
    jest.advanceTimersByTime(1_000);
    expect(runs).toBe(1);
    // Still running: the next tick and runNow join it.
    jest.advanceTimersByTime(1_000);
    const joined = s.runNow();
    expect(runs).toBe(1);
    release();
    await joined;
    jest.advanceTimersByTime(1_000);
    expect(runs).toBe(2);
    release();
    await s.stop();
    jest.advanceTimersByTime(5_000);
    expect(runs).toBe(2);
  });

  it('reports a failed run and goes on', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const s = startVacuumSchedule(
      () => (++runs === 1 ? Promise.reject(new Error('locked')) : Promise.resolve()),
      1_000,
      (e) => errors.push(e),
    );
    await s.runNow();
    await s.runNow();
    expect(runs).toBe(2);
    expect(errors).toHaveLength(1);
    await s.stop();
  });

  it('refuses an interval that is not positive', () => {
    expect(() =>
      startVacuumSchedule(
        () => Promise.resolve(),
        0,
        () => undefined,
      ),
    ).toThrow(RangeError);
  });
});
