import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config';
import { isFixpayError } from '../../domain/errors';
import { temporalTls } from './tls';

describe('temporalTls (client mTLS settings)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fixpay-tls-'));
  const file = (name: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `-----BEGIN ${name}-----\n`);
    return path;
  };

  it('is off without settings, and reads the PEM files from the environment when set', () => {
    expect(temporalTls(loadConfig({}).temporal)).toBeUndefined();
    const t = loadConfig({
      FIXPAY_TEMPORAL_TLS_CERT_FILE: file('crt'),
      FIXPAY_TEMPORAL_TLS_KEY_FILE: file('key'),
      FIXPAY_TEMPORAL_TLS_CA_FILE: file('ca'),
      FIXPAY_TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    }).temporal;
    const tls = temporalTls(t);
    expect(tls?.serverNameOverride).toBe('temporal.internal');
    expect(tls?.clientCertPair?.crt.toString()).toContain('crt');
    expect(tls?.serverRootCACertificate?.toString()).toContain('ca');
  });

  it('refuses a certificate without its key and an unreadable file (CONFIG_INVALID)', () => {
    const half: unknown = (() => {
      try {
        return temporalTls(loadConfig({ FIXPAY_TEMPORAL_TLS_CERT_FILE: file('crt') }).temporal);
      } catch (e) {
        return e;
      }
    })();
    expect(isFixpayError(half, 'CONFIG_INVALID')).toBe(true);
    expect(() => temporalTls(loadConfig({ FIXPAY_TEMPORAL_TLS_CA_FILE: join(dir, 'missing') }).temporal)).toThrow(
      /cannot be read/,
    );
  });
});
