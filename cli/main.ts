/**
 * The `fixpay` command. Each concern adds its sub-commands as a module in `cli/commands/` that
 * exports `register(program)`; they are discovered here so concerns do not edit one shared list.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

function isCommandModule(value: unknown): value is CommandModule {
  return (
    typeof value === 'object' && value !== null && typeof (value as { register?: unknown }).register === 'function'
  );
}

/**
 * Returns the sub-command group `name` (e.g. `sim`, `definitions`), creating it on first use, so
 * several command modules can add commands to one group.
 */
export function commandGroup(program: Command, name: string, description: string): Command {
  const existing = program.commands.find((c) => c.name() === name);
  return existing ?? program.command(name).description(description);
}

/** The command modules' file names (`cli/commands/*.ts`, tests excluded), sorted. */
export function commandFiles(dir = join(__dirname, 'commands')): string[] {
  return readdirSync(dir)
    .filter((f) => /\.(ts|js)$/.test(f) && !/\.(test|d)\.(ts|js)$/.test(f))
    .sort();
}

/**
 * The command modules a command line needs. A module's file name says which top-level command it
 * adds: `ops.ts` adds `ops`, `sim-bank.ts` adds to the `sim` group (cli/main.test.ts holds every
 * module to this). So `fixpay ops …` loads `ops.ts` alone instead of every module's imports (the
 * Temporal client, Prisma, the channel engine…), which made each call seconds slower. With no
 * command word, `help`, or a word no file names, every module is loaded, so `--help` and commander's
 * "unknown command" answer list them all.
 */
export function filesFor(argv: readonly string[], files: readonly string[]): readonly string[] {
  const word = argv.slice(2).find((a) => !a.startsWith('-'));
  if (word === undefined || word === 'help') return files;
  const base = (f: string): string => f.replace(/\.(ts|js)$/, '');
  const picked = files.filter((f) => base(f) === word || base(f).startsWith(`${word}-`));
  return picked.length > 0 ? picked : files;
}

/**
 * Builds the program with the command modules registered: all of them, or, given a command line,
 * those it names (see filesFor).
 */
export function buildProgram(argv?: readonly string[]): Command {
  const program = new Command('fixpay')
    .description('fixpay: fixed-line payment platform (channel engine, services as data, HSM, card network)')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();
  const dir = join(__dirname, 'commands');
  const all = commandFiles(dir);
  for (const file of argv === undefined ? all : filesFor(argv, all)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- command discovery
    const mod: unknown = require(join(dir, file));
    if (!isCommandModule(mod)) throw new Error(`cli/commands/${file} does not export register(program)`);
    mod.register(program);
  }
  return program;
}

/** Entry point used by bin/fixpay.js. */
export async function main(argv: readonly string[]): Promise<void> {
  await buildProgram(argv).parseAsync([...argv]);
}
