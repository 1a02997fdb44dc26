/**
 * File modes of the platform's data folder: the folder and everything in it belong to the user
 * running fixpay alone (issue #10: the folder was 0755, PGlite's files 0666, temporal.sqlite 0644).
 * PGlite (WebAssembly) sets 0666 on its files whatever the umask, so the folder's 0700 is what
 * keeps others out; files are also set to 0600 at start and stop.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
/** The umask fixpay runs under, so children (the Temporal dev server's SQLite) create private files. */
export const PRIVATE_UMASK = 0o077;
/** Deepest folder level tightened (PGlite's tree is about 4 deep). */
export const TIGHTEN_DEPTH_MAX = 16;

/** Creates `dir` (and missing parents) and makes `dir` itself 0700. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Sets the process umask to PRIVATE_UMASK (inherited by child processes). Returns the previous one. */
export function usePrivateUmask(): number {
  return process.umask(PRIVATE_UMASK);
}

/**
 * Folders 0700 and files 0600 under `dir` (symbolic links are not followed). A file that vanished
 * meanwhile is skipped. Throws on other errors (e.g. a file owned by someone else).
 */
export function tightenTree(dir: string, depth = 0): void {
  const stat = lstatSync(dir, { throwIfNoEntry: false });
  if (stat === undefined || stat.isSymbolicLink()) return;
  if (!stat.isDirectory()) {
    if ((stat.mode & 0o777) !== PRIVATE_FILE_MODE) chmodQuiet(dir, PRIVATE_FILE_MODE);
    return;
  }
  if ((stat.mode & 0o777) !== PRIVATE_DIR_MODE) chmodQuiet(dir, PRIVATE_DIR_MODE);
  if (depth >= TIGHTEN_DEPTH_MAX) return;
  for (const name of readdirSync(dir)) tightenTree(join(dir, name), depth + 1);
}

function chmodQuiet(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
