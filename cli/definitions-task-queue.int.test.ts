/**
 * Issue #15: `fixpay definitions validate|compile|test|deploy` check a definition's task queue
 * against the configured central queue (FIXPAY_TEMPORAL_TASK_QUEUE), not a built-in name.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(__dirname, '..', 'bin', 'fixpay.js');
const QUEUE = 'central-eu';

function fixpay(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

describe('definitions CLI with a configured central task queue', () => {
  let dir: string;
  let file: string;
  const base = { ...process.env };
  delete base['FIXPAY_TEMPORAL_TASK_QUEUE'];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fixpay-queue-'));
    file = join(dir, 'topup.yaml');
    const text = readFileSync(join(__dirname, '..', 'definitions', 'mobile-topup.yaml'), 'utf8');
    writeFileSync(file, text.replace(/^spec:\n/m, `spec:\n  taskQueue: ${QUEUE}\n`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('validates and compiles a definition on the configured queue', async () => {
    const env = { ...base, FIXPAY_TEMPORAL_TASK_QUEUE: QUEUE };
    const v = await fixpay(['definitions', 'validate', file], env);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('mobile-topup');
    const c = await fixpay(['definitions', 'compile', file], env);
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ taskQueue: QUEUE });
  }, 120_000);

  it('refuses it (FP2305) when that queue is not the configured one', async () => {
    const v = await fixpay(['definitions', 'validate', file], base);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain('FP2305');
    expect(v.stderr).toContain(`no worker serves '${QUEUE}'`);
  }, 120_000);

  it('runs a definition without spec.taskQueue on the configured queue (the service’s own queue)', async () => {
    const shipped = join(__dirname, '..', 'definitions', 'sign-on.yaml');
    const c = await fixpay(['definitions', 'compile', shipped], { ...base, FIXPAY_TEMPORAL_TASK_QUEUE: QUEUE });
    expect(c.stderr).not.toContain('FP2305');
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ serviceId: 'sign-on', taskQueue: QUEUE });
  }, 120_000);
});
