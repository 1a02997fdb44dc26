/**
 * The Temporal SDK runtime's metrics endpoint, in a child process (the SDK installs its runtime
 * once per process): served on the configured port, and a taken port logged while the runtime is
 * installed all the same, so the process starts.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../test/support/roles';

const ROOT = join(__dirname, '..', '..');

/** A child that installs the runtime on host:port, prints the outcome as JSON, then waits for stdin to close. */
function installIn(
  port: number,
): Promise<{ url: string | undefined; warned: string[]; runtime: boolean; child: () => void }> {
  const script = `
    require('tsx/cjs/api').register();
    const { installTemporalRuntime } = require(${JSON.stringify(join(ROOT, 'infra', 'temporal', 'runtime.ts'))});
    const { Runtime } = require('@temporalio/worker');
    const warned = [];
    const log = { warn: (o, m) => warned.push(m + ' ' + JSON.stringify(o)), error: () => {}, debug: () => {}, info: () => {} };
    const r = installTemporalRuntime(log, {
      shutdownSignals: [],
      sdkMetrics: { settings: { enabled: true, host: '127.0.0.1', sdkPort: ${port} }, labels: { process: 'worker', node: 'n1' } },
    });
    process.stdout.write(JSON.stringify({ url: r.url, warned, runtime: Runtime.instance() !== undefined }) + '\\n');
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no answer from the child: ${out}`));
    }, 60_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n')[0];
      if (!out.includes('\n') || line === undefined) return;
      clearTimeout(timer);
      const parsed = JSON.parse(line) as { url?: string; warned: string[]; runtime: boolean };
      resolve({ url: parsed.url, warned: parsed.warned, runtime: parsed.runtime, child: () => child.stdin.end() });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the child exited ${code}: ${out}`));
    });
  });
}

describe('the Temporal SDK metrics endpoint', () => {
  jest.setTimeout(90_000);

  it('is served by the SDK on the configured port', async () => {
    const port = await freePort();
    const r = await installIn(port);
    try {
      expect(r.url).toBe(`http://127.0.0.1:${port}/metrics`);
      expect(r.warned).toEqual([]);
      const res = await fetch(r.url ?? '');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    } finally {
      r.child();
    }
  });

  it('on a taken port is logged, and the runtime is installed without it', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const a = blocker.address();
    const port = typeof a === 'object' && a !== null ? a.port : 0;
    try {
      const r = await installIn(port);
      r.child();
      expect(r.url).toBeUndefined();
      expect(r.runtime).toBe(true);
      expect(r.warned.join('\n')).toContain('Temporal SDK metrics endpoint not served');
      expect(r.warned.join('\n')).toContain(`127.0.0.1:${port}`);
    } finally {
      blocker.close();
    }
  });
});
