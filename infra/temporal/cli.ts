/**
 * Finds the Temporal CLI binary that runs the embedded dev server, or builds it.
 * Order: an explicit setting (FIXPAY_TEMPORAL_CLI), then `temporal` on PATH, then the cache folder
 * outside the repository, then `go install github.com/temporalio/cli/cmd/temporal@v<version>`
 * into that cache when Go is present; otherwise the SDK may download one where the internet is
 * reachable. See docs/adr/0002-temporal-cli.md for why v1.5.1.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { TemporalConfig } from '../../config';
import { FixpayError } from '../../domain/errors';

export type CliSource = 'setting' | 'path' | 'cache' | 'built';

export type CliLocation =
  | { readonly kind: 'binary'; readonly path: string; readonly source: CliSource }
  | { readonly kind: 'sdk-download'; readonly reason: string };

export const CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks `name` up on a PATH string; undefined when absent. */
export function whichSync(name: string, pathEnv: string | undefined): string | undefined {
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The cached binary's path for a CLI version. */
export function cachedCliPath(config: Pick<TemporalConfig, 'cacheDir' | 'cliVersion'>): string {
  return join(config.cacheDir, `v${config.cliVersion}`, 'temporal');
}

/**
 * Finds an existing binary without building anything.
 * Throws TEMPORAL_CLI_MISSING when an explicit setting names a file that is not executable.
 */
export function findTemporalCli(config: TemporalConfig, pathEnv: string | undefined): CliLocation | undefined {
  if (config.cliPath !== undefined) {
    if (!isExecutable(config.cliPath)) {
      throw new FixpayError('TEMPORAL_CLI_MISSING', `FIXPAY_TEMPORAL_CLI=${config.cliPath} is not an executable file`);
    }
    return { kind: 'binary', path: config.cliPath, source: 'setting' };
  }
  const onPath = whichSync('temporal', pathEnv);
  if (onPath !== undefined) return { kind: 'binary', path: onPath, source: 'path' };
  const cached = cachedCliPath(config);
  if (isExecutable(cached)) return { kind: 'binary', path: cached, source: 'cache' };
  return undefined;
}

export interface BuildProgress {
  (line: string): void;
}

/**
 * Builds the CLI with `go install` into the cache. Resolves with the binary path.
 * Throws TEMPORAL_CLI_MISSING when Go is absent or the build fails (with go's last output lines).
 */
export async function buildTemporalCli(
  config: TemporalConfig,
  env: Readonly<Record<string, string | undefined>>,
  onLine: BuildProgress = () => undefined,
): Promise<string> {
  const go =
    whichSync('go', env['PATH']) ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (go === undefined) {
    throw new FixpayError('TEMPORAL_CLI_MISSING', 'Go is not installed, so the Temporal CLI cannot be built here');
  }
  const target = cachedCliPath(config);
  const gobin = join(config.cacheDir, `v${config.cliVersion}`);
  mkdirSync(gobin, { recursive: true });
  const tail: string[] = [];
  const code = await new Promise<number | null>((resolvePromise, reject) => {
    const child = spawn(go, ['install', `${CLI_MODULE}@v${config.cliVersion}`], {
      env: { ...env, GOBIN: gobin, GOFLAGS: env['GOFLAGS'] ?? '-mod=mod' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        onLine(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', resolvePromise);
  });
  if (code !== 0 || !existsSync(target)) {
    throw new FixpayError(
      'TEMPORAL_CLI_MISSING',
      `go install failed (exit ${code ?? 'signal'}): ${tail.slice(-5).join(' | ')}`,
    );
  }
  return target;
}

/**
 * Finds the CLI, building it when Go is present. Falls back to the SDK's own download (which
 * needs the internet) only when neither works.
 */
export async function ensureTemporalCli(
  config: TemporalConfig,
  env: Readonly<Record<string, string | undefined>>,
  onLine?: BuildProgress,
): Promise<CliLocation> {
  const found = findTemporalCli(config, env['PATH']);
  if (found !== undefined) return found;
  try {
    const path = await buildTemporalCli(config, env, onLine);
    return { kind: 'binary', path, source: 'built' };
  } catch (e) {
    return { kind: 'sdk-download', reason: e instanceof Error ? e.message : String(e) };
  }
}
