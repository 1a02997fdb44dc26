import { isFixpayError } from '../domain/errors';
import { loadConfig } from './index';

describe('config', () => {
  it('fills every default from the schema', () => {
    const c = loadConfig({ HOME: '/home/u' }, {}, '/repo');
    expect(c.dataDir).toBe('/repo/.fixpay');
    expect(c.temporal).toMatchObject({
      embedded: true,
      host: '127.0.0.1',
      port: 7233,
      uiPort: 8233,
      taskQueue: 'services',
    });
    expect(c.temporal.cacheDir).toMatch(/fixpay\/temporal$/);
    expect(c.database.url).toBeUndefined();
    expect(c.database.embeddedPort).toBe(54329);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('lets the environment override and coerces numbers and booleans', () => {
    const c = loadConfig(
      {
        DATABASE_URL: 'postgresql://127.0.0.1:5432/test',
        FIXPAY_TEMPORAL_PORT: '7300',
        FIXPAY_TEMPORAL_EMBEDDED: 'false',
      },
      {},
      '/repo',
    );
    expect(c.database.url).toBe('postgresql://127.0.0.1:5432/test');
    expect(c.temporal.port).toBe(7300);
    expect(c.temporal.embedded).toBe(false);
  });

  it('puts the Temporal SDK metrics on the metrics port + 1 unless set; 0 or a picked metrics port turns them off', () => {
    expect(loadConfig({}, {}, '/repo').metrics).toMatchObject({ port: 9464, sdkPort: 9465 });
    expect(loadConfig({ FIXPAY_METRICS_PORT: '9600' }, {}, '/repo').metrics.sdkPort).toBe(9601);
    expect(loadConfig({ FIXPAY_METRICS_PORT: '0' }, {}, '/repo').metrics.sdkPort).toBe(0);
    expect(loadConfig({ FIXPAY_METRICS_PORT: '65535' }, {}, '/repo').metrics.sdkPort).toBe(0);
    expect(loadConfig({ FIXPAY_SDK_METRICS_PORT: '9700' }, {}, '/repo').metrics.sdkPort).toBe(9700);
    expect(loadConfig({ FIXPAY_SDK_METRICS_PORT: '0' }, {}, '/repo').metrics.sdkPort).toBe(0);
    expect(() => loadConfig({ FIXPAY_SDK_METRICS_PORT: '70000' })).toThrow(
      /metrics\.sdkPort \(FIXPAY_SDK_METRICS_PORT\)/,
    );
  });

  it('refuses bad values naming the setting and its variable', () => {
    let caught: unknown;
    try {
      loadConfig({ FIXPAY_API_PORT: 'ninety', FIXPAY_LOG_LEVEL: 'loud' });
    } catch (e) {
      caught = e;
    }
    expect(isFixpayError(caught, 'CONFIG_INVALID')).toBe(true);
    expect((caught as Error).message).toContain('api.port (FIXPAY_API_PORT)');
    expect((caught as Error).message).toContain('logLevel (FIXPAY_LOG_LEVEL)');
  });

  it('takes the SIP ptime from FIXPAY_SIP_PTIME_MS (default 20) and refuses values outside 10, 20, 30, 40, 60', () => {
    expect(loadConfig({}).access.sipPtimeMs).toBe(20);
    expect(loadConfig({ FIXPAY_SIP_PTIME_MS: '60' }).access.sipPtimeMs).toBe(60);
    for (const bad of ['25', '0', '120', 'long']) {
      let caught: unknown;
      try {
        loadConfig({ FIXPAY_SIP_PTIME_MS: bad });
      } catch (e) {
        caught = e;
      }
      expect(isFixpayError(caught, 'CONFIG_INVALID')).toBe(true);
      expect((caught as Error).message).toContain('access.sipPtimeMs (FIXPAY_SIP_PTIME_MS)');
      expect((caught as Error).message).toContain('10, 20, 30, 40, 60');
    }
  });

  it('refuses unknown settings', () => {
    expect(() => loadConfig({}, { temporal: { colour: 'blue' } })).toThrow(/must NOT have additional properties/);
  });
});
