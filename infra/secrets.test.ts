import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config';
import { loadSecrets } from './secrets';

describe('secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fixpay-secrets-'));
  const security = loadConfig({ FIXPAY_DATA_DIR: dir }).security;

  it('generates development secrets once, private to the owner', () => {
    const first = loadSecrets(security, { generate: true });
    expect(first.codecKeys).toMatch(/^dev-\d{4}-\d{2}-\d{2}:[0-9a-f]{64}$/);
    expect(first.lmk).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(security.secretsFile).mode & 0o777).toBe(0o600);
    expect(loadSecrets(security, { generate: true })).toEqual(first);
    expect(JSON.parse(readFileSync(security.secretsFile, 'utf8'))).toEqual(first);
  });

  it('prefers settings over the file', () => {
    const lmk = 'ab'.repeat(32);
    expect(loadSecrets({ ...security, lmk }, { generate: false }).lmk).toBe(lmk);
  });

  it('refuses a file others can read, and missing secrets without generation', () => {
    chmodSync(security.secretsFile, 0o644);
    expect(() => loadSecrets(security, { generate: false })).toThrow(/chmod 600/);
    expect(() => loadSecrets({ ...security, secretsFile: join(dir, 'none.json') }, { generate: false })).toThrow(
      /missing secrets: codecKeys, operatorToken, lmk, hsmClientSecret/,
    );
  });

  it('adds an HSM client secret to a secrets file written before it existed, keeping the rest', () => {
    const old = join(dir, 'old.json');
    const { hsmClientSecret: _dropped, ...before } = loadSecrets({ ...security, secretsFile: old }, { generate: true });
    writeFileSync(old, JSON.stringify(before), { mode: 0o600 });
    const after = loadSecrets({ ...security, secretsFile: old }, { generate: true });
    expect(after).toMatchObject(before);
    expect(after.hsmClientSecret).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(readFileSync(old, 'utf8'))).toEqual(after);
  });

  it('adds an embedded database password to a secrets file written without one, keeping the rest', () => {
    const file = join(dir, 'older.json');
    const older = { codecKeys: `k:${'00'.repeat(32)}`, operatorToken: 't'.repeat(32), lmk: 'cd'.repeat(32) };
    writeFileSync(file, JSON.stringify(older), { mode: 0o600 });
    const loaded = loadSecrets({ ...security, secretsFile: file }, { generate: true });
    expect(loaded).toMatchObject(older);
    expect(loaded.databasePassword?.length).toBeGreaterThanOrEqual(32);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(loaded);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
