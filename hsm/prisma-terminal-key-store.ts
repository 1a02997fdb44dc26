/**
 * Terminal keys in the database (`terminal_key`, prisma/schema/terminal-keys.prisma), so they
 * survive a restart and every worker sees the same ones. Only HSM handles are stored — key blocks
 * under the LMK, usable only by an HSM holding that LMK — never a clear key. Rows are parsed on
 * read: a malformed one is an error, never a key.
 */
import { FixpayError } from '../domain/errors';
import { Prisma } from '../generated/prisma/client';
import type { PrismaClient } from '../generated/prisma/client';
import type { KeyHandle, KeyInfo } from './port';
import { KEY_ALGORITHMS, KEY_TYPES } from './port';
import type { SignOnKeyLayout, TerminalKeyRecord, TerminalKeyStore, WorkingKeySet } from './terminal-keys';
import { FIELD62_LAYOUTS } from './terminal-keys';

function malformed(what: string): FixpayError {
  return new FixpayError('INTERNAL', `stored terminal key ${what} is malformed`);
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value } : undefined;
}

function parseKeyInfo(value: unknown, what: string): KeyInfo {
  const v = record(value);
  const type = KEY_TYPES.find((t) => t === v?.['type']);
  const algorithm = KEY_ALGORITHMS.find((a) => a === v?.['algorithm']);
  const handle = v?.['handle'];
  const kcv = v?.['kcv'];
  // A handle is `S` + a key block: never a clear key.
  if (typeof handle !== 'string' || !handle.startsWith('S') || typeof kcv !== 'string') throw malformed(what);
  if (type === undefined || algorithm === undefined) throw malformed(what);
  return { handle: handle as KeyHandle, type, algorithm, kcv };
}

function isLayout(value: unknown): value is SignOnKeyLayout {
  return typeof value === 'string' && Object.hasOwn(FIELD62_LAYOUTS, value);
}

function parseWorkingKeys(value: unknown, what: string): WorkingKeySet | undefined {
  if (value === null || value === undefined) return undefined;
  const v = record(value);
  const version = v?.['version'];
  const layout = v?.['layout'];
  const createdAtMs = v?.['createdAtMs'];
  if (typeof version !== 'number' || typeof createdAtMs !== 'number' || !isLayout(layout)) throw malformed(what);
  return {
    version,
    layout,
    createdAtMs,
    tpk: parseKeyInfo(v?.['tpk'], what),
    tak: parseKeyInfo(v?.['tak'], what),
    ...(v?.['tdk'] === undefined ? {} : { tdk: parseKeyInfo(v['tdk'], what) }),
  };
}

function keyJson(k: KeyInfo): Prisma.InputJsonObject {
  return { handle: k.handle, type: k.type, algorithm: k.algorithm, kcv: k.kcv };
}

function workingKeysJson(set: WorkingKeySet): Prisma.InputJsonObject {
  return {
    version: set.version,
    layout: set.layout,
    createdAtMs: set.createdAtMs,
    tpk: keyJson(set.tpk),
    tak: keyJson(set.tak),
    ...(set.tdk === undefined ? {} : { tdk: keyJson(set.tdk) }),
  };
}

export class PrismaTerminalKeyStore implements TerminalKeyStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async get(terminalId: string): Promise<TerminalKeyRecord | undefined> {
    const row = await this.prisma.terminalKey.findUnique({ where: { terminalId } });
    if (row === null) return undefined;
    const current = parseWorkingKeys(row.currentKeys, 'current keys');
    const previous = parseWorkingKeys(row.previousKeys, 'previous keys');
    return {
      terminalId: row.terminalId,
      tmk: parseKeyInfo(row.tmk, 'TMK'),
      ...(current === undefined ? {} : { current }),
      ...(previous === undefined ? {} : { previous }),
    };
  }

  async delete(terminalId: string): Promise<boolean> {
    const n = await this.prisma.terminalKey.deleteMany({ where: { terminalId } });
    return n.count > 0;
  }

  async put(r: TerminalKeyRecord): Promise<void> {
    const data = {
      tmk: keyJson(r.tmk),
      currentKeys: r.current === undefined ? Prisma.DbNull : workingKeysJson(r.current),
      previousKeys: r.previous === undefined ? Prisma.DbNull : workingKeysJson(r.previous),
      updatedAt: this.now(),
    };
    await this.prisma.terminalKey.upsert({
      where: { terminalId: r.terminalId },
      create: { terminalId: r.terminalId, ...data },
      update: data,
    });
  }
}
